//! The `invoices` table, its number series and the payments ledger beside it.
//!
//! An invoice is issued in one transaction: its number is taken from the locked counter row
//! of its year, the invoice is inserted (one per launch: `invoices_one_per_launch`) and its
//! INVOICE_ISSUED change is logged. If anything fails, or another issuer of the same launch
//! won, the transaction rolls back and the number is given back: numbers stay gapless.
//! A payment moves the invoice's tally with one conditional UPDATE (never beyond the amount)
//! in the transaction that writes the payment and its ledger entries.

use astro_shared::AppError;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{AuditRow, Keyed, Origin, Store, record_change};
use crate::domain::{
    charge::PaymentStatus,
    invoice::{self, Fee, InvoiceStatus, Revenue, Tally},
    invoice_payment::{Channel, Correction, NewPayment},
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvoiceRow {
    pub id: Uuid,
    pub number: String,
    pub launch_id: Uuid,
    pub agency_id: Uuid,
    pub kind: String,
    pub bill_to: Value,
    pub launch: Value,
    pub legal_date: NaiveDate,
    pub due_date: NaiveDate,
    pub currency: String,
    pub amount_minor: i64,
    pub fee_rate_basis_points: i32,
    pub reliable_agency: bool,
    pub earlier_successful_launches: i32,
    pub reliability_launch_ids: Vec<Uuid>,
    pub revenue_currency: String,
    pub gross_revenue_minor: i64,
    pub refunds_minor: i64,
    pub net_revenue_minor: i64,
    pub seats_sold: i32,
    pub passengers: i32,
    pub lines: Value,
    pub issued_at: DateTime<Utc>,
    pub amount_paid_minor: i64,
    /// The sum of its credit notes.
    pub amount_credited_minor: i64,
    /// Reserved by gateway payments the gateway has not settled yet.
    pub amount_pending_minor: i64,
    pub paid_at: Option<DateTime<Utc>>,
    /// When the overdue job first found it unpaid after its due date.
    pub overdue_at: Option<DateTime<Utc>>,
    /// The last automatic reminder step sent (see `domain::reminder`).
    pub reminder_step: i16,
    pub reminder_count: i32,
    pub last_reminder_at: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    pub audit: AuditRow,
}

impl InvoiceRow {
    pub fn status(&self, today: NaiveDate) -> InvoiceStatus {
        InvoiceStatus::of(self.tally(), self.due_date, today)
    }

    pub fn tally(&self) -> Tally {
        Tally {
            amount_minor: self.amount_minor,
            credited_minor: self.amount_credited_minor,
            paid_minor: self.amount_paid_minor,
        }
    }

    /// What the agency owes now: the amount less its credit notes and payments.
    pub fn due_minor(&self) -> i64 {
        self.tally().due_minor()
    }

    /// What a new payment or credit note may still take: what is due, less what gateway
    /// payments in flight hold.
    pub fn open_minor(&self) -> i64 {
        self.due_minor() - self.amount_pending_minor
    }

    pub fn lines(&self) -> Vec<invoice::Line> {
        serde_json::from_value(self.lines.clone()).unwrap_or_default()
    }
}

pub(super) const INVOICE_COLUMNS: &str = "id, number, launch_id, agency_id, kind, bill_to, launch, \
     legal_date, due_date, currency, amount_minor, fee_rate_basis_points, reliable_agency, \
     earlier_successful_launches, reliability_launch_ids, revenue_currency, gross_revenue_minor, \
     refunds_minor, net_revenue_minor, seats_sold, passengers, lines, issued_at, \
     amount_paid_minor, amount_credited_minor, amount_pending_minor, paid_at, overdue_at, reminder_step, reminder_count, \
     last_reminder_at, created_at, created_service, created_user_id, created_trace_id, \
     updated_at, updated_service, updated_user_id, updated_trace_id";

/// [`InvoiceStatus::of`] in SQL, for filters (`$1` is today in the platform time zone).
const STATUS_SQL: &str = "CASE \
     WHEN amount_minor > 0 AND amount_credited_minor >= amount_minor THEN 'CREDITED' \
     WHEN amount_paid_minor >= amount_payable_minor THEN 'PAID' \
     WHEN due_date < $1 THEN 'OVERDUE' WHEN amount_paid_minor > 0 THEN 'PARTIALLY_PAID' \
     ELSE 'ISSUED' END";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvoicePaymentRow {
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub channel: String,
    pub status: String,
    pub currency: String,
    pub original_amount_minor: i64,
    pub amount_minor: i64,
    pub reference: String,
    pub note: String,
    pub received_at: Option<DateTime<Utc>>,
    pub gateway_payment_id: Option<String>,
    pub idempotency_key: String,
    pub correction_reason: String,
    pub corrected_at: Option<DateTime<Utc>>,
    /// Gateway payments: the gateway's reason for a failure.
    pub failure_message: String,
    /// Gateway payments requiring an action: for Stripe.js only, never logged.
    pub client_secret: Option<String>,
    /// Gateway payments: the agency's payment method (`pm_...`).
    pub payment_method_id: Option<String>,
    #[sqlx(flatten)]
    pub audit: AuditRow,
}

impl InvoicePaymentRow {
    /// The stored status (written only from [`PaymentStatus::as_str`]).
    pub fn status(&self) -> PaymentStatus {
        PaymentStatus::parse(&self.status).unwrap_or(PaymentStatus::Pending)
    }
}

pub(super) const PAYMENT_COLUMNS: &str = "id, invoice_id, channel, status, currency, original_amount_minor, \
     amount_minor, reference, note, received_at, gateway_payment_id, idempotency_key, \
     correction_reason, corrected_at, failure_message, client_secret, payment_method_id, created_at, \
     created_service, created_user_id, created_trace_id, updated_at, updated_service, updated_user_id, updated_trace_id";

/// Everything an invoice is issued with, gathered before its transaction opens.
#[derive(Debug, Clone)]
pub struct NewInvoice {
    pub launch_id: Uuid,
    pub agency_id: Uuid,
    pub fee: Fee,
    /// Name, tax id, legal address and e-mail of the agency, as JSON.
    pub bill_to: Value,
    /// The launch as it was, as JSON (`common.v1.LaunchSummary` fields).
    pub launch: Value,
    pub legal_date: NaiveDate,
    pub issued_at: DateTime<Utc>,
    pub earlier_successful_launches: i32,
    pub reliability_launch_ids: Vec<Uuid>,
    /// SUCCESSFUL launches only.
    pub revenue: Option<Revenue>,
}

/// Filters of ListInvoices.
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    /// Always set for an AGENCY caller.
    pub agency_id: Option<Uuid>,
    pub launch_id: Option<Uuid>,
    pub statuses: Vec<InvoiceStatus>,
    pub legal_date_from: Option<NaiveDate>,
    pub legal_date_to: Option<NaiveDate>,
}

