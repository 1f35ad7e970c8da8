//! The finance reports as plain arithmetic over facts the use cases gather: an agency's
//! revenue over a period (one row per launch) and the platform's annual fee revenue (by
//! agency and by month). Amounts of one report are all in its currency: a fact in another
//! currency is left out before it reaches these functions, never converted or added.

use astro_shared::{
    AppError,
    text::{csv_cell, push_csv_row},
};
use uuid::Uuid;

/// The currency of a report when none is asked for.
pub const DEFAULT_CURRENCY: &str = "USD";

/// A report's currency: ISO 4217 letters, any case; empty is [`DEFAULT_CURRENCY`].
pub fn parse_currency(text: &str) -> Result<String, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(DEFAULT_CURRENCY.to_owned());
    }
    if text.len() == 3 && text.chars().all(|c| c.is_ascii_alphabetic()) {
        Ok(text.to_ascii_uppercase())
    } else {
        Err(AppError::invalid(
            "currency",
            "must be an ISO 4217 code such as USD",
        ))
    }
}

/// A report's year: 2000 to 2100.
pub fn check_year(year: i32) -> Result<i32, AppError> {
    if (2000..=2100).contains(&year) {
        Ok(year)
    } else {
        Err(AppError::invalid("year", "must be from 2000 to 2100"))
    }
}

/// One launch of an agency revenue report, its amounts already restricted to the report's
/// currency (0 where the launch's revenue or its invoice is in another).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyRevenueRow {
    pub launch_id: Uuid,
    pub launch_slug: String,
    pub scheduled_at: String,
    /// common.v1.LaunchStatus name.
    pub launch_status: String,
    pub net_revenue_minor: i64,
    pub fee_invoiced_minor: i64,
    pub fee_credited_minor: i64,
    pub fee_paid_minor: i64,
    pub invoice_id: Option<Uuid>,
    pub invoice_number: String,
    /// finance.v1.InvoiceStatus name; empty without an invoice.
    pub invoice_status: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgencyRevenueTotals {
    pub launches: i32,
    pub successful_launches: i32,
    pub net_revenue_minor: i64,
    pub fees_invoiced_minor: i64,
    pub fees_credited_minor: i64,
    pub fees_paid_minor: i64,
}

impl AgencyRevenueTotals {
    pub fn of(rows: &[AgencyRevenueRow]) -> Self {
        rows.iter().fold(Self::default(), |totals, row| Self {
            launches: totals.launches.saturating_add(1),
            successful_launches: totals
                .successful_launches
                .saturating_add(i32::from(row.launch_status == "LAUNCH_STATUS_SUCCESSFUL")),
            net_revenue_minor: totals
                .net_revenue_minor
                .saturating_add(row.net_revenue_minor),
            fees_invoiced_minor: totals
                .fees_invoiced_minor
                .saturating_add(row.fee_invoiced_minor),
            fees_credited_minor: totals
                .fees_credited_minor
                .saturating_add(row.fee_credited_minor),
            fees_paid_minor: totals.fees_paid_minor.saturating_add(row.fee_paid_minor),
        })
    }

    pub fn fees_outstanding_minor(&self) -> i64 {
        self.fees_invoiced_minor - self.fees_credited_minor - self.fees_paid_minor
    }
}

impl AgencyRevenueRow {
    pub fn fee_outstanding_minor(&self) -> i64 {
        self.fee_invoiced_minor - self.fee_credited_minor - self.fee_paid_minor
    }
}

const CSV_HEADER: [&str; 12] = [
    "launch_id",
    "launch",
    "scheduled_at",
    "launch_status",
    "net_revenue_minor",
    "fee_invoiced_minor",
    "fee_credited_minor",
    "fee_paid_minor",
    "fee_outstanding_minor",
    "invoice_number",
    "invoice_status",
    "currency",
];

