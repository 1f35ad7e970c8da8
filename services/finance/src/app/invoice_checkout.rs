//! Agencies paying their invoices through the payment gateway, and the gateway's word on
//! every payment: its signed webhook, and a reconciliation for the deliveries that were lost.
//!
//! PayInvoice opens a PENDING gateway payment (its amount reserved on the invoice), then creates
//! and confirms its payment intent. It never counts the money itself: the invoice is paid when
//! the gateway's signed `payment_intent.succeeded` arrives (HandleStripeWebhook) or, when no
//! webhook came, when the reconciliation reads the intent back after
//! `ASTRO_FINANCE_RECONCILE_AFTER_MS`. Both settle through one conditional transaction, so the
//! same news applied twice, or by two replicas at once, counts once.
//!
//! A payment whose intent was never recorded (its creator died, or the gateway did not answer)
//! is created again by the reconciliation once its claim ran out, with the same idempotency key,
//! so the real API answers with the first intent. A payment still waiting for the payer's
//! action after [`ABANDON_AFTER`] is cancelled and its reservation released.

use std::{sync::Arc, time::Duration};

use astro_proto::astrobookings::common::v1::Role;
use astro_shared::{
    AppError, activity::ActivityLog, auth::Caller, changes::Origin, config::Secret,
};
use chrono::Utc;
use uuid::Uuid;

use super::detached;
use crate::{
    SERVICE_NAME,
    domain::{
        charge::{IntentState, PaymentStatus},
        invoice_checkout::{GatewayPaymentRequest, Settlement},
        webhook::{EventEffect, GatewayEvent, IntentOwner, parse_event, verify_signature},
    },
    payment_gateway::{GatewayError, Intent, PaymentGateway},
    store::{Keyed, Store, invoice_checkout::Settled, invoices::InvoicePaymentRow},
};

/// A gateway payment still waiting for the payer after this long is given up.
pub const ABANDON_AFTER: chrono::Duration = chrono::Duration::hours(24);

/// Open payments one reconciliation pass looks at.
const RECONCILE_BATCH: i64 = 100;

/// When and how often the reconciliation runs.
#[derive(Debug, Clone, Copy)]
pub struct Reconciliation {
    /// `ASTRO_FINANCE_RECONCILE_INTERVAL_MS`: pause between passes.
    pub interval: Duration,
    /// `ASTRO_FINANCE_RECONCILE_AFTER_MS`: how long a payment is left to its webhook first.
    pub after: Duration,
}

/// PayInvoice's answer.
#[derive(Debug, Clone)]
pub struct Paid {
    pub payment: InvoicePaymentRow,
    pub replay: bool,
}

impl Paid {
    /// What Stripe.js needs to finish a payment that waits for the payer's action; `None`
    /// otherwise (the secret is handed out only when it is of use).
    pub fn client_secret(&self) -> Option<&str> {
        (self.payment.status() == PaymentStatus::RequiresAction)
            .then_some(self.payment.client_secret.as_deref())
            .flatten()
    }
}

/// What a webhook delivery did.
#[derive(Debug, Clone)]
pub struct WebhookOutcome {
    pub event_id: String,
    /// False for a redelivery, an ignored type, or an object that is not ours.
    pub processed: bool,
}

#[derive(Clone)]
pub struct InvoiceCheckout {
    store: Store,
    gateway: PaymentGateway,
    activity: ActivityLog,
    /// How long the attempt creating an intent holds its payment.
    lease: Duration,
    webhook_secrets: Arc<[Secret]>,
    reconciliation: Reconciliation,
}

impl InvoiceCheckout {
    pub fn new(
        store: Store,
        gateway: PaymentGateway,
        activity: ActivityLog,
        lease: Duration,
        webhook_secrets: Vec<Secret>,
        reconciliation: Reconciliation,
    ) -> Self {
        Self {
            store,
            gateway,
            activity,
            lease,
            webhook_secrets: webhook_secrets.into(),
            reconciliation,
        }
    }

