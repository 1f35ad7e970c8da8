//! gRPC adapters of AgencyAPI: decode the request into domain input, call the use case with
//! the caller, encode the answer. Who may call what is enforced before these run, by the auth
//! layer from the contracts' access options; the use cases scope every read and write to the
//! caller's own agency. RPCs that no issue has built yet keep the generated default and answer
//! UNIMPLEMENTED.

mod convert;
mod internal;

use astro_proto::astrobookings::{
    agency::v1::{
        AbortLaunchRequest, AbortLaunchResponse, Agency, BookingsReportRow, BookingsReportTotals,
        CreateRocketRequest, CreateRocketResponse, DelayLaunchRequest, DelayLaunchResponse,
        DeleteRocketRequest, DeleteRocketResponse, FailLaunchRequest, FailLaunchResponse,
        GetAgencyLaunchRequest, GetAgencyLaunchResponse, GetAgencyProfileRequest,
        GetAgencyProfileResponse, GetBookingsReportRequest, GetBookingsReportResponse,
        GetRocketRequest, GetRocketResponse, ListAgencyLaunchesRequest, ListAgencyLaunchesResponse,
        ListRocketsRequest, ListRocketsResponse, RegisterAgencyRequest, RegisterAgencyResponse,
        RetireRocketRequest, RetireRocketResponse, ScheduleLaunchRequest, ScheduleLaunchResponse,
        SucceedLaunchRequest, SucceedLaunchResponse, UpdateAgencyProfileRequest,
        UpdateAgencyProfileResponse, UpdateRocketRequest, UpdateRocketResponse,
        agency_service_server::AgencyService,
    },
    common::v1::SortOrder,
};
use astro_shared::{
    AppError,
    accounts::NewAccount,
    auth::caller,
    paging::{page_size, sort_descending},
    text::ReportFormat,
    validate,
};
use chrono::Utc;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    State,
    app::{PageRequest, profiles::Registration, rockets::RocketFilter},
    domain::{
        launch::{LaunchFilter, LaunchInput, NewLaunch, StatusAction, parse_id},
        profile::{AgencyProfile, ProfileInput},
        report::to_csv,
        rocket::{self, NewRocket, RocketChanges},
    },
};

/// Serves both the public `AgencyService` and the internal `AgencyInternalService`.
#[derive(Clone)]
pub struct AgencyApi {
    state: State,
}

impl AgencyApi {
    pub fn new(state: State) -> Self {
        Self { state }
    }
}

const ROCKETS_PAGE_DEFAULT: u32 = 50;
const ROCKETS_PAGE_MAX: u32 = 100;
const LAUNCHES_PAGE_DEFAULT: u32 = 20;
const LAUNCHES_PAGE_MAX: u32 = 100;

/// An id from the request path; a malformed one is simply not found.
fn path_id(id: &str, what: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(id.trim()).map_err(|_| AppError::NotFound(what.to_owned()))
}

#[tonic::async_trait]
impl AgencyService for AgencyApi {
    async fn register_agency(
        &self,
        request: Request<RegisterAgencyRequest>,
    ) -> Result<Response<RegisterAgencyResponse>, Status> {
        let input = request.into_inner();
        // Everything this service checks is checked before the account exists.
        let profile = AgencyProfile::parse(&ProfileInput {
            name: &input.agency_name,
            description: &input.description,
            contact_email: &input.contact_email,
            contact_phone: &input.contact_phone,
            tax_id: &input.tax_id,
            legal_address: input.legal_address,
        })
        .map_err(|error| error.renamed_field("name", "agency_name"))?;
        let idempotency_key = validate::idempotency_key(&input.idempotency_key, false)?;
        let agency = self
            .state
            .profiles
            .register(Registration {
                account: NewAccount {
                    idempotency_key,
                    email: input.email,
                    password: input.password,
                    name: input.contact_name,
                },
                profile,
            })
            .await?;
        Ok(Response::new(RegisterAgencyResponse {
            agency: Some(convert::agency(&agency)),
        }))
    }