/// The report as CSV: a header, one row per launch, then a `TOTAL` row (whose `launch`
/// column holds the number of launches and `launch_status` the successful ones). Text cells
/// go through [`csv_cell`]; our numbers are written as they are.
pub fn agency_revenue_csv(
    rows: &[AgencyRevenueRow],
    totals: &AgencyRevenueTotals,
    currency: &str,
) -> String {
    let mut csv = String::new();
    push_csv_row(&mut csv, &CSV_HEADER.map(csv_cell));
    for row in rows {
        push_csv_row(
            &mut csv,
            &[
                row.launch_id.to_string(),
                csv_cell(&row.launch_slug),
                csv_cell(&row.scheduled_at),
                csv_cell(&row.launch_status),
                row.net_revenue_minor.to_string(),
                row.fee_invoiced_minor.to_string(),
                row.fee_credited_minor.to_string(),
                row.fee_paid_minor.to_string(),
                row.fee_outstanding_minor().to_string(),
                csv_cell(&row.invoice_number),
                csv_cell(&row.invoice_status),
                csv_cell(currency),
            ],
        );
    }
    push_csv_row(
        &mut csv,
        &[
            csv_cell("TOTAL"),
            totals.launches.to_string(),
            String::new(),
            totals.successful_launches.to_string(),
            totals.net_revenue_minor.to_string(),
            totals.fees_invoiced_minor.to_string(),
            totals.fees_credited_minor.to_string(),
            totals.fees_paid_minor.to_string(),
            totals.fees_outstanding_minor().to_string(),
            String::new(),
            String::new(),
            csv_cell(currency),
        ],
    );
    csv
}

/// Fee revenue of a part of a year. `received + pending = invoiced - credited` by
/// construction: `pending` is what the invoices still ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    pub invoiced_minor: i64,
    pub credited_minor: i64,
    pub received_minor: i64,
    pub projected_minor: i64,
}

impl Figures {
    pub fn pending_minor(&self) -> i64 {
        self.invoiced_minor - self.credited_minor - self.received_minor
    }

    fn add(&mut self, other: &Figures) {
        self.invoiced_minor = self.invoiced_minor.saturating_add(other.invoiced_minor);
        self.credited_minor = self.credited_minor.saturating_add(other.credited_minor);
        self.received_minor = self.received_minor.saturating_add(other.received_minor);
        self.projected_minor = self.projected_minor.saturating_add(other.projected_minor);
    }
}

