//! What the finance reports read from the invoices: whole invoices of an agency's launches,
//! and a year's invoices summed per agency and month in SQL (a year holds thousands of
//! invoices; the report needs at most agencies x 12 sums).

use astro_shared::AppError;
use chrono::NaiveDate;
use uuid::Uuid;

use super::{
    Store,
    invoices::{INVOICE_COLUMNS, InvoiceRow},
};

/// The invoices of one agency dated in one month, in one currency.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvoiceMonthRow {
    pub agency_id: Uuid,
    /// The agency's name on its latest invoice of the month.
    pub agency_name: String,
    /// 1 to 12, of the legal date.
    pub month: i32,
    pub invoiced_minor: i64,
    pub credited_minor: i64,
    pub paid_minor: i64,
}

impl Store {
    /// The invoices of `launch_ids` (at most one each).
    pub async fn invoices_of_launches(
        &self,
        launch_ids: &[Uuid],
    ) -> Result<Vec<InvoiceRow>, AppError> {
        Ok(sqlx::query_as::<_, InvoiceRow>(&format!(
            "SELECT {INVOICE_COLUMNS} FROM invoices WHERE launch_id = ANY($1)"
        ))
        .bind(launch_ids)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The invoices with a legal date in `[from, to)` and in `currency`, summed per agency and
    /// month of the legal date.
    pub async fn invoice_months(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        currency: &str,
    ) -> Result<Vec<InvoiceMonthRow>, AppError> {
        Ok(sqlx::query_as::<_, InvoiceMonthRow>(
            "SELECT agency_id, \
                    (array_agg(bill_to->>'name' ORDER BY legal_date DESC, number DESC))[1] \
                        AS agency_name, \
                    extract(month FROM legal_date)::integer AS month, \
                    sum(amount_minor)::bigint AS invoiced_minor, \
                    sum(amount_credited_minor)::bigint AS credited_minor, \
                    sum(amount_paid_minor)::bigint AS paid_minor \
             FROM invoices \
             WHERE legal_date >= $1 AND legal_date < $2 AND currency = $3 \
             GROUP BY agency_id, extract(month FROM legal_date) \
             ORDER BY agency_id, month",
        )
        .bind(from)
        .bind(to)
        .bind(currency)
        .fetch_all(&self.pool)
        .await?)
    }
}
