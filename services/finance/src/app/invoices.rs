//! Launch fee invoices: issued once per SUCCESSFUL or ABORTED launch (from the change log as
//! soon as the launch ends, by GenerateInvoices and by AgencyAPI's IssueLaunchInvoice, all
//! through [`Invoices::issue_for_launch`]), read by FINANCE and by the agency billed, and
//! paid by payments FINANCE records and corrects.
//!
//! Everything an invoice says is gathered before its transaction opens (the launch and the
//! agency from AgencyAPI, the revenue from BookingAPI); the store then numbers and inserts it
//! in one transaction, so a slow dependency never holds the number series' lock.

use std::collections::HashMap;

use astro_proto::astrobookings::common::v1::Role;
use astro_shared::{
    AppError,
    activity::ActivityLog,
    auth::Caller,
    changes::{Change, ChangeHandler, Origin},
    paging::{Page, QueryKey, read_limit},
    text::display_money,
};
use chrono::NaiveDate;
use serde_json::Value;
use uuid::Uuid;

use crate::SERVICE_NAME;
use crate::{
    clients::{BillTo, Directory, LaunchFacts, Outcome},
    domain::{
        credit_note::NewCreditNote,
        invoice::{Calendar, Fee, InvoiceKind, InvoiceStatus, Period, RELIABLE_AFTER, Revenue},
        invoice_document::{self, InvoiceDocument},
        invoice_payment::{Correction, NewPayment},
    },
    store::{
        Store,
        credit_notes::CreditNoteRow,
        invoices::{InvoiceFilter, InvoiceOrder, InvoicePaymentRow, InvoiceRow, NewInvoice},
    },
};

/// The change-log events that issue an invoice.
pub const EVENTS: [&str; 2] = ["LAUNCH_SUCCESSFUL", "LAUNCH_ABORTED"];

/// Most launches one GenerateInvoices may list.
const MAX_LISTED_LAUNCHES: usize = 100;

/// Which launches GenerateInvoices looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every SUCCESSFUL or ABORTED launch.
    All,
    /// These launches, each of which must exist and have ended so.
    Launches(Vec<Uuid>),
    /// The SUCCESSFUL or ABORTED launches scheduled in the period.
    Period(Period),
}

impl Selection {
    /// From GenerateInvoices' fields: launch ids, or a period, or neither.
    pub fn parse(launch_ids: Vec<Uuid>, period: &str) -> Result<Self, AppError> {
        match (launch_ids.is_empty(), period.trim().is_empty()) {
            (true, true) => Ok(Self::All),
            (false, true) if launch_ids.len() > MAX_LISTED_LAUNCHES => Err(AppError::invalid(
                "launch_ids",
                format!("must hold at most {MAX_LISTED_LAUNCHES} launch ids"),
            )),
            (false, true) => {
                let mut ids = launch_ids;
                ids.sort_unstable();
                ids.dedup();
                Ok(Self::Launches(ids))
            }
            (true, false) => Ok(Self::Period(Period::parse("period", period)?)),
            (false, false) => Err(AppError::invalid(
                "period",
                "give either launch ids or a period, not both",
            )),
        }
    }
}

/// What GenerateInvoices did.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    pub created: Vec<InvoiceRow>,
    pub already_invoiced: Vec<Uuid>,
}

/// What issuing needs besides the launch, gathered once per batch.
#[derive(Debug, Default)]
struct IssueContext {
    bill_to: HashMap<Uuid, BillTo>,
    /// Each agency's SUCCESSFUL launches, oldest first (agencies with a SUCCESSFUL launch in
    /// the batch only).
    successful: HashMap<Uuid, Vec<LaunchFacts>>,
    revenue: HashMap<Uuid, Revenue>,
}

/// An invoice with its payments and credit notes (GetInvoice, and the answers of writes).
#[derive(Debug, Clone)]
pub struct InvoiceView {
    pub invoice: InvoiceRow,
    pub status: InvoiceStatus,
    pub payments: Vec<InvoicePaymentRow>,
    pub credit_notes: Vec<CreditNoteRow>,
}

impl InvoiceView {
    pub(super) async fn load(
        store: &Store,
        invoice: InvoiceRow,
        today: NaiveDate,
    ) -> Result<Self, AppError> {
        Ok(Self {
            status: invoice.status(today),
            payments: store.invoice_payments(invoice.id).await?,
            credit_notes: store.credit_notes(invoice.id).await?,
            invoice,
        })
    }
}

