//! The `credit_notes` table. A credit note is issued in one transaction: the invoice's
//! `amount_credited_minor` moves with one conditional UPDATE (never beyond what is open, which
//! also locks the invoice against a concurrent payment), its number is taken from the locked
//! 'CREDIT_NOTE' counter row of its year, the note is inserted and its CREDIT_NOTE_ISSUED
//! change is logged. A failure anywhere rolls the number back: the series stays gapless.

use astro_shared::AppError;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::{
    AuditRow, Keyed, Origin, Store,
    invoices::{
        INVOICE_COLUMNS, InvoiceRow, NumberSeries, exceeds_due, lock_invoice, next_number,
        paid_in_full_after,
    },
    record_change,
};
use crate::domain::{
    credit_note::{NewCreditNote, credit_note_number},
    invoice,
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CreditNoteRow {
    pub id: Uuid,
    pub number: String,
    pub invoice_id: Uuid,
    pub invoice_number: String,
    pub agency_id: Uuid,
    pub legal_date: NaiveDate,
    pub currency: String,
    pub amount_minor: i64,
    pub reason: String,
    pub issued_at: DateTime<Utc>,
    #[sqlx(flatten)]
    pub audit: AuditRow,
}

/// Credit notes are never changed: the "updated" origin is the created one.
const CREDIT_NOTE_COLUMNS: &str = "id, number, invoice_id, invoice_number, agency_id, legal_date, \
     currency, amount_minor, reason, issued_at, created_at, created_service, created_user_id, \
     created_trace_id, created_at AS updated_at, created_service AS updated_service, \
     created_user_id AS updated_user_id, created_trace_id AS updated_trace_id";

impl Store {
    /// An invoice's credit notes, oldest first.
    pub async fn credit_notes(&self, invoice_id: Uuid) -> Result<Vec<CreditNoteRow>, AppError> {
        Ok(sqlx::query_as::<_, CreditNoteRow>(&format!(
            "SELECT {CREDIT_NOTE_COLUMNS} FROM credit_notes WHERE invoice_id = $1 \
             ORDER BY issued_at, id"
        ))
        .bind(invoice_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Issues a credit note against an invoice, dated `issued_at` (legal date `legal_date`),
    /// within what is still open.
    pub async fn issue_credit_note(
        &self,
        invoice_id: Uuid,
        note: &NewCreditNote,
        issued_at: DateTime<Utc>,
        legal_date: NaiveDate,
        origin: &Origin,
    ) -> Result<Keyed<CreditNoteRow>, AppError> {
        let mut transaction = self.pool.begin().await?;
        let invoice = lock_invoice(&mut transaction, invoice_id, None)
            .await?
            .ok_or_else(|| AppError::NotFound("invoice".into()))?;
        // Read under the invoice's lock, so a concurrent request with the same key that
        // committed while this one waited is found, not repeated.
        if let Some(existing) = sqlx::query_as::<_, CreditNoteRow>(&format!(
            "SELECT {CREDIT_NOTE_COLUMNS} FROM credit_notes \
             WHERE invoice_id = $1 AND idempotency_key = $2"
        ))
        .bind(invoice_id)
        .bind(&note.idempotency_key)
        .fetch_optional(&mut *transaction)
        .await?
        {
            return Ok(Keyed::Replay(existing));
        }
        if invoice.currency != note.currency {
            return Err(AppError::invalid(
                "amount.currency",
                format!("must be the invoice's currency, {}", invoice.currency),
            ));
        }
        let credited = sqlx::query_as::<_, InvoiceRow>(&format!(
            "UPDATE invoices SET amount_credited_minor = amount_credited_minor + $2, \
                 paid_at = CASE WHEN {} THEN COALESCE(paid_at, now()) END, \
                 updated_at = now(), updated_service = $3, updated_user_id = $4, \
                 updated_trace_id = $5 \
             WHERE id = $1 \
                 AND amount_paid_minor + amount_pending_minor + $2 <= amount_payable_minor \
             RETURNING {INVOICE_COLUMNS}",
            paid_in_full_after("0", "$2")
        ))
        .bind(invoice_id)
        .bind(note.amount_minor)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_optional(&mut *transaction)
        .await?
        .ok_or_else(|| exceeds_due(&invoice))?;
        let year = invoice::number_year(legal_date);
        let sequence = next_number(&mut transaction, NumberSeries::CreditNote, year).await?;
        let row = sqlx::query_as::<_, CreditNoteRow>(&format!(
            "INSERT INTO credit_notes (id, number, number_year, number_sequence, invoice_id, \
                 invoice_number, agency_id, legal_date, currency, amount_minor, reason, \
                 idempotency_key, issued_at, created_service, created_user_id, created_trace_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
             RETURNING {CREDIT_NOTE_COLUMNS}"
        ))
        .bind(Uuid::now_v7())
        .bind(credit_note_number(year, sequence))
        .bind(year)
        .bind(sequence)
        .bind(invoice_id)
        .bind(&invoice.number)
        .bind(invoice.agency_id)
        .bind(legal_date)
        .bind(&note.currency)
        .bind(note.amount_minor)
        .bind(&note.reason)
        .bind(&note.idempotency_key)
        .bind(issued_at)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_one(&mut *transaction)
        .await?;
        record_change(
            &mut transaction,
            origin,
            "credit_note",
            &row.id.to_string(),
            "CREDIT_NOTE_ISSUED",
            serde_json::json!({
                "credit_note_id": row.id,
                "credit_note_number": row.number,
                "invoice_id": invoice_id,
                "invoice_number": row.invoice_number,
                "agency_id": row.agency_id,
                "amount_minor": row.amount_minor,
                "currency": row.currency,
                "reason": row.reason,
                "legal_date": row.legal_date.to_string(),
                "amount_credited_minor": credited.amount_credited_minor,
            }),
        )
        .await?;
        transaction.commit().await?;
        Ok(Keyed::New(row))
    }
}