    /// PayInvoice (the AGENCY billed): another agency's invoice is NOT_FOUND. A replayed key
    /// answers the first payment as it stands now.
    pub async fn pay(
        &self,
        caller: &Caller,
        invoice_id: Uuid,
        request: GatewayPaymentRequest,
    ) -> Result<Paid, AppError> {
        if caller.role != Role::Agency {
            return Err(AppError::PermissionDenied(
                "only the agency billed pays an invoice".into(),
            ));
        }
        let agency_id = caller.user_uuid()?;
        let origin = Origin::user(SERVICE_NAME, &caller.user_id);
        let opened = self
            .store
            .open_gateway_payment(invoice_id, agency_id, &request, self.lease, &origin)
            .await?;
        let this = self.clone();
        let paid = match opened {
            Keyed::Replay(row) => {
                if let Some((amount_minor, currency)) = &request.amount
                    && (*amount_minor != row.original_amount_minor || *currency != row.currency)
                {
                    return Err(AppError::refused(
                        "IDEMPOTENCY_KEY_REUSED",
                        format!(
                            "this key paid {} {} on the invoice; a retry must ask for the same \
                             amount",
                            row.original_amount_minor, row.currency
                        ),
                    ));
                }
                let payment = match self.store.claim_gateway_payment(row.id, self.lease).await? {
                    // The first attempt died before the gateway answered: carry it on.
                    Some(claimed) => {
                        detached(async move { this.submit(claimed, &origin).await }).await?
                    }
                    None => row,
                };
                Paid {
                    payment,
                    replay: true,
                }
            }
            Keyed::New(row) => {
                self.activity.info(
                    "invoice.payment_started",
                    Some(&caller.user_id),
                    format!(
                        "gateway payment of {} {} minor units started on invoice {invoice_id}",
                        row.currency, row.original_amount_minor
                    ),
                    &[
                        ("invoice_id", &invoice_id.to_string()),
                        ("payment_id", &row.id.to_string()),
                    ],
                );
                let payment = detached(async move { this.submit(row, &origin).await }).await?;
                Paid {
                    payment,
                    replay: false,
                }
            }
        };
        if paid.payment.status() == PaymentStatus::Failed {
            return Err(AppError::refused(
                "PAYMENT_DECLINED",
                format!("the payment was declined: {}", paid.payment.failure_message),
            )
            .with_metadata("payment_id", paid.payment.id.to_string()));
        }
        Ok(paid)
    }

    /// With the payment's claim: creates and confirms its intent and records it. A refusal
    /// fails the payment (its reservation released); a success waits for the webhook.
    async fn submit(
        &self,
        row: InvoicePaymentRow,
        origin: &Origin,
    ) -> Result<InvoicePaymentRow, AppError> {
        let Some(payment_method_id) = row.payment_method_id.clone() else {
            return Err(AppError::internal(anyhow::anyhow!(
                "gateway payment {} has no payment method",
                row.id
            )));
        };
        let number = self
            .store
            .invoice(row.invoice_id, None)
            .await?
            .map(|invoice| invoice.number)
            .unwrap_or_default();
        let intent = match self
            .gateway
            .pay_invoice(&row, &number, &payment_method_id)
            .await
        {
            Ok(intent) => intent,
            Err(GatewayError::Declined { message } | GatewayError::Rejected { message, .. }) => {
                return self
                    .settle(
                        &row,
                        None,
                        IntentState::Declined { message },
                        "PayInvoice",
                        origin,
                    )
                    .await;
            }
            // Nothing is known: the intent may exist. The payment stays PENDING, claimed until
            // its lease runs out; then the reconciliation creates it again with the same key.
            Err(GatewayError::Unavailable(cause)) => {
                tracing::warn!(
                    payment_id = %row.id,
                    error = %format!("{cause:#}"),
                    "payment gateway unavailable; the invoice payment stays PENDING"
                );
                return Ok(row);
            }
            Err(error) => return Err(error.into()),
        };
        let recorded = self
            .store
            .record_invoice_intent(
                row.id,
                &intent.id,
                intent.client_secret.as_deref(),
                intent.state == IntentState::RequiresAction,
                origin,
            )
            .await?;
        match &intent.state {
            IntentState::Declined { .. } | IntentState::Canceled => {
                if matches!(intent.state, IntentState::Declined { .. }) {
                    // So nothing can confirm it with another method after it was failed here.
                    self.abandon(&intent).await;
                }
                self.settle(
                    &recorded,
                    Some(&intent.id),
                    intent.state,
                    "PayInvoice",
                    origin,
                )
                .await
            }
            // SUCCEEDED too: the webhook (or the reconciliation) counts it.
            _ => Ok(recorded),
        }
    }

