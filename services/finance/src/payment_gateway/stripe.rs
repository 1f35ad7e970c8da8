//! PaymentGW's client: Stripe's HTTP API through async-stripe, pointed at
//! `ASTRO_FINANCE_STRIPE_URL` (localstripe in dev and tests).
//!
//! Every call sends an idempotency key derived from our own ids (the booking id for a charge,
//! the refund id for a refund), so the real API answers a repeated request with the first
//! answer; localstripe ignores the keys, which is why the callers never rely on them alone
//! (see `crate::app`). Every call runs in its own CLIENT span, child of the RPC's span,
//! so one booking's trace reaches the gateway.
//!
//! Answers are translated into domain terms here: a payment intent becomes an
//! [`IntentState`], a refund a [`RefundStatus`], and failures a [`GatewayError`].

use std::{collections::HashMap, future::Future, time::Duration};

use astro_shared::config::Secret;
use stripe::{ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest as _};
use stripe_core::{
    PaymentIntentStatus,
    payment_intent::{
        CancelPaymentIntent, ConfirmPaymentIntent, CreatePaymentIntent,
        CreatePaymentIntentAutomaticPaymentMethods,
        CreatePaymentIntentAutomaticPaymentMethodsAllowRedirects, RetrievePaymentIntent,
    },
    refund::{CreateRefund, ListRefund, RetrieveRefund},
};
use tracing::Instrument as _;
use uuid::Uuid;

use super::{GatewayError, GatewayRefund, Intent};
use crate::{
    domain::{
        charge::IntentState,
        refund::RefundStatus,
        webhook::{BOOKING_PAYMENT_ID as PAYMENT_ID, INVOICE_PAYMENT_ID},
    },
    store::{invoices::InvoicePaymentRow, payments::PaymentRow, refunds::RefundRow},
};

/// Metadata keys on the gateway's objects, to find them from our ids.
const BOOKING_ID: &str = "booking_id";
const REFUND_ID: &str = "refund_id";
const INVOICE_ID: &str = "invoice_id";

/// Refunds listed per page when looking for one.
const REFUND_PAGE: i64 = 100;

/// The Stripe API client, with the address spans report.
#[derive(Clone)]
pub struct PaymentGateway {
    client: stripe::Client,
    host: String,
    port: Option<u16>,
}

