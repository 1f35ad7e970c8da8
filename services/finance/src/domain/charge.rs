//! A booking's charge at the payment gateway: what a request may ask for, the states a charge
//! goes through, and how the gateway's payment-intent states map onto them.
//!
//! The gateway is the source of truth about money: whatever FinanceAPI believed, an intent that
//! the gateway reports as succeeded is recorded as SUCCEEDED (e.g. a traveler finishing 3-D
//! Secure after the hold was given up), so the booking side can refund it.

use astro_shared::AppError;
use uuid::Uuid;

use super::{optional_text, parse_amount, parse_id};

/// The statuses of a booking charge (`finance.v1.PaymentStatus` without UNSPECIFIED).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Recorded, and perhaps sent to the gateway; outcome not known yet.
    Pending,
    /// The payer must complete an action (3-D Secure) with the client secret.
    RequiresAction,
    Succeeded,
    /// Declined or refused by the gateway; nothing received.
    Failed,
    /// Cancelled before completion (the booking's hold was given up).
    Cancelled,
}

impl PaymentStatus {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::RequiresAction,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The name stored in `payments.status` (the contract's enum name without prefix).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::RequiresAction => "REQUIRES_ACTION",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }

    /// Nothing more is to be done at the gateway for the charge itself (refunds are separate).
    pub fn is_settled(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    /// The statuses from which the gateway's news may move a charge to `self`. PENDING is
    /// never returned to; SUCCEEDED is recorded from anything, because the money was received.
    pub fn reachable_from(self) -> &'static [Self] {
        match self {
            Self::Pending => &[],
            Self::RequiresAction => &[Self::Pending],
            Self::Succeeded => &[
                Self::Pending,
                Self::RequiresAction,
                Self::Failed,
                Self::Cancelled,
            ],
            Self::Failed | Self::Cancelled => &[Self::Pending, Self::RequiresAction],
        }
    }
}

/// A payment intent's state at the gateway, in the terms FinanceAPI acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentState {
    /// Created with its payment method, not confirmed yet. Only the holder of the charge's
    /// lease confirms it, and only the intent recorded on the charge.
    AwaitingConfirmation,
    /// The payer must authenticate (3-D Secure).
    RequiresAction,
    /// Confirmed; the gateway has not decided yet (or waits for a capture we never ask for).
    Processing,
    Succeeded,
    /// Declined: the gateway wants another payment method. `message` is the gateway's, safe
    /// to show to the traveler.
    Declined {
        message: String,
    },
    Canceled,
}

impl IntentState {
    /// The charge status this gateway state means.
    pub fn payment_status(&self) -> PaymentStatus {
        match self {
            Self::AwaitingConfirmation | Self::Processing => PaymentStatus::Pending,
            Self::RequiresAction => PaymentStatus::RequiresAction,
            Self::Succeeded => PaymentStatus::Succeeded,
            Self::Declined { .. } => PaymentStatus::Failed,
            Self::Canceled => PaymentStatus::Cancelled,
        }
    }

    /// The gateway's reason for a failure, if this is one.
    pub fn failure_message(&self) -> Option<&str> {
        match self {
            Self::Declined { message } => Some(message),
            _ => None,
        }
    }
}

/// The fields of a ChargeBooking request, as received.
#[derive(Debug, Clone, Copy)]
pub struct ChargeInput<'a> {
    pub booking_id: &'a str,
    pub traveler_id: &'a str,
    pub launch_id: &'a str,
    pub agency_id: &'a str,
    pub amount: Option<(i64, &'a str)>,
    pub payment_method_id: &'a str,
    pub receipt_email: &'a str,
    pub description: &'a str,
}

/// A valid charge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCharge {
    pub booking_id: Uuid,
    pub traveler_id: Uuid,
    pub launch_id: Uuid,
    pub agency_id: Uuid,
    pub amount_minor: i64,
    pub currency: String,
    pub payment_method_id: String,
    pub receipt_email: String,
    pub description: String,
}

impl NewCharge {
    pub fn parse(input: &ChargeInput<'_>) -> Result<Self, AppError> {
        let (amount_minor, currency) = parse_amount("amount", input.amount)?;
        Ok(Self {
            booking_id: parse_id("booking_id", input.booking_id)?,
            traveler_id: parse_id("traveler_id", input.traveler_id)?,
            launch_id: parse_id("launch_id", input.launch_id)?,
            agency_id: parse_id("agency_id", input.agency_id)?,
            amount_minor,
            currency,
            payment_method_id: parse_payment_method_id(input.payment_method_id)?,
            receipt_email: parse_receipt_email(input.receipt_email)?,
            description: optional_text("description", input.description)?,
        })
    }