/// ListInvoices' request, parsed.
#[derive(Debug, Clone)]
pub struct InvoiceQuery {
    pub filter: InvoiceFilter,
    pub order: InvoiceOrder,
    pub descending: bool,
    pub key: QueryKey,
    pub limit: u32,
    pub offset: u64,
}

#[derive(Clone)]
pub struct Invoices {
    store: Store,
    directory: Directory,
    activity: ActivityLog,
    calendar: Calendar,
}

impl Invoices {
    pub fn new(
        store: Store,
        directory: Directory,
        activity: ActivityLog,
        calendar: Calendar,
    ) -> Self {
        Self {
            store,
            directory,
            activity,
            calendar,
        }
    }

    pub fn calendar(&self) -> Calendar {
        self.calendar
    }

    /// The invoice of one launch, issued now if it has none (`true` if this call issued it).
    /// NOT_FOUND for an unknown launch, FAILED_PRECONDITION unless it is SUCCESSFUL or ABORTED.
    pub async fn issue_for_launch(
        &self,
        launch_id: Uuid,
        origin: &Origin,
    ) -> Result<(InvoiceRow, bool), AppError> {
        if let Some(existing) = self.store.invoice_by_launch(launch_id).await? {
            return Ok((existing, false));
        }
        let launch = self
            .directory
            .launch(launch_id)
            .await?
            .ok_or_else(|| AppError::NotFound("launch".into()))?;
        self.issue(&launch, origin).await
    }

    async fn issue(
        &self,
        launch: &LaunchFacts,
        origin: &Origin,
    ) -> Result<(InvoiceRow, bool), AppError> {
        let context = self.context(std::slice::from_ref(launch)).await?;
        self.issue_with(launch, &context, origin).await
    }

    /// What issuing `launches` needs from AgencyAPI and BookingAPI, in a few calls for the
    /// whole batch: each agency once, the revenues in batches.
    async fn context(&self, launches: &[LaunchFacts]) -> Result<IssueContext, AppError> {
        let mut context = IssueContext::default();
        for launch in launches {
            if context.bill_to.contains_key(&launch.agency_id) {
                continue;
            }
            let bill_to = self
                .directory
                .bill_to(launch.agency_id)
                .await?
                .ok_or_else(|| AppError::NotFound("agency".into()))?;
            context.bill_to.insert(launch.agency_id, bill_to);
            if launches.iter().any(|other| {
                other.agency_id == launch.agency_id && other.outcome == Outcome::Successful
            }) {
                let successful = self.directory.successful_launches(launch.agency_id).await?;
                context.successful.insert(launch.agency_id, successful);
            }
        }
        let successful: Vec<Uuid> = launches
            .iter()
            .filter(|launch| launch.outcome == Outcome::Successful)
            .map(|launch| launch.id)
            .collect();
        context.revenue = self.directory.revenues(&successful).await?;
        Ok(context)
    }

    async fn issue_with(
        &self,
        launch: &LaunchFacts,
        context: &IssueContext,
        origin: &Origin,
    ) -> Result<(InvoiceRow, bool), AppError> {
        let bill_to = context
            .bill_to
            .get(&launch.agency_id)
            .ok_or_else(|| AppError::NotFound("agency".into()))?;
        let (fee, earlier, revenue) = match launch.outcome {
            Outcome::Successful => {
                // The agency's SUCCESSFUL launches scheduled before this one, oldest first.
                let earlier: Vec<Uuid> = context
                    .successful
                    .get(&launch.agency_id)
                    .into_iter()
                    .flatten()
                    .filter(|other| other.scheduled_at < launch.scheduled_at)
                    .map(|other| other.id)
                    .collect();
                let revenue = context.revenue.get(&launch.id).cloned().ok_or_else(|| {
                    AppError::internal(anyhow::anyhow!("no revenue for launch {}", launch.id))
                })?;
                (
                    Fee::successful(&revenue, earlier.len()),
                    earlier,
                    Some(revenue),
                )
            }
            Outcome::Aborted => (Fee::aborted(), Vec::new(), None),
            Outcome::Other => {
                return Err(AppError::FailedPrecondition(
                    "only a SUCCESSFUL or ABORTED launch is invoiced".into(),
                ));
            }
        };
        let issued_at = self.calendar.now();
        let new = NewInvoice {
            launch_id: launch.id,
            agency_id: launch.agency_id,
            reliability_launch_ids: if fee.reliable_agency {
                earlier.iter().take(RELIABLE_AFTER).copied().collect()
            } else {
                Vec::new()
            },
            earlier_successful_launches: i32::try_from(earlier.len()).unwrap_or(i32::MAX),
            fee,
            bill_to: bill_to.snapshot.clone(),
            launch: launch.snapshot.clone(),
            legal_date: self.calendar.date_of(issued_at),
            issued_at,
            revenue,
        };
        let (invoice, created) = self.store.issue_invoice(&new, origin).await?;
        if created {
            tracing::info!(
                invoice_id = %invoice.id,
                number = %invoice.number,
                launch_id = %invoice.launch_id,
                amount_minor = invoice.amount_minor,
                currency = %invoice.currency,
                "invoice issued"
            );
            self.activity.info(
                "invoice.issued",
                origin.user_id.as_deref(),
                format!(
                    "invoice {} issued: {} {} minor units",
                    invoice.number, invoice.currency, invoice.amount_minor
                ),
                &[
                    ("invoice_id", &invoice.id.to_string()),
                    ("launch_id", &invoice.launch_id.to_string()),
                    ("agency_id", &invoice.agency_id.to_string()),
                ],
            );
        }
        Ok((invoice, created))
    }

