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
    AppError,
    auth::caller,
    paging::page_size,
    validate::{bounded_text, fingerprint},
};
use chrono::{DateTime, Utc};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    State, bookings,
    domain::{booking::BookingRequest, traveler::TravelerDetails},
    reserve, travelers,
};

/// Serves both the public `BookingService` and the internal `BookingInternalService`.
#[derive(Clone)]
pub struct BookingApi {
    state: State,
}

impl BookingApi {
    pub fn new(state: State) -> Self {
        Self { state }
    }
}

/// The caller's account id (the auth layer admitted only TRAVELER tokens here).
fn traveler_id<T>(request: &Request<T>) -> Result<Uuid, Status> {
    let caller = caller(request)?;
    Uuid::parse_str(&caller.user_id)
        .map_err(|_| Status::unauthenticated("the token's subject is not an account id"))
}

#[tonic::async_trait]
impl BookingService for BookingApi {
    async fn list_launches(
        &self,
        request: Request<ListLaunchesRequest>,
    ) -> Result<Response<ListLaunchesResponse>, Status> {
        Ok(Response::new(
            catalogue::list_launches(&self.state, request.into_inner()).await?,
        ))
    }

    async fn get_launch(
        &self,
        request: Request<GetLaunchRequest>,
    ) -> Result<Response<GetLaunchResponse>, Status> {
        Ok(Response::new(
            catalogue::get_launch(&self.state, request.into_inner()).await?,
        ))
    }

    async fn register_traveler(
        &self,
        request: Request<RegisterTravelerRequest>,
    ) -> Result<Response<RegisterTravelerResponse>, Status> {
        let traveler = travelers::register(&self.state, request.into_inner()).await?;
        Ok(Response::new(RegisterTravelerResponse {
            traveler: Some(convert::traveler(&traveler)),
        }))
    }

    async fn get_traveler_profile(
        &self,
        request: Request<GetTravelerProfileRequest>,
    ) -> Result<Response<GetTravelerProfileResponse>, Status> {
        let id = traveler_id(&request)?;
        let traveler = travelers::own_profile(&self.state, &id.to_string()).await?;
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
        let traveler = travelers::update_profile(&self.state, &id.to_string(), &details).await?;
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
        Ok(Response::new(
            reserve::create_booking(&self.state, id, booking).await?,
        ))
    }

    async fn list_bookings(
        &self,
        request: Request<ListBookingsRequest>,
    ) -> Result<Response<ListBookingsResponse>, Status> {
        let id = traveler_id(&request)?;
        let input = request.into_inner();
        let statuses = convert::booking_statuses(&input.statuses)?;
        let launch_id = match input.launch_id.trim() {
            "" => None,
            text => Some(
                Uuid::parse_str(text)
                    .map_err(|_| AppError::invalid("launch_id", "must be a launch id (UUID)"))?,
            ),
        };
        let limit = page_size(input.page_size, 20, 100)?;
        let query = fingerprint(&[
            &statuses.join(","),
            &launch_id.map(|id| id.to_string()).unwrap_or_default(),
        ]);
        let after = parse_cursor(&input.page_token, query)?;
        let mut rows = self
            .state
            .store
            .traveler_bookings(id, &statuses, launch_id, after, i64::from(limit) + 1)
            .await?;
        let next_page_token = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last()
                .map(|last| cursor(last.audit.created_at, last.id, query))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(ListBookingsResponse {
            bookings: bookings::booking_messages(&self.state, &rows).await?,
            next_page_token,
        }))
    }

    async fn get_booking(
        &self,
        request: Request<GetBookingRequest>,
    ) -> Result<Response<GetBookingResponse>, Status> {
        let id = traveler_id(&request)?;
        let booking = bookings::owned_booking(&self.state, id, &request.get_ref().id).await?;
        let history = self.state.store.launch_history(booking.launch_id).await?;
        Ok(Response::new(GetBookingResponse {
            booking: Some(bookings::booking_message(&self.state, &booking).await?),
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
        let booking = bookings::owned_booking(&self.state, id, &request.get_ref().id).await?;
        Ok(Response::new(bookings::quote(&self.state, &booking).await?))
    }

    async fn cancel_booking(
        &self,
        request: Request<CancelBookingRequest>,
    ) -> Result<Response<CancelBookingResponse>, Status> {
        let id = traveler_id(&request)?;
        let input = request.into_inner();
        let note = bounded_text("reason", &input.reason, 500)?;
        let booking = bookings::owned_booking(&self.state, id, &input.id).await?;
        let cancelled = bookings::cancel(&self.state, id, booking, &note).await?;
        Ok(Response::new(CancelBookingResponse {
            booking: Some(bookings::booking_message(&self.state, &cancelled).await?),
        }))
    }
}

/// A keyset page token: the last row's (created_at, id), bound to the query's filters.
fn cursor(created_at: DateTime<Utc>, id: Uuid, query: u64) -> String {
    format!(
        "{}.{}.{query:016x}",
        created_at.timestamp_micros(),
        id.simple()
    )
}

fn parse_cursor(token: &str, query: u64) -> Result<Option<(DateTime<Utc>, Uuid)>, AppError> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || {
        AppError::invalid(
            "page_token",
            "is not a token from a previous page of this query",
        )
    };
    let mut parts = token.split('.');
    let (Some(micros), Some(id), Some(mark), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    if mark != format!("{query:016x}") {
        return Err(invalid());
    }
    let created_at = micros
        .parse()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(invalid)?;
    let id = Uuid::parse_str(id).map_err(|_| invalid())?;
    Ok(Some((created_at, id)))
}