impl std::fmt::Debug for PaymentGateway {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PaymentGateway")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl PaymentGateway {
    /// A client for the API at `base_url` (with its trailing `/`, e.g.
    /// `http://127.0.0.1:8420/`); every HTTP attempt is bounded by `timeout`.
    pub fn new(base_url: &str, secret_key: &Secret, timeout: Duration) -> anyhow::Result<Self> {
        let base_url = if base_url.ends_with('/') {
            base_url.to_owned()
        } else {
            format!("{base_url}/")
        };
        let uri: http::Uri = base_url
            .parse()
            .map_err(|error| anyhow::anyhow!("ASTRO_FINANCE_STRIPE_URL {base_url:?}: {error}"))?;
        let host = uri.host().unwrap_or_default().to_owned();
        let port = uri.port_u16().or(match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        let client = ClientBuilder::new(secret_key.expose())
            .url(base_url)
            .timeout(timeout)
            // Retries are ours (with the same idempotency keys), never hidden in the client.
            .request_strategy(RequestStrategy::Once)
            .app_info("AstroBookings FinanceAPI", None, None)
            .build()
            .map_err(|error| anyhow::anyhow!("Stripe client: {error}"))?;
        Ok(Self { client, host, port })
    }

    /// Creates the payment intent of a charge, with its payment method but NOT confirmed: an
    /// unconfirmed intent moves no money, so one created by an attempt that then died is
    /// harmless, and only the intent recorded on the charge is ever confirmed.
    pub async fn create_intent(&self, charge: &PaymentRow) -> Result<Intent, GatewayError> {
        let metadata = HashMap::from([
            (BOOKING_ID.to_owned(), charge.booking_id.to_string()),
            (PAYMENT_ID.to_owned(), charge.id.to_string()),
        ]);
        let mut request = new_intent(
            charge.amount_minor,
            &charge.currency,
            &charge.payment_method_id,
            metadata,
        );
        if !charge.description.is_empty() {
            request = request.description(charge.description.clone());
        }
        if !charge.receipt_email.is_empty() {
            request = request.receipt_email(charge.receipt_email.clone());
        }
        self.send_new_intent(&request, &charge.booking_id.to_string())
            .await
    }

    /// Creates and confirms, in one call, the payment intent of an agency paying an invoice.
    /// The key is the payment's id, so a retried creation is answered with the first intent.
    pub async fn pay_invoice(
        &self,
        payment: &InvoicePaymentRow,
        invoice_number: &str,
        payment_method_id: &str,
    ) -> Result<Intent, GatewayError> {
        let metadata = HashMap::from([
            (INVOICE_ID.to_owned(), payment.invoice_id.to_string()),
            (INVOICE_PAYMENT_ID.to_owned(), payment.id.to_string()),
        ]);
        let request = new_intent(
            payment.original_amount_minor,
            &payment.currency,
            payment_method_id,
            metadata,
        )
        .confirm(true)
        .description(format!("AstroBookings invoice {invoice_number}"));
        self.send_new_intent(&request, &format!("invoice-payment-{}", payment.id))
            .await
    }

    /// Sends a creation under the idempotency key `key`.
    async fn send_new_intent(
        &self,
        request: &CreatePaymentIntent,
        key: &str,
    ) -> Result<Intent, GatewayError> {
        let key = idempotency_key(key)?;
        let intent = self
            .traced(
                "/v1/payment_intents",
                request,
                request
                    .customize()
                    .request_strategy(RequestStrategy::Idempotent(key))
                    .send(&self.client),
            )
            .await?;
        Ok(intent_of(intent))
    }

    /// Confirms an intent awaiting confirmation (it charges the payment method given at
    /// creation). The gateway confirms an intent at most once.
    pub async fn confirm_intent(&self, intent_id: &str) -> Result<Intent, GatewayError> {
        let request = ConfirmPaymentIntent::new(intent_id);
        let key = idempotency_key(&format!("confirm-{intent_id}"))?;
        let intent = self
            .traced(
                "/v1/payment_intents/{intent}/confirm",
                &request,
                request
                    .customize()
                    .request_strategy(RequestStrategy::Idempotent(key))
                    .send(&self.client),
            )
            .await?;
        Ok(intent_of(intent))
    }

    pub async fn retrieve_intent(&self, intent_id: &str) -> Result<Intent, GatewayError> {
        let request = RetrievePaymentIntent::new(intent_id);
        let intent = self
            .traced(
                "/v1/payment_intents/{intent}",
                &request,
                request.customize().send(&self.client),
            )
            .await?;
        Ok(intent_of(intent))
    }

    /// Cancels an intent that has not succeeded; the gateway refuses (Rejected) otherwise.
    pub async fn cancel_intent(&self, intent_id: &str) -> Result<Intent, GatewayError> {
        let request = CancelPaymentIntent::new(intent_id);
        let key = idempotency_key(&format!("cancel-{intent_id}"))?;
        let intent = self
            .traced(
                "/v1/payment_intents/{intent}/cancel",
                &request,
                request
                    .customize()
                    .request_strategy(RequestStrategy::Idempotent(key))
                    .send(&self.client),
            )
            .await?;
        Ok(intent_of(intent))
    }

    /// Refunds part of the intent `intent_id`, tagged with our refund id.
    pub async fn create_refund(
        &self,
        intent_id: &str,
        refund: &RefundRow,
    ) -> Result<GatewayRefund, GatewayError> {
        let metadata = HashMap::from([
            (REFUND_ID.to_owned(), refund.id.to_string()),
            (BOOKING_ID.to_owned(), refund.booking_id.to_string()),
        ]);
        let request = CreateRefund::new()
            .payment_intent(intent_id)
            .amount(refund.amount_minor)
            .metadata(metadata);
        let key = idempotency_key(&refund.id.to_string())?;
        let created = self
            .traced(
                "/v1/refunds",
                &request,
                request
                    .customize()
                    .request_strategy(RequestStrategy::Idempotent(key))
                    .send(&self.client),
            )
            .await?;
        Ok(refund_of(&created))
    }

    pub async fn retrieve_refund(&self, refund_id: &str) -> Result<GatewayRefund, GatewayError> {
        let request = RetrieveRefund::new(refund_id);
        let refund = self
            .traced(
                "/v1/refunds/{refund}",
                &request,
                request.customize().send(&self.client),
            )
            .await?;
        Ok(refund_of(&refund))
    }

    /// The refund of intent `intent_id` that carries our `refund_id`, if an earlier attempt
    /// created one (its answer lost to a crash or a timeout).
    pub async fn find_refund(
        &self,
        intent_id: &str,
        refund_id: Uuid,
    ) -> Result<Option<GatewayRefund>, GatewayError> {
        let wanted = refund_id.to_string();
        let mut starting_after: Option<String> = None;
        loop {
            let mut request = ListRefund::new()
                .payment_intent(intent_id)
                .limit(REFUND_PAGE);
            if let Some(after) = &starting_after {
                request = request.starting_after(after.clone());
            }
            let page = self
                .traced(
                    "/v1/refunds",
                    &request,
                    request.customize().send(&self.client),
                )
                .await?;
            if let Some(found) = page.data.iter().find(|refund| {
                refund
                    .metadata
                    .as_ref()
                    .and_then(|metadata| metadata.get(REFUND_ID))
                    == Some(&wanted)
            }) {
                return Ok(Some(refund_of(found)));
            }
            match page.data.last() {
                Some(last) if page.has_more => starting_after = Some(last.id.to_string()),
                _ => return Ok(None),
            }
        }
    }

    /// Runs one API call inside a CLIENT span named after the route (`stripe POST
    /// /v1/payment_intents/{intent}/confirm`), with the HTTP method, address, path and
    /// response status, child of the current (RPC) span.
    async fn traced<R, T>(
        &self,
        route: &'static str,
        request: &R,
        call: impl Future<Output = Result<T, StripeError>>,
    ) -> Result<T, GatewayError>
    where
        R: stripe::StripeRequest,
    {
        let built = request.build();
        let method = format!("{:?}", built.method).to_ascii_uppercase();
        let span = tracing::info_span!(
            "stripe.request",
            otel.name = %format!("stripe {method} {route}"),
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            peer.service = "stripe",
            http.request.method = %method,
            server.address = %self.host,
            server.port = self.port,
            url.path = %format!("/v1{}", built.path),
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        let outcome = call.instrument(span.clone()).await;
        match &outcome {
            // Stripe answers every success with 200.
            Ok(_) => {
                span.record("http.response.status_code", 200);
            }
            Err(StripeError::Stripe(_, status)) => {
                span.record("http.response.status_code", status);
                span.record("error.type", status.to_string());
                span.record("otel.status_code", "ERROR");
            }
            Err(other) => {
                span.record("error.type", error_kind(other));
                span.record("otel.status_code", "ERROR");
            }
        }
        outcome.map_err(classify)
    }
}

/// A payment intent with its payment method, for server-side confirmation without a return
/// URL (so redirect-based methods are off).
fn new_intent(
    amount_minor: i64,
    currency: &str,
    payment_method_id: &str,
    metadata: HashMap<String, String>,
) -> CreatePaymentIntent {
    let mut automatic = CreatePaymentIntentAutomaticPaymentMethods::new(true);
    automatic.allow_redirects =
        Some(CreatePaymentIntentAutomaticPaymentMethodsAllowRedirects::Never);
    CreatePaymentIntent::new(amount_minor, gateway_currency(currency))
        .payment_method(payment_method_id.to_owned())
        .automatic_payment_methods(automatic)
        .metadata(metadata)
}

/// Stripe wants lower-case ISO codes.
fn gateway_currency(currency: &str) -> stripe_types::Currency {
    match currency.to_ascii_lowercase().parse() {
        Ok(currency) => currency,
        Err(never) => match never {},
    }
}

fn idempotency_key(key: &str) -> Result<IdempotencyKey, GatewayError> {
    IdempotencyKey::new(key).map_err(|error| GatewayError::Unexpected(error.into()))
}

fn error_kind(error: &StripeError) -> &'static str {
    match error {
        StripeError::Stripe(..) => "http",
        StripeError::JSONDeserialize(_) => "deserialize",
        StripeError::ClientError(_) => "transport",
        StripeError::ConfigError(_) => "config",
        StripeError::Timeout => "timeout",
    }
}

/// What a failed call means for the caller.
fn classify(error: StripeError) -> GatewayError {
    match error {
        StripeError::Stripe(api_error, status) => {
            let message = api_error
                .message
                .clone()
                .filter(|message| !message.trim().is_empty())
                .unwrap_or_else(|| "the payment gateway refused the request".to_owned());
            match status {
                402 => GatewayError::Declined { message },
                // 409: a concurrent request with the same idempotency key, or a lock.
                409 | 429 | 500..=599 => {
                    GatewayError::Unavailable(anyhow::anyhow!("answered {status}: {message}"))
                }
                // Our key or account: an operations problem, not the payer's.
                401 | 403 => {
                    GatewayError::Unexpected(anyhow::anyhow!("answered {status}: {message}"))
                }
                _ => GatewayError::Rejected { status, message },
            }
        }
        StripeError::ClientError(text) => GatewayError::Unavailable(anyhow::anyhow!(text)),
        StripeError::Timeout => GatewayError::Unavailable(anyhow::anyhow!("timed out")),
        StripeError::JSONDeserialize(text) => {
            GatewayError::Unexpected(anyhow::anyhow!("unreadable answer: {text}"))
        }
        StripeError::ConfigError(text) => GatewayError::Unexpected(anyhow::anyhow!(text)),
    }
}

fn intent_of(intent: stripe_core::PaymentIntent) -> Intent {
    let state = match &intent.status {
        PaymentIntentStatus::RequiresConfirmation => IntentState::AwaitingConfirmation,
        PaymentIntentStatus::RequiresAction => IntentState::RequiresAction,
        PaymentIntentStatus::Processing | PaymentIntentStatus::RequiresCapture => {
            IntentState::Processing
        }
        PaymentIntentStatus::Succeeded => IntentState::Succeeded,
        PaymentIntentStatus::Canceled => IntentState::Canceled,
        // After a decline (or a failed authentication) the intent wants another method.
        PaymentIntentStatus::RequiresPaymentMethod => IntentState::Declined {
            message: intent
                .last_payment_error
                .as_ref()
                .and_then(|error| error.message.clone())
                .unwrap_or_else(|| "the payment method was declined".to_owned()),
        },
        // A status this client does not know: not settled, as far as we can tell.
        other => {
            tracing::warn!(intent = %intent.id, status = other.as_str(), "unknown payment intent status");
            IntentState::Processing
        }
    };
    Intent {
        id: intent.id.to_string(),
        client_secret: intent.client_secret,
        state,
    }
}

fn refund_of(refund: &stripe_core::Refund) -> GatewayRefund {
    GatewayRefund {
        id: refund.id.to_string(),
        status: RefundStatus::from_gateway(refund.status.as_deref()),
        failure_message: refund.failure_reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_declines_transient_and_permanent_refusals_are_told_apart() {
        let api_error = |message: &str| {
            Box::new(stripe::ApiErrors {
                advice_code: None,
                charge: None,
                code: None,
                decline_code: None,
                doc_url: None,
                message: Some(message.to_owned()),
                network_advice_code: None,
                network_decline_code: None,
                param: None,
                payment_intent: None,
                payment_method: None,
                payment_method_type: None,
                request_log_url: None,
                setup_intent: None,
                source: None,
                type_: stripe::ApiErrorsType::CardError,
            })
        };
        assert!(matches!(
            classify(StripeError::Stripe(api_error("Your card was declined."), 402)),
            GatewayError::Declined { message } if message == "Your card was declined."
        ));
        assert!(matches!(
            classify(StripeError::Stripe(api_error("busy"), 429)),
            GatewayError::Unavailable(_)
        ));
        assert!(matches!(
            classify(StripeError::Stripe(api_error("bad key"), 401)),
            GatewayError::Unexpected(_)
        ));
        assert!(matches!(
            classify(StripeError::Stripe(api_error("No such PaymentMethod"), 404)),
            GatewayError::Rejected { status: 404, .. }
        ));
        assert!(matches!(
            classify(StripeError::Timeout),
            GatewayError::Unavailable(_)
        ));
        assert!(matches!(
            classify(StripeError::ClientError("connection refused".into())),
            GatewayError::Unavailable(_)
        ));
    }

    #[test]
    fn currencies_are_sent_in_lower_case() {
        assert_eq!(gateway_currency("USD").to_string(), "usd");
    }
}
