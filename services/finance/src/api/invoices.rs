//! The invoice RPCs of `FinanceService`: decode into domain input, call [`Invoices`], encode.
//! Roles are enforced before these run by the auth layer; which invoices an AGENCY sees is the
//! use case's.
//!
//! [`Invoices`]: crate::app::invoices::Invoices

use astro_proto::astrobookings::{
    common::v1::{Address, LaunchStatus, LaunchSummary, RocketRange, SortOrder},
    finance::v1::{
        BillTo, CorrectPaymentRequest, CorrectPaymentResponse, CreditNote, GenerateInvoicesRequest,
        GenerateInvoicesResponse, GetInvoicePdfRequest, GetInvoiceRequest, GetInvoiceResponse,
        Invoice, InvoiceKind, InvoiceLine, InvoiceLineKind, InvoiceSortField,
        InvoiceStatus as ProtoInvoiceStatus, IssueCreditNoteRequest, IssueCreditNoteResponse,
        ListInvoicesRequest, ListInvoicesResponse, Payment, PaymentChannel,
        PaymentStatus as ProtoPaymentStatus, RecordPaymentRequest, RecordPaymentResponse,
    },
};
use astro_proto::google::api::HttpBody;
use astro_shared::{
    AppError,
    auth::caller,
    convert::{audit, from_timestamp, money, timestamp},
    paging::{QueryKey, page_size, sort_descending},
};
use chrono::NaiveDate;
use serde_json::Value;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{FinanceApi, convert};
use crate::{
    app::invoices::{InvoiceQuery, InvoiceView, Selection},
    domain::{
        self,
        credit_note::{CreditNoteInput, NewCreditNote},
        invoice::{InvoiceKind as Kind, InvoiceStatus},
        invoice_payment::{Channel, CorrectInput, Correction, NewPayment, RecordInput},
    },
    store::{
        credit_notes::CreditNoteRow,
        invoices::{InvoiceFilter, InvoiceOrder, InvoicePaymentRow, InvoiceRow},
    },
};

/// ListInvoices' page size: default and maximum.
const PAGE: (u32, u32) = (20, 100);

impl FinanceApi {
    pub(super) async fn generate_invoices_rpc(
        &self,
        request: Request<GenerateInvoicesRequest>,
    ) -> Result<Response<GenerateInvoicesResponse>, Status> {
        let caller = caller(&request)?.clone();
        let input = request.into_inner();
        let launch_ids = std::iter::once(&input.launch_id)
            .filter(|id| !id.trim().is_empty())
            .chain(&input.launch_ids)
            .map(|id| domain::parse_id("launch_ids", id))
            .collect::<Result<Vec<_>, _>>()?;
        let selection = Selection::parse(launch_ids, &input.period)?;
        let generated = self.state.invoices.generate(&caller, selection).await?;
        let today = self.state.invoices.calendar().today();
        Ok(Response::new(GenerateInvoicesResponse {
            created_invoices: generated
                .created
                .iter()
                .map(|row| invoice(row, row.status(today)))
                .collect(),
            already_invoiced: i32::try_from(generated.already_invoiced.len()).unwrap_or(i32::MAX),
            already_invoiced_launch_ids: generated
                .already_invoiced
                .iter()
                .map(Uuid::to_string)
                .collect(),
        }))
    }

    pub(super) async fn list_invoices_rpc(
        &self,
        request: Request<ListInvoicesRequest>,
    ) -> Result<Response<ListInvoicesResponse>, Status> {
        let caller = caller(&request)?.clone();
        let input = request.into_inner();
        let query = invoice_query(&input)?;
        let (page, total) = self.state.invoices.list(&caller, query).await?;
        Ok(Response::new(ListInvoicesResponse {
            invoices: page
                .items
                .iter()
                .map(|(row, status)| invoice(row, *status))
                .collect(),
            next_page_token: page.next_page_token,
            total_size: i32::try_from(total).unwrap_or(i32::MAX),
        }))
    }

    pub(super) async fn get_invoice_rpc(
        &self,
        request: Request<GetInvoiceRequest>,
    ) -> Result<Response<GetInvoiceResponse>, Status> {
        let caller = caller(&request)?.clone();
        let id = domain::parse_id("id", &request.get_ref().id)?;
        let view = self.state.invoices.get(&caller, id).await?;
        Ok(Response::new(GetInvoiceResponse {
            invoice: Some(invoice_view(&view)),
        }))
    }

