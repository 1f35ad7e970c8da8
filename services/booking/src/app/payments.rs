//! Money moves through FinanceAPI only: charging a booking, cancelling an open charge, and
//! refunds. No database transaction is open while these calls run; what they decide is written
//! afterwards by conditional updates, and anything left half-done is finished by the sweepers
//! with the same idempotency keys (booking id for charges, refund id for refunds).

use astro_shared::{AppError, changes::Origin, error::PAYMENT_GATEWAY};
use uuid::Uuid;

use crate::{
    clients::finance::{ChargeState, FINANCE, Finance},
    domain::{
        booking::{BookingStatus, CancellationReason},
        refund::RefundState,
    },
    store::{
        Store,
        bookings::{BookingRow, Confirmation},
    },
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

#[derive(Clone)]
pub struct Payments {
    store: Store,
    finance: Finance,
}

impl Payments {
    pub fn new(store: Store, finance: Finance) -> Self {
        Self { store, finance }
    }

    /// Charges `booking` through FinanceAPI (idempotent on the booking id).
    pub async fn charge(
        &self,
        booking: &BookingRow,
        payment_method_id: &str,
        receipt_email: &str,
        slug: &str,
    ) -> Charge {
        let description = format!("AstroBookings {} seats {slug}", booking.seats);
        let charge = match self
            .finance
            .charge(booking, payment_method_id, receipt_email, description)
            .await
        {
            Ok(charge) => charge,
            // The payment method was refused: the traveler's field.
            Err(AppError::InvalidArgument { message, .. }) => {
                return Charge::NotCharged(AppError::invalid("payment_method_id", message));
            }
            // Only an unreachable payment gateway means nothing was submitted; FinanceAPI's
            // own database blinking may come after a charge, so the booking is kept.
            Err(error @ AppError::Unavailable { .. }) if names_payment_gateway(&error) => {
                return Charge::NotCharged(error);
            }
            Err(error) => return Charge::Unknown(AppError::upstream(FINANCE, error)),
        };
        match charge.state {
            ChargeState::Succeeded => Charge::Succeeded {
                payment_id: charge.payment_id,
            },
            ChargeState::Declined => Charge::Declined {
                message: if charge.failure_message.is_empty() {
                    "the payment was declined".to_owned()
                } else {
                    charge.failure_message
                },
            },
            ChargeState::RequiresAction => Charge::AwaitingCustomer {
                payment_id: charge.payment_id,
                client_secret: charge.client_secret,
            },
            // Submitted, outcome not known yet: the booking and its key are kept, and a retry
            // with the same key asks FinanceAPI again for the same charge.
            ChargeState::Pending => Charge::Unknown(AppError::Aborted(
                "the payment's outcome is not known yet; retry with the same idempotency key"
                    .into(),
            )),
            ChargeState::Unspecified => Charge::Unknown(AppError::internal(anyhow::anyhow!(
                "FinanceAPI answered a charge without a status"
            ))),
        }
    }

    /// The charge of booking `id` succeeded: the booking is confirmed, or, if its hold was
    /// given up meanwhile (the seats may be gone), the amount is refunded in full. Returns the
    /// booking as it is now and whether the payment came too late.
    pub async fn accept_payment(
        &self,
        id: Uuid,
        payment_id: &str,
        origin: &Origin,
    ) -> Result<(BookingRow, bool), AppError> {
        let (row, late) = match self.store.confirm(id, payment_id, origin).await? {
            Some(Confirmation::Confirmed(row)) => (row, false),
            Some(Confirmation::AlreadyConfirmed(row)) => {
                let late = row.status == BookingStatus::Cancelled.as_str();
                (row, late)
            }
            Some(Confirmation::RefundLatePayment(row)) => (row, true),
            None => return Err(AppError::NotFound("booking".into())),
        };
        if !late {
            return Ok((row, false));
        }
        // If this fails the refund stays due and the sweeper asks again with the same refund id.
        let row = match self.drive_refund(&row, origin).await {
            Ok(refunded) => refunded,
            Err(error) => {
                tracing::warn!(booking_id = %id, error = %astro_shared::telemetry::error_chain(&error), "late payment refund left to the sweeper");
                row
            }
        };
        Ok((row, true))
    }

    /// Settles an unpaid booking whose hold is given up (expired, launch over, traveler
    /// cancelled): the open charge is cancelled and the seats released, or, if the charge had
    /// succeeded after all, the booking is confirmed. Returns the booking as it ends up.
    pub async fn settle_hold(
        &self,
        booking: &BookingRow,
        reason: CancellationReason,
        note: &str,
        origin: &Origin,
    ) -> Result<Option<BookingRow>, AppError> {
        match self.finance.cancel_charge(booking.id).await {
            // No charge was ever made.
            Ok(()) | Err(AppError::NotFound(_)) => {}
            Err(AppError::FailedPrecondition(_) | AppError::Refused { .. }) => {
                // The charge SUCCEEDED: the traveler paid, so the booking stands.
                let payment_id = booking.payment_id.clone().unwrap_or_default();
                let (row, _late) = self.accept_payment(booking.id, &payment_id, origin).await?;
                return Ok(Some(row));
            }
            Err(error) => return Err(AppError::upstream(FINANCE, error)),
        }
        self.store
            .release_hold(booking.id, reason, note, false, origin)
            .await
    }

    /// Asks FinanceAPI for the refund `booking` is due (idempotent on its refund id) and
    /// records the outcome. Safe to call any number of times, from a request or a sweeper.
    pub async fn drive_refund(
        &self,
        booking: &BookingRow,
        origin: &Origin,
    ) -> Result<BookingRow, AppError> {
        let (Some(refund_id), Some("PENDING")) =
            (booking.refund_id, booking.refund_state.as_deref())
        else {
            return Ok(booking.clone());
        };
        let reason = booking
            .cancellation_reason
            .as_deref()
            .and_then(CancellationReason::parse);
        let (state, error) = match self.finance.refund(booking, refund_id, reason).await {
            Ok(refund) => match refund.state {
                RefundState::Failed => (RefundState::Failed, Some(refund.failure_message)),
                state => (state, None),
            },
            // FinanceAPI refuses this refund for good (e.g. more than is left): finance staff
            // follow up; retrying would not change the answer.
            Err(AppError::FailedPrecondition(message) | AppError::Refused { message, .. }) => {
                (RefundState::Failed, Some(message))
            }
            Err(error) => return Err(AppError::upstream(FINANCE, error)),
        };
        tracing::info!(booking_id = %booking.id, %refund_id, state = state.as_str(), "refund outcome");
        Ok(self
            .store
            .record_refund_outcome(booking.id, refund_id, state, error.as_deref(), origin)
            .await?
            .unwrap_or_else(|| booking.clone()))
    }

    /// Drives every refund in `bookings`, one after the other (each is one short call); the
    /// first error is returned after all were tried (the sweeper retries the rest anyway).
    pub async fn drive_refunds(
        &self,
        bookings: &[BookingRow],
        origin: &Origin,
    ) -> Result<Vec<Uuid>, AppError> {
        let mut done = Vec::new();
        let mut first_error = None;
        for booking in bookings {
            match self.drive_refund(booking, origin).await {
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
}

/// Whether an UNAVAILABLE from FinanceAPI names the payment gateway: nothing was submitted.
fn names_payment_gateway(error: &AppError) -> bool {
    matches!(error, AppError::Unavailable { dependency, .. } if dependency == PAYMENT_GATEWAY)
}

#[cfg(test)]
mod tests {
    use tonic::Status;

    use super::*;

    #[test]
    fn only_an_unreachable_payment_gateway_means_not_charged() {
        let gateway_down = Status::from(AppError::unavailable(
            PAYMENT_GATEWAY,
            anyhow::anyhow!("connection refused"),
        ));
        assert!(names_payment_gateway(&AppError::from(gateway_down)));
        let database_down = Status::from(AppError::unavailable(
            "OperationsDB",
            anyhow::anyhow!("connection refused"),
        ));
        assert!(!names_payment_gateway(&AppError::from(database_down)));
        assert!(!names_payment_gateway(&AppError::from(
            Status::unavailable("transport error")
        )));
    }
}