    /// GenerateInvoices (FINANCE): issues what is missing among the selected launches, one
    /// transaction per invoice, and reports what already existed.
    pub async fn generate(
        &self,
        caller: &Caller,
        selection: Selection,
    ) -> Result<Generated, AppError> {
        let origin = Origin::user(SERVICE_NAME, &caller.user_id);
        let launches = match &selection {
            Selection::All => self.directory.billable(None).await?,
            Selection::Period(period) => {
                let range = (
                    self.calendar.start_of(period.start),
                    self.calendar.start_of(period.end),
                );
                self.directory.billable(Some(range)).await?
            }
            Selection::Launches(ids) => {
                let mut launches = Vec::with_capacity(ids.len());
                for id in ids {
                    let launch = self.directory.launch(*id).await?.ok_or_else(|| {
                        AppError::invalid("launch_ids", format!("launch {id} does not exist"))
                    })?;
                    if launch.outcome == Outcome::Other {
                        return Err(AppError::FailedPrecondition(format!(
                            "launch {id} is not SUCCESSFUL or ABORTED"
                        )));
                    }
                    launches.push(launch);
                }
                launches
            }
        };
        let ids: Vec<Uuid> = launches.iter().map(|launch| launch.id).collect();
        let invoiced = self.store.invoiced_launches(&ids).await?;
        let mut generated = Generated::default();
        let (already, missing): (Vec<LaunchFacts>, Vec<LaunchFacts>) = launches
            .into_iter()
            .partition(|launch| invoiced.contains(&launch.id));
        generated
            .already_invoiced
            .extend(already.iter().map(|launch| launch.id));
        // The facts of the whole batch first, then one short transaction per invoice (they
        // take the number series' lock in turn anyway).
        let context = self.context(&missing).await?;
        for launch in &missing {
            let (invoice, created) = self.issue_with(launch, &context, &origin).await?;
            if created {
                generated.created.push(invoice);
            } else {
                generated.already_invoiced.push(launch.id);
            }
        }
        self.activity.info(
            "invoice.generated",
            Some(&caller.user_id),
            format!(
                "invoice generation: {} issued, {} already invoiced",
                generated.created.len(),
                generated.already_invoiced.len()
            ),
            &[],
        );
        Ok(generated)
    }

    /// The agency an AGENCY caller may see; `None` (everything) for FINANCE.
    fn scope(caller: &Caller) -> Result<Option<Uuid>, AppError> {
        match caller.role {
            Role::Finance => Ok(None),
            Role::Agency => caller.user_uuid().map(Some),
            _ => Err(AppError::PermissionDenied(
                "invoices are for FINANCE and the agency billed".into(),
            )),
        }
    }

    /// ListInvoices: FINANCE every invoice, an AGENCY its own whatever it filters on.
    pub async fn list(
        &self,
        caller: &Caller,
        mut query: InvoiceQuery,
    ) -> Result<(Page<(InvoiceRow, InvoiceStatus)>, i64), AppError> {
        if let Some(agency_id) = Self::scope(caller)? {
            query.filter.agency_id = Some(agency_id);
        }
        let today = self.calendar.today();
        let (rows, total) = self
            .store
            .invoices(
                &query.filter,
                today,
                query.order,
                query.descending,
                i64::try_from(query.offset).unwrap_or(i64::MAX),
                read_limit(query.limit),
            )
            .await?;
        let page = Page::from_offset_rows(rows, query.offset, query.limit, query.key);
        Ok((
            page.map(|row| {
                let status = row.status(today);
                (row, status)
            }),
            total,
        ))
    }

