//! FinanceAPI's internal RPCs as BookingAPI uses them: charge a booking, cancel its open
//! charge, refund it. Each call is idempotent on its booking or refund id, so any of them may
//! be repeated after a lost answer.

use astro_proto::astrobookings::finance::v1::{
    CancelBookingChargeRequest, ChargeBookingRequest, PaymentStatus, RefundBookingRequest,
    RefundReason, RefundStatus, finance_internal_service_client::FinanceInternalServiceClient,
};
use astro_shared::{AppError, convert::money, grpc_client::TracedChannel};
use uuid::Uuid;

use crate::{
    domain::{booking::CancellationReason, refund::RefundState},
    store::bookings::BookingRow,
};

/// FinanceAPI as a dependency, in errors and logs.
pub const FINANCE: &str = "FinanceAPI";

/// Where a charge stands, as FinanceAPI reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeState {
    Succeeded,
    /// Failed or cancelled at the gateway.
    Declined,
    /// The gateway needs the customer (3-D Secure …).
    RequiresAction,
    /// Submitted, outcome not known yet.
    Pending,
    /// FinanceAPI answered no status.
    Unspecified,
}

/// A charge of a booking.
#[derive(Debug, Clone)]
pub struct ChargeAnswer {
    pub state: ChargeState,
    pub payment_id: String,
    pub client_secret: String,
    /// Why it was declined; may be empty.
    pub failure_message: String,
}

/// A refund as FinanceAPI reports it.
#[derive(Debug, Clone)]
pub struct RefundAnswer {
    pub state: RefundState,
    pub failure_message: String,
}

#[derive(Clone)]
pub struct Finance {
    client: FinanceInternalServiceClient<TracedChannel>,
}

impl Finance {
    pub fn new(client: FinanceInternalServiceClient<TracedChannel>) -> Self {
        Self { client }
    }

    /// Charges `booking` its total with `payment_method_id` (idempotent on the booking id).
    pub async fn charge(
        &self,
        booking: &BookingRow,
        payment_method_id: &str,
        receipt_email: &str,
        description: String,
    ) -> Result<ChargeAnswer, AppError> {
        let request = ChargeBookingRequest {
            booking_id: booking.id.to_string(),
            traveler_id: booking.traveler_id.to_string(),
            launch_id: booking.launch_id.to_string(),
            agency_id: booking.agency_id.to_string(),
            amount: Some(money(booking.total_minor, &booking.currency)),
            payment_method_id: payment_method_id.to_owned(),
            receipt_email: receipt_email.to_owned(),
            description,
        };
        let charge = self
            .client
            .clone()
            .charge_booking(request)
            .await
            .map_err(AppError::from)?
            .into_inner()
            .charge
            .unwrap_or_default();
        let state = match PaymentStatus::try_from(charge.status).unwrap_or_default() {
            PaymentStatus::Succeeded => ChargeState::Succeeded,
            PaymentStatus::Failed | PaymentStatus::Cancelled => ChargeState::Declined,
            PaymentStatus::RequiresAction => ChargeState::RequiresAction,
            PaymentStatus::Pending => ChargeState::Pending,
            PaymentStatus::Unspecified => ChargeState::Unspecified,
        };
        Ok(ChargeAnswer {
            state,
            payment_id: charge.id,
            client_secret: charge.client_secret,
            failure_message: charge.failure_message,
        })
    }

    /// Cancels the open charge of booking `id`.
    pub async fn cancel_charge(&self, id: Uuid) -> Result<(), AppError> {
        self.client
            .clone()
            .cancel_booking_charge(CancelBookingChargeRequest {
                booking_id: id.to_string(),
            })
            .await
            .map_err(AppError::from)?;
        Ok(())
    }

    /// Asks for the refund `refund_id` of `amount_minor` for `booking` (idempotent on the
    /// refund id); `reason` is why the booking was cancelled.
    pub async fn refund(
        &self,
        booking: &BookingRow,
        refund_id: Uuid,
        reason: Option<CancellationReason>,
    ) -> Result<RefundAnswer, AppError> {
        let reason = match reason {
            Some(CancellationReason::TravelerRequest) => RefundReason::TravelerCancellation,
            Some(CancellationReason::LaunchAborted) => RefundReason::LaunchAborted,
            // Paid after the hold was given up.
            _ => RefundReason::HoldExpired,
        };
        let request = RefundBookingRequest {
            refund_id: refund_id.to_string(),
            booking_id: booking.id.to_string(),
            amount: Some(money(booking.refund_minor, &booking.currency)),
            reason: reason.into(),
        };
        let refund = self
            .client
            .clone()
            .refund_booking(request)
            .await
            .map_err(AppError::from)?
            .into_inner()
            .refund
            .unwrap_or_default();
        let state = match RefundStatus::try_from(refund.status).unwrap_or_default() {
            RefundStatus::Succeeded => RefundState::Succeeded,
            RefundStatus::Failed => RefundState::Failed,
            RefundStatus::Pending | RefundStatus::Unspecified => RefundState::Pending,
        };
        Ok(RefundAnswer {
            state,
            failure_message: refund.failure_message,
        })
    }
}
