//! Refunds of a booking's charge: what a request may ask for and the states of a refund.
//!
//! Each refund is identified by the id BookingAPI chose, which is also its idempotency key at
//! the gateway. Its amount is reserved on the charge (`payments.refunded_minor`) before the
//! gateway is asked, so concurrent refunds can never add up to more than was charged; a refund
//! the gateway refuses gives its reservation back.

use astro_shared::AppError;
use uuid::Uuid;

use super::{parse_amount, parse_id};

/// The statuses of a refund (`finance.v1.RefundStatus` without UNSPECIFIED).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    /// Reserved, and perhaps sent to the gateway; not paid back yet.
    Pending,
    Succeeded,
    /// Refused by the gateway; finance staff follow up.
    Failed,
}

impl RefundStatus {
    pub const ALL: [Self; 3] = [Self::Pending, Self::Succeeded, Self::Failed];

    /// The name stored in `booking_refunds.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }

    /// The status a gateway refund's status (`pending`, `requires_action`, `succeeded`,
    /// `failed`, `canceled`) means; anything unknown is still pending.
    pub fn from_gateway(status: Option<&str>) -> Self {
        match status {
            Some("succeeded") => Self::Succeeded,
            Some("failed" | "canceled") => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// Why a booking is refunded (`finance.v1.RefundReason` without UNSPECIFIED).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundReason {
    TravelerCancellation,
    LaunchAborted,
    HoldExpired,
}

impl RefundReason {
    pub const ALL: [Self; 3] = [
        Self::TravelerCancellation,
        Self::LaunchAborted,
        Self::HoldExpired,
    ];

    /// The name stored in `booking_refunds.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TravelerCancellation => "TRAVELER_CANCELLATION",
            Self::LaunchAborted => "LAUNCH_ABORTED",
            Self::HoldExpired => "HOLD_EXPIRED",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == name)
    }
}

/// The fields of a RefundBooking request, as received.
#[derive(Debug, Clone, Copy)]
pub struct RefundInput<'a> {
    pub refund_id: &'a str,
    pub booking_id: &'a str,
    pub amount: Option<(i64, &'a str)>,
    /// `None` when the request left it UNSPECIFIED or sent an unknown value.
    pub reason: Option<RefundReason>,
}

/// A valid refund request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefund {
    pub refund_id: Uuid,
    pub booking_id: Uuid,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: RefundReason,
}

impl NewRefund {
    pub fn parse(input: &RefundInput<'_>) -> Result<Self, AppError> {
        let (amount_minor, currency) = parse_amount("amount", input.amount)?;
        Ok(Self {
            refund_id: parse_id("refund_id", input.refund_id)?,
            booking_id: parse_id("booking_id", input.booking_id)?,
            amount_minor,
            currency,
            reason: input
                .reason
                .ok_or_else(|| AppError::invalid("reason", "is required"))?,
        })
    }

    /// Whether a retry asks for something else than the refund already recorded under its id.
    pub fn differs_from(&self, booking_id: Uuid, amount_minor: i64, currency: &str) -> bool {
        self.booking_id != booking_id
            || self.amount_minor != amount_minor
            || self.currency != currency
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for status in RefundStatus::ALL {
            assert_eq!(RefundStatus::parse(status.as_str()), Some(status));
        }
        for reason in RefundReason::ALL {
            assert_eq!(RefundReason::parse(reason.as_str()), Some(reason));
        }
    }

    #[test]
    fn gateway_refund_statuses_map_to_ours() {
        assert_eq!(
            RefundStatus::from_gateway(Some("succeeded")),
            RefundStatus::Succeeded
        );
        assert_eq!(
            RefundStatus::from_gateway(Some("failed")),
            RefundStatus::Failed
        );
        assert_eq!(
            RefundStatus::from_gateway(Some("canceled")),
            RefundStatus::Failed
        );
        assert_eq!(
            RefundStatus::from_gateway(Some("pending")),
            RefundStatus::Pending
        );
        assert_eq!(
            RefundStatus::from_gateway(Some("requires_action")),
            RefundStatus::Pending
        );
        assert_eq!(RefundStatus::from_gateway(None), RefundStatus::Pending);
    }

    #[test]
    fn a_refund_needs_a_reason_and_a_positive_amount() {
        let refund_id = Uuid::new_v4().to_string();
        let booking_id = Uuid::new_v4().to_string();
        let valid = RefundInput {
            refund_id: &refund_id,
            booking_id: &booking_id,
            amount: Some((900, "USD")),
            reason: Some(RefundReason::TravelerCancellation),
        };
        let refund = NewRefund::parse(&valid).expect("valid");
        assert!(!refund.differs_from(refund.booking_id, 900, "USD"));
        assert!(refund.differs_from(refund.booking_id, 901, "USD"));
        assert!(refund.differs_from(Uuid::new_v4(), 900, "USD"));
        assert!(
            NewRefund::parse(&RefundInput {
                reason: None,
                ..valid
            })
            .is_err()
        );
        assert!(
            NewRefund::parse(&RefundInput {
                amount: Some((0, "USD")),
                ..valid
            })
            .is_err()
        );
    }
}
