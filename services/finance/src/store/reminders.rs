//! Overdue invoices and their reminders (`invoice_reminders`): each reminder is written with
//! the invoice's tally of reminders and its change-log event in one transaction, under the
//! invoice's row lock, so an automatic step is sent once however many replicas run the job.

use astro_shared::AppError;
use chrono::NaiveDate;
use serde_json::json;
use uuid::Uuid;

use crate::domain::reminder::REMINDER_DAYS;

use super::{
    Origin, Store,
    invoices::{INVOICE_COLUMNS, InvoiceRow, lock_invoice},
    record_change,
};

/// Which reminder to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reminder {
    /// A step of the automatic schedule (1..=3); sent only if no later step was.
    Scheduled(i16),
    /// FINANCE's, by hand.
    Manual,
}

impl Store {
    /// Unpaid invoices with an automatic reminder step due on `today`, oldest due first.
    pub async fn overdue_invoices(
        &self,
        today: NaiveDate,
        limit: i64,
    ) -> Result<Vec<InvoiceRow>, AppError> {
        // `step_due` in SQL, from the same schedule: only invoices with a step to send.
        let step_due = REMINDER_DAYS
            .iter()
            .enumerate()
            .rev()
            .map(|(index, days)| format!("WHEN $1 - due_date >= {days} THEN {}", index + 1))
            .collect::<Vec<_>>()
            .join(" ");
        Ok(sqlx::query_as::<_, InvoiceRow>(&format!(
            "SELECT {INVOICE_COLUMNS} FROM invoices \
             WHERE amount_paid_minor < amount_payable_minor AND reminder_step < 3 \
                 AND due_date < $1 \
                 AND reminder_step < CASE {step_due} ELSE 0 END \
             ORDER BY due_date, id LIMIT $2"
        ))
        .bind(today)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Sends `reminder` for the invoice if it is still unpaid and OVERDUE on `today` (and, for
    /// a scheduled step, that step is new): the reminder, the invoice's tally and the change
    /// (INVOICE_OVERDUE the first time the job finds it overdue, INVOICE_REMINDER after) in one
    /// transaction. `None` when there was nothing to send.
    pub async fn send_reminder(
        &self,
        invoice_id: Uuid,
        reminder: Reminder,
        today: NaiveDate,
        origin: &Origin,
    ) -> Result<Option<InvoiceRow>, AppError> {
        let mut transaction = self.pool.begin().await?;
        let Some(invoice) = lock_invoice(&mut transaction, invoice_id, None).await? else {
            return Ok(None);
        };
        let overdue = invoice.due_minor() > 0 && invoice.due_date < today;
        let step = match reminder {
            Reminder::Scheduled(step) if overdue && step > invoice.reminder_step => Some(step),
            Reminder::Scheduled(_) => return Ok(None),
            Reminder::Manual if overdue => None,
            Reminder::Manual => {
                return Err(AppError::FailedPrecondition(
                    "only an OVERDUE invoice is reminded".into(),
                ));
            }
        };
        // The overdue notice is the job's first reminder of the invoice.
        let first_notice = step.is_some() && invoice.overdue_at.is_none();
        let updated = sqlx::query_as::<_, InvoiceRow>(&format!(
            "UPDATE invoices SET reminder_step = COALESCE($2, reminder_step), \
                 reminder_count = reminder_count + 1, last_reminder_at = now(), \
                 overdue_at = CASE WHEN $2 IS NULL THEN overdue_at \
                                   ELSE COALESCE(overdue_at, now()) END, \
                 updated_at = now(), updated_service = $3, updated_user_id = $4, \
                 updated_trace_id = $5 \
             WHERE id = $1 RETURNING {INVOICE_COLUMNS}"
        ))
        .bind(invoice_id)
        .bind(step)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_one(&mut *transaction)
        .await?;
        let amount_due_minor = updated.due_minor();
        sqlx::query(
            "INSERT INTO invoice_reminders (id, invoice_id, schedule_step, reminder_number, \
                 amount_due_minor, currency, created_service, created_user_id, created_trace_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(Uuid::now_v7())
        .bind(invoice_id)
        .bind(step)
        .bind(updated.reminder_count)
        .bind(amount_due_minor)
        .bind(&updated.currency)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .execute(&mut *transaction)
        .await?;
        record_change(
            &mut transaction,
            origin,
            "invoice",
            &invoice_id.to_string(),
            if first_notice {
                "INVOICE_OVERDUE"
            } else {
                "INVOICE_REMINDER"
            },
            json!({
                "invoice_id": updated.id,
                "invoice_number": updated.number,
                "agency_id": updated.agency_id,
                "launch_id": updated.launch_id,
                "amount_due_minor": amount_due_minor,
                "currency": updated.currency,
                "due_date": updated.due_date.to_string(),
                "reminder_number": updated.reminder_count,
                "schedule_step": step,
            }),
        )
        .await?;
        transaction.commit().await?;
        Ok(Some(updated))
    }
}
