//! Booking charges: charging a booking (creating, then confirming, its payment intent), and
//! cancelling a charge that has not succeeded. An unreachable gateway is UNAVAILABLE naming
//! PaymentGW only while nothing was submitted; once an intent exists, an outage answers the
//! charge as it stands (PENDING), and a confirmation whose answer is lost is read back.

use astro_proto::astrobookings::system::v1::LogLevel;
use astro_shared::{AppError, activity::ActivityLog, changes::Origin};
use uuid::Uuid;

use super::{GatewayTiming, POLL_INTERVAL, detached};
use crate::{
    SERVICE_NAME,
    domain::charge::{IntentState, NewCharge, PaymentStatus},
    payment_gateway::{GatewayError, Intent, PaymentGateway},
    store::{Leased, Store, payments::PaymentRow},
};

/// Charges and cancellations of bookings.
#[derive(Clone)]
pub struct Payments {
    store: Store,
    gateway: PaymentGateway,
    activity: ActivityLog,
    timing: GatewayTiming,
}

impl Payments {
    pub fn new(
        store: Store,
        gateway: PaymentGateway,
        activity: ActivityLog,
        timing: GatewayTiming,
    ) -> Self {
        Self {
            store,
            gateway,
            activity,
            timing,
        }
    }

    /// Charges a booking (idempotent on the booking id): the first charge recorded for the
    /// booking, as the gateway last said. A declined card is a FAILED charge, not an error.
    pub async fn charge(&self, charge: NewCharge) -> Result<PaymentRow, AppError> {
        let this = self.clone();
        detached(async move { this.charge_now(charge).await }).await
    }

    /// Cancels a booking's charge that has not succeeded (idempotent).
    pub async fn cancel(&self, booking_id: Uuid) -> Result<PaymentRow, AppError> {
        let this = self.clone();
        detached(async move { this.cancel_now(booking_id).await }).await
    }

    async fn charge_now(&self, charge: NewCharge) -> Result<PaymentRow, AppError> {
        let origin = Origin::user(SERVICE_NAME, &charge.traveler_id.to_string());
        let (row, created) = self.store.insert_or_get_payment(&charge, &origin).await?;
        if !created && charge.differs_from(row.amount_minor, &row.currency) {
            return Err(AppError::refused(
                "CHARGE_MISMATCH",
                format!(
                    "booking {} was already charged {} {}; a retry must ask for the same amount",
                    row.booking_id, row.amount_minor, row.currency
                ),
            )
            .with_metadata("booking_id", row.booking_id.to_string()));
        }
        self.settle_charge(row, &origin).await
    }

