//! Store rows to contract messages.

use astro_proto::astrobookings::common::v1::Money;
use astro_proto::astrobookings::finance::v1::{
    BookingCharge, BookingRefund, PaymentStatus as ProtoPaymentStatus, RefundReason as ProtoReason,
    RefundStatus as ProtoRefundStatus,
};
use astro_shared::convert::{money, timestamp};

use crate::{
    domain::{
        charge::PaymentStatus,
        refund::{RefundReason, RefundStatus},
    },
    store::{payments::PaymentRow, refunds::RefundRow},
};

/// A request's optional amount as the domain parses it: minor units and currency.
pub fn amount(money: Option<&Money>) -> Option<(i64, &str)> {
    money.map(|money| (money.amount_minor, money.currency.as_str()))
}

pub fn charge(row: &PaymentRow) -> BookingCharge {
    let status = match row.status() {
        PaymentStatus::Pending => ProtoPaymentStatus::Pending,
        PaymentStatus::RequiresAction => ProtoPaymentStatus::RequiresAction,
        PaymentStatus::Succeeded => ProtoPaymentStatus::Succeeded,
        PaymentStatus::Failed => ProtoPaymentStatus::Failed,
        PaymentStatus::Cancelled => ProtoPaymentStatus::Cancelled,
    };
    BookingCharge {
        id: row.id.to_string(),
        booking_id: row.booking_id.to_string(),
        amount: Some(money(row.amount_minor, &row.currency)),
        status: status.into(),
        gateway_payment_id: row.gateway_payment_id.clone().unwrap_or_default(),
        // Only while the payer still has something to do with it.
        client_secret: if row.status() == PaymentStatus::RequiresAction {
            row.client_secret.clone().unwrap_or_default()
        } else {
            String::new()
        },
        failure_message: row.failure_message.clone().unwrap_or_default(),
        refunded_amount: Some(money(row.refunded_minor, &row.currency)),
        created_at: Some(timestamp(row.audit.created_at)),
    }
}

pub fn refund(row: &RefundRow) -> BookingRefund {
    let status = match row.status() {
        RefundStatus::Pending => ProtoRefundStatus::Pending,
        RefundStatus::Succeeded => ProtoRefundStatus::Succeeded,
        RefundStatus::Failed => ProtoRefundStatus::Failed,
    };
    let reason = match row.reason() {
        Some(RefundReason::TravelerCancellation) => ProtoReason::TravelerCancellation,
        Some(RefundReason::LaunchAborted) => ProtoReason::LaunchAborted,
        Some(RefundReason::HoldExpired) => ProtoReason::HoldExpired,
        None => ProtoReason::Unspecified,
    };
    BookingRefund {
        id: row.id.to_string(),
        booking_id: row.booking_id.to_string(),
        amount: Some(money(row.amount_minor, &row.currency)),
        reason: reason.into(),
        status: status.into(),
        gateway_refund_id: row.gateway_refund_id.clone().unwrap_or_default(),
        failure_message: row.failure_message.clone().unwrap_or_default(),
        created_at: Some(timestamp(row.audit.created_at)),
    }
}

/// The domain's reason for a contract value; `None` for UNSPECIFIED or unknown numbers.
pub fn reason_from_proto(value: i32) -> Option<RefundReason> {
    match ProtoReason::try_from(value).ok()? {
        ProtoReason::TravelerCancellation => Some(RefundReason::TravelerCancellation),
        ProtoReason::LaunchAborted => Some(RefundReason::LaunchAborted),
        ProtoReason::HoldExpired => Some(RefundReason::HoldExpired),
        ProtoReason::Unspecified => None,
    }
}