    async fn get_agency_profile(
        &self,
        request: Request<GetAgencyProfileRequest>,
    ) -> Result<Response<GetAgencyProfileResponse>, Status> {
        let caller = caller(&request)?;
        let agency = match self.state.profiles.own(caller).await? {
            Some(row) => convert::agency(&row),
            // An AGENCY account registered through SystemAPI has no profile yet.
            None => Agency {
                id: caller.user_id.clone(),
                ..Agency::default()
            },
        };
        Ok(Response::new(GetAgencyProfileResponse {
            agency: Some(agency),
        }))
    }

    async fn update_agency_profile(
        &self,
        request: Request<UpdateAgencyProfileRequest>,
    ) -> Result<Response<UpdateAgencyProfileResponse>, Status> {
        let caller = caller(&request)?;
        let input = request.get_ref();
        let profile = AgencyProfile::parse(&ProfileInput {
            name: &input.name,
            description: &input.description,
            contact_email: &input.contact_email,
            contact_phone: &input.contact_phone,
            tax_id: &input.tax_id,
            legal_address: input.legal_address.clone(),
        })?;
        let row = self.state.profiles.update(caller, &profile).await?;
        Ok(Response::new(UpdateAgencyProfileResponse {
            agency: Some(convert::agency(&row)),
        }))
    }

    async fn create_rocket(
        &self,
        request: Request<CreateRocketRequest>,
    ) -> Result<Response<CreateRocketResponse>, Status> {
        let caller = caller(&request)?;
        let input = request.get_ref();
        let rocket = NewRocket::parse(
            &input.name,
            input.passenger_capacity,
            convert::range_from_proto(input.range),
        )?;
        let row = self.state.rockets.create(caller, &rocket).await?;
        Ok(Response::new(CreateRocketResponse {
            rocket: Some(convert::rocket(&row)),
        }))
    }