    async fn abandon(&self, intent: &Intent) {
        if let Err(error) = self.gateway.cancel_intent(&intent.id).await {
            tracing::warn!(intent = %intent.id, %error, "could not cancel a failed invoice payment intent");
        }
    }

    /// Settles outside a webhook (PayInvoice's refusals, the reconciliation), `by` naming
    /// which in the activity log.
    async fn settle(
        &self,
        row: &InvoicePaymentRow,
        intent_id: Option<&str>,
        state: IntentState,
        by: &str,
        origin: &Origin,
    ) -> Result<InvoicePaymentRow, AppError> {
        let settlement = Settlement {
            payment_id: row.id,
            intent_id: intent_id.map(str::to_owned),
            state,
        };
        match self
            .store
            .settle_gateway_payment(&settlement, None, origin)
            .await?
        {
            Settled::Moved { payment, invoice } => {
                self.log_settled(&payment, &invoice.number, by);
                Ok(*payment)
            }
            Settled::Unchanged | Settled::Duplicate => self.store.invoice_payment(row.id).await,
        }
    }

    fn log_settled(&self, payment: &InvoicePaymentRow, invoice_number: &str, by: &str) {
        let message = format!(
            "gateway payment of {} {} minor units on invoice {invoice_number} is {} (by {by})",
            payment.currency, payment.original_amount_minor, payment.status
        );
        let attributes = [
            ("invoice_id", payment.invoice_id.to_string()),
            ("payment_id", payment.id.to_string()),
        ];
        let attributes: Vec<(&str, &str)> = attributes
            .iter()
            .map(|(key, value)| (*key, value.as_str()))
            .collect();
        if payment.status() == PaymentStatus::Succeeded {
            self.activity
                .info("invoice.payment_settled", None, message, &attributes);
        } else {
            self.activity
                .warn("invoice.payment_failed", None, message, &attributes);
        }
    }

    /// HandleStripeWebhook: INVALID_ARGUMENT for a delivery that is not genuine (nothing is
    /// recorded), else the event applied once.
    pub async fn handle_webhook(
        &self,
        payload: &[u8],
        signature: &str,
    ) -> Result<WebhookOutcome, AppError> {
        if let Err(error) = verify_signature(payload, signature, &self.webhook_secrets, Utc::now())
        {
            tracing::warn!(%error, "payment gateway webhook refused");
            return Err(AppError::invalid("signature", error.to_string()));
        }
        let event = parse_event(payload).map_err(|reason| AppError::invalid("payload", reason))?;
        let this = self.clone();
        detached(async move { this.apply_event(event).await }).await
    }

