//! Money moves through FinanceAPI only: charging a booking, cancelling an open charge, and
//! refunds. No database transaction is open while these calls run; what they decide is written
//! afterwards by conditional updates, and anything left half-done is finished by the sweepers
//! with the same idempotency keys (booking id for charges, refund id for refunds).

use astro_proto::astrobookings::finance::v1::{
    CancelBookingChargeRequest, ChargeBookingRequest, PaymentStatus, RefundBookingRequest,
    RefundReason, RefundStatus,
};
use astro_shared::{AppError, changes::Origin, convert::money};
use tonic::Code;
use uuid::Uuid;

use crate::{
    State,
    domain::booking::CancellationReason,
    store::bookings::{BookingRow, Confirmation},
};

/// What a charge attempt came to.
#[derive(Debug)]
pub enum Charge {
    Succeeded {
        payment_id: String,
    },
    Declined {
        message: String,
    },
    /// The gateway needs the customer (3-D Secure …); the webhook will tell.
    AwaitingCustomer {
        payment_id: String,
        client_secret: String,
    },
    /// FinanceAPI said nothing was charged (gateway unreachable, payment method refused).
    NotCharged(AppError),
    /// No answer: the charge may or may not exist. The hold sweeper settles it.
    Unknown(AppError),
}

/// Charges `booking` through FinanceAPI (idempotent on the booking id).
pub async fn charge(
    state: &State,
    booking: &BookingRow,
    payment_method_id: &str,
    receipt_email: &str,
    slug: &str,
) -> Charge {
    let request = ChargeBookingRequest {
        booking_id: booking.id.to_string(),
        traveler_id: booking.traveler_id.to_string(),
        launch_id: booking.launch_id.to_string(),
        agency_id: booking.agency_id.to_string(),
        amount: Some(money(booking.total_minor, &booking.currency)),
        payment_method_id: payment_method_id.to_owned(),
        receipt_email: receipt_email.to_owned(),
        description: format!("AstroBookings {} seats {slug}", booking.seats),
    };
    let charge = match state.finance.clone().charge_booking(request).await {
        Ok(response) => response.into_inner().charge.unwrap_or_default(),
        Err(status) => {
            return match status.code() {
                Code::InvalidArgument => Charge::NotCharged(AppError::invalid(
                    "payment_method_id",
                    status.message().to_owned(),
                )),
                // Only an unreachable payment gateway means nothing was submitted; FinanceAPI's
                // own database blinking may come after a charge, so the booking is kept.
                Code::Unavailable
                    if astro_shared::error::unavailable_dependency(&status).as_deref()
                        == Some(astro_shared::error::PAYMENT_GATEWAY) =>
                {
                    Charge::NotCharged(AppError::upstream("the payment gateway", status))
                }
                _ => Charge::Unknown(AppError::upstream("FinanceAPI", status)),
            };
        }
    };
    match PaymentStatus::try_from(charge.status).unwrap_or_default() {
        PaymentStatus::Succeeded => Charge::Succeeded {
            payment_id: charge.id,
        },
        PaymentStatus::Failed | PaymentStatus::Cancelled => Charge::Declined {
            message: if charge.failure_message.is_empty() {
                "the payment was declined".to_owned()
            } else {
                charge.failure_message
            },
        },
        PaymentStatus::RequiresAction => Charge::AwaitingCustomer {
            payment_id: charge.id,
            client_secret: charge.client_secret,
        },
        // Submitted, outcome not known yet: the booking and its key are kept, and a retry with
        // the same key asks FinanceAPI again for the same charge.
        PaymentStatus::Pending => Charge::Unknown(AppError::Aborted(
            "the payment's outcome is not known yet; retry with the same idempotency key".into(),
        )),
        PaymentStatus::Unspecified => Charge::Unknown(AppError::internal(anyhow::anyhow!(
            "FinanceAPI answered a charge without a status"
        ))),
    }
}

/// The charge of booking `id` succeeded: the booking is confirmed, or, if its hold was given up
/// meanwhile (the seats may be gone), the amount is refunded in full. Returns the booking as it
/// is now and whether the payment came too late.
pub async fn accept_payment(
    state: &State,
    id: Uuid,
    payment_id: &str,
    origin: &Origin,
) -> Result<(BookingRow, bool), AppError> {
    let (row, late) = match state.store.confirm(id, payment_id, origin).await? {
        Some(Confirmation::Confirmed(row)) => (row, false),
        Some(Confirmation::AlreadyConfirmed(row)) => {
            let late = row.status == "CANCELLED";
            (row, late)
        }
        Some(Confirmation::RefundLatePayment(row)) => (row, true),
        None => return Err(AppError::NotFound("booking".into())),
    };
    if !late {
        return Ok((row, false));
    }
    // If this fails the refund stays due and the sweeper asks again with the same refund id.
    let row = match drive_refund(state, &row, origin).await {
        Ok(refunded) => refunded,
        Err(error) => {
            tracing::warn!(booking_id = %id, error = %astro_shared::telemetry::error_chain(&error), "late payment refund left to the sweeper");
            row
        }
    };
    Ok((row, true))
}

