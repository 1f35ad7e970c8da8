//! `FinanceInternalService`: booking charges, their cancellation and refunds, for BookingAPI.
//! IssueLaunchInvoice for AgencyAPI: the launch's invoice, issued now if it has none.

use astro_proto::astrobookings::finance::v1::{
    CancelBookingChargeRequest, CancelBookingChargeResponse, ChargeBookingRequest,
    ChargeBookingResponse, IssueLaunchInvoiceRequest, IssueLaunchInvoiceResponse,
    RefundBookingRequest, RefundBookingResponse,
    finance_internal_service_server::FinanceInternalService,
};
use tonic::{Request, Response, Status};

use super::{FinanceApi, convert, invoices};
use crate::SERVICE_NAME;
use crate::domain::{
    self,
    charge::{ChargeInput, NewCharge},
    refund::{NewRefund, RefundInput},
};
use astro_shared::changes::Origin;

#[tonic::async_trait]
impl FinanceInternalService for FinanceApi {
    async fn charge_booking(
        &self,
        request: Request<ChargeBookingRequest>,
    ) -> Result<Response<ChargeBookingResponse>, Status> {
        let input = request.get_ref();
        let charge = NewCharge::parse(&ChargeInput {
            booking_id: &input.booking_id,
            traveler_id: &input.traveler_id,
            launch_id: &input.launch_id,
            agency_id: &input.agency_id,
            amount: convert::amount(input.amount.as_ref()),
            payment_method_id: &input.payment_method_id,
            receipt_email: &input.receipt_email,
            description: &input.description,
        })?;
        let row = self.state.payments.charge(charge).await?;
        Ok(Response::new(ChargeBookingResponse {
            charge: Some(convert::charge(&row)),
        }))
    }

    async fn cancel_booking_charge(
        &self,
        request: Request<CancelBookingChargeRequest>,
    ) -> Result<Response<CancelBookingChargeResponse>, Status> {
        let booking_id = domain::parse_id("booking_id", &request.get_ref().booking_id)?;
        let row = self.state.payments.cancel(booking_id).await?;
        Ok(Response::new(CancelBookingChargeResponse {
            charge: Some(convert::charge(&row)),
        }))
    }

    async fn refund_booking(
        &self,
        request: Request<RefundBookingRequest>,
    ) -> Result<Response<RefundBookingResponse>, Status> {
        let input = request.get_ref();
        let refund = NewRefund::parse(&RefundInput {
            refund_id: &input.refund_id,
            booking_id: &input.booking_id,
            amount: convert::amount(input.amount.as_ref()),
            reason: convert::reason_from_proto(input.reason),
        })?;
        let row = self.state.refunds.refund(refund).await?;
        Ok(Response::new(RefundBookingResponse {
            refund: Some(convert::refund(&row)),
        }))
    }

    async fn issue_launch_invoice(
        &self,
        request: Request<IssueLaunchInvoiceRequest>,
    ) -> Result<Response<IssueLaunchInvoiceResponse>, Status> {
        let launch_id = domain::parse_id("launch_id", &request.get_ref().launch_id)?;
        let origin = Origin::platform(SERVICE_NAME);
        let (row, created) = self
            .state
            .invoices
            .issue_for_launch(launch_id, &origin)
            .await?;
        let status = row.status(self.state.invoices.calendar().today());
        Ok(Response::new(IssueLaunchInvoiceResponse {
            invoice: Some(invoices::invoice(&row, status)),
            created,
        }))
    }
}