    /// GetInvoice: another agency's invoice is NOT_FOUND, as a missing one.
    pub async fn get(&self, caller: &Caller, id: Uuid) -> Result<InvoiceView, AppError> {
        let invoice = self
            .store
            .invoice(id, Self::scope(caller)?)
            .await?
            .ok_or_else(|| AppError::NotFound("invoice".into()))?;
        self.view(invoice).await
    }

    /// GetInvoicePdf: the invoice as issued and its payments now, as one PDF page; the same
    /// NOT_FOUND as GetInvoice for another agency's.
    pub async fn pdf(&self, caller: &Caller, id: Uuid) -> Result<Vec<u8>, AppError> {
        let view = self.get(caller, id).await?;
        Ok(invoice_document::render(&document_of(&view)))
    }

    async fn view(&self, invoice: InvoiceRow) -> Result<InvoiceView, AppError> {
        InvoiceView::load(&self.store, invoice, self.calendar.today()).await
    }

    /// RecordPayment (FINANCE): a payment received outside the gateway; a replayed key answers
    /// the first payment and records nothing.
    pub async fn record_payment(
        &self,
        caller: &Caller,
        invoice_id: Uuid,
        payment: NewPayment,
    ) -> Result<(InvoicePaymentRow, InvoiceView), AppError> {
        let origin = Origin::user(SERVICE_NAME, &caller.user_id);
        let recorded = self
            .store
            .record_invoice_payment(invoice_id, &payment, &origin)
            .await?;
        let replay = recorded.is_replay();
        let row = recorded.into_row();
        let view = self.get(caller, invoice_id).await?;
        if !replay {
            self.activity.info(
                "invoice.payment_recorded",
                Some(&caller.user_id),
                format!(
                    "payment of {} {} minor units recorded on invoice {}; now {}",
                    row.currency,
                    row.amount_minor,
                    view.invoice.number,
                    view.status.as_str()
                ),
                &[
                    ("invoice_id", &invoice_id.to_string()),
                    ("payment_id", &row.id.to_string()),
                ],
            );
        }
        Ok((row, view))
    }

    /// CorrectPayment (FINANCE): reverses the payment in the ledger and records what it is
    /// now, with the employee and the reason.
    pub async fn correct_payment(
        &self,
        caller: &Caller,
        invoice_id: Uuid,
        payment_id: Uuid,
        correction: Correction,
    ) -> Result<(InvoicePaymentRow, InvoiceView), AppError> {
        let origin = Origin::user(SERVICE_NAME, &caller.user_id);
        let row = self
            .store
            .correct_invoice_payment(invoice_id, payment_id, &correction, &origin)
            .await?;
        let view = self.get(caller, invoice_id).await?;
        self.activity.info(
            "invoice.payment_corrected",
            Some(&caller.user_id),
            format!(
                "payment on invoice {} corrected from {} to {} minor units ({}); now {}",
                view.invoice.number,
                row.original_amount_minor,
                row.amount_minor,
                correction.reason,
                view.status.as_str()
            ),
            &[
                ("invoice_id", &invoice_id.to_string()),
                ("payment_id", &row.id.to_string()),
            ],
        );
        Ok((row, view))
    }

    /// IssueCreditNote (FINANCE): corrects an issued invoice by lowering what it bills, dated
    /// today in the platform time zone; a replayed key answers the first credit note.
    pub async fn issue_credit_note(
        &self,
        caller: &Caller,
        invoice_id: Uuid,
        note: NewCreditNote,
    ) -> Result<(CreditNoteRow, InvoiceView), AppError> {
        let origin = Origin::user(SERVICE_NAME, &caller.user_id);
        let issued_at = self.calendar.now();
        let credited = self
            .store
            .issue_credit_note(
                invoice_id,
                &note,
                issued_at,
                self.calendar.date_of(issued_at),
                &origin,
            )
            .await?;
        let view = self.get(caller, invoice_id).await?;
        let replay = credited.is_replay();
        let row = credited.into_row();
        if !replay {
            self.activity.info(
                "invoice.credited",
                Some(&caller.user_id),
                format!(
                    "credit note {} of {} credits invoice {} ({}); now {}, {} due",
                    row.number,
                    display_money(row.amount_minor, &row.currency),
                    row.invoice_number,
                    row.reason,
                    view.status.as_str(),
                    display_money(view.invoice.due_minor(), &row.currency),
                ),
                &[
                    ("invoice_id", &invoice_id.to_string()),
                    ("credit_note_id", &row.id.to_string()),
                ],
            );
        }
        Ok((row, view))
    }
}