/// What one agency's invoices or scheduled launches add to one month of the year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthFact {
    pub agency_id: Uuid,
    pub agency_name: String,
    /// 1 to 12.
    pub month: u32,
    pub figures: Figures,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyFigures {
    pub agency_id: Uuid,
    pub agency_name: String,
    pub figures: Figures,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnualReport {
    pub totals: Figures,
    /// By agency name, then id.
    pub by_agency: Vec<AgencyFigures>,
    /// January first.
    pub by_month: [Figures; 12],
}

impl AnnualReport {
    /// Adds every fact into its agency and its month, and the totals from the months, so the
    /// months add up to the year and so do the agencies.
    pub fn of(facts: &[MonthFact]) -> Self {
        let mut by_month = [Figures::default(); 12];
        let mut by_agency: Vec<AgencyFigures> = Vec::new();
        for fact in facts {
            let Some(month) = fact
                .month
                .checked_sub(1)
                .and_then(|index| by_month.get_mut(index as usize))
            else {
                continue;
            };
            month.add(&fact.figures);
            match by_agency
                .iter_mut()
                .find(|agency| agency.agency_id == fact.agency_id)
            {
                Some(agency) => agency.figures.add(&fact.figures),
                None => by_agency.push(AgencyFigures {
                    agency_id: fact.agency_id,
                    agency_name: fact.agency_name.clone(),
                    figures: fact.figures,
                }),
            }
        }
        by_agency.sort_by(|a, b| {
            (a.agency_name.to_lowercase(), a.agency_id)
                .cmp(&(b.agency_name.to_lowercase(), b.agency_id))
        });
        let mut totals = Figures::default();
        for month in &by_month {
            totals.add(month);
        }
        Self {
            totals,
            by_agency,
            by_month,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: &str, net: i64, fee: i64, credited: i64, paid: i64) -> AgencyRevenueRow {
        AgencyRevenueRow {
            launch_id: Uuid::nil(),
            launch_slug: "=cmd".into(),
            scheduled_at: "2026-03-01T10:00:00+00:00".into(),
            launch_status: status.into(),
            net_revenue_minor: net,
            fee_invoiced_minor: fee,
            fee_credited_minor: credited,
            fee_paid_minor: paid,
            invoice_id: None,
            invoice_number: String::new(),
            invoice_status: String::new(),
        }
    }

    #[test]
    fn currencies_default_to_usd_and_must_be_three_letters() {
        assert_eq!(parse_currency("").unwrap(), "USD");
        assert_eq!(parse_currency(" eur ").unwrap(), "EUR");
        assert!(parse_currency("EURO").is_err());
        assert!(parse_currency("U$D").is_err());
        assert!(check_year(1999).is_err());
        assert_eq!(check_year(2100).unwrap(), 2100);
    }

    #[test]
    fn agency_totals_add_the_rows_and_the_csv_ends_with_them() {
        let rows = [
            row("LAUNCH_STATUS_SUCCESSFUL", 10_000, 100, 0, 40),
            row("LAUNCH_STATUS_ABORTED", 0, 100_000, 25_000, 0),
            row("LAUNCH_STATUS_SCHEDULED", 500, 0, 0, 0),
        ];
        let totals = AgencyRevenueTotals::of(&rows);
        assert_eq!(totals.launches, 3);
        assert_eq!(totals.successful_launches, 1);
        assert_eq!(totals.net_revenue_minor, 10_500);
        assert_eq!(totals.fees_invoiced_minor, 100_100);
        assert_eq!(totals.fees_credited_minor, 25_000);
        assert_eq!(totals.fees_outstanding_minor(), 75_060);
        let csv = agency_revenue_csv(&rows, &totals, "USD");
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[1].contains(",'=cmd,"), "{}", lines[1]);
        assert!(lines[2].contains(",100000,25000,0,75000,"), "{}", lines[2]);
        assert_eq!(lines[4], "TOTAL,3,,1,10500,100100,25000,40,75060,,,USD");
    }

    fn fact(agency: u128, name: &str, month: u32, invoiced: i64, received: i64) -> MonthFact {
        MonthFact {
            agency_id: Uuid::from_u128(agency),
            agency_name: name.into(),
            month,
            figures: Figures {
                invoiced_minor: invoiced,
                received_minor: received,
                projected_minor: 7,
                ..Figures::default()
            },
        }
    }

    #[test]
    fn months_and_agencies_add_up_to_the_year() {
        let report = AnnualReport::of(&[
            fact(2, "Zeta", 1, 1_000, 1_000),
            fact(1, "alpha", 1, 500, 0),
            fact(2, "Zeta", 12, 300, 100),
            fact(1, "alpha", 13, 99, 99),
        ]);
        assert_eq!(report.by_month[0].invoiced_minor, 1_500);
        assert_eq!(report.by_month[11].pending_minor(), 200);
        assert_eq!(report.totals.invoiced_minor, 1_800);
        assert_eq!(report.totals.received_minor, 1_100);
        assert_eq!(report.totals.pending_minor(), 700);
        assert_eq!(report.totals.projected_minor, 21);
        let names: Vec<&str> = report
            .by_agency
            .iter()
            .map(|agency| agency.agency_name.as_str())
            .collect();
        assert_eq!(names, ["alpha", "Zeta"]);
        assert_eq!(report.by_agency[1].figures.invoiced_minor, 1_300);
    }
}