    /// Whether a retry asks for something else than the charge already recorded for its
    /// booking: the booking id is the idempotency key, so another amount is a caller's bug.
    pub fn differs_from(&self, amount_minor: i64, currency: &str) -> bool {
        self.amount_minor != amount_minor || self.currency != currency
    }
}

/// A gateway payment method id (`pm_...`): letters, digits and underscores.
fn parse_payment_method_id(value: &str) -> Result<String, AppError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::invalid("payment_method_id", "is required"));
    }
    if value.len() > 255
        || !value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
    {
        return Err(AppError::invalid(
            "payment_method_id",
            "is not a payment method id",
        ));
    }
    Ok(value.to_owned())
}

/// Optional; when given, something that looks like one address.
fn parse_receipt_email(value: &str) -> Result<String, AppError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(String::new());
    }
    let looks_like_an_address = value.len() <= 254
        && !value
            .chars()
            .any(|character| character.is_whitespace() || character.is_control())
        && value
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if !looks_like_an_address {
        return Err(AppError::invalid(
            "receipt_email",
            "is not an e-mail address",
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(ids: &'a [String; 4]) -> ChargeInput<'a> {
        ChargeInput {
            booking_id: &ids[0],
            traveler_id: &ids[1],
            launch_id: &ids[2],
            agency_id: &ids[3],
            amount: Some((12_000, "USD")),
            payment_method_id: "pm_card_visa",
            receipt_email: "ada@example.com",
            description: "AstroBookings 2 seats falcon-x-moon",
        }
    }

    fn ids() -> [String; 4] {
        std::array::from_fn(|_| Uuid::new_v4().to_string())
    }

    #[test]
    fn a_complete_request_parses() {
        let ids = ids();
        let charge = NewCharge::parse(&input(&ids)).expect("valid");
        assert_eq!(charge.booking_id.to_string(), ids[0]);
        assert_eq!(charge.amount_minor, 12_000);
        assert_eq!(charge.payment_method_id, "pm_card_visa");
    }

    #[test]
    fn a_charge_needs_a_payment_method_and_a_positive_amount() {
        let ids = ids();
        let no_method = ChargeInput {
            payment_method_id: " ",
            ..input(&ids)
        };
        assert!(matches!(
            NewCharge::parse(&no_method),
            Err(AppError::InvalidArgument { field, .. }) if field == "payment_method_id"
        ));
        let odd_method = ChargeInput {
            payment_method_id: "pm_1&amount=1",
            ..input(&ids)
        };
        assert!(NewCharge::parse(&odd_method).is_err());
        let free = ChargeInput {
            amount: Some((0, "USD")),
            ..input(&ids)
        };
        assert!(NewCharge::parse(&free).is_err());
        let bad_email = ChargeInput {
            receipt_email: "not an address",
            ..input(&ids)
        };
        assert!(NewCharge::parse(&bad_email).is_err());
    }

    #[test]
    fn a_retry_with_another_amount_differs() {
        let ids = ids();
        let charge = NewCharge::parse(&input(&ids)).expect("valid");
        assert!(!charge.differs_from(12_000, "USD"));
        assert!(charge.differs_from(12_001, "USD"));
        assert!(charge.differs_from(12_000, "EUR"));
    }

    #[test]
    fn status_names_round_trip() {
        for status in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(PaymentStatus::parse("PAID"), None);
    }

    #[test]
    fn the_gateway_wins_about_money_received() {
        for status in PaymentStatus::ALL {
            let reachable = PaymentStatus::Succeeded.reachable_from().contains(&status);
            assert_eq!(reachable, status != PaymentStatus::Succeeded, "{status:?}");
        }
        // A settled charge is never failed or cancelled afterwards.
        for target in [PaymentStatus::Failed, PaymentStatus::Cancelled] {
            assert!(!target.reachable_from().contains(&PaymentStatus::Succeeded));
            assert!(!target.reachable_from().contains(&PaymentStatus::Failed));
        }
    }

    #[test]
    fn intent_states_map_to_charge_statuses() {
        let declined = IntentState::Declined {
            message: "Your card was declined.".into(),
        };
        assert_eq!(declined.payment_status(), PaymentStatus::Failed);
        assert_eq!(declined.failure_message(), Some("Your card was declined."));
        assert_eq!(
            IntentState::AwaitingConfirmation.payment_status(),
            PaymentStatus::Pending
        );
        assert_eq!(
            IntentState::RequiresAction.payment_status(),
            PaymentStatus::RequiresAction
        );
        assert_eq!(
            IntentState::Succeeded.payment_status(),
            PaymentStatus::Succeeded
        );
        assert_eq!(
            IntentState::Canceled.payment_status(),
            PaymentStatus::Cancelled
        );
        assert_eq!(IntentState::Succeeded.failure_message(), None);
    }
}
