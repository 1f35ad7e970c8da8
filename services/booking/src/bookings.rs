//! A traveler's bookings: reading them with their launch, quoting and cancelling.

use std::collections::HashMap;

use astro_proto::astrobookings::booking::v1::{
    Booking, GetCancellationQuoteResponse, RefundTier as RefundTierMessage,
};
use astro_shared::{
    AppError,
    changes::Origin,
    convert::{money, timestamp},
};
use chrono::Utc;
use uuid::Uuid;

use crate::{
    SERVICE_NAME, State,
    api::convert,
    domain::{
        booking::{BookingStatus, CancellationReason},
        reasons,
        refund::{self, RefundTier},
    },
    payments,
    store::bookings::BookingRow,
};

/// One booking as the contract shows it, with passengers and its launch's current state.
pub async fn booking_message(state: &State, row: &BookingRow) -> Result<Booking, AppError> {
    Ok(booking_messages(state, std::slice::from_ref(row))
        .await?
        .pop()
        .unwrap_or_default())
}

/// Several bookings, with two queries for all their passengers and launches.
pub async fn booking_messages(
    state: &State,
    rows: &[BookingRow],
) -> Result<Vec<Booking>, AppError> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let mut launch_ids: Vec<Uuid> = rows.iter().map(|row| row.launch_id).collect();
    launch_ids.sort_unstable();
    launch_ids.dedup();
    let passengers = state.store.passengers(&ids).await?;
    let launches: HashMap<Uuid, _> = state
        .store
        .launch_summaries(&launch_ids)
        .await?
        .into_iter()
        .map(|launch| (launch.id, launch))
        .collect();
    Ok(rows
        .iter()
        .map(|row| convert::booking(row, &passengers, launches.get(&row.launch_id)))
        .collect())
}

/// The traveler's booking, or NOT_FOUND (also for another traveler's).
pub async fn owned_booking(
    state: &State,
    traveler_id: Uuid,
    id: &str,
) -> Result<BookingRow, AppError> {
    let id = Uuid::parse_str(id.trim()).map_err(|_| AppError::NotFound("booking".into()))?;
    state
        .store
        .traveler_booking(id, traveler_id)
        .await?
        .ok_or_else(|| AppError::NotFound("booking".into()))
}

/// What cancelling now would refund.
pub async fn quote(
    state: &State,
    booking: &BookingRow,
) -> Result<GetCancellationQuoteResponse, AppError> {
    let not_cancellable = GetCancellationQuoteResponse::default();
    let launch = state.store.launch_summary(booking.launch_id).await?;
    let launch_open = launch
        .as_ref()
        .is_some_and(|launch| matches!(launch.status.as_str(), "SCHEDULED" | "DELAYED"));
    if !launch_open {
        return Ok(not_cancellable);
    }
    let (tier, refund_minor, valid_until) = match BookingStatus::parse(&booking.status) {
        Some(BookingStatus::PendingPayment) => (RefundTier::NotPaid, 0, booking.hold_expires_at),
        Some(BookingStatus::Confirmed) => {
            let launch_at = launch.map_or_else(Utc::now, |launch| launch.scheduled_at);
            let quote = refund::traveler_cancellation(Utc::now(), launch_at, booking.total_minor);
            (quote.tier, quote.refund_minor, quote.valid_until)
        }
        _ => return Ok(not_cancellable),
    };
    Ok(GetCancellationQuoteResponse {
        cancellable: true,
        refund_tier: RefundTierMessage::from_str_name(&format!("REFUND_TIER_{}", tier.as_str()))
            .unwrap_or_default()
            .into(),
        refund_percent: i32::try_from(tier.percent()).unwrap_or(0),
        refund_amount: Some(money(refund_minor, &booking.currency)),
        seats_released: tier.releases_seats(),
        valid_until: valid_until.map(timestamp),
    })
}

/// The traveler cancels: an unpaid booking is released without charge, a paid one refunded by
/// the policy. Repeating it on a booking the traveler already cancelled returns it unchanged
/// (and finishes its refund if that had not finished).
pub async fn cancel(
    state: &State,
    traveler_id: Uuid,
    booking: BookingRow,
    note: &str,
) -> Result<BookingRow, AppError> {
    let origin = Origin::user(SERVICE_NAME, &traveler_id.to_string());
    let not_cancellable = |why: &str| {
        AppError::refused(
            reasons::NOT_CANCELLABLE,
            format!("the booking cannot be cancelled: {why}"),
        )
    };
    let mut booking = booking;
    if booking.status == BookingStatus::PendingPayment.as_str() {
        match payments::settle_hold(
            state,
            &booking,
            CancellationReason::TravelerRequest,
            note,
            &origin,
        )
        .await?
        {
            Some(settled) => booking = settled,
            None => booking = reread(state, booking.id).await?,
        }
        if booking.status == BookingStatus::Cancelled.as_str() {
            return Ok(booking);
        }
    }
    match BookingStatus::parse(&booking.status) {
        Some(BookingStatus::Confirmed) => {
            let Some(cancelled) = state
                .store
                .cancel_confirmed(booking.id, traveler_id, note, &origin)
                .await?
            else {
                // A concurrent call may have cancelled it first: answer as a repeat does.
                let current = reread(state, booking.id).await?;
                if current.status == BookingStatus::Confirmed.as_str() {
                    return Err(not_cancellable("its launch is no longer open"));
                }
                return Box::pin(cancel(state, traveler_id, current, note)).await;
            };
            state.activity.info(
                "booking.cancelled",
                Some(&traveler_id.to_string()),
                format!(
                    "booking cancelled by the traveler, {} refunded ({})",
                    cancelled.refund_minor,
                    cancelled.refund_tier.as_deref().unwrap_or_default()
                ),
                &[("booking_id", &cancelled.id.to_string())],
            );
            // The refund is due in the database already; if this call fails the sweeper
            // finishes it with the same refund id.
            match payments::drive_refund(state, &cancelled, &origin).await {
                Ok(refunded) => Ok(refunded),
                Err(error) => {
                    tracing::warn!(booking_id = %cancelled.id, error = %astro_shared::telemetry::error_chain(&error), "refund left to the sweeper");
                    Ok(cancelled)
                }
            }
        }
        Some(BookingStatus::Cancelled)
            if booking.cancellation_reason.as_deref()
                == Some(CancellationReason::TravelerRequest.as_str()) =>
        {
            payments::drive_refund(state, &booking, &origin).await
        }
        Some(BookingStatus::Completed) => Err(not_cancellable("it is completed")),
        _ => Err(not_cancellable("it was cancelled for another reason")),
    }
}

async fn reread(state: &State, id: Uuid) -> Result<BookingRow, AppError> {
    state
        .store
        .booking(id)
        .await?
        .ok_or_else(|| AppError::NotFound("booking".into()))
}