    async fn apply_event(&self, event: GatewayEvent) -> Result<WebhookOutcome, AppError> {
        let origin = Origin::platform(SERVICE_NAME);
        let processed = match &event.effect {
            EventEffect::Intent {
                intent_id,
                owner: IntentOwner::InvoicePayment(payment_id),
                state,
            } => {
                let settlement = Settlement {
                    payment_id: *payment_id,
                    intent_id: Some(intent_id.clone()),
                    state: state.clone(),
                };
                match self
                    .store
                    .settle_gateway_payment(&settlement, Some(&event), &origin)
                    .await?
                {
                    Settled::Moved { payment, invoice } => {
                        self.log_settled(&payment, &invoice.number, "webhook");
                        true
                    }
                    Settled::Unchanged => false,
                    Settled::Duplicate => {
                        tracing::info!(event_id = %event.id, "webhook event delivered again; ignored");
                        false
                    }
                }
            }
            EventEffect::Intent {
                intent_id,
                owner: IntentOwner::BookingCharge(payment_id),
                state,
            } => {
                // A booking charge's transitions are conditional, so applying one again (a
                // redelivery racing its record) changes nothing.
                let changed = match self.store.payment(*payment_id).await {
                    Ok(charge) if charge.gateway_payment_id.as_deref() == Some(intent_id) => {
                        self.store
                            .apply_intent_state(*payment_id, state, &origin)
                            .await?
                            .1
                    }
                    Ok(_) | Err(AppError::NotFound(_)) => false,
                    Err(error) => return Err(error),
                };
                self.store
                    .record_gateway_event(&event, changed, &origin)
                    .await?
                    && changed
            }
            EventEffect::Intent {
                owner: IntentOwner::Unknown,
                ..
            }
            | EventEffect::Ignored => {
                self.store
                    .record_gateway_event(&event, false, &origin)
                    .await?;
                false
            }
        };
        tracing::info!(event_id = %event.id, event_type = %event.kind, processed, "payment gateway webhook");
        Ok(WebhookOutcome {
            event_id: event.id,
            processed,
        })
    }

    /// Runs the reconciliation forever, one pass per interval.
    pub async fn run_reconciliation(self) {
        loop {
            tokio::time::sleep(self.reconciliation.interval).await;
            match self.reconcile_once().await {
                Ok(0) => {}
                Ok(settled) => tracing::info!(settled, "gateway payments reconciled"),
                Err(error) => tracing::warn!(%error, "gateway payment reconciliation failed"),
            }
        }
    }

    /// One pass: every gateway payment left open past `after` is read back from the gateway
    /// (or submitted again, when it never got an intent). Answers how many moved.
    pub async fn reconcile_once(&self) -> Result<usize, AppError> {
        let origin = Origin::platform(SERVICE_NAME);
        let open = self
            .store
            .open_gateway_payments(self.reconciliation.after, RECONCILE_BATCH)
            .await?;
        let mut moved = 0;
        for row in open {
            let before = row.status.clone();
            let outcome = match row.gateway_payment_id.clone() {
                Some(intent_id) => self.read_back(&row, &intent_id, &origin).await,
                None => match self.store.claim_gateway_payment(row.id, self.lease).await? {
                    Some(claimed) => self.submit(claimed, &origin).await,
                    None => continue,
                },
            };
            match outcome {
                Ok(after) if after.status != before => moved += 1,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(payment_id = %row.id, %error, "gateway payment not reconciled")
                }
            }
        }
        Ok(moved)
    }

    async fn read_back(
        &self,
        row: &InvoicePaymentRow,
        intent_id: &str,
        origin: &Origin,
    ) -> Result<InvoicePaymentRow, AppError> {
        let intent = self.gateway.retrieve_intent(intent_id).await?;
        let intent = match intent.state {
            IntentState::Succeeded | IntentState::Declined { .. } | IntentState::Canceled => intent,
            // Still with the payer (or the bank): given up only after a day.
            _ if Utc::now() - row.audit.created_at > ABANDON_AFTER => {
                match self.gateway.cancel_intent(intent_id).await {
                    Ok(cancelled) => cancelled,
                    // Refused: it settled meanwhile; read it again.
                    Err(GatewayError::Rejected { .. }) => {
                        self.gateway.retrieve_intent(intent_id).await?
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            _ => return Ok(row.clone()),
        };
        self.settle(row, Some(intent_id), intent.state, "reconciliation", origin)
            .await
    }
}
