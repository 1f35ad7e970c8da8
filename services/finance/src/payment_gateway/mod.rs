//! The payment gateway (PaymentGW), an external adapter: the use cases in `app/` call it, the
//! gRPC adapters never do. It is a module of its own beside `store/` because it is not our
//! storage but another company's system, whose answers may be lost; it is named for the
//! dependency (PAYMENT_GATEWAY in UNAVAILABLE's ErrorInfo) rather than `gateway`, which in this
//! repository is the mesh's edge (crate astro-gateway).
//!
//! This module holds what the use cases see, in domain terms: a payment intent, a refund, and a
//! [`GatewayError`] that says whether anything may have happened. `stripe.rs` talks to Stripe's
//! API and translates its answers into them.

mod stripe;

use astro_shared::AppError;

pub use self::stripe::PaymentGateway;
use crate::domain::{charge::IntentState, refund::RefundStatus};

/// A payment intent as FinanceAPI sees it.
#[derive(Debug, Clone)]
pub struct Intent {
    pub id: String,
    pub client_secret: Option<String>,
    pub state: IntentState,
}

/// A refund at the gateway.
#[derive(Debug, Clone)]
pub struct GatewayRefund {
    pub id: String,
    pub status: RefundStatus,
    pub failure_message: Option<String>,
}

/// How a gateway call failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Not reached, timed out, or a transient refusal (409, 429, 5xx): nothing is known about
    /// the outcome; the same call may be retried later.
    #[error("the payment gateway is unavailable: {0:#}")]
    Unavailable(anyhow::Error),
    /// The card was declined (402); `message` is the gateway's, safe to show to the payer.
    #[error("declined: {message}")]
    Declined { message: String },
    /// The gateway refused this request for good (another 4xx); `message` is the gateway's.
    #[error("refused with {status}: {message}")]
    Rejected { status: u16, message: String },
    /// An answer we cannot read, or a configuration the gateway refuses (bad key): a bug or
    /// an operations problem, never the payer's.
    #[error("unexpected answer from the payment gateway: {0:#}")]
    Unexpected(anyhow::Error),
}

impl From<GatewayError> for AppError {
    fn from(error: GatewayError) -> Self {
        match error {
            GatewayError::Unavailable(cause) => {
                AppError::unavailable(astro_shared::error::PAYMENT_GATEWAY, cause)
            }
            other => AppError::internal(other),
        }
    }
}
