//! gRPC adapters of BookingAPI: decode, authorize, call the use case, encode. RPCs that no issue
//! has built yet keep the generated default and answer UNIMPLEMENTED.

mod catalogue;
pub mod convert;
mod internal;

use astro_proto::astrobookings::booking::v1::{
    CancelBookingRequest, CancelBookingResponse, CreateBookingRequest, CreateBookingResponse,
    GetBookingRequest, GetBookingResponse, GetCancellationQuoteRequest,
    GetCancellationQuoteResponse, GetLaunchRequest, GetLaunchResponse, GetTravelerProfileRequest,
    GetTravelerProfileResponse, ListBookingsRequest, ListBookingsResponse, ListLaunchesRequest,
    ListLaunchesResponse, RegisterTravelerRequest, RegisterTravelerResponse,
    UpdateTravelerProfileRequest, UpdateTravelerProfileResponse,
    booking_service_server::BookingService,
};
use astro_shared::{
    AppError, AppResult,
    auth::caller,
    paging::{QueryKey, page_size},
    validate::{self, bounded_text},
};
use serde::de::DeserializeOwned;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    app::{App, PageRequest, bookings::BookingFilter, reserve::Booked, travelers::Registration},
    domain::{
        booking::{BookingRequest, BookingStatus},
        traveler::TravelerDetails,
    },
};

/// Page size of ListBookings: default and maximum.
const BOOKINGS_PAGE: (u32, u32) = (20, 100);

/// Serves both the public `BookingService` and the internal `BookingInternalService`.
#[derive(Clone)]
pub struct BookingApi {
    app: App,
}

impl BookingApi {
    pub fn new(app: App) -> Self {
        Self { app }
    }
}

/// The caller's account id (the auth layer admitted only TRAVELER tokens here).
fn traveler_id<T>(request: &Request<T>) -> Result<Uuid, Status> {
    let caller = caller(request)?;
    Uuid::parse_str(&caller.user_id)
        .map_err(|_| Status::unauthenticated("the token's subject is not an account id"))
}

/// The page a list request asks for: its size (0 is `sizes`' default, larger ones are clamped
/// to its maximum) and where its token says it starts; a token of another query is refused.
fn page_request<P: DeserializeOwned>(
    key: QueryKey,
    requested_size: i32,
    token: &str,
    (default, maximum): (u32, u32),
) -> AppResult<PageRequest<P>> {
    let limit = page_size(requested_size, default, maximum)?;
    Ok(PageRequest {
        key,
        limit,
        after: key.position(token)?,
    })
}

/// A booking id of a traveler's request: one that is not a UUID names no booking of theirs.
fn own_booking_id(text: &str) -> AppResult<Uuid> {
    Uuid::parse_str(text.trim()).map_err(|_| AppError::NotFound("booking".into()))
}

/// ListBookings' tokens belong to its filters (the traveler is the token's bearer anyway).
fn bookings_key(filter: &BookingFilter) -> QueryKey {
    let statuses: Vec<&str> = filter
        .statuses
        .iter()
        .map(|status| status.as_str())
        .collect();
    QueryKey::of(&[
        "ListBookings",
        &statuses.join(","),
        &filter
            .launch_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
    ])
}

fn booking_filter(request: &ListBookingsRequest) -> AppResult<BookingFilter> {
    let statuses: Vec<BookingStatus> = convert::booking_statuses(&request.statuses)?;
    let launch_id = match request.launch_id.trim() {
        "" => None,
        text => Some(
            Uuid::parse_str(text)
                .map_err(|_| AppError::invalid("launch_id", "must be a launch id (UUID)"))?,
        ),
    };
    Ok(BookingFilter {
        statuses,
        launch_id,
    })
}

#[tonic::async_trait]
impl BookingService for BookingApi {
    async fn list_launches(
        &self,
        request: Request<ListLaunchesRequest>,
    ) -> Result<Response<ListLaunchesResponse>, Status> {
        let query = catalogue::list_query(request.get_ref())?;
        let response = self
            .app
            .catalogue
            .list(&query, catalogue::list_response)
            .await?;
        Ok(Response::new(response))
    }

    async fn get_launch(
        &self,
        request: Request<GetLaunchRequest>,
    ) -> Result<Response<GetLaunchResponse>, Status> {
        let key = crate::domain::catalogue::LaunchKey::parse(&request.get_ref().id_or_slug)?;
        let (entry, bookable) = self.app.catalogue.get(&key).await?;
        Ok(Response::new(GetLaunchResponse {
            launch: Some(catalogue::launch(&entry, bookable)),
        }))
    }

    async fn register_traveler(
        &self,
        request: Request<RegisterTravelerRequest>,
    ) -> Result<Response<RegisterTravelerResponse>, Status> {
        let input = request.into_inner();
        // Everything this service checks is checked before the account exists.
        let details =
            TravelerDetails::parse(&input.phone, &input.tax_id, input.billing_address.as_ref())?;
        let idempotency_key = validate::idempotency_key(&input.idempotency_key, false)?;
        let traveler = self
            .app
            .travelers
            .register(Registration {
                name: input.name,
                email: input.email,
                password: input.password,
                details,
                idempotency_key,
            })
            .await?;
        Ok(Response::new(RegisterTravelerResponse {
            traveler: Some(convert::traveler(&traveler)),
        }))
    }

