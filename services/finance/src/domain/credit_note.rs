//! Credit notes: how an issued invoice is corrected, since it never changes. What a valid
//! request is, and the number it gets. Whether the amount fits what is still open is the
//! store's conditional update, so two concurrent credit notes (or a credit note and a payment)
//! cannot both take the same money.

use astro_shared::AppError;

use super::invoice_payment::{bounded_text, idempotency_key};

/// Longest reason, printed on the credit note.
const MAX_REASON_CHARS: usize = 500;

/// What IssueCreditNote's request says, before validation.
#[derive(Debug, Clone, Copy)]
pub struct CreditNoteInput<'a> {
    pub amount: Option<(i64, &'a str)>,
    pub reason: &'a str,
    pub idempotency_key: &'a str,
}

/// A valid credit note to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCreditNote {
    pub amount_minor: i64,
    pub currency: String,
    pub reason: String,
    pub idempotency_key: String,
}

impl NewCreditNote {
    pub fn parse(input: &CreditNoteInput<'_>) -> Result<Self, AppError> {
        let (amount_minor, currency) = super::parse_amount("amount", input.amount)?;
        let reason = bounded_text("reason", input.reason, MAX_REASON_CHARS)?;
        if reason.is_empty() {
            return Err(AppError::invalid("reason", "is required"));
        }
        Ok(Self {
            amount_minor,
            currency,
            reason,
            idempotency_key: idempotency_key(input.idempotency_key)?,
        })
    }
}

/// The credit note number of `sequence` in `year`: `CN-2026-000007`, a series of its own.
pub fn credit_note_number(year: i32, sequence: i32) -> String {
    format!("CN-{year}-{sequence:06}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> CreditNoteInput<'static> {
        CreditNoteInput {
            amount: Some((250, "USD")),
            reason: "Fee computed on a refunded booking",
            idempotency_key: "credit-0001",
        }
    }

    #[test]
    fn a_credit_note_is_positive_explained_and_keyed() {
        let note = NewCreditNote::parse(&input()).expect("valid");
        assert_eq!((note.amount_minor, note.currency.as_str()), (250, "USD"));
        let long_reason = "x".repeat(501);
        let refused = |changed: CreditNoteInput<'_>| NewCreditNote::parse(&changed).is_err();
        assert!(refused(CreditNoteInput {
            amount: Some((0, "USD")),
            ..input()
        }));
        assert!(refused(CreditNoteInput {
            amount: None,
            ..input()
        }));
        assert!(refused(CreditNoteInput {
            amount: Some((10, "usd")),
            ..input()
        }));
        assert!(refused(CreditNoteInput {
            reason: "  ",
            ..input()
        }));
        assert!(refused(CreditNoteInput {
            reason: &long_reason,
            ..input()
        }));
        assert!(refused(CreditNoteInput {
            idempotency_key: "short",
            ..input()
        }));
    }

    #[test]
    fn credit_notes_have_their_own_series() {
        assert_eq!(credit_note_number(2026, 7), "CN-2026-000007");
        assert_ne!(
            credit_note_number(2026, 7),
            super::super::invoice::invoice_number(2026, 7)
        );
    }
}