/// Sort orders of ListInvoices; each ends with the id so pages never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceOrder {
    LegalDate,
    DueDate,
    Amount,
    AmountDue,
}

impl InvoiceOrder {
    fn sql(self, descending: bool) -> String {
        let direction = if descending { "DESC" } else { "ASC" };
        let column = match self {
            Self::LegalDate => "legal_date {d}, number {d}",
            Self::DueDate => "due_date {d}, number {d}",
            Self::Amount => "amount_minor {d}, number {d}",
            Self::AmountDue => "(amount_payable_minor - amount_paid_minor) {d}, number {d}",
        };
        format!("{}, id {direction}", column.replace("{d}", direction))
    }
}

fn issued_payload(row: &InvoiceRow) -> Value {
    serde_json::json!({
        "invoice_id": row.id,
        "invoice_number": row.number,
        "agency_id": row.agency_id,
        "launch_id": row.launch_id,
        "kind": row.kind,
        "amount_minor": row.amount_minor,
        "currency": row.currency,
        "legal_date": row.legal_date.to_string(),
        "due_date": row.due_date.to_string(),
    })
}

pub(super) fn payment_payload(invoice: &InvoiceRow, payment: &InvoicePaymentRow) -> Value {
    serde_json::json!({
        "invoice_id": invoice.id,
        "invoice_number": invoice.number,
        "agency_id": invoice.agency_id,
        "payment_id": payment.id,
        "channel": payment.channel,
        "amount_minor": payment.amount_minor,
        "original_amount_minor": payment.original_amount_minor,
        "currency": payment.currency,
        "amount_paid_minor": invoice.amount_paid_minor,
        "correction_reason": payment.correction_reason,
    })
}

