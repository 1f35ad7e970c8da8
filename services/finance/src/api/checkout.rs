//! Collecting invoices: PayInvoice and the payment gateway's webhook ([`InvoiceCheckout`]),
//! and reminders ([`Reminders`]): decode, call, encode.
//!
//! [`InvoiceCheckout`]: crate::app::invoice_checkout::InvoiceCheckout
//! [`Reminders`]: crate::app::reminders::Reminders

use astro_proto::astrobookings::finance::v1::{
    HandleStripeWebhookRequest, HandleStripeWebhookResponse, PayInvoiceRequest, PayInvoiceResponse,
    SendInvoiceReminderRequest, SendInvoiceReminderResponse,
};
use astro_shared::auth::caller;
use tonic::{Request, Response, Status};

use super::{
    FinanceApi, convert,
    invoices::{invoice_view, payment_message},
};
use crate::domain::{
    self,
    invoice_checkout::{GatewayPaymentRequest, PayInput},
};

impl FinanceApi {
    pub(super) async fn pay_invoice_rpc(
        &self,
        request: Request<PayInvoiceRequest>,
    ) -> Result<Response<PayInvoiceResponse>, Status> {
        let caller = caller(&request)?.clone();
        let input = request.into_inner();
        let invoice_id = domain::parse_id("id", &input.id)?;
        let payment = GatewayPaymentRequest::parse(&PayInput {
            amount: convert::amount(input.amount.as_ref()),
            payment_method_id: &input.payment_method_id,
            idempotency_key: &input.idempotency_key,
        })?;
        let paid = self
            .state
            .checkout
            .pay(&caller, invoice_id, payment)
            .await?;
        Ok(Response::new(PayInvoiceResponse {
            payment: Some(payment_message(&paid.payment)),
            payment_client_secret: paid.client_secret().unwrap_or_default().to_owned(),
            idempotent_replay: paid.replay,
        }))
    }

    pub(super) async fn handle_stripe_webhook_rpc(
        &self,
        request: Request<HandleStripeWebhookRequest>,
    ) -> Result<Response<HandleStripeWebhookResponse>, Status> {
        let input = request.into_inner();
        let outcome = self
            .state
            .checkout
            .handle_webhook(&input.payload, &input.signature)
            .await?;
        Ok(Response::new(HandleStripeWebhookResponse {
            event_id: outcome.event_id,
            processed: outcome.processed,
        }))
    }

    pub(super) async fn send_invoice_reminder_rpc(
        &self,
        request: Request<SendInvoiceReminderRequest>,
    ) -> Result<Response<SendInvoiceReminderResponse>, Status> {
        let caller = caller(&request)?.clone();
        let invoice_id = domain::parse_id("id", &request.get_ref().id)?;
        let view = self.state.reminders.send(&caller, invoice_id).await?;
        Ok(Response::new(SendInvoiceReminderResponse {
            invoice: Some(invoice_view(&view)),
        }))
    }
}
