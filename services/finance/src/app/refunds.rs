//! Refunds of booking charges: part of a succeeded charge paid back, once per refund id, never
//! beyond what was charged. A refund sent and accepted by the gateway whose outcome is not
//! known yet stays PENDING; an attempt after a lost answer adopts the gateway refund carrying
//! our refund id rather than creating another.

use astro_proto::astrobookings::system::v1::LogLevel;
use astro_shared::{AppError, activity::ActivityLog, changes::Origin};
use uuid::Uuid;

use super::{GatewayTiming, POLL_INTERVAL, detached, payments::Payments};
use crate::{
    SERVICE_NAME,
    domain::{
        charge::PaymentStatus,
        refund::{NewRefund, RefundStatus},
    },
    payment_gateway::{GatewayError, PaymentGateway},
    store::{
        Leased, Store,
        refunds::{RefundRow, Reservation},
    },
};

/// Refunds of bookings.
#[derive(Clone)]
pub struct Refunds {
    store: Store,
    gateway: PaymentGateway,
    activity: ActivityLog,
    timing: GatewayTiming,
    /// Reads an open charge back from the gateway before deciding what is refundable.
    payments: Payments,
}

impl Refunds {
    pub fn new(
        store: Store,
        gateway: PaymentGateway,
        activity: ActivityLog,
        timing: GatewayTiming,
        payments: Payments,
    ) -> Self {
        Self {
            store,
            gateway,
            activity,
            timing,
            payments,
        }
    }

    /// Refunds part of a booking's charge (idempotent on the refund id).
    pub async fn refund(&self, refund: NewRefund) -> Result<RefundRow, AppError> {
        let this = self.clone();
        detached(async move { this.refund_now(refund).await }).await
    }

    async fn refund_now(&self, refund: NewRefund) -> Result<RefundRow, AppError> {
        let origin = Origin::platform(SERVICE_NAME);
        let payment = self
            .store
            .payment_by_booking(refund.booking_id)
            .await?
            .ok_or_else(|| AppError::NotFound("charge".into()))?;
        // A charge still open here may have succeeded at the gateway meanwhile (a payer who
        // finished 3-D Secure after all): what the gateway says decides what is refundable.
        let payment = self.payments.refresh_charge(payment, &origin).await?;
        if payment.currency != refund.currency {
            return Err(AppError::invalid(
                "amount.currency",
                format!("must be the charge's currency ({})", payment.currency),
            ));
        }
        let row = match self
            .store
            .reserve_refund(&payment, &refund, &origin)
            .await?
        {
            Reservation::Created(row) => {
                self.log_refund(
                    LogLevel::Info,
                    "refund.requested",
                    format!(
                        "refund of {} {} requested for booking {}",
                        row.amount_minor, row.currency, row.booking_id
                    ),
                    &row,
                );
                row
            }
            Reservation::Existing(row) => {
                if refund.differs_from(row.booking_id, row.amount_minor, &row.currency) {
                    return Err(AppError::refused(
                        "REFUND_ID_REUSED",
                        format!(
                            "refund {} was already requested for {} {} of booking {}",
                            row.id, row.amount_minor, row.currency, row.booking_id
                        ),
                    )
                    .with_metadata("refund_id", row.id.to_string()));
                }
                row
            }
            Reservation::NotRefundable => return Err(self.not_refundable(payment.id).await?),
        };
        self.settle_refund(row, &origin).await
    }

    /// Why a refund cannot be reserved on charge `payment_id`, read after the refusal.
    async fn not_refundable(&self, payment_id: Uuid) -> Result<AppError, AppError> {
        let payment = self.store.payment(payment_id).await?;
        if payment.status() != PaymentStatus::Succeeded {
            return Ok(AppError::refused(
                "CHARGE_NOT_SUCCEEDED",
                format!(
                    "the charge is {}: there is nothing to refund",
                    payment.status
                ),
            )
            .with_metadata("booking_id", payment.booking_id.to_string()));
        }
        let left = payment.amount_minor - payment.refunded_minor;
        Ok(AppError::refused(
            "REFUND_EXCEEDS_CHARGE",
            format!(
                "at most {left} {} of the charge is left to refund",
                payment.currency
            ),
        )
        .with_metadata("booking_id", payment.booking_id.to_string())
        .with_metadata("refundable_minor", left.to_string()))
    }

