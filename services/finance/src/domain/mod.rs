//! FinanceAPI's rules as plain types and functions: request validation, the states of a
//! booking charge and of a refund, and how the payment gateway's answers map onto them. No
//! tonic, no sqlx and no Stripe types here, so each rule is unit-tested on its own; the store
//! enforces the same invariants again in SQL.

pub mod annual_chart;
pub mod charge;
pub mod credit_note;
pub mod invoice;
pub mod invoice_checkout;
pub mod invoice_document;
pub mod invoice_payment;
pub mod refund;
pub mod reminder;
pub mod report;
pub mod webhook;

use astro_shared::AppError;
use uuid::Uuid;

/// Longest text we pass to the payment gateway (Stripe's own limit for descriptions).
const MAX_GATEWAY_TEXT_CHARS: usize = 1_000;

/// A required UUID field.
pub fn parse_id(field: &str, value: &str) -> Result<Uuid, AppError> {
    if value.trim().is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    Uuid::parse_str(value.trim()).map_err(|_| AppError::invalid(field, "must be a UUID"))
}

/// A positive amount of integer minor units in an ISO 4217 currency (upper case).
pub fn parse_amount(field: &str, amount: Option<(i64, &str)>) -> Result<(i64, String), AppError> {
    let Some((amount_minor, currency)) = amount else {
        return Err(AppError::invalid(field, "is required"));
    };
    if amount_minor <= 0 {
        return Err(AppError::invalid(
            format!("{field}.amount_minor"),
            "must be positive",
        ));
    }
    let currency = currency.trim();
    if currency.len() != 3 || !currency.bytes().all(|byte| byte.is_ascii_uppercase()) {
        return Err(AppError::invalid(
            format!("{field}.currency"),
            "must be an ISO 4217 code in upper case, e.g. USD",
        ));
    }
    Ok((amount_minor, currency.to_owned()))
}

/// Optional free text sent to the gateway: trimmed, bounded, no control characters.
fn optional_text(field: &str, value: &str) -> Result<String, AppError> {
    let value = value.trim();
    if value.chars().count() > MAX_GATEWAY_TEXT_CHARS {
        return Err(AppError::invalid(field, "is too long"));
    }
    if value.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_uuids() {
        assert!(parse_id("booking_id", "").is_err());
        assert!(parse_id("booking_id", "b-1").is_err());
        let id = Uuid::new_v4();
        assert_eq!(parse_id("booking_id", &id.to_string()).ok(), Some(id));
    }

    #[test]
    fn amounts_are_positive_minor_units_in_an_upper_case_currency() {
        assert!(parse_amount("amount", None).is_err());
        assert!(parse_amount("amount", Some((0, "USD"))).is_err());
        assert!(parse_amount("amount", Some((-5, "USD"))).is_err());
        assert!(parse_amount("amount", Some((5, "usd"))).is_err());
        assert!(parse_amount("amount", Some((5, "US"))).is_err());
        assert_eq!(
            parse_amount("amount", Some((5, "EUR"))).ok(),
            Some((5, "EUR".to_owned()))
        );
    }

    #[test]
    fn gateway_text_is_bounded() {
        assert!(optional_text("description", &"x".repeat(1_001)).is_err());
        assert!(optional_text("description", "a\u{7}b").is_err());
        assert_eq!(
            optional_text("description", "  ok ").ok().as_deref(),
            Some("ok")
        );
    }
}
