//! An agency paying its invoice through the payment gateway: what PayInvoice may ask for, and
//! what the gateway's news about the payment's intent does to it.
//!
//! The invoice counts a gateway payment only once the gateway says it SUCCEEDED, by its signed
//! webhook or, when that was lost, by the reconciliation reading the intent back; until then
//! the payment's amount is reserved on the invoice so nothing else can be paid over it.

use astro_shared::AppError;
use uuid::Uuid;

use super::{charge::IntentState, invoice_payment::idempotency_key};

/// Longest Stripe id we accept for a payment method (`pm_...`).
const MAX_PAYMENT_METHOD_CHARS: usize = 255;

/// What PayInvoice's request says, before validation.
#[derive(Debug, Clone, Copy)]
pub struct PayInput<'a> {
    pub amount: Option<(i64, &'a str)>,
    pub payment_method_id: &'a str,
    pub idempotency_key: &'a str,
}

/// A valid PayInvoice request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayPaymentRequest {
    /// `None`: whatever is open on the invoice.
    pub amount: Option<(i64, String)>,
    pub payment_method_id: String,
    pub idempotency_key: String,
}

impl GatewayPaymentRequest {
    pub fn parse(input: &PayInput<'_>) -> Result<Self, AppError> {
        let payment_method_id = input.payment_method_id.trim();
        if payment_method_id.is_empty() {
            return Err(AppError::invalid("payment_method_id", "is required"));
        }
        if payment_method_id.chars().count() > MAX_PAYMENT_METHOD_CHARS
            || !payment_method_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(AppError::invalid(
                "payment_method_id",
                "must be a payment gateway payment method id such as pm_card_visa",
            ));
        }
        Ok(Self {
            amount: input
                .amount
                .map(|amount| super::parse_amount("amount", Some(amount)))
                .transpose()?,
            payment_method_id: payment_method_id.to_owned(),
            idempotency_key: idempotency_key(input.idempotency_key)?,
        })
    }
}

/// The gateway's word on one gateway payment's intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    pub payment_id: Uuid,
    /// `None` when the gateway refused to create one.
    pub intent_id: Option<String>,
    pub state: IntentState,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(payment_method_id: &'a str, key: &'a str) -> PayInput<'a> {
        PayInput {
            amount: None,
            payment_method_id,
            idempotency_key: key,
        }
    }

    #[test]
    fn a_payment_names_a_method_and_a_key_and_at_most_a_positive_amount() {
        let request =
            GatewayPaymentRequest::parse(&input(" pm_card_visa ", "pay-00000001")).expect("valid");
        assert_eq!(request.payment_method_id, "pm_card_visa");
        assert_eq!(request.amount, None);
        assert!(GatewayPaymentRequest::parse(&input("", "pay-00000001")).is_err());
        assert!(GatewayPaymentRequest::parse(&input("pm card", "pay-00000001")).is_err());
        assert!(GatewayPaymentRequest::parse(&input("pm_card_visa", "short")).is_err());
        let with_amount = |amount| PayInput {
            amount: Some(amount),
            ..input("pm_card_visa", "pay-00000001")
        };
        assert_eq!(
            GatewayPaymentRequest::parse(&with_amount((1_500, "EUR")))
                .expect("valid")
                .amount,
            Some((1_500, "EUR".to_owned()))
        );
        assert!(GatewayPaymentRequest::parse(&with_amount((0, "EUR"))).is_err());
        assert!(GatewayPaymentRequest::parse(&with_amount((10, "eur"))).is_err());
    }
}