    async fn list_rockets(
        &self,
        request: Request<ListRocketsRequest>,
    ) -> Result<Response<ListRocketsResponse>, Status> {
        let caller = caller(&request)?;
        let input = request.get_ref();
        let page = PageRequest {
            limit: page_size(input.page_size, ROCKETS_PAGE_DEFAULT, ROCKETS_PAGE_MAX)?,
            token: input.page_token.clone(),
        };
        let range = match (input.range, convert::range_from_proto(input.range)) {
            (0, _) => None,
            (_, Some(range)) => Some(range),
            (_, None) => return Err(AppError::invalid("range", "unknown rocket range").into()),
        };
        let filter = RocketFilter {
            include_retired: input.include_retired,
            range,
        };
        let page = self.state.rockets.list(caller, filter, &page).await?;
        Ok(Response::new(ListRocketsResponse {
            rockets: page.items.iter().map(convert::rocket).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn get_rocket(
        &self,
        request: Request<GetRocketRequest>,
    ) -> Result<Response<GetRocketResponse>, Status> {
        let caller = caller(&request)?;
        let id = path_id(&request.get_ref().id, "rocket")?;
        let row = self.state.rockets.get(caller, id).await?;
        Ok(Response::new(GetRocketResponse {
            rocket: Some(convert::rocket(&row)),
        }))
    }

    async fn update_rocket(
        &self,
        request: Request<UpdateRocketRequest>,
    ) -> Result<Response<UpdateRocketResponse>, Status> {
        let caller = caller(&request)?;
        let input = request.get_ref();
        let id = path_id(&input.id, "rocket")?;
        let changes = RocketChanges {
            name: input.name.as_deref().map(rocket::parse_name).transpose()?,
            passenger_capacity: input
                .passenger_capacity
                .map(rocket::parse_capacity)
                .transpose()?,
            range: input
                .range
                .map(|range| rocket::require_range(convert::range_from_proto(range)))
                .transpose()?,
        };
        let row = self.state.rockets.update(caller, id, &changes).await?;
        Ok(Response::new(UpdateRocketResponse {
            rocket: Some(convert::rocket(&row)),
        }))
    }

    async fn delete_rocket(
        &self,
        request: Request<DeleteRocketRequest>,
    ) -> Result<Response<DeleteRocketResponse>, Status> {
        let caller = caller(&request)?;
        let id = path_id(&request.get_ref().id, "rocket")?;
        self.state.rockets.delete(caller, id).await?;
        Ok(Response::new(DeleteRocketResponse {}))
    }

    async fn retire_rocket(
        &self,
        request: Request<RetireRocketRequest>,
    ) -> Result<Response<RetireRocketResponse>, Status> {
        let caller = caller(&request)?;
        let id = path_id(&request.get_ref().id, "rocket")?;
        let row = self.state.rockets.retire(caller, id).await?;
        Ok(Response::new(RetireRocketResponse {
            rocket: Some(convert::rocket(&row)),
        }))
    }

    async fn schedule_launch(
        &self,
        request: Request<ScheduleLaunchRequest>,
    ) -> Result<Response<ScheduleLaunchResponse>, Status> {
        let caller = caller(&request)?;
        let input = request.get_ref();
        let launch = NewLaunch::parse(
            &LaunchInput {
                rocket_id: &input.rocket_id,
                spaceport: &input.spaceport,
                destination: &input.destination,
                scheduled_at: convert::from_timestamp(input.scheduled_at.as_ref()),
                price: input
                    .price_per_seat
                    .as_ref()
                    .map(|price| (price.amount_minor, price.currency.as_str())),
                minimum_occupancy: input.minimum_occupancy,
            },
            Utc::now(),
        )?;
        let row = self.state.launches.schedule(caller, &launch).await?;
        Ok(Response::new(ScheduleLaunchResponse {
            launch: Some(convert::launch(&row)),
        }))
    }

    async fn list_agency_launches(
        &self,
        request: Request<ListAgencyLaunchesRequest>,
    ) -> Result<Response<ListAgencyLaunchesResponse>, Status> {
        let caller = caller(&request)?;
        let input = request.get_ref();
        let limit = page_size(input.page_size, LAUNCHES_PAGE_DEFAULT, LAUNCHES_PAGE_MAX)?;
        let statuses = convert::statuses_from_proto("statuses", &input.statuses)?;
        let viable = convert::viability_from_proto(input.viability)?;
        let sort = convert::sort_from_proto(input.sort_by)?;
        let descending = sort_descending(input.order, SortOrder::Ascending)?;
        let rocket_id = if input.rocket_id.is_empty() {
            None
        } else {
            Some(parse_id("rocket_id", &input.rocket_id)?)
        };
        let filter = LaunchFilter {
            statuses,
            viable,
            scheduled_after: convert::optional_time(
                "scheduled_after",
                input.scheduled_after.as_ref(),
            )?,
            scheduled_before: convert::optional_time(
                "scheduled_before",
                input.scheduled_before.as_ref(),
            )?,
            rocket_id,
            ..LaunchFilter::default()
        };
        let page = PageRequest {
            limit,
            token: input.page_token.clone(),
        };
        let list = self
            .state
            .launches
            .list_own(caller, filter, sort, descending, &page)
            .await?;
        Ok(Response::new(ListAgencyLaunchesResponse {
            launches: list
                .page
                .items
                .iter()
                .map(convert::with_occupancy)
                .collect(),
            next_page_token: list.page.next_page_token,
            total_size: convert::total_size(list.total),
        }))
    }

    async fn get_agency_launch(
        &self,
        request: Request<GetAgencyLaunchRequest>,
    ) -> Result<Response<GetAgencyLaunchResponse>, Status> {
        let caller = caller(&request)?;
        let id = path_id(&request.get_ref().id, "launch")?;
        let detail = self.state.launches.get_own(caller, id).await?;
        Ok(Response::new(GetAgencyLaunchResponse {
            launch: Some(convert::launch(&detail.launch)),
            occupancy: Some(convert::occupancy(&detail.launch)),
            history: convert::history(&detail.history),
        }))
    }

    async fn delay_launch(
        &self,
        request: Request<DelayLaunchRequest>,
    ) -> Result<Response<DelayLaunchResponse>, Status> {
        let caller = caller(&request)?;
        let input = request.get_ref();
        let id = path_id(&input.id, "launch")?;
        let action = StatusAction::delay(
            convert::from_timestamp(input.new_scheduled_at.as_ref()),
            &input.reason,
            Utc::now(),
        )?;
        let row = self
            .state
            .launches
            .change_status(caller, id, &action)
            .await?;
        Ok(Response::new(DelayLaunchResponse {
            launch: Some(convert::launch(&row)),
        }))
    }

    async fn abort_launch(
        &self,
        request: Request<AbortLaunchRequest>,
    ) -> Result<Response<AbortLaunchResponse>, Status> {
        let caller = caller(&request)?;
        let input = request.get_ref();
        let id = path_id(&input.id, "launch")?;
        let action = StatusAction::abort(&input.reason)?;
        let row = self
            .state
            .launches
            .change_status(caller, id, &action)
            .await?;
        Ok(Response::new(AbortLaunchResponse {
            launch: Some(convert::launch(&row)),
        }))
    }

    async fn succeed_launch(
        &self,
        request: Request<SucceedLaunchRequest>,
    ) -> Result<Response<SucceedLaunchResponse>, Status> {
        let caller = caller(&request)?;
        let input = request.get_ref();
        let id = path_id(&input.id, "launch")?;
        let action = StatusAction::succeed(&input.reason)?;
        let row = self
            .state
            .launches
            .change_status(caller, id, &action)
            .await?;
        Ok(Response::new(SucceedLaunchResponse {
            launch: Some(convert::launch(&row)),
        }))
    }

    async fn fail_launch(
        &self,
        request: Request<FailLaunchRequest>,
    ) -> Result<Response<FailLaunchResponse>, Status> {
        let caller = caller(&request)?;
        let input = request.get_ref();
        let id = path_id(&input.id, "launch")?;
        let action = StatusAction::fail(&input.reason)?;
        let row = self
            .state
            .launches
            .change_status(caller, id, &action)
            .await?;
        Ok(Response::new(FailLaunchResponse {
            launch: Some(convert::launch(&row)),
        }))
    }

    async fn get_bookings_report(
        &self,
        request: Request<GetBookingsReportRequest>,
    ) -> Result<Response<GetBookingsReportResponse>, Status> {
        let caller = caller(&request)?;
        let input = request.get_ref();
        let format = ReportFormat::parse(&input.format)?;
        let id = path_id(&input.id, "launch")?;
        let report = self.state.reports.bookings(caller, id).await?;
        let (launch, totals) = (&report.launch, &report.totals);
        let currency = launch.currency.as_str();
        let mut response = GetBookingsReportResponse {
            launch: Some(convert::launch(launch)),
            totals: Some(BookingsReportTotals {
                passengers: totals.passengers,
                seats: totals.seats,
                revenue: Some(convert::money(totals.revenue_minor, currency)),
                refunds: Some(convert::money(totals.refunds_minor, currency)),
                net_revenue: Some(convert::money(totals.net_revenue_minor(), currency)),
            }),
            generated_at: Some(convert::timestamp(Utc::now())),
            ..GetBookingsReportResponse::default()
        };
        match format {
            ReportFormat::Csv => {
                response.csv = to_csv(&report.lines, totals, currency).into_bytes();
                response.content_type = "text/csv; charset=utf-8".to_owned();
                response.filename = format!("bookings-{}.csv", launch.slug);
            }
            ReportFormat::Json => {
                response.rows = report
                    .lines
                    .iter()
                    .map(|line| BookingsReportRow {
                        booking_id: line.booking_id.clone(),
                        traveler_id: line.traveler_id.clone(),
                        traveler_name: line.traveler_name.clone(),
                        booking_status: line.booking_status.clone(),
                        seats: line.seats,
                        passenger_names: line.passenger_names.clone(),
                        amount: Some(convert::money(line.amount_minor, currency)),
                        refunded: Some(convert::money(line.refunded_minor, currency)),
                        net: Some(convert::money(line.net_minor(), currency)),
                    })
                    .collect();
            }
        }
        Ok(Response::new(response))
    }
}