    async fn get_traveler_profile(
        &self,
        request: Request<GetTravelerProfileRequest>,
    ) -> Result<Response<GetTravelerProfileResponse>, Status> {
        let id = traveler_id(&request)?;
        let traveler = self.app.travelers.own_profile(id).await?;
        Ok(Response::new(GetTravelerProfileResponse {
            traveler: Some(convert::traveler(&traveler)),
        }))
    }

    async fn update_traveler_profile(
        &self,
        request: Request<UpdateTravelerProfileRequest>,
    ) -> Result<Response<UpdateTravelerProfileResponse>, Status> {
        let id = traveler_id(&request)?;
        let input = request.into_inner();
        let details =
            TravelerDetails::parse(&input.phone, &input.tax_id, input.billing_address.as_ref())?;
        let traveler = self.app.travelers.update_profile(id, &details).await?;
        Ok(Response::new(UpdateTravelerProfileResponse {
            traveler: Some(convert::traveler(&traveler)),
        }))
    }

    async fn create_booking(
        &self,
        request: Request<CreateBookingRequest>,
    ) -> Result<Response<CreateBookingResponse>, Status> {
        let id = traveler_id(&request)?;
        let input = request.into_inner();
        let booking = BookingRequest::parse(
            &input.launch_id,
            &input.passengers,
            &input.payment_method_id,
            &input.idempotency_key,
        )?;
        let response = match self
            .app
            .reservations
            .create(id, booking, convert::kept_create_booking)
            .await?
        {
            Booked::New(reservation) => convert::create_booking(&reservation),
            Booked::Replay(kept) => convert::replayed_create_booking(&kept)?,
        };
        Ok(Response::new(response))
    }

    async fn list_bookings(
        &self,
        request: Request<ListBookingsRequest>,
    ) -> Result<Response<ListBookingsResponse>, Status> {
        let id = traveler_id(&request)?;
        let input = request.into_inner();
        let filter = booking_filter(&input)?;
        let page = page_request(
            bookings_key(&filter),
            input.page_size,
            &input.page_token,
            BOOKINGS_PAGE,
        )?;
        let page = self.app.bookings.list_own(id, &filter, page).await?;
        Ok(Response::new(ListBookingsResponse {
            bookings: page.items.iter().map(convert::booking).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn get_booking(
        &self,
        request: Request<GetBookingRequest>,
    ) -> Result<Response<GetBookingResponse>, Status> {
        let id = traveler_id(&request)?;
        let booking_id = own_booking_id(&request.get_ref().id)?;
        let (booking, history) = self.app.bookings.own_with_history(id, booking_id).await?;
        Ok(Response::new(GetBookingResponse {
            booking: Some(convert::booking(&booking)),
            launch_history: history
                .iter()
                .map(astro_shared::launch_history::StatusChangeRow::to_proto)
                .collect(),
        }))
    }

    async fn get_cancellation_quote(
        &self,
        request: Request<GetCancellationQuoteRequest>,
    ) -> Result<Response<GetCancellationQuoteResponse>, Status> {
        let id = traveler_id(&request)?;
        let booking_id = own_booking_id(&request.get_ref().id)?;
        let quote = self.app.bookings.quote_own(id, booking_id).await?;
        Ok(Response::new(convert::cancellation_quote(quote.as_ref())))
    }

    async fn cancel_booking(
        &self,
        request: Request<CancelBookingRequest>,
    ) -> Result<Response<CancelBookingResponse>, Status> {
        let id = traveler_id(&request)?;
        let input = request.into_inner();
        let note = bounded_text("reason", &input.reason, 500)?;
        let booking_id = own_booking_id(&input.id)?;
        let cancelled = self.app.bookings.cancel_own(id, booking_id, &note).await?;
        Ok(Response::new(CancelBookingResponse {
            booking: Some(convert::booking(&cancelled)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use astro_proto::astrobookings::booking::v1::BookingStatus as BookingStatusMessage;

    use super::*;
    use crate::domain::field_of;

    #[test]
    fn a_bookings_token_only_continues_the_filters_it_came_from() {
        let confirmed = ListBookingsRequest {
            statuses: vec![BookingStatusMessage::Confirmed.into()],
            ..Default::default()
        };
        let filter = booking_filter(&confirmed).unwrap();
        assert_eq!(filter.statuses, [BookingStatus::Confirmed]);
        let key = bookings_key(&filter);
        let token = key.token(&(1_800_000_000_000_000_i64, Uuid::from_u128(7)));
        let page: PageRequest<(i64, Uuid)> = page_request(key, 0, &token, BOOKINGS_PAGE).unwrap();
        assert_eq!(
            page.after,
            Some((1_800_000_000_000_000, Uuid::from_u128(7)))
        );
        assert_eq!(page.limit, 20);

        let other_launch = BookingFilter {
            launch_id: Some(Uuid::from_u128(9)),
            ..filter.clone()
        };
        let any_status = BookingFilter::default();
        for other in [other_launch, any_status] {
            let refused =
                page_request::<(i64, Uuid)>(bookings_key(&other), 0, &token, BOOKINGS_PAGE)
                    .unwrap_err();
            assert_eq!(field_of(refused), "page_token");
        }
        assert_eq!(
            field_of(
                page_request::<(i64, Uuid)>(key, 0, "1800000000000000.7.0", BOOKINGS_PAGE)
                    .unwrap_err()
            ),
            "page_token",
            "the old format is refused"
        );
        assert_eq!(
            page_request::<(i64, Uuid)>(key, 1000, "", BOOKINGS_PAGE)
                .unwrap()
                .limit,
            100
        );
    }
}