impl Store {
    pub async fn invoice_by_launch(&self, launch_id: Uuid) -> Result<Option<InvoiceRow>, AppError> {
        Ok(sqlx::query_as::<_, InvoiceRow>(&format!(
            "SELECT {INVOICE_COLUMNS} FROM invoices WHERE launch_id = $1"
        ))
        .bind(launch_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Which of `launch_ids` already have an invoice.
    pub async fn invoiced_launches(&self, launch_ids: &[Uuid]) -> Result<Vec<Uuid>, AppError> {
        Ok(
            sqlx::query_scalar("SELECT launch_id FROM invoices WHERE launch_id = ANY($1)")
                .bind(launch_ids)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Issues the invoice of a launch, or finds the one it already has (`true` if this call
    /// issued it).
    pub async fn issue_invoice(
        &self,
        new: &NewInvoice,
        origin: &Origin,
    ) -> Result<(InvoiceRow, bool), AppError> {
        if let Some(existing) = self.invoice_by_launch(new.launch_id).await? {
            return Ok((existing, false));
        }
        let year = invoice::number_year(new.legal_date);
        let mut transaction = self.pool.begin().await?;
        let sequence = next_number(&mut transaction, NumberSeries::Invoice, year).await?;
        let revenue = new.revenue.clone().unwrap_or_default();
        let inserted = sqlx::query_as::<_, InvoiceRow>(&format!(
            "INSERT INTO invoices (id, number, number_year, number_sequence, launch_id, agency_id, \
                 kind, bill_to, launch, legal_date, due_date, currency, amount_minor, \
                 fee_rate_basis_points, reliable_agency, earlier_successful_launches, \
                 reliability_launch_ids, revenue_currency, gross_revenue_minor, refunds_minor, \
                 seats_sold, passengers, lines, issued_at, amount_paid_minor, paid_at, \
                 created_service, created_user_id, created_trace_id, updated_service, \
                 updated_user_id, updated_trace_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                 $18, $19, $20, $21, $22, $23, $24, 0, CASE WHEN $13 = 0 THEN $24 END, \
                 $25, $26, $27, $25, $26, $27) \
             ON CONFLICT (launch_id) DO NOTHING RETURNING {INVOICE_COLUMNS}"
        ))
        .bind(Uuid::now_v7())
        .bind(invoice::invoice_number(year, sequence))
        .bind(year)
        .bind(sequence)
        .bind(new.launch_id)
        .bind(new.agency_id)
        .bind(new.fee.kind.as_str())
        .bind(&new.bill_to)
        .bind(&new.launch)
        .bind(new.legal_date)
        .bind(invoice::due_date(new.legal_date))
        .bind(&new.fee.currency)
        .bind(new.fee.amount_minor)
        .bind(new.fee.rate_basis_points)
        .bind(new.fee.reliable_agency)
        .bind(new.earlier_successful_launches)
        .bind(&new.reliability_launch_ids)
        .bind(&revenue.currency)
        .bind(revenue.gross_minor)
        .bind(revenue.refunds_minor)
        .bind(revenue.seats_sold)
        .bind(revenue.passengers)
        .bind(serde_json::to_value(&new.fee.lines).map_err(AppError::internal)?)
        .bind(new.issued_at)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(row) = inserted else {
            // A concurrent issuer of this launch committed first.
            transaction.rollback().await?;
            let existing = self
                .invoice_by_launch(new.launch_id)
                .await?
                .ok_or_else(|| {
                    AppError::internal(anyhow::anyhow!(
                        "invoice of launch {} conflicted but is gone",
                        new.launch_id
                    ))
                })?;
            return Ok((existing, false));
        };
        record_change(
            &mut transaction,
            origin,
            "invoice",
            &row.id.to_string(),
            "INVOICE_ISSUED",
            issued_payload(&row),
        )
        .await?;
        transaction.commit().await?;
        Ok((row, true))
    }

    /// One invoice; with `agency_id`, only if it is that agency's.
    pub async fn invoice(
        &self,
        id: Uuid,
        agency_id: Option<Uuid>,
    ) -> Result<Option<InvoiceRow>, AppError> {
        Ok(sqlx::query_as::<_, InvoiceRow>(&format!(
            "SELECT {INVOICE_COLUMNS} FROM invoices \
             WHERE id = $1 AND ($2::uuid IS NULL OR agency_id = $2)"
        ))
        .bind(id)
        .bind(agency_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A page of invoices and the number matching the filter.
    pub async fn invoices(
        &self,
        filter: &InvoiceFilter,
        today: NaiveDate,
        order: InvoiceOrder,
        descending: bool,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<InvoiceRow>, i64), AppError> {
        let statuses: Vec<&str> = filter
            .statuses
            .iter()
            .map(|status| status.as_str())
            .collect();
        let condition = format!(
            "($2::uuid IS NULL OR agency_id = $2) AND ($3::uuid IS NULL OR launch_id = $3) \
             AND (cardinality($4::text[]) = 0 OR {STATUS_SQL} = ANY($4)) \
             AND ($5::date IS NULL OR legal_date >= $5) AND ($6::date IS NULL OR legal_date <= $6)"
        );
        let rows = sqlx::query_as::<_, InvoiceRow>(&format!(
            "SELECT {INVOICE_COLUMNS} FROM invoices WHERE {condition} ORDER BY {} \
             OFFSET $7 LIMIT $8",
            order.sql(descending)
        ))
        .bind(today)
        .bind(filter.agency_id)
        .bind(filter.launch_id)
        .bind(&statuses)
        .bind(filter.legal_date_from)
        .bind(filter.legal_date_to)
        .bind(offset)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM invoices WHERE {condition}"))
                .bind(today)
                .bind(filter.agency_id)
                .bind(filter.launch_id)
                .bind(&statuses)
                .bind(filter.legal_date_from)
                .bind(filter.legal_date_to)
                .fetch_one(&self.pool)
                .await?;
        Ok((rows, total))
    }

    /// An invoice's payments, oldest first.
    pub async fn invoice_payments(
        &self,
        invoice_id: Uuid,
    ) -> Result<Vec<InvoicePaymentRow>, AppError> {
        Ok(sqlx::query_as::<_, InvoicePaymentRow>(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM invoice_payments WHERE invoice_id = $1 \
             ORDER BY created_at, id"
        ))
        .bind(invoice_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn invoice_payment(&self, id: Uuid) -> Result<InvoicePaymentRow, AppError> {
        sqlx::query_as::<_, InvoicePaymentRow>(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM invoice_payments WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| AppError::NotFound("payment".into()))
    }

    pub(super) async fn payment_by_key(
        &self,
        invoice_id: Uuid,
        idempotency_key: &str,
    ) -> Result<Option<InvoicePaymentRow>, AppError> {
        Ok(sqlx::query_as::<_, InvoicePaymentRow>(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM invoice_payments \
             WHERE invoice_id = $1 AND idempotency_key = $2"
        ))
        .bind(invoice_id)
        .bind(idempotency_key)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records a payment FINANCE received, within what is still due.
    pub async fn record_invoice_payment(
        &self,
        invoice_id: Uuid,
        payment: &NewPayment,
        origin: &Origin,
    ) -> Result<Keyed<InvoicePaymentRow>, AppError> {
        if let Some(existing) = self
            .payment_by_key(invoice_id, &payment.idempotency_key)
            .await?
        {
            return Ok(Keyed::Replay(existing));
        }
        let mut transaction = self.pool.begin().await?;
        let invoice = lock_invoice(&mut transaction, invoice_id, None)
            .await?
            .ok_or_else(|| AppError::NotFound("invoice".into()))?;
        if invoice.currency != payment.currency {
            return Err(AppError::invalid(
                "amount.currency",
                format!("must be the invoice's currency, {}", invoice.currency),
            ));
        }
        let inserted = sqlx::query_as::<_, InvoicePaymentRow>(&format!(
            "INSERT INTO invoice_payments (id, invoice_id, channel, status, currency, \
                 original_amount_minor, amount_minor, reference, note, received_at, \
                 idempotency_key, created_service, created_user_id, created_trace_id, \
                 updated_service, updated_user_id, updated_trace_id) \
             VALUES ($1, $2, $3, 'SUCCEEDED', $4, $5, $5, $6, $7, $8, $9, $10, $11, $12, $10, \
                 $11, $12) \
             ON CONFLICT (invoice_id, idempotency_key) DO NOTHING RETURNING {PAYMENT_COLUMNS}"
        ))
        .bind(Uuid::now_v7())
        .bind(invoice_id)
        .bind(payment.channel.as_str())
        .bind(&payment.currency)
        .bind(payment.amount_minor)
        .bind(&payment.reference)
        .bind(&payment.note)
        .bind(payment.received_at)
        .bind(&payment.idempotency_key)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(row) = inserted else {
            transaction.rollback().await?;
            let existing = self
                .payment_by_key(invoice_id, &payment.idempotency_key)
                .await?
                .ok_or_else(|| AppError::Aborted("the same key is being recorded".into()))?;
            return Ok(Keyed::Replay(existing));
        };
        let invoice = move_tally(&mut transaction, &invoice, payment.amount_minor, origin).await?;
        append_entry(
            &mut transaction,
            &row,
            "PAYMENT",
            row.amount_minor,
            "",
            origin,
        )
        .await?;
        record_change(
            &mut transaction,
            origin,
            "invoice_payment",
            &row.id.to_string(),
            "INVOICE_PAYMENT_RECORDED",
            payment_payload(&invoice, &row),
        )
        .await?;
        transaction.commit().await?;
        Ok(Keyed::New(row))
    }

    /// Corrects a recorded payment: a REVERSAL of what it was and, unless voided, a
    /// CORRECTION with what it is now, and the invoice's tally moved by the difference.
    pub async fn correct_invoice_payment(
        &self,
        invoice_id: Uuid,
        payment_id: Uuid,
        correction: &Correction,
        origin: &Origin,
    ) -> Result<InvoicePaymentRow, AppError> {
        let mut transaction = self.pool.begin().await?;
        let invoice = lock_invoice(&mut transaction, invoice_id, None)
            .await?
            .ok_or_else(|| AppError::NotFound("invoice".into()))?;
        let payment = sqlx::query_as::<_, InvoicePaymentRow>(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM invoice_payments WHERE id = $1 AND invoice_id = $2 \
             FOR UPDATE"
        ))
        .bind(payment_id)
        .bind(invoice_id)
        .fetch_optional(&mut *transaction)
        .await?
        .ok_or_else(|| AppError::NotFound("payment".into()))?;
        if Channel::parse(&payment.channel) == Some(Channel::PaymentGateway) {
            return Err(AppError::FailedPrecondition(
                "payments through the payment gateway are corrected by a refund, not here".into(),
            ));
        }
        let new_amount = match &correction.amount {
            Some((amount_minor, currency)) => {
                if *currency != payment.currency {
                    return Err(AppError::invalid(
                        "amount.currency",
                        format!("must be the invoice's currency, {}", payment.currency),
                    ));
                }
                *amount_minor
            }
            None => payment.amount_minor,
        };
        let invoice = move_tally(
            &mut transaction,
            &invoice,
            new_amount - payment.amount_minor,
            origin,
        )
        .await?;
        let corrected = sqlx::query_as::<_, InvoicePaymentRow>(&format!(
            "UPDATE invoice_payments SET amount_minor = $2, \
                 received_at = COALESCE($3, received_at), reference = COALESCE($4, reference), \
                 correction_reason = $5, corrected_at = now(), updated_at = now(), \
                 updated_service = $6, updated_user_id = $7, updated_trace_id = $8 \
             WHERE id = $1 RETURNING {PAYMENT_COLUMNS}"
        ))
        .bind(payment_id)
        .bind(new_amount)
        .bind(correction.received_at)
        .bind(correction.reference.as_deref())
        .bind(&correction.reason)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_one(&mut *transaction)
        .await?;
        append_entry(
            &mut transaction,
            &payment,
            "REVERSAL",
            -payment.amount_minor,
            &correction.reason,
            origin,
        )
        .await?;
        if new_amount > 0 {
            append_entry(
                &mut transaction,
                &corrected,
                "CORRECTION",
                new_amount,
                &correction.reason,
                origin,
            )
            .await?;
        }
        record_change(
            &mut transaction,
            origin,
            "invoice_payment",
            &corrected.id.to_string(),
            "INVOICE_PAYMENT_CORRECTED",
            payment_payload(&invoice, &corrected),
        )
        .await?;
        transaction.commit().await?;
        Ok(corrected)
    }
}

/// Reads an invoice and locks it until the transaction ends, so the writes that move its tally
/// queue on it; with `agency_id`, only if it is that agency's.
pub(super) async fn lock_invoice(
    transaction: &mut sqlx::PgConnection,
    invoice_id: Uuid,
    agency_id: Option<Uuid>,
) -> Result<Option<InvoiceRow>, AppError> {
    Ok(sqlx::query_as::<_, InvoiceRow>(&format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices \
         WHERE id = $1 AND ($2::uuid IS NULL OR agency_id = $2) FOR UPDATE"
    ))
    .bind(invoice_id)
    .bind(agency_id)
    .fetch_optional(&mut *transaction)
    .await?)
}

/// The numbered documents, each with its own gapless series per year.
#[derive(Debug, Clone, Copy)]
pub(super) enum NumberSeries {
    Invoice,
    CreditNote,
}

/// The next number of `series` in `year`. The counter row stays locked until the transaction
/// ends: issuers of one series and year queue here, and a rollback gives the number back, so
/// numbers stay gapless.
pub(super) async fn next_number(
    transaction: &mut sqlx::PgConnection,
    series: NumberSeries,
    year: i32,
) -> Result<i32, AppError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO invoice_number_series (series, year, last_number) VALUES ($1, $2, 1) \
         ON CONFLICT (series, year) DO UPDATE \
             SET last_number = invoice_number_series.last_number + 1 \
         RETURNING last_number",
    )
    .bind(match series {
        NumberSeries::Invoice => "INVOICE",
        NumberSeries::CreditNote => "CREDIT_NOTE",
    })
    .bind(year)
    .fetch_one(&mut *transaction)
    .await?)
}

/// Moves the invoice's tally by `delta` (a recorded payment or its correction), refused when
/// it would exceed what is open (or go below zero).
async fn move_tally(
    transaction: &mut sqlx::PgConnection,
    invoice: &InvoiceRow,
    delta: i64,
    origin: &Origin,
) -> Result<InvoiceRow, AppError> {
    shift_tally(transaction, invoice.id, delta, 0, origin)
        .await?
        .ok_or_else(|| exceeds_due(invoice))
}

/// SQL: whether the invoice is paid in full once what was paid moves by `paid_delta` and what
/// was credited by `credited_delta` (SQL expressions): what it bills after its credit notes is
/// paid, and something was (credited in full with nothing paid is CREDITED).
/// `invoices_paid_at_when_paid` holds the same line.
pub(super) fn paid_in_full_after(paid_delta: &str, credited_delta: &str) -> String {
    format!(
        "amount_paid_minor + {paid_delta} = amount_payable_minor - {credited_delta} \
         AND (amount_paid_minor + {paid_delta} > 0 OR amount_minor = 0)"
    )
}

/// Moves what was paid by `paid_delta` and what gateway payments hold by `pending_delta`, with
/// one conditional UPDATE: `None` (nothing moved) when paid would go below zero or paid plus
/// pending above what the invoice bills after its credit notes; the CHECK constraints hold the
/// same lines. Every change of an invoice's paid tally goes through here.
pub(super) async fn shift_tally(
    transaction: &mut sqlx::PgConnection,
    invoice_id: Uuid,
    paid_delta: i64,
    pending_delta: i64,
    origin: &Origin,
) -> Result<Option<InvoiceRow>, AppError> {
    Ok(sqlx::query_as::<_, InvoiceRow>(&format!(
        "UPDATE invoices SET amount_paid_minor = amount_paid_minor + $2, \
             amount_pending_minor = amount_pending_minor + $3, \
             paid_at = CASE WHEN {} THEN COALESCE(paid_at, now()) END, \
             updated_at = now(), updated_service = $4, updated_user_id = $5, updated_trace_id = $6 \
         WHERE id = $1 AND amount_paid_minor + $2 >= 0 \
             AND amount_paid_minor + amount_pending_minor + $2 + $3 <= amount_payable_minor \
         RETURNING {INVOICE_COLUMNS}",
        paid_in_full_after("$2", "0")
    ))
    .bind(invoice_id)
    .bind(paid_delta)
    .bind(pending_delta)
    .bind(origin.service)
    .bind(origin.user_id.as_deref())
    .bind(origin.trace_id())
    .fetch_optional(&mut *transaction)
    .await?)
}

/// The refusal of a payment that does not fit in what is still open: the amount minus what
/// was paid and what gateway payments in flight hold.
pub(super) fn exceeds_due(invoice: &InvoiceRow) -> AppError {
    let open = invoice.open_minor();
    AppError::Refused {
        reason: "AMOUNT_EXCEEDS_DUE".into(),
        message: if invoice.amount_pending_minor > 0 {
            format!(
                "that would exceed what the invoice bills; {open} {} is open, {} more is \
                 being paid through the payment gateway",
                invoice.currency, invoice.amount_pending_minor
            )
        } else {
            format!(
                "that would exceed what the invoice bills; {open} {} is due",
                invoice.currency
            )
        },
        metadata: [
            ("amount_due_minor".to_owned(), open.to_string()),
            ("currency".to_owned(), invoice.currency.clone()),
        ]
        .into(),
    }
}

pub(super) async fn append_entry(
    transaction: &mut sqlx::PgConnection,
    payment: &InvoicePaymentRow,
    kind: &str,
    amount_minor: i64,
    reason: &str,
    origin: &Origin,
) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO invoice_payment_entries (payment_id, invoice_id, kind, amount_minor, \
             received_at, reference, reason, created_service, created_user_id, created_trace_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(payment.id)
    .bind(payment.invoice_id)
    .bind(kind)
    .bind(amount_minor)
    .bind(payment.received_at)
    .bind(&payment.reference)
    .bind(reason)
    .bind(origin.service)
    .bind(origin.user_id.as_deref())
    .bind(origin.trace_id())
    .execute(&mut *transaction)
    .await?;
    Ok(())
}
