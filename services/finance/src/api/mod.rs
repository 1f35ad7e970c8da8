//! gRPC adapters of FinanceAPI: decode the request into domain input, call the use case,
//! encode the answer. Who may call what is enforced before these run, by the auth layer from the
//! contracts' access options. RPCs that no issue has built yet keep the generated default and
//! answer UNIMPLEMENTED.

mod checkout;
mod convert;
mod internal;
mod invoices;
mod reports;

use astro_proto::astrobookings::finance::v1::{
    CorrectPaymentRequest, CorrectPaymentResponse, GenerateInvoicesRequest,
    GenerateInvoicesResponse, GetAgencyRevenueReportRequest, GetAgencyRevenueReportResponse,
    GetAnnualReportChartRequest, GetAnnualReportRequest, GetAnnualReportResponse,
    GetInvoicePdfRequest, GetInvoiceRequest, GetInvoiceResponse, HandleStripeWebhookRequest,
    HandleStripeWebhookResponse, IssueCreditNoteRequest, IssueCreditNoteResponse,
    ListInvoicesRequest, ListInvoicesResponse, PayInvoiceRequest, PayInvoiceResponse,
    RecordPaymentRequest, RecordPaymentResponse, SendInvoiceReminderRequest,
    SendInvoiceReminderResponse, finance_service_server::FinanceService,
};
use astro_proto::google::api::HttpBody;
use tonic::{Request, Response, Status};

use crate::State;

/// Serves both the public `FinanceService` and the internal `FinanceInternalService`.
#[derive(Clone)]
pub struct FinanceApi {
    state: State,
}

impl FinanceApi {
    pub fn new(state: State) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl FinanceService for FinanceApi {
    async fn generate_invoices(
        &self,
        request: Request<GenerateInvoicesRequest>,
    ) -> Result<Response<GenerateInvoicesResponse>, Status> {
        self.generate_invoices_rpc(request).await
    }

    async fn list_invoices(
        &self,
        request: Request<ListInvoicesRequest>,
    ) -> Result<Response<ListInvoicesResponse>, Status> {
        self.list_invoices_rpc(request).await
    }

    async fn get_invoice(
        &self,
        request: Request<GetInvoiceRequest>,
    ) -> Result<Response<GetInvoiceResponse>, Status> {
        self.get_invoice_rpc(request).await
    }

    async fn get_invoice_pdf(
        &self,
        request: Request<GetInvoicePdfRequest>,
    ) -> Result<Response<HttpBody>, Status> {
        self.get_invoice_pdf_rpc(request).await
    }

    async fn get_agency_revenue_report(
        &self,
        request: Request<GetAgencyRevenueReportRequest>,
    ) -> Result<Response<GetAgencyRevenueReportResponse>, Status> {
        self.get_agency_revenue_report_rpc(request).await
    }

    async fn get_annual_report(
        &self,
        request: Request<GetAnnualReportRequest>,
    ) -> Result<Response<GetAnnualReportResponse>, Status> {
        self.get_annual_report_rpc(request).await
    }

    async fn get_annual_report_chart(
        &self,
        request: Request<GetAnnualReportChartRequest>,
    ) -> Result<Response<HttpBody>, Status> {
        self.get_annual_report_chart_rpc(request).await
    }

    async fn record_payment(
        &self,
        request: Request<RecordPaymentRequest>,
    ) -> Result<Response<RecordPaymentResponse>, Status> {
        self.record_payment_rpc(request).await
    }

    async fn correct_payment(
        &self,
        request: Request<CorrectPaymentRequest>,
    ) -> Result<Response<CorrectPaymentResponse>, Status> {
        self.correct_payment_rpc(request).await
    }

    async fn issue_credit_note(
        &self,
        request: Request<IssueCreditNoteRequest>,
    ) -> Result<Response<IssueCreditNoteResponse>, Status> {
        self.issue_credit_note_rpc(request).await
    }

    async fn pay_invoice(
        &self,
        request: Request<PayInvoiceRequest>,
    ) -> Result<Response<PayInvoiceResponse>, Status> {
        self.pay_invoice_rpc(request).await
    }

    async fn handle_stripe_webhook(
        &self,
        request: Request<HandleStripeWebhookRequest>,
    ) -> Result<Response<HandleStripeWebhookResponse>, Status> {
        self.handle_stripe_webhook_rpc(request).await
    }

    async fn send_invoice_reminder(
        &self,
        request: Request<SendInvoiceReminderRequest>,
    ) -> Result<Response<SendInvoiceReminderResponse>, Status> {
        self.send_invoice_reminder_rpc(request).await
    }
}