    /// Brings an open charge as far as the gateway can take it now, or waits a little for the
    /// attempt that holds its lease.
    async fn settle_charge(
        &self,
        row: PaymentRow,
        origin: &Origin,
    ) -> Result<PaymentRow, AppError> {
        let mut row = row;
        let deadline = tokio::time::Instant::now() + self.timing.wait;
        loop {
            if row.status().is_settled() {
                return Ok(row);
            }
            if let Some((claimed, token)) =
                self.store.claim_payment(row.id, self.timing.lease).await?
            {
                let outcome = self.drive_charge(claimed, token, origin).await;
                self.release_payment(row.id, token).await;
                return outcome;
            }
            // Another attempt is at the gateway (or died there and its lease has not run
            // out): its outcome, or the charge as it stands (PENDING: the outcome comes later).
            if tokio::time::Instant::now() >= deadline {
                return Ok(row);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
            row = self.store.payment(row.id).await?;
        }
    }

    /// With the charge's lease: create the intent if there is none, confirm it if it awaits
    /// confirmation, and record what the gateway says.
    async fn drive_charge(
        &self,
        row: PaymentRow,
        token: Uuid,
        origin: &Origin,
    ) -> Result<PaymentRow, AppError> {
        let intent = match row.gateway_payment_id.as_deref() {
            // The intent was submitted and may have been confirmed: a gateway outage now says
            // nothing about the money, so the charge is answered as it stands (PENDING), never
            // as UNAVAILABLE ("nothing charged").
            Some(intent_id) => match self.gateway.retrieve_intent(intent_id).await {
                Ok(intent) => intent,
                Err(GatewayError::Unavailable(cause)) => {
                    tracing::warn!(
                        intent = intent_id,
                        error = %format!("{cause:#}"),
                        "gateway unavailable; the charge stays as recorded"
                    );
                    return self.store.payment(row.id).await;
                }
                Err(error) => return Err(error.into()),
            },
            None => {
                if !self.renew_payment(row.id, token).await? {
                    return self.store.payment(row.id).await;
                }
                match self.gateway.create_intent(&row).await {
                    Ok(intent) => {
                        let recorded = self
                            .store
                            .record_intent(
                                row.id,
                                &intent.id,
                                intent.client_secret.as_deref(),
                                origin,
                            )
                            .await?;
                        if recorded.is_none() {
                            // Another attempt recorded an intent first, or the charge was
                            // cancelled meanwhile. The real API answers a repeated creation
                            // with the same intent (same idempotency key), which is then the
                            // recorded one; any other intent must never be confirmed.
                            let current = self.store.payment(row.id).await?;
                            if current.gateway_payment_id.as_deref() != Some(intent.id.as_str()) {
                                self.abandon_intent(&intent.id).await;
                            }
                            return Ok(current);
                        }
                        intent
                    }
                    // Refused before any money moved (unknown payment method, amount out of
                    // range...): the charge failed; a new booking may try another card.
                    Err(
                        GatewayError::Declined { message } | GatewayError::Rejected { message, .. },
                    ) => {
                        return self
                            .apply(&row, &IntentState::Declined { message }, origin)
                            .await;
                    }
                    Err(error) => return Err(error.into()),
                }
            }
        };
        let intent = if intent.state == IntentState::AwaitingConfirmation {
            if !self.renew_payment(row.id, token).await? {
                return self.store.payment(row.id).await;
            }
            self.confirm(intent).await?
        } else {
            intent
        };
        self.apply(&row, &intent.state, origin).await
    }

    /// Confirms an intent; a refusal is read back from the intent itself (a decline leaves it
    /// wanting another payment method, a concurrent confirmation leaves it settled).
    async fn confirm(&self, intent: Intent) -> Result<Intent, AppError> {
        match self.gateway.confirm_intent(&intent.id).await {
            Ok(confirmed) => Ok(confirmed),
            Err(GatewayError::Declined { message }) => {
                match self.gateway.retrieve_intent(&intent.id).await {
                    Ok(read) if read.state != IntentState::AwaitingConfirmation => Ok(read),
                    _ => Ok(Intent {
                        state: IntentState::Declined { message },
                        ..intent
                    }),
                }
            }
            Err(GatewayError::Rejected { message, .. }) => {
                let read = self.gateway.retrieve_intent(&intent.id).await?;
                if read.state != IntentState::AwaitingConfirmation {
                    return Ok(read);
                }
                // Refused for good while still confirmable: cancel it, so nothing can charge it
                // after we recorded the charge as failed.
                self.abandon_intent(&intent.id).await;
                Ok(Intent {
                    state: IntentState::Declined { message },
                    ..read
                })
            }
            // A timeout, 5xx or 429 after the confirmation was sent: it may have charged the
            // card. Never answer "nothing charged" (the caller would free its booking and a
            // retry would charge again): read the intent back, and if even that fails the
            // charge stays PENDING for a retry with the same booking id, or the webhook, to
            // settle. A confirmation that never arrived leaves the intent awaiting one, and the
            // next attempt confirms it (once: the confirmation is idempotent too).
            Err(GatewayError::Unavailable(cause)) => {
                tracing::warn!(
                    intent = %intent.id,
                    error = %format!("{cause:#}"),
                    "payment confirmation outcome unknown; reading the intent back"
                );
                match self.gateway.retrieve_intent(&intent.id).await {
                    Ok(read) => Ok(read),
                    Err(error) => {
                        tracing::warn!(intent = %intent.id, %error, "charge left PENDING");
                        Ok(Intent {
                            state: IntentState::Processing,
                            ..intent
                        })
                    }
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Best effort: cancels an intent that must never be confirmed. It was never confirmed, so
    /// leaving it open would move no money either.
    async fn abandon_intent(&self, intent_id: &str) {
        if let Err(error) = self.gateway.cancel_intent(intent_id).await {
            tracing::warn!(intent = intent_id, %error, "could not cancel an abandoned payment intent");
        }
    }

    /// Records the gateway's `state` on the charge and logs the change, if any.
    async fn apply(
        &self,
        row: &PaymentRow,
        state: &IntentState,
        origin: &Origin,
    ) -> Result<PaymentRow, AppError> {
        let (updated, changed) = self.store.apply_intent_state(row.id, state, origin).await?;
        if changed {
            self.log_charge(&updated);
        }
        Ok(updated)
    }

    async fn cancel_now(&self, booking_id: Uuid) -> Result<PaymentRow, AppError> {
        let origin = Origin::platform(SERVICE_NAME);
        let mut row = self
            .store
            .payment_by_booking(booking_id)
            .await?
            .ok_or_else(|| AppError::NotFound("charge".into()))?;
        let deadline = tokio::time::Instant::now() + self.timing.wait;
        loop {
            if row.status().is_settled() {
                return settled_for_cancel(row);
            }
            if let Some((claimed, token)) =
                self.store.claim_payment(row.id, self.timing.lease).await?
            {
                let outcome = self.cancel_claimed(claimed, token, &origin).await;
                self.release_payment(row.id, token).await;
                let row = outcome?;
                if row.status().is_settled() {
                    return settled_for_cancel(row);
                }
                return Err(AppError::internal(anyhow::anyhow!(
                    "the payment gateway left charge {} {} after a cancellation",
                    row.id,
                    row.status
                )));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(AppError::unavailable(
                    astro_shared::error::PAYMENT_GATEWAY,
                    anyhow::anyhow!("charge {} is being processed by another attempt", row.id),
                ));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
            row = self.store.payment(row.id).await?;
        }
    }

    /// With the charge's lease: cancel at the gateway first (so the payer cannot complete it
    /// afterwards), then record what the gateway says.
    async fn cancel_claimed(
        &self,
        row: PaymentRow,
        token: Uuid,
        origin: &Origin,
    ) -> Result<PaymentRow, AppError> {
        let Some(intent_id) = row.gateway_payment_id.clone() else {
            let (updated, changed) = self.store.cancel_unsubmitted(row.id, origin).await?;
            if changed {
                self.log_charge(&updated);
            }
            return Ok(updated);
        };
        if !self.renew_payment(row.id, token).await? {
            return self.store.payment(row.id).await;
        }
        let intent = match self.gateway.cancel_intent(&intent_id).await {
            Ok(intent) => intent,
            // Not cancellable any more (it succeeded, or was cancelled or declined meanwhile):
            // the intent says what happened.
            Err(GatewayError::Rejected { .. } | GatewayError::Declined { .. }) => {
                self.gateway.retrieve_intent(&intent_id).await?
            }
            Err(error) => return Err(error.into()),
        };
        self.apply(&row, &intent.state, origin).await
    }

    /// Reads an open charge's intent back from the gateway and records its state. Moves no
    /// money (an intent awaiting confirmation stays so), so it needs no lease.
    pub(super) async fn refresh_charge(
        &self,
        row: PaymentRow,
        origin: &Origin,
    ) -> Result<PaymentRow, AppError> {
        let Some(intent_id) = row.gateway_payment_id.as_deref() else {
            return Ok(row);
        };
        if row.status().is_settled() {
            return Ok(row);
        }
        let intent = self.gateway.retrieve_intent(intent_id).await?;
        self.apply(&row, &intent.state, origin).await
    }

    async fn renew_payment(&self, id: Uuid, token: Uuid) -> Result<bool, AppError> {
        self.store
            .renew_lease(Leased::Payment, id, token, self.timing.lease)
            .await
    }

    async fn release_payment(&self, id: Uuid, token: Uuid) {
        if let Err(error) = self.store.release_lease(Leased::Payment, id, token).await {
            tracing::warn!(payment = %id, %error, "could not release a charge lease; it runs out by itself");
        }
    }

    fn log_charge(&self, row: &PaymentRow) {
        let status = row.status();
        let level = match status {
            PaymentStatus::Failed => LogLevel::Warn,
            _ => LogLevel::Info,
        };
        let message = match (status, row.failure_message.as_deref()) {
            (PaymentStatus::Failed, Some(reason)) => format!(
                "charge of {} {} for booking {} failed: {reason}",
                row.amount_minor, row.currency, row.booking_id
            ),
            _ => format!(
                "charge of {} {} for booking {} is {}",
                row.amount_minor, row.currency, row.booking_id, row.status
            ),
        };
        let payment_id = row.id.to_string();
        let booking_id = row.booking_id.to_string();
        let traveler_id = row.traveler_id.to_string();
        self.activity.record(
            level,
            &format!("payment.{}", row.status.to_ascii_lowercase()),
            Some(&traveler_id),
            message,
            &[
                ("payment_id", &payment_id),
                ("booking_id", &booking_id),
                (
                    "gateway_payment_id",
                    row.gateway_payment_id.as_deref().unwrap_or_default(),
                ),
            ],
        );
    }
}

/// The answer to a cancellation of a charge that is settled.
fn settled_for_cancel(row: PaymentRow) -> Result<PaymentRow, AppError> {
    if row.status() == PaymentStatus::Succeeded {
        return Err(AppError::refused(
            "CHARGE_SUCCEEDED",
            "the charge already succeeded: refund it instead",
        )
        .with_metadata("booking_id", row.booking_id.to_string())
        .with_metadata("payment_id", row.id.to_string()));
    }
    Ok(row)
}
