//! Overdue invoices: the job that marks them OVERDUE and sends the automatic reminders (see
//! `domain::reminder` for the schedule), and FINANCE's reminder by hand. Each reminder is a
//! change in the log (INVOICE_OVERDUE, then INVOICE_REMINDER) that NotifyAPI mails to the
//! agency; reminders stop as soon as the invoice is paid.

use std::time::Duration;

use astro_proto::astrobookings::common::v1::Role;
use astro_shared::{AppError, activity::ActivityLog, auth::Caller, changes::Origin};
use uuid::Uuid;

use super::invoices::InvoiceView;
use crate::{
    SERVICE_NAME,
    domain::{invoice::Calendar, reminder::step_due},
    store::{Store, invoices::InvoiceRow, reminders::Reminder},
};

/// Invoices one pass of the job reads at a time.
const BATCH: i64 = 200;

#[derive(Clone)]
pub struct Reminders {
    store: Store,
    activity: ActivityLog,
    calendar: Calendar,
    /// `ASTRO_FINANCE_OVERDUE_INTERVAL_MS`: pause between passes of the job.
    interval: Duration,
}

impl Reminders {
    pub fn new(
        store: Store,
        activity: ActivityLog,
        calendar: Calendar,
        interval: Duration,
    ) -> Self {
        Self {
            store,
            activity,
            calendar,
            interval,
        }
    }

    /// SendInvoiceReminder (FINANCE): a reminder now, outside the schedule.
    pub async fn send(&self, caller: &Caller, invoice_id: Uuid) -> Result<InvoiceView, AppError> {
        if caller.role != Role::Finance {
            return Err(AppError::PermissionDenied(
                "reminders are sent by FINANCE".into(),
            ));
        }
        let origin = Origin::user(SERVICE_NAME, &caller.user_id);
        let today = self.calendar.today();
        let invoice = self
            .store
            .send_reminder(invoice_id, Reminder::Manual, today, &origin)
            .await?
            .ok_or_else(|| AppError::NotFound("invoice".into()))?;
        self.log(&invoice, Some(&caller.user_id), "by hand");
        InvoiceView::load(&self.store, invoice, today).await
    }

    /// Runs the job forever, one pass per interval.
    pub async fn run(self) {
        loop {
            tokio::time::sleep(self.interval).await;
            match self.remind_overdue().await {
                Ok(0) => {}
                Ok(sent) => tracing::info!(sent, "overdue invoices reminded"),
                Err(error) => tracing::warn!(%error, "overdue invoice job failed"),
            }
        }
    }

    /// One pass: every unpaid invoice with a step due today gets it. Answers how many were
    /// sent.
    pub async fn remind_overdue(&self) -> Result<usize, AppError> {
        let origin = Origin::platform(SERVICE_NAME);
        let today = self.calendar.today();
        let mut sent = 0;
        loop {
            let due = self.store.overdue_invoices(today, BATCH).await?;
            let full = due.len() == usize::try_from(BATCH).unwrap_or(usize::MAX);
            let mut progressed = false;
            for invoice in due {
                let step = step_due(invoice.due_date, today);
                if let Some(reminded) = self
                    .store
                    .send_reminder(invoice.id, Reminder::Scheduled(step), today, &origin)
                    .await?
                {
                    self.log(&reminded, None, &format!("step {step} of the schedule"));
                    sent += 1;
                    progressed = true;
                }
            }
            // A full batch may hide more; one that moved nothing would be read again forever.
            if !full || !progressed {
                return Ok(sent);
            }
        }
    }

    fn log(&self, invoice: &InvoiceRow, user_id: Option<&str>, how: &str) {
        let amount_due = invoice.due_minor();
        self.activity.info(
            "invoice.reminded",
            user_id,
            format!(
                "reminder {} of invoice {} sent ({how}): {} {} minor units due since {}",
                invoice.reminder_count,
                invoice.number,
                invoice.currency,
                amount_due,
                invoice.due_date
            ),
            &[
                ("invoice_id", &invoice.id.to_string()),
                ("agency_id", &invoice.agency_id.to_string()),
            ],
        );
    }
}
