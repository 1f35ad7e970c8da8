//! Payments FINANCE records against an invoice (bank transfer, cheque, other) and their
//! corrections: what a valid request is. Whether the amount fits what is still due is the
//! store's conditional update, so two concurrent payments cannot both fit.

use chrono::{DateTime, Utc};

use astro_shared::AppError;

/// Longest bank or cheque reference.
const MAX_REFERENCE_CHARS: usize = 100;
/// Longest note.
const MAX_NOTE_CHARS: usize = 1_000;
/// Longest correction reason.
const MAX_REASON_CHARS: usize = 500;
/// Bounds of a client's idempotency key.
const IDEMPOTENCY_KEY_CHARS: (usize, usize) = (8, 255);

/// How a payment reached the platform (finance.v1.PaymentChannel names in the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    BankTransfer,
    Cheque,
    PaymentGateway,
    Other,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BankTransfer => "BANK_TRANSFER",
            Self::Cheque => "CHEQUE",
            Self::PaymentGateway => "PAYMENT_GATEWAY",
            Self::Other => "OTHER",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::BankTransfer,
            Self::Cheque,
            Self::PaymentGateway,
            Self::Other,
        ]
        .into_iter()
        .find(|channel| channel.as_str() == name)
    }
}

/// What RecordPayment's request says, before validation.
#[derive(Debug, Clone, Copy)]
pub struct RecordInput<'a> {
    pub amount: Option<(i64, &'a str)>,
    /// `None` for an unknown or unset channel.
    pub channel: Option<Channel>,
    pub received_at: Option<DateTime<Utc>>,
    pub reference: &'a str,
    pub note: &'a str,
    pub idempotency_key: &'a str,
}

/// A valid manual payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    pub amount_minor: i64,
    pub currency: String,
    pub channel: Channel,
    pub received_at: DateTime<Utc>,
    pub reference: String,
    pub note: String,
    pub idempotency_key: String,
}

impl NewPayment {
    /// Validates against the platform's `now` (reception in the future is refused).
    pub fn parse(input: &RecordInput<'_>, now: DateTime<Utc>) -> Result<Self, AppError> {
        let (amount_minor, currency) = super::parse_amount("amount", input.amount)?;
        let channel = match input.channel {
            Some(Channel::PaymentGateway) => {
                return Err(AppError::invalid(
                    "channel",
                    "PAYMENT_GATEWAY payments are made with PayInvoice, not recorded",
                ));
            }
            Some(channel) => channel,
            None => {
                return Err(AppError::invalid(
                    "channel",
                    "must be BANK_TRANSFER, CHEQUE or OTHER",
                ));
            }
        };
        let received_at = input.received_at.unwrap_or(now);
        if received_at > now {
            return Err(AppError::invalid(
                "received_at",
                "must not be in the future",
            ));
        }
        Ok(Self {
            amount_minor,
            currency,
            channel,
            received_at,
            reference: bounded_text("reference", input.reference, MAX_REFERENCE_CHARS)?,
            note: bounded_text("note", input.note, MAX_NOTE_CHARS)?,
            idempotency_key: idempotency_key(input.idempotency_key)?,
        })
    }
}

/// What CorrectPayment's request says, before validation.
#[derive(Debug, Clone, Copy)]
pub struct CorrectInput<'a> {
    /// `None` keeps the amount; `Some((0, _))` voids the payment.
    pub amount: Option<(i64, &'a str)>,
    pub received_at: Option<DateTime<Utc>>,
    pub reference: Option<&'a str>,
    pub reason: &'a str,
}

/// A valid correction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    /// New amount and its currency; `None` keeps the amount.
    pub amount: Option<(i64, String)>,
    pub received_at: Option<DateTime<Utc>>,
    pub reference: Option<String>,
    pub reason: String,
}

impl Correction {
    pub fn parse(input: &CorrectInput<'_>, now: DateTime<Utc>) -> Result<Self, AppError> {
        let reason = bounded_text("reason", input.reason, MAX_REASON_CHARS)?;
        if reason.is_empty() {
            return Err(AppError::invalid("reason", "is required"));
        }
        let amount = match input.amount {
            None => None,
            // Zero voids; anything else must be a positive amount.
            Some((0, currency)) => Some((0, super::parse_amount("amount", Some((1, currency)))?.1)),
            Some(amount) => Some(super::parse_amount("amount", Some(amount))?),
        };
        if let Some(received_at) = input.received_at
            && received_at > now
        {
            return Err(AppError::invalid(
                "received_at",
                "must not be in the future",
            ));
        }
        Ok(Self {
            amount,
            received_at: input.received_at,
            reference: input
                .reference
                .map(|reference| bounded_text("reference", reference, MAX_REFERENCE_CHARS))
                .transpose()?,
            reason,
        })
    }
}

/// A client's idempotency key: 8 to 255 visible characters.
pub fn idempotency_key(value: &str) -> Result<String, AppError> {
    let value = value.trim();
    let (min, max) = IDEMPOTENCY_KEY_CHARS;
    let length = value.chars().count();
    if length < min || length > max || value.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "idempotency_key",
            format!("must be {min} to {max} characters (or the Idempotency-Key header)"),
        ));
    }
    Ok(value.to_owned())
}

pub(super) fn bounded_text(field: &str, value: &str, max_chars: usize) -> Result<String, AppError> {
    let value = value.trim();
    if value.chars().count() > max_chars {
        return Err(AppError::invalid(
            field,
            format!("must be at most {max_chars} characters"),
        ));
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

    fn input() -> RecordInput<'static> {
        RecordInput {
            amount: Some((500, "USD")),
            channel: Some(Channel::BankTransfer),
            received_at: None,
            reference: "SEPA-1",
            note: "",
            idempotency_key: "payment-0001",
        }
    }

    #[test]
    fn a_manual_payment_is_positive_not_in_the_future_and_keyed() {
        let now = Utc::now();
        let payment = NewPayment::parse(&input(), now).expect("valid");
        assert_eq!(payment.received_at, now);
        let refused = |changed: RecordInput<'static>| NewPayment::parse(&changed, now).is_err();
        assert!(refused(RecordInput {
            amount: Some((0, "USD")),
            ..input()
        }));
        assert!(refused(RecordInput {
            channel: Some(Channel::PaymentGateway),
            ..input()
        }));
        assert!(refused(RecordInput {
            channel: None,
            ..input()
        }));
        assert!(refused(RecordInput {
            received_at: Some(now + chrono::Duration::minutes(5)),
            ..input()
        }));
        assert!(refused(RecordInput {
            idempotency_key: "short",
            ..input()
        }));
        assert!(refused(RecordInput {
            reference: "r\u{7}",
            ..input()
        }));
    }

    #[test]
    fn a_correction_needs_a_reason_and_zero_voids() {
        let now = Utc::now();
        let correction = |amount, reason| {
            Correction::parse(
                &CorrectInput {
                    amount,
                    received_at: None,
                    reference: None,
                    reason,
                },
                now,
            )
        };
        assert!(correction(Some((100, "USD")), " ").is_err());
        assert_eq!(
            correction(Some((0, "USD")), "bounced")
                .expect("void")
                .amount,
            Some((0, "USD".to_owned()))
        );
        assert!(correction(Some((-1, "USD")), "typo").is_err());
        assert!(
            correction(None, "new reference")
                .expect("valid")
                .amount
                .is_none()
        );
    }
}