/// Settles an unpaid booking whose hold is given up (expired, launch over, traveler cancelled):
/// the open charge is cancelled and the seats released, or, if the charge had succeeded after
/// all, the booking is confirmed. Returns the booking as it ends up.
pub async fn settle_hold(
    state: &State,
    booking: &BookingRow,
    reason: CancellationReason,
    note: &str,
    origin: &Origin,
) -> Result<Option<BookingRow>, AppError> {
    let request = CancelBookingChargeRequest {
        booking_id: booking.id.to_string(),
    };
    match state.finance.clone().cancel_booking_charge(request).await {
        Ok(_) => {}
        Err(status) if status.code() == Code::NotFound => {}
        Err(status) if status.code() == Code::FailedPrecondition => {
            // The charge SUCCEEDED: the traveler paid, so the booking stands.
            let payment_id = booking.payment_id.clone().unwrap_or_default();
            let (row, _late) = accept_payment(state, booking.id, &payment_id, origin).await?;
            return Ok(Some(row));
        }
        Err(status) => return Err(AppError::upstream("FinanceAPI", status)),
    }
    state
        .store
        .release_hold(booking.id, reason, note, false, origin)
        .await
}

/// Asks FinanceAPI for the refund `booking` is due (idempotent on its refund id) and records
/// the outcome. Safe to call any number of times, from a request or a sweeper.
pub async fn drive_refund(
    state: &State,
    booking: &BookingRow,
    origin: &Origin,
) -> Result<BookingRow, AppError> {
    let (Some(refund_id), Some("PENDING")) = (booking.refund_id, booking.refund_state.as_deref())
    else {
        return Ok(booking.clone());
    };
    let reason = match booking
        .cancellation_reason
        .as_deref()
        .and_then(CancellationReason::parse)
    {
        Some(CancellationReason::TravelerRequest) => RefundReason::TravelerCancellation,
        Some(CancellationReason::LaunchAborted) => RefundReason::LaunchAborted,
        // Paid after the hold was given up.
        _ => RefundReason::HoldExpired,
    };
    let request = RefundBookingRequest {
        refund_id: refund_id.to_string(),
        booking_id: booking.id.to_string(),
        amount: Some(money(booking.refund_minor, &booking.currency)),
        reason: reason.into(),
    };
    let (state_name, error) = match state.finance.clone().refund_booking(request).await {
        Ok(response) => {
            let refund = response.into_inner().refund.unwrap_or_default();
            match RefundStatus::try_from(refund.status).unwrap_or_default() {
                RefundStatus::Succeeded => ("SUCCEEDED", None),
                RefundStatus::Failed => ("FAILED", Some(refund.failure_message)),
                RefundStatus::Pending | RefundStatus::Unspecified => ("PENDING", None),
            }
        }
        // FinanceAPI refuses this refund for good (e.g. more than is left): finance staff
        // follow up; retrying would not change the answer.
        Err(status) if status.code() == Code::FailedPrecondition => {
            ("FAILED", Some(status.message().to_owned()))
        }
        Err(status) => return Err(AppError::upstream("FinanceAPI", status)),
    };
    tracing::info!(booking_id = %booking.id, %refund_id, state = state_name, "refund outcome");
    Ok(state
        .store
        .record_refund_outcome(booking.id, refund_id, state_name, error.as_deref(), origin)
        .await?
        .unwrap_or_else(|| booking.clone()))
}

/// Drives every refund in `bookings`, one after the other (each is one short call); the first
/// error is returned after all were tried (the sweeper retries the rest anyway).
pub async fn drive_refunds(
    state: &State,
    bookings: &[BookingRow],
    origin: &Origin,
) -> Result<Vec<Uuid>, AppError> {
    let mut done = Vec::new();
    let mut first_error = None;
    for booking in bookings {
        match drive_refund(state, booking, origin).await {
            Ok(booking) => done.push(booking.id),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(done),
    }
}