    async fn settle_refund(&self, row: RefundRow, origin: &Origin) -> Result<RefundRow, AppError> {
        let mut row = row;
        let deadline = tokio::time::Instant::now() + self.timing.wait;
        loop {
            if row.status() != RefundStatus::Pending {
                return Ok(row);
            }
            if let Some(gateway_refund_id) = row.gateway_refund_id.clone() {
                // Sent and accepted by the gateway; only its outcome is missing. Reading needs
                // no lease: it moves no money.
                return match self.gateway.retrieve_refund(&gateway_refund_id).await {
                    Ok(found) => {
                        self.record_refund(
                            &row,
                            Some(&found.id),
                            found.status,
                            found.failure_message.as_deref(),
                            origin,
                        )
                        .await
                    }
                    Err(GatewayError::Unavailable(error)) => {
                        tracing::warn!(refund = %row.id, error = %format!("{error:#}"), "refund outcome not known yet");
                        Ok(row)
                    }
                    Err(error) => Err(error.into()),
                };
            }
            if let Some((claimed, token)) =
                self.store.claim_refund(row.id, self.timing.lease).await?
            {
                let outcome = self.drive_refund(claimed, token, origin).await;
                if let Err(error) = self
                    .store
                    .release_lease(Leased::Refund, row.id, token)
                    .await
                {
                    tracing::warn!(refund = %row.id, %error, "could not release a refund lease; it runs out by itself");
                }
                return outcome;
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(row);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
            row = self.store.refund(row.id).await?;
        }
    }

    /// With the refund's lease: adopt the gateway refund an earlier attempt may have created,
    /// or create it, and record the outcome.
    async fn drive_refund(
        &self,
        row: RefundRow,
        token: Uuid,
        origin: &Origin,
    ) -> Result<RefundRow, AppError> {
        let payment = self.store.payment(row.payment_id).await?;
        let intent_id = payment.gateway_payment_id.ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "refund {} of a charge without a payment intent",
                row.id
            ))
        })?;
        // Above one attempt, an earlier holder may have created the refund and died (or timed
        // out) before recording it.
        if row.attempts > 1
            && let Some(found) = self.gateway.find_refund(&intent_id, row.id).await?
        {
            tracing::info!(refund = %row.id, gateway_refund = %found.id, "adopting the refund an earlier attempt created");
            return self
                .record_refund(
                    &row,
                    Some(&found.id),
                    found.status,
                    found.failure_message.as_deref(),
                    origin,
                )
                .await;
        }
        if !self
            .store
            .renew_lease(Leased::Refund, row.id, token, self.timing.lease)
            .await?
        {
            return self.store.refund(row.id).await;
        }
        match self.gateway.create_refund(&intent_id, &row).await {
            Ok(created) => {
                self.record_refund(
                    &row,
                    Some(&created.id),
                    created.status,
                    created.failure_message.as_deref(),
                    origin,
                )
                .await
            }
            Err(GatewayError::Declined { message } | GatewayError::Rejected { message, .. }) => {
                self.record_refund(&row, None, RefundStatus::Failed, Some(&message), origin)
                    .await
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn record_refund(
        &self,
        row: &RefundRow,
        gateway_refund_id: Option<&str>,
        status: RefundStatus,
        failure_message: Option<&str>,
        origin: &Origin,
    ) -> Result<RefundRow, AppError> {
        let (updated, changed) = self
            .store
            .record_refund_outcome(row.id, gateway_refund_id, status, failure_message, origin)
            .await?;
        if changed {
            let (level, event_type) = match updated.status() {
                RefundStatus::Pending => (LogLevel::Info, "refund.submitted"),
                RefundStatus::Succeeded => (LogLevel::Info, "refund.succeeded"),
                RefundStatus::Failed => (LogLevel::Warn, "refund.failed"),
            };
            self.log_refund(
                level,
                event_type,
                format!(
                    "refund of {} {} for booking {} is {}",
                    updated.amount_minor, updated.currency, updated.booking_id, updated.status
                ),
                &updated,
            );
        }
        Ok(updated)
    }

    fn log_refund(&self, level: LogLevel, event_type: &str, message: String, row: &RefundRow) {
        let booking_id = row.booking_id.to_string();
        let refund_id = row.id.to_string();
        self.activity.record(
            level,
            event_type,
            None,
            message,
            &[
                ("booking_id", &booking_id),
                ("refund_id", &refund_id),
                (
                    "gateway_refund_id",
                    row.gateway_refund_id.as_deref().unwrap_or_default(),
                ),
            ],
        );
    }
}