/// The change-log consumer that invoices a launch as soon as it ends.
/// What the PDF shows of `view`: the snapshots kept at issue, and the payments now.
fn document_of(view: &InvoiceView) -> InvoiceDocument {
    let invoice = &view.invoice;
    let text = |value: &Value, key: &str| value[key].as_str().unwrap_or_default().to_owned();
    let bill_to = &invoice.bill_to;
    let address = &bill_to["legal_address"];
    let city_line = [
        text(address, "postal_code"),
        text(address, "city"),
        text(address, "region"),
        text(address, "country_code"),
    ]
    .into_iter()
    .filter(|part| !part.is_empty())
    .collect::<Vec<_>>()
    .join(" ");
    let launch = &invoice.launch;
    let kind = InvoiceKind::parse(&invoice.kind);
    let mut fee_basis = vec![(
        "Fee".to_owned(),
        match kind {
            Some(InvoiceKind::AbortedLaunchFee) => "Flat fee for an aborted launch".to_owned(),
            _ => format!(
                "{} basis points of net revenue ({})",
                invoice.fee_rate_basis_points,
                if invoice.reliable_agency {
                    "reliable agency rate"
                } else {
                    "standard rate"
                }
            ),
        },
    )];
    if kind == Some(InvoiceKind::SuccessfulLaunchFee) {
        let revenue = |minor: i64| display_money(minor, &invoice.revenue_currency);
        fee_basis.extend([
            (
                "Passengers / seats".to_owned(),
                format!("{} / {}", invoice.passengers, invoice.seats_sold),
            ),
            (
                "Gross revenue".to_owned(),
                revenue(invoice.gross_revenue_minor),
            ),
            ("Refunds".to_owned(), revenue(invoice.refunds_minor)),
            ("Net revenue".to_owned(), revenue(invoice.net_revenue_minor)),
            (
                "Earlier successful".to_owned(),
                invoice.earlier_successful_launches.to_string(),
            ),
        ]);
        for (index, id) in invoice.reliability_launch_ids.iter().enumerate() {
            fee_basis.push((
                if index == 0 { "Reliable since" } else { "" }.to_owned(),
                id.to_string(),
            ));
        }
    }
    InvoiceDocument {
        number: invoice.number.clone(),
        title: match kind {
            Some(InvoiceKind::AbortedLaunchFee) => "Aborted launch fee",
            _ => "Launch fee",
        }
        .to_owned(),
        legal_date: invoice.legal_date,
        due_date: invoice.due_date,
        issued_at: invoice.issued_at,
        status: view.status,
        currency: invoice.currency.clone(),
        agency_name: text(bill_to, "name"),
        tax_id: text(bill_to, "tax_id"),
        address: [
            text(address, "line1"),
            text(address, "line2"),
            city_line,
            text(bill_to, "email"),
        ]
        .into_iter()
        .filter(|line| !line.is_empty())
        .collect(),
        launch: [
            ("Launch", text(launch, "slug")),
            ("Launch id", invoice.launch_id.to_string()),
            ("Rocket", text(launch, "rocket_name")),
            ("Spaceport", text(launch, "spaceport")),
            ("Destination", text(launch, "destination")),
            ("Scheduled at", text(launch, "scheduled_at")),
            ("Outcome", text(launch, "status")),
        ]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(label, value)| (label.to_owned(), value))
        .collect(),
        fee_basis,
        lines: invoice.lines(),
        amount_minor: invoice.amount_minor,
        credit_notes: view
            .credit_notes
            .iter()
            .map(|note| (note.number.clone(), note.legal_date, note.amount_minor))
            .collect(),
        paid_minor: invoice.amount_paid_minor,
    }
}

pub struct LaunchInvoicing(pub Invoices);

impl ChangeHandler for LaunchInvoicing {
    async fn handle(&self, change: &Change) -> Result<(), AppError> {
        let Ok(launch_id) = Uuid::parse_str(&change.entity_id) else {
            tracing::warn!(change_id = change.id, entity_id = %change.entity_id, "launch change without a launch id; skipped");
            return Ok(());
        };
        let origin = Origin::platform(SERVICE_NAME);
        match self.0.issue_for_launch(launch_id, &origin).await {
            Ok(_) => Ok(()),
            // The launch is gone or did not end so after all: nothing to bill, ever.
            Err(AppError::NotFound(what)) => {
                tracing::warn!(%launch_id, %what, "launch outcome not invoiced: not found");
                Ok(())
            }
            Err(AppError::FailedPrecondition(why)) => {
                tracing::warn!(%launch_id, %why, "launch outcome not invoiced");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}