    pub(super) async fn get_invoice_pdf_rpc(
        &self,
        request: Request<GetInvoicePdfRequest>,
    ) -> Result<Response<HttpBody>, Status> {
        let caller = caller(&request)?.clone();
        let id = domain::parse_id("id", &request.get_ref().id)?;
        let pdf = self.state.invoices.pdf(&caller, id).await?;
        Ok(Response::new(HttpBody {
            content_type: "application/pdf".to_owned(),
            data: pdf,
            extensions: Vec::new(),
        }))
    }

    pub(super) async fn record_payment_rpc(
        &self,
        request: Request<RecordPaymentRequest>,
    ) -> Result<Response<RecordPaymentResponse>, Status> {
        let caller = caller(&request)?.clone();
        let input = request.into_inner();
        let invoice_id = domain::parse_id("id", &input.id)?;
        let payment = NewPayment::parse(
            &RecordInput {
                amount: convert::amount(input.amount.as_ref()),
                channel: channel_from_proto(input.channel),
                received_at: received_at(input.received_at.as_ref())?,
                reference: &input.reference,
                note: &input.note,
                idempotency_key: &input.idempotency_key,
            },
            self.state.invoices.calendar().now(),
        )?;
        let (row, view) = self
            .state
            .invoices
            .record_payment(&caller, invoice_id, payment)
            .await?;
        Ok(Response::new(RecordPaymentResponse {
            payment: Some(payment_message(&row)),
            invoice: Some(invoice_view(&view)),
        }))
    }

    pub(super) async fn correct_payment_rpc(
        &self,
        request: Request<CorrectPaymentRequest>,
    ) -> Result<Response<CorrectPaymentResponse>, Status> {
        let caller = caller(&request)?.clone();
        let input = request.into_inner();
        let invoice_id = domain::parse_id("invoice_id", &input.invoice_id)?;
        let payment_id = domain::parse_id("payment_id", &input.payment_id)?;
        let correction = Correction::parse(
            &CorrectInput {
                amount: convert::amount(input.amount.as_ref()),
                received_at: received_at(input.received_at.as_ref())?,
                reference: input.reference.as_deref(),
                reason: &input.reason,
            },
            self.state.invoices.calendar().now(),
        )?;
        let (row, view) = self
            .state
            .invoices
            .correct_payment(&caller, invoice_id, payment_id, correction)
            .await?;
        Ok(Response::new(CorrectPaymentResponse {
            payment: Some(payment_message(&row)),
            invoice: Some(invoice_view(&view)),
        }))
    }

    pub(super) async fn issue_credit_note_rpc(
        &self,
        request: Request<IssueCreditNoteRequest>,
    ) -> Result<Response<IssueCreditNoteResponse>, Status> {
        let caller = caller(&request)?.clone();
        let input = request.into_inner();
        let invoice_id = domain::parse_id("id", &input.id)?;
        let note = NewCreditNote::parse(&CreditNoteInput {
            amount: convert::amount(input.amount.as_ref()),
            reason: &input.reason,
            idempotency_key: &input.idempotency_key,
        })?;
        let (row, view) = self
            .state
            .invoices
            .issue_credit_note(&caller, invoice_id, note)
            .await?;
        Ok(Response::new(IssueCreditNoteResponse {
            credit_note: Some(credit_note_message(&row)),
            invoice: Some(invoice_view(&view)),
        }))
    }
}

