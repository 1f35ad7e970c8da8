//! BookingInternalService: what other services ask of bookings. No tokens here (the gateway
//! never exposes it); the acting party is the platform.

use astro_proto::astrobookings::booking::v1::{
    CompleteLaunchBookingsRequest, CompleteLaunchBookingsResponse, ConfirmBookingPaymentRequest,
    ConfirmBookingPaymentResponse, FailBookingPaymentRequest, FailBookingPaymentResponse,
    LaunchTraveler, ListLaunchBookingsRequest, ListLaunchBookingsResponse,
    ListLaunchTravelersRequest, ListLaunchTravelersResponse, ListVipTravelersRequest,
    ListVipTravelersResponse, RecordRefundOutcomeRequest, RecordRefundOutcomeResponse,
    RefreshCatalogueEntriesRequest, RefreshCatalogueEntriesResponse, RefundLaunchBookingsRequest,
    RefundLaunchBookingsResponse, RefundState, SyncCatalogueRequest, SyncCatalogueResponse,
    booking_internal_service_server::BookingInternalService,
};
use astro_proto::astrobookings::common::v1::Contact;
use astro_shared::{
    AppError,
    changes::Origin,
    convert::money,
    paging::page_size,
    validate::{fingerprint, page_offset, page_token},
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{BookingApi, catalogue};
use crate::{
    SERVICE_NAME, bookings,
    domain::booking::CancellationReason,
    outcomes,
    store::{bookings::BookingRow, travelers::TravelerContactRow},
};

fn id_of(text: &str, field: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(text.trim()).map_err(|_| AppError::invalid(field, "must be a UUID"))
}

impl BookingApi {
    async fn launch_exists(&self, launch_id: Uuid) -> Result<(), AppError> {
        self.state
            .store
            .launch_summary(launch_id)
            .await?
            .map(|_| ())
            .ok_or_else(|| AppError::NotFound("launch".into()))
    }

    async fn existing_booking(&self, id: &str) -> Result<BookingRow, AppError> {
        let id = id_of(id, "booking_id")?;
        self.state
            .store
            .booking(id)
            .await?
            .ok_or_else(|| AppError::NotFound("booking".into()))
    }
}

/// Keyset paging by traveler id: the token is the last id of the page.
fn after_traveler(token: &str) -> Result<Option<Uuid>, AppError> {
    if token.is_empty() {
        return Ok(None);
    }
    Uuid::parse_str(token)
        .map(Some)
        .map_err(|_| AppError::invalid("page_token", "is not a token from a previous page"))
}

fn contact(row: &TravelerContactRow) -> Contact {
    Contact {
        user_id: row.id.to_string(),
        name: row.name.clone(),
        email: row.email.clone(),
        phone: row.phone.clone(),
    }
}

/// The next page's token: the last id, if the page was full.
fn next_traveler_token(rows: &[TravelerContactRow], limit: u32) -> String {
    if rows.len() < limit as usize {
        return String::new();
    }
    rows.last()
        .map(|row| row.id.to_string())
        .unwrap_or_default()
}

#[tonic::async_trait]
impl BookingInternalService for BookingApi {
    async fn list_launch_travelers(
        &self,
        request: Request<ListLaunchTravelersRequest>,
    ) -> Result<Response<ListLaunchTravelersResponse>, Status> {
        let input = request.into_inner();
        let launch_id = id_of(&input.launch_id, "launch_id")?;
        self.launch_exists(launch_id).await?;
        let limit = page_size(input.page_size, 200, 1_000)?;
        let rows = self
            .state
            .store
            .launch_travelers(
                launch_id,
                after_traveler(&input.page_token)?,
                i64::from(limit),
            )
            .await?;
        Ok(Response::new(ListLaunchTravelersResponse {
            travelers: rows
                .iter()
                .map(|row| LaunchTraveler {
                    contact: Some(contact(row)),
                    seats: i32::try_from(row.seats).unwrap_or(i32::MAX),
                    booking_ids: row.booking_ids.iter().map(Uuid::to_string).collect(),
                })
                .collect(),
            next_page_token: next_traveler_token(&rows, limit),
        }))
    }

    async fn list_vip_travelers(
        &self,
        request: Request<ListVipTravelersRequest>,
    ) -> Result<Response<ListVipTravelersResponse>, Status> {
        let input = request.into_inner();
        let limit = page_size(input.page_size, 200, 1_000)?;
        let rows = self
            .state
            .store
            .vip_travelers(after_traveler(&input.page_token)?, i64::from(limit))
            .await?;
        Ok(Response::new(ListVipTravelersResponse {
            travelers: rows.iter().map(contact).collect(),
            next_page_token: next_traveler_token(&rows, limit),
        }))
    }

    async fn list_launch_bookings(
        &self,
        request: Request<ListLaunchBookingsRequest>,
    ) -> Result<Response<ListLaunchBookingsResponse>, Status> {
        let input = request.into_inner();
        let launch_id = id_of(&input.launch_id, "launch_id")?;
        self.launch_exists(launch_id).await?;
        let statuses = super::convert::booking_statuses(&input.statuses)?;
        let limit = page_size(input.page_size, 200, 1_000)?;
        let query = fingerprint(&[&launch_id.to_string(), &statuses.join(",")]);
        let offset = page_offset(&input.page_token, query)?;
        let mut rows = self
            .state
            .store
            .launch_bookings(
                launch_id,
                &statuses,
                i64::try_from(offset).unwrap_or(i64::MAX),
                i64::from(limit) + 1,
            )
            .await?;
        let next_page_token = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            page_token(offset + u64::from(limit), query)
        } else {
            String::new()
        };
        Ok(Response::new(ListLaunchBookingsResponse {
            bookings: bookings::booking_messages(&self.state, &rows).await?,
            travelers: Default::default(),
            next_page_token,
        }))
    }

    async fn refund_launch_bookings(
        &self,
        request: Request<RefundLaunchBookingsRequest>,
    ) -> Result<Response<RefundLaunchBookingsResponse>, Status> {
        let input = request.into_inner();
        let launch_id = id_of(&input.launch_id, "launch_id")?;
        let totals = outcomes::refund_aborted_launch(&self.state, launch_id, &input.reason).await?;
        Ok(Response::new(RefundLaunchBookingsResponse {
            bookings_refunded: totals.bookings_refunded,
            holds_released: totals.holds_released,
            total_refunded: Some(money(totals.refunded_minor, &totals.currency)),
        }))
    }

    async fn complete_launch_bookings(
        &self,
        request: Request<CompleteLaunchBookingsRequest>,
    ) -> Result<Response<CompleteLaunchBookingsResponse>, Status> {
        let launch_id = id_of(&request.get_ref().launch_id, "launch_id")?;
        let (bookings_completed, holds_released) =
            outcomes::complete_flown_launch(&self.state, launch_id).await?;
        Ok(Response::new(CompleteLaunchBookingsResponse {
            bookings_completed,
            holds_released,
        }))
    }

    async fn confirm_booking_payment(
        &self,
        request: Request<ConfirmBookingPaymentRequest>,
    ) -> Result<Response<ConfirmBookingPaymentResponse>, Status> {
        let input = request.into_inner();
        let booking = self.existing_booking(&input.booking_id).await?;
        if input.amount.as_ref().map(|amount| amount.amount_minor) != Some(booking.total_minor) {
            return Err(AppError::invalid("amount", "must equal the booking's total").into());
        }
        let (row, _late) = crate::payments::accept_payment(
            &self.state,
            booking.id,
            &input.payment_id,
            &Origin::platform(SERVICE_NAME),
        )
        .await?;
        Ok(Response::new(ConfirmBookingPaymentResponse {
            booking: Some(bookings::booking_message(&self.state, &row).await?),
        }))
    }

    async fn fail_booking_payment(
        &self,
        request: Request<FailBookingPaymentRequest>,
    ) -> Result<Response<FailBookingPaymentResponse>, Status> {
        let input = request.into_inner();
        let booking = self.existing_booking(&input.booking_id).await?;
        let row = self
            .state
            .store
            .release_hold(
                booking.id,
                CancellationReason::PaymentFailed,
                &input.failure_message,
                false,
                &Origin::platform(SERVICE_NAME),
            )
            .await?
            .unwrap_or(booking);
        Ok(Response::new(FailBookingPaymentResponse {
            booking: Some(bookings::booking_message(&self.state, &row).await?),
        }))
    }

    async fn record_refund_outcome(
        &self,
        request: Request<RecordRefundOutcomeRequest>,
    ) -> Result<Response<RecordRefundOutcomeResponse>, Status> {
        let input = request.into_inner();
        let booking = self.existing_booking(&input.booking_id).await?;
        let refund_id = id_of(&input.refund_id, "refund_id")?;
        let state = match RefundState::try_from(input.state) {
            Ok(RefundState::Pending) => "PENDING",
            Ok(RefundState::Succeeded) => "SUCCEEDED",
            Ok(RefundState::Failed) => "FAILED",
            _ => {
                return Err(
                    AppError::invalid("state", "must be PENDING, SUCCEEDED or FAILED").into(),
                );
            }
        };
        let failure = Some(input.failure_message.as_str()).filter(|message| !message.is_empty());
        let row = self
            .state
            .store
            .record_refund_outcome(
                booking.id,
                refund_id,
                state,
                failure,
                &Origin::platform(SERVICE_NAME),
            )
            .await?
            .unwrap_or(booking);
        Ok(Response::new(RecordRefundOutcomeResponse {
            booking: Some(bookings::booking_message(&self.state, &row).await?),
        }))
    }

    async fn refresh_catalogue_entries(
        &self,
        request: Request<RefreshCatalogueEntriesRequest>,
    ) -> Result<Response<RefreshCatalogueEntriesResponse>, Status> {
        Ok(Response::new(
            catalogue::refresh_catalogue_entries(&self.state, request.into_inner()).await?,
        ))
    }

    async fn sync_catalogue(
        &self,
        request: Request<SyncCatalogueRequest>,
    ) -> Result<Response<SyncCatalogueResponse>, Status> {
        Ok(Response::new(
            catalogue::sync_catalogue(&self.state, request.into_inner()).await?,
        ))
    }
}
