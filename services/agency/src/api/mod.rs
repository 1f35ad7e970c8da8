//! gRPC adapters of AgencyAPI: decode, call the domain and the store, encode. Who may call what
//! is enforced before these run, by the auth layer from the contracts' access options; here the
//! caller's id scopes every read and write to its own agency. RPCs that no issue has built yet
//! keep the generated default and answer UNIMPLEMENTED.

mod convert;
mod internal;

use astro_proto::astrobookings::{
    agency::v1::{
        AbortLaunchRequest, AbortLaunchResponse, Agency, AgencyLaunchSortField, BookingsReportRow,
        BookingsReportTotals, CreateRocketRequest, CreateRocketResponse, DelayLaunchRequest,
        DelayLaunchResponse, DeleteRocketRequest, DeleteRocketResponse, FailLaunchRequest,
        FailLaunchResponse, GetAgencyLaunchRequest, GetAgencyLaunchResponse,
        GetAgencyProfileRequest, GetAgencyProfileResponse, GetBookingsReportRequest,
        GetBookingsReportResponse, GetRocketRequest, GetRocketResponse, Launch,
        LaunchWithOccupancy, ListAgencyLaunchesRequest, ListAgencyLaunchesResponse,
        ListRocketsRequest, ListRocketsResponse, RetireRocketRequest, RetireRocketResponse,
        ScheduleLaunchRequest, ScheduleLaunchResponse, SucceedLaunchRequest, SucceedLaunchResponse,
        UpdateAgencyProfileRequest, UpdateAgencyProfileResponse, UpdateRocketRequest,
        UpdateRocketResponse, Viability, agency_service_server::AgencyService,
    },
    common::v1::{Role, SortOrder},
};
use astro_shared::{
    AppError,
    auth::{Caller, caller},
    paging::page_size,
    telemetry::current_traceparent,
};
use chrono::Utc;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    SERVICE_NAME, State,
    domain::{
        self,
        launch::{LaunchInput, NewLaunch, StatusAction, parse_id},
        profile::{AgencyProfile, ProfileInput},
        report::{ReportFormat, ReportTotals, to_csv},
        rocket::{self, NewRocket, RocketChanges},
    },
    store::{
        Origin, Page,
        launches::{LaunchFilter, LaunchRow, LaunchSort},
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

/// The caller's agency id: the id of its account.
fn agency_id(caller: &Caller) -> Result<Uuid, AppError> {
    Uuid::parse_str(&caller.user_id).map_err(|_| {
        AppError::internal(anyhow::anyhow!(
            "the caller's user id {:?} is not a UUID",
            caller.user_id
        ))
    })
}

/// The origin of a write made for `caller` in the current request's trace.
fn origin(caller: &Caller) -> Origin {
    Origin {
        service: SERVICE_NAME,
        user_id: Some(caller.user_id.clone()),
        traceparent: current_traceparent(),
    }
}

/// An id from the request path; a malformed one is simply not found.
fn path_id(id: &str, what: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(id.trim()).map_err(|_| AppError::NotFound(what.to_owned()))
}

fn with_occupancy(row: &LaunchRow) -> LaunchWithOccupancy {
    LaunchWithOccupancy {
        launch: Some(convert::launch(row)),
        occupancy: Some(convert::occupancy(row)),
    }
}

impl AgencyApi {
    /// Applies a status action for the caller and logs it.
    async fn change_status(
        &self,
        caller: &Caller,
        id: &str,
        action: Result<StatusAction, AppError>,
    ) -> Result<Launch, Status> {
        let agency = agency_id(caller)?;
        let id = path_id(id, "launch")?;
        let action = action?;
        let (row, changed) = self
            .state
            .store
            .change_launch_status(agency, id, &action, Utc::now(), &origin(caller))
            .await?;
        if changed {
            self.state.activity.info(
                &format!("launch.{}", row.status.to_lowercase()),
                Some(&caller.user_id),
                format!("launch {} is now {}", row.slug, row.status),
                &[("launch_id", &row.id.to_string()), ("status", &row.status)],
            );
        }
        Ok(convert::launch(&row))
    }
}

#[tonic::async_trait]
impl AgencyService for AgencyApi {
    async fn get_agency_profile(
        &self,
        request: Request<GetAgencyProfileRequest>,
    ) -> Result<Response<GetAgencyProfileResponse>, Status> {
        let caller = caller(&request)?;
        let agency = match self.state.store.agency(agency_id(caller)?).await? {
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
        let row = self
            .state
            .store
            .put_agency_profile(agency_id(caller)?, &profile, &origin(caller))
            .await?;
        self.state.activity.info(
            "agency.profile_updated",
            Some(&caller.user_id),
            "agency profile updated",
            &[],
        );
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
        let row = self
            .state
            .store
            .create_rocket(agency_id(caller)?, &rocket, &origin(caller))
            .await?;
        self.state.activity.info(
            "rocket.created",
            Some(&caller.user_id),
            format!("rocket {} added", row.name),
            &[("rocket_id", &row.id.to_string())],
        );
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
        let limit = page_size(input.page_size, ROCKETS_PAGE_DEFAULT, ROCKETS_PAGE_MAX)?;
        let query = domain::fingerprint(&[
            &caller.user_id,
            &input.include_retired.to_string(),
            &input.range.to_string(),
        ]);
        let offset = domain::page_offset(&input.page_token, query)?;
        let range = match (input.range, convert::range_from_proto(input.range)) {
            (0, _) => None,
            (_, Some(range)) => Some(range),
            (_, None) => return Err(AppError::invalid("range", "unknown rocket range").into()),
        };
        let rows = self
            .state
            .store
            .rockets(
                agency_id(caller)?,
                input.include_retired,
                range,
                Page { limit, offset },
            )
            .await?;
        let next_page_token = if rows.len() == limit as usize {
            domain::page_token(offset + u64::from(limit), query)
        } else {
            String::new()
        };
        Ok(Response::new(ListRocketsResponse {
            rockets: rows.iter().map(convert::rocket).collect(),
            next_page_token,
        }))
    }

    async fn get_rocket(
        &self,
        request: Request<GetRocketRequest>,
    ) -> Result<Response<GetRocketResponse>, Status> {
        let caller = caller(&request)?;
        let id = path_id(&request.get_ref().id, "rocket")?;
        let row = self.state.store.rocket(agency_id(caller)?, id).await?;
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
        let row = self
            .state
            .store
            .update_rocket(agency_id(caller)?, id, &changes, &origin(caller))
            .await?;
        self.state.activity.info(
            "rocket.updated",
            Some(&caller.user_id),
            format!("rocket {} edited", row.name),
            &[("rocket_id", &row.id.to_string())],
        );
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
        self.state
            .store
            .delete_rocket(agency_id(caller)?, id, &origin(caller))
            .await?;
        self.state.activity.info(
            "rocket.deleted",
            Some(&caller.user_id),
            "rocket deleted",
            &[("rocket_id", &id.to_string())],
        );
        Ok(Response::new(DeleteRocketResponse {}))
    }

    async fn retire_rocket(
        &self,
        request: Request<RetireRocketRequest>,
    ) -> Result<Response<RetireRocketResponse>, Status> {
        let caller = caller(&request)?;
        let id = path_id(&request.get_ref().id, "rocket")?;
        let row = self
            .state
            .store
            .retire_rocket(agency_id(caller)?, id, &origin(caller))
            .await?;
        self.state.activity.info(
            "rocket.retired",
            Some(&caller.user_id),
            format!("rocket {} retired", row.name),
            &[("rocket_id", &id.to_string())],
        );
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
        let row = self
            .state
            .store
            .schedule_launch(agency_id(caller)?, &launch, &origin(caller))
            .await?;
        self.state.activity.info(
            "launch.scheduled",
            Some(&caller.user_id),
            format!("launch {} scheduled", row.slug),
            &[("launch_id", &row.id.to_string()), ("slug", &row.slug)],
        );
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
        let viable = match Viability::try_from(input.viability) {
            Ok(Viability::Unspecified) => None,
            Ok(Viability::Viable) => Some(true),
            Ok(Viability::NotViable) => Some(false),
            Err(_) => return Err(AppError::invalid("viability", "unknown viability").into()),
        };
        let sort = match AgencyLaunchSortField::try_from(input.sort_by) {
            Ok(AgencyLaunchSortField::Unspecified | AgencyLaunchSortField::ScheduledAt) => {
                LaunchSort::ScheduledAt
            }
            Ok(AgencyLaunchSortField::OccupancyPercent) => LaunchSort::OccupancyPercent,
            Ok(AgencyLaunchSortField::SeatsBooked) => LaunchSort::SeatsBooked,
            Ok(AgencyLaunchSortField::SeatsAvailable) => LaunchSort::SeatsAvailable,
            Ok(AgencyLaunchSortField::CreatedAt) => LaunchSort::CreatedAt,
            Err(_) => return Err(AppError::invalid("sort_by", "unknown sort field").into()),
        };
        let descending = match SortOrder::try_from(input.order) {
            Ok(SortOrder::Unspecified | SortOrder::Ascending) => false,
            Ok(SortOrder::Descending) => true,
            Err(_) => return Err(AppError::invalid("order", "unknown sort order").into()),
        };
        let time = |field: &'static str, value: Option<&prost_types::Timestamp>| match value {
            None => Ok(None),
            Some(time) => convert::from_timestamp(Some(time))
                .map(Some)
                .ok_or_else(|| AppError::invalid(field, "is not a valid timestamp")),
        };
        let rocket_id = if input.rocket_id.is_empty() {
            None
        } else {
            Some(parse_id("rocket_id", &input.rocket_id)?)
        };
        let filter = LaunchFilter {
            agency_id: Some(agency_id(caller)?),
            statuses,
            viable,
            scheduled_after: time("scheduled_after", input.scheduled_after.as_ref())?,
            scheduled_before: time("scheduled_before", input.scheduled_before.as_ref())?,
            rocket_id,
            ..LaunchFilter::default()
        };
        let query = domain::fingerprint(&[
            &caller.user_id,
            &format!("{:?}", input.statuses),
            &input.viability.to_string(),
            &format!("{:?}", filter.scheduled_after),
            &format!("{:?}", filter.scheduled_before),
            &input.rocket_id,
            &input.sort_by.to_string(),
            &input.order.to_string(),
        ]);
        let offset = domain::page_offset(&input.page_token, query)?;
        let (rows, total) = self
            .state
            .store
            .launches(&filter, sort, descending, Page { limit, offset })
            .await?;
        let next_offset = offset + rows.len() as u64;
        let next_page_token =
            if rows.len() == limit as usize && next_offset < u64::try_from(total).unwrap_or(0) {
                domain::page_token(next_offset, query)
            } else {
                String::new()
            };
        Ok(Response::new(ListAgencyLaunchesResponse {
            launches: rows.iter().map(with_occupancy).collect(),
            next_page_token,
            total_size: i32::try_from(total).unwrap_or(i32::MAX),
        }))
    }

    async fn get_agency_launch(
        &self,
        request: Request<GetAgencyLaunchRequest>,
    ) -> Result<Response<GetAgencyLaunchResponse>, Status> {
        let caller = caller(&request)?;
        let id = path_id(&request.get_ref().id, "launch")?;
        let row = self
            .state
            .store
            .launch(Some(agency_id(caller)?), id)
            .await?;
        let history = self.state.store.launch_history(id).await?;
        Ok(Response::new(GetAgencyLaunchResponse {
            launch: Some(convert::launch(&row)),
            occupancy: Some(convert::occupancy(&row)),
            history: history
                .iter()
                .map(astro_shared::launch_history::StatusChangeRow::to_proto)
                .collect(),
        }))
    }

    async fn delay_launch(
        &self,
        request: Request<DelayLaunchRequest>,
    ) -> Result<Response<DelayLaunchResponse>, Status> {
        let caller = caller(&request)?;
        let input = request.get_ref();
        let action = StatusAction::delay(
            convert::from_timestamp(input.new_scheduled_at.as_ref()),
            &input.reason,
            Utc::now(),
        );
        let launch = self.change_status(caller, &input.id, action).await?;
        Ok(Response::new(DelayLaunchResponse {
            launch: Some(launch),
        }))
    }

    async fn abort_launch(
        &self,
        request: Request<AbortLaunchRequest>,
    ) -> Result<Response<AbortLaunchResponse>, Status> {
        let caller = caller(&request)?;
        let input = request.get_ref();
        let action = StatusAction::abort(&input.reason);
        let launch = self.change_status(caller, &input.id, action).await?;
        Ok(Response::new(AbortLaunchResponse {
            launch: Some(launch),
        }))
    }

    async fn succeed_launch(
        &self,
        request: Request<SucceedLaunchRequest>,
    ) -> Result<Response<SucceedLaunchResponse>, Status> {
        let caller = caller(&request)?;
        let input = request.get_ref();
        let action = StatusAction::succeed(&input.reason);
        let launch = self.change_status(caller, &input.id, action).await?;
        Ok(Response::new(SucceedLaunchResponse {
            launch: Some(launch),
        }))
    }

    async fn fail_launch(
        &self,
        request: Request<FailLaunchRequest>,
    ) -> Result<Response<FailLaunchResponse>, Status> {
        let caller = caller(&request)?;
        let input = request.get_ref();
        let action = StatusAction::fail(&input.reason);
        let launch = self.change_status(caller, &input.id, action).await?;
        Ok(Response::new(FailLaunchResponse {
            launch: Some(launch),
        }))
    }

    async fn get_bookings_report(
        &self,
        request: Request<GetBookingsReportRequest>,
    ) -> Result<Response<GetBookingsReportResponse>, Status> {
        let caller = caller(&request)?;
        let input = request.get_ref();
        let format = ReportFormat::parse(&input.format)?;
        // FINANCE reads every agency's reports; an agency only its own.
        let scope = if caller.role == Role::Finance {
            None
        } else {
            Some(agency_id(caller)?)
        };
        let id = path_id(&input.id, "launch")?;
        let launch = self.state.store.launch(scope, id).await?;
        if launch.status != "SUCCESSFUL" {
            return Err(AppError::FailedPrecondition(
                "a bookings report exists only for a SUCCESSFUL launch".into(),
            )
            .into());
        }
        let lines = self.state.store.report_lines(id).await?;
        let totals = ReportTotals::of(&lines);
        let currency = launch.currency.as_str();
        let mut response = GetBookingsReportResponse {
            launch: Some(convert::launch(&launch)),
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
                response.csv = to_csv(&lines, &totals, currency).into_bytes();
                response.content_type = "text/csv; charset=utf-8".to_owned();
                response.filename = format!("bookings-{}.csv", launch.slug);
            }
            ReportFormat::Json => {
                response.rows = lines
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
        self.state.activity.info(
            "launch.bookings_report",
            Some(&caller.user_id),
            format!("bookings report of {} read", launch.slug),
            &[("launch_id", &id.to_string())],
        );
        Ok(Response::new(response))
    }
}