fn received_at(
    value: Option<&prost_types::Timestamp>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, AppError> {
    match value {
        None => Ok(None),
        Some(value) => from_timestamp(Some(value))
            .map(Some)
            .ok_or_else(|| AppError::invalid("received_at", "is not a valid time")),
    }
}

fn invoice_query(input: &ListInvoicesRequest) -> Result<InvoiceQuery, AppError> {
    let statuses = input
        .statuses
        .iter()
        .map(|&status| match ProtoInvoiceStatus::try_from(status) {
            Ok(ProtoInvoiceStatus::Issued) => Ok(Some(InvoiceStatus::Issued)),
            Ok(ProtoInvoiceStatus::PartiallyPaid) => Ok(Some(InvoiceStatus::PartiallyPaid)),
            Ok(ProtoInvoiceStatus::Paid) => Ok(Some(InvoiceStatus::Paid)),
            Ok(ProtoInvoiceStatus::Overdue) => Ok(Some(InvoiceStatus::Overdue)),
            Ok(ProtoInvoiceStatus::Credited) => Ok(Some(InvoiceStatus::Credited)),
            Ok(ProtoInvoiceStatus::Unspecified) => Ok(None),
            Err(_) => Err(AppError::invalid("statuses", "unknown invoice status")),
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
    let optional_id = |field: &str, value: &str| {
        if value.trim().is_empty() {
            Ok(None)
        } else {
            domain::parse_id(field, value).map(Some)
        }
    };
    let date = |field: &str, value: &str| -> Result<Option<NaiveDate>, AppError> {
        if value.trim().is_empty() {
            return Ok(None);
        }
        NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
            .map(Some)
            .map_err(|_| AppError::invalid(field, "must be a date, YYYY-MM-DD"))
    };
    let order = match InvoiceSortField::try_from(input.sort_by) {
        Ok(InvoiceSortField::Unspecified | InvoiceSortField::LegalDate) => InvoiceOrder::LegalDate,
        Ok(InvoiceSortField::DueDate) => InvoiceOrder::DueDate,
        Ok(InvoiceSortField::Amount) => InvoiceOrder::Amount,
        Ok(InvoiceSortField::AmountDue) => InvoiceOrder::AmountDue,
        Err(_) => return Err(AppError::invalid("sort_by", "unknown sort field")),
    };
    let filter = InvoiceFilter {
        agency_id: optional_id("agency_id", &input.agency_id)?,
        launch_id: optional_id("launch_id", &input.launch_id)?,
        statuses,
        legal_date_from: date("legal_date_from", &input.legal_date_from)?,
        legal_date_to: date("legal_date_to", &input.legal_date_to)?,
    };
    let descending = sort_descending(input.order, SortOrder::Descending)?;
    let statuses: Vec<&str> = filter
        .statuses
        .iter()
        .map(|status| status.as_str())
        .collect();
    let key = QueryKey::of(&[
        "ListInvoices",
        &input.agency_id,
        &input.launch_id,
        &statuses.join(","),
        &input.legal_date_from,
        &input.legal_date_to,
        &format!("{order:?}"),
        &descending.to_string(),
    ]);
    Ok(InvoiceQuery {
        filter,
        order,
        descending,
        limit: page_size(input.page_size, PAGE.0, PAGE.1)?,
        offset: key.offset(&input.page_token)?,
        key,
    })
}

fn channel_from_proto(value: i32) -> Option<Channel> {
    match PaymentChannel::try_from(value).ok()? {
        PaymentChannel::BankTransfer => Some(Channel::BankTransfer),
        PaymentChannel::Cheque => Some(Channel::Cheque),
        PaymentChannel::PaymentGateway => Some(Channel::PaymentGateway),
        PaymentChannel::Other => Some(Channel::Other),
        PaymentChannel::Unspecified => None,
    }
}

pub(super) fn invoice_view(view: &InvoiceView) -> Invoice {
    Invoice {
        payments: view.payments.iter().map(payment_message).collect(),
        credit_notes: view.credit_notes.iter().map(credit_note_message).collect(),
        ..invoice(&view.invoice, view.status)
    }
}

/// The invoice without its payments and credit notes, as lists show it.
pub(super) fn invoice(row: &InvoiceRow, status: InvoiceStatus) -> Invoice {
    let revenue = |amount_minor: i64| {
        (row.kind == Kind::SuccessfulLaunchFee.as_str())
            .then(|| money(amount_minor, &row.revenue_currency))
    };
    Invoice {
        id: row.id.to_string(),
        number: row.number.clone(),
        agency_id: row.agency_id.to_string(),
        bill_to: Some(bill_to(&row.bill_to)),
        launch: Some(launch_summary(&row.launch)),
        kind: match Kind::parse(&row.kind) {
            Some(Kind::SuccessfulLaunchFee) => InvoiceKind::SuccessfulLaunchFee,
            Some(Kind::AbortedLaunchFee) => InvoiceKind::AbortedLaunchFee,
            None => InvoiceKind::Unspecified,
        }
        .into(),
        status: match status {
            InvoiceStatus::Issued => ProtoInvoiceStatus::Issued,
            InvoiceStatus::PartiallyPaid => ProtoInvoiceStatus::PartiallyPaid,
            InvoiceStatus::Paid => ProtoInvoiceStatus::Paid,
            InvoiceStatus::Overdue => ProtoInvoiceStatus::Overdue,
            InvoiceStatus::Credited => ProtoInvoiceStatus::Credited,
        }
        .into(),
        legal_date: row.legal_date.to_string(),
        due_date: row.due_date.to_string(),
        amount: Some(money(row.amount_minor, &row.currency)),
        amount_paid: Some(money(row.amount_paid_minor, &row.currency)),
        amount_due: Some(money(row.due_minor(), &row.currency)),
        amount_credited: Some(money(row.amount_credited_minor, &row.currency)),
        net_revenue: revenue(row.net_revenue_minor),
        fee_rate_basis_points: row.fee_rate_basis_points,
        reliable_agency: row.reliable_agency,
        lines: row
            .lines()
            .iter()
            .map(|line| InvoiceLine {
                kind: InvoiceLineKind::from_str_name(&format!("INVOICE_LINE_KIND_{}", line.kind))
                    .unwrap_or(InvoiceLineKind::Unspecified)
                    .into(),
                description: line.description.clone(),
                quantity: line.quantity,
                amount: Some(money(line.amount_minor, &line.currency)),
            })
            .collect(),
        payments: Vec::new(),
        credit_notes: Vec::new(),
        issued_at: Some(timestamp(row.issued_at)),
        paid_at: row.paid_at.map(timestamp),
        reminder_count: row.reminder_count,
        last_reminder_at: row.last_reminder_at.map(timestamp),
        audit: Some(audit(&row.audit)),
        reliability_launch_ids: row
            .reliability_launch_ids
            .iter()
            .map(Uuid::to_string)
            .collect(),
        earlier_successful_launches: row.earlier_successful_launches,
        gross_revenue: revenue(row.gross_revenue_minor),
        refunds: revenue(row.refunds_minor),
        seats_sold: row.seats_sold,
        passengers: row.passengers,
    }
}

fn credit_note_message(row: &CreditNoteRow) -> CreditNote {
    CreditNote {
        id: row.id.to_string(),
        number: row.number.clone(),
        invoice_id: row.invoice_id.to_string(),
        invoice_number: row.invoice_number.clone(),
        amount: Some(money(row.amount_minor, &row.currency)),
        reason: row.reason.clone(),
        legal_date: row.legal_date.to_string(),
        issued_at: Some(timestamp(row.issued_at)),
        audit: Some(audit(&row.audit)),
    }
}

pub(super) fn payment_message(row: &InvoicePaymentRow) -> Payment {
    Payment {
        id: row.id.to_string(),
        invoice_id: row.invoice_id.to_string(),
        amount: Some(money(row.amount_minor, &row.currency)),
        original_amount: Some(money(row.original_amount_minor, &row.currency)),
        channel: match Channel::parse(&row.channel) {
            Some(Channel::BankTransfer) => PaymentChannel::BankTransfer,
            Some(Channel::Cheque) => PaymentChannel::Cheque,
            Some(Channel::PaymentGateway) => PaymentChannel::PaymentGateway,
            Some(Channel::Other) => PaymentChannel::Other,
            None => PaymentChannel::Unspecified,
        }
        .into(),
        status: ProtoPaymentStatus::from_str_name(&format!("PAYMENT_STATUS_{}", row.status))
            .unwrap_or(ProtoPaymentStatus::Unspecified)
            .into(),
        reference: row.reference.clone(),
        note: row.note.clone(),
        received_at: row.received_at.map(timestamp),
        gateway_payment_id: row.gateway_payment_id.clone().unwrap_or_default(),
        correction_reason: row.correction_reason.clone(),
        corrected_at: row.corrected_at.map(timestamp),
        audit: Some(audit(&row.audit)),
    }
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn bill_to(snapshot: &Value) -> BillTo {
    let address = snapshot.get("legal_address").cloned().unwrap_or_default();
    BillTo {
        name: text(snapshot, "name"),
        tax_id: text(snapshot, "tax_id"),
        email: text(snapshot, "email"),
        legal_address: Some(Address {
            line1: text(&address, "line1"),
            line2: text(&address, "line2"),
            city: text(&address, "city"),
            region: text(&address, "region"),
            postal_code: text(&address, "postal_code"),
            country_code: text(&address, "country_code"),
        }),
    }
}

pub(super) fn launch_summary(snapshot: &Value) -> LaunchSummary {
    let scheduled_at = chrono::DateTime::parse_from_rfc3339(&text(snapshot, "scheduled_at"))
        .ok()
        .map(|time| timestamp(time.to_utc()));
    LaunchSummary {
        id: text(snapshot, "id"),
        slug: text(snapshot, "slug"),
        agency_id: text(snapshot, "agency_id"),
        agency_name: text(snapshot, "agency_name"),
        rocket_name: text(snapshot, "rocket_name"),
        range: RocketRange::from_str_name(&text(snapshot, "range"))
            .unwrap_or(RocketRange::Unspecified)
            .into(),
        spaceport: text(snapshot, "spaceport"),
        destination: text(snapshot, "destination"),
        scheduled_at,
        status: LaunchStatus::from_str_name(&text(snapshot, "status"))
            .unwrap_or(LaunchStatus::Unspecified)
            .into(),
        price_per_seat: Some(money(
            snapshot
                .get("price_minor")
                .and_then(Value::as_i64)
                .unwrap_or_default(),
            &text(snapshot, "currency"),
        )),
    }
}
