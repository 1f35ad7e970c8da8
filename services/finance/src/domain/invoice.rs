//! Launch fee invoices: what a launch is billed (DOMAIN: 1% of net revenue, 0.8% for a
//! reliable agency, a flat 1,000 USD for an abort), how the fee is rounded, the invoice's
//! lines, numbers and dates in the platform time zone, and its status derived from what was
//! paid. Pure rules: the store enforces one invoice per launch and gapless numbers in SQL.

use chrono::{DateTime, Datelike as _, Days, NaiveDate, Utc};
use chrono_tz::Tz;

use astro_shared::AppError;

/// Basis points of the fee on a successful launch's net revenue (1%).
pub const STANDARD_RATE_BASIS_POINTS: i32 = 100;
/// Basis points for an agency that already had [`RELIABLE_AFTER`] successful launches (0.8%).
pub const RELIABLE_RATE_BASIS_POINTS: i32 = 80;
/// Successful launches scheduled before this one that make an agency reliable.
pub const RELIABLE_AFTER: usize = 2;
/// The flat fee of an aborted launch, whatever the launch's currency: 1,000 USD.
pub const ABORT_FEE_MINOR: i64 = 100_000;
pub const ABORT_FEE_CURRENCY: &str = "USD";
/// Days from the legal date to the due date.
pub const PAYMENT_TERM_DAYS: u64 = 30;

/// What an invoice bills (finance.v1.InvoiceKind names in the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceKind {
    SuccessfulLaunchFee,
    AbortedLaunchFee,
}

impl InvoiceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SuccessfulLaunchFee => "SUCCESSFUL_LAUNCH_FEE",
            Self::AbortedLaunchFee => "ABORTED_LAUNCH_FEE",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::SuccessfulLaunchFee, Self::AbortedLaunchFee]
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// `round_half_up(net_minor * basis_points / 10_000)` on the exact product, for a net revenue
/// that is never negative (refunds never exceed what was paid); computed in i128 so no
/// revenue overflows.
pub fn fee_minor(net_minor: i64, basis_points: i32) -> i64 {
    let product = i128::from(net_minor.max(0)) * i128::from(basis_points.max(0));
    i64::try_from((product + 5_000) / 10_000).unwrap_or(i64::MAX)
}

/// The fee rate of a successful launch given how many successful launches its agency had
/// scheduled before it.
pub fn rate_basis_points(earlier_successful_launches: usize) -> i32 {
    if earlier_successful_launches >= RELIABLE_AFTER {
        RELIABLE_RATE_BASIS_POINTS
    } else {
        STANDARD_RATE_BASIS_POINTS
    }
}

/// The revenue a successful launch's fee is computed on, in the launch's currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revenue {
    pub currency: String,
    pub gross_minor: i64,
    pub refunds_minor: i64,
    pub seats_sold: i32,
    pub passengers: i32,
}

impl Revenue {
    pub fn net_minor(&self) -> i64 {
        self.gross_minor - self.refunds_minor
    }
}

/// One line of an invoice (finance.v1.InvoiceLineKind names in `kind`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Line {
    pub kind: String,
    pub description: String,
    pub quantity: i32,
    pub amount_minor: i64,
    pub currency: String,
}

/// What an invoice bills, computed from the launch's outcome: the fee and the lines that
/// document it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fee {
    pub kind: InvoiceKind,
    pub currency: String,
    pub amount_minor: i64,
    pub rate_basis_points: i32,
    pub reliable_agency: bool,
    pub lines: Vec<Line>,
}

impl Fee {
    /// The fee of a SUCCESSFUL launch.
    pub fn successful(revenue: &Revenue, earlier_successful_launches: usize) -> Self {
        let rate = rate_basis_points(earlier_successful_launches);
        let amount_minor = fee_minor(revenue.net_minor(), rate);
        let currency = revenue.currency.clone();
        let line = |kind: &str, description: String, quantity: i32, amount_minor: i64| Line {
            kind: kind.to_owned(),
            description,
            quantity,
            amount_minor,
            currency: currency.clone(),
        };
        Self {
            kind: InvoiceKind::SuccessfulLaunchFee,
            currency: currency.clone(),
            amount_minor,
            rate_basis_points: rate,
            reliable_agency: rate == RELIABLE_RATE_BASIS_POINTS,
            lines: vec![
                line(
                    "PASSENGERS",
                    format!(
                        "Passengers flown ({} seats sold), gross revenue",
                        revenue.seats_sold
                    ),
                    revenue.passengers,
                    revenue.gross_minor,
                ),
                line(
                    "REFUNDS",
                    "Refunds to travelers".to_owned(),
                    0,
                    -revenue.refunds_minor,
                ),
                line(
                    "NET_REVENUE",
                    "Net revenue of the launch".to_owned(),
                    0,
                    revenue.net_minor(),
                ),
                line(
                    "FEE",
                    format!(
                        "Platform fee {} of net revenue{}",
                        percent(rate),
                        if rate == RELIABLE_RATE_BASIS_POINTS {
                            " (reliable agency)"
                        } else {
                            ""
                        }
                    ),
                    1,
                    amount_minor,
                ),
            ],
        }
    }

    /// The flat fee of an ABORTED launch.
    pub fn aborted() -> Self {
        Self {
            kind: InvoiceKind::AbortedLaunchFee,
            currency: ABORT_FEE_CURRENCY.to_owned(),
            amount_minor: ABORT_FEE_MINOR,
            rate_basis_points: 0,
            reliable_agency: false,
            lines: vec![Line {
                kind: "FEE".to_owned(),
                description: "Flat fee for an aborted launch".to_owned(),
                quantity: 1,
                amount_minor: ABORT_FEE_MINOR,
                currency: ABORT_FEE_CURRENCY.to_owned(),
            }],
        }
    }
}

/// "1%", "0.8%".
fn percent(basis_points: i32) -> String {
    let whole = basis_points / 100;
    let rest = basis_points % 100;
    if rest == 0 {
        format!("{whole}%")
    } else {
        format!("{whole}.{}%", format!("{rest:02}").trim_end_matches('0'))
    }
}

/// The invoice number of `sequence` in `year`: `AB-2026-000042`.
pub fn invoice_number(year: i32, sequence: i32) -> String {
    format!("AB-{year}-{sequence:06}")
}

/// The platform's calendar: one IANA time zone for legal dates and periods, and the clock
/// (with an offset, so tests can move time without waiting).
#[derive(Debug, Clone, Copy)]
pub struct Calendar {
    pub time_zone: Tz,
    pub clock_offset: chrono::Duration,
}

impl Calendar {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    /// The legal date of an invoice issued at `at`.
    pub fn date_of(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.time_zone).date_naive()
    }

    pub fn today(&self) -> NaiveDate {
        self.date_of(self.now())
    }

    /// The first instant of `date` in the platform time zone (a DST gap starts later).
    pub fn start_of(&self, date: NaiveDate) -> DateTime<Utc> {
        let mut time = date.and_hms_opt(0, 0, 0).unwrap_or_default();
        loop {
            if let Some(start) = time.and_local_timezone(self.time_zone).earliest() {
                return start.with_timezone(&Utc);
            }
            time += chrono::Duration::minutes(30);
        }
    }
}

/// Legal and due date of an invoice issued on `legal_date`.
pub fn due_date(legal_date: NaiveDate) -> NaiveDate {
    legal_date
        .checked_add_days(Days::new(PAYMENT_TERM_DAYS))
        .unwrap_or(legal_date)
}

/// The year of an invoice's number: the year of its legal date.
pub fn number_year(legal_date: NaiveDate) -> i32 {
    legal_date.year()
}

/// Where an invoice stands (finance.v1.InvoiceStatus names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceStatus {
    Issued,
    PartiallyPaid,
    Paid,
    Overdue,
    Credited,
}

/// What an invoice's status is derived from: its amount and the tallies beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub amount_minor: i64,
    pub credited_minor: i64,
    pub paid_minor: i64,
}

impl Tally {
    /// What the agency owes now: the amount less its credit notes and payments.
    pub fn due_minor(self) -> i64 {
        self.amount_minor - self.credited_minor - self.paid_minor
    }
}

impl InvoiceStatus {
    pub const ALL: [Self; 5] = [
        Self::Issued,
        Self::PartiallyPaid,
        Self::Paid,
        Self::Overdue,
        Self::Credited,
    ];

    /// Derived from the credit notes and payments, never stored: credited in full with nothing
    /// paid is CREDITED; nothing due is PAID; otherwise past the due date is OVERDUE, whether
    /// partly paid or not.
    pub fn of(tally: Tally, due_date: NaiveDate, today: NaiveDate) -> Self {
        if tally.amount_minor > 0 && tally.credited_minor >= tally.amount_minor {
            Self::Credited
        } else if tally.due_minor() <= 0 {
            Self::Paid
        } else if today > due_date {
            Self::Overdue
        } else if tally.paid_minor > 0 {
            Self::PartiallyPaid
        } else {
            Self::Issued
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issued => "ISSUED",
            Self::PartiallyPaid => "PARTIALLY_PAID",
            Self::Paid => "PAID",
            Self::Overdue => "OVERDUE",
            Self::Credited => "CREDITED",
        }
    }
}

/// A calendar period of reports and generation: a year, a quarter or a month, as dates
/// `[start, end)` in the platform time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// Normalized: "2026", "2026-Q2", "2026-03".
    pub name: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Period {
    pub fn parse(field: &str, text: &str) -> Result<Self, AppError> {
        let invalid = || {
            AppError::invalid(
                field,
                "must be a year (2026), a quarter (2026-Q2) or a month (2026-03), 2000 to 2100",
            )
        };
        let text = text.trim();
        let (year_text, rest) = text.split_once('-').unwrap_or((text, ""));
        if year_text.len() != 4 {
            return Err(invalid());
        }
        let year: i32 = year_text.parse().map_err(|_| invalid())?;
        if !(2000..=2100).contains(&year) {
            return Err(invalid());
        }
        let (first_month, months, name) = if rest.is_empty() {
            (1, 12, format!("{year}"))
        } else if let Some(quarter) = rest.strip_prefix('Q').or_else(|| rest.strip_prefix('q')) {
            let quarter: u32 = quarter.parse().map_err(|_| invalid())?;
            if !(1..=4).contains(&quarter) || rest.len() != 2 {
                return Err(invalid());
            }
            ((quarter - 1) * 3 + 1, 3, format!("{year}-Q{quarter}"))
        } else {
            let month: u32 = rest.parse().map_err(|_| invalid())?;
            if !(1..=12).contains(&month) || rest.len() != 2 {
                return Err(invalid());
            }
            (month, 1, format!("{year}-{month:02}"))
        };
        let start = NaiveDate::from_ymd_opt(year, first_month, 1).ok_or_else(invalid)?;
        let end = start
            .checked_add_months(chrono::Months::new(months))
            .ok_or_else(invalid)?;
        Ok(Self { name, start, end })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_round_half_up_on_the_exact_product() {
        // (net minor units, basis points, fee)
        for (net, rate, fee) in [
            (0, 100, 0),
            (49, 100, 0),  // 0.49 -> 0
            (50, 100, 1),  // 0.50 -> 1
            (149, 100, 1), // 1.49 -> 1
            (150, 100, 2), // 1.50 -> 2
            (1_000_000, 100, 10_000),
            (62, 80, 0),       // 0.496 -> 0
            (63, 80, 1),       // 0.504 -> 1
            (1_875, 80, 15),   // exactly 15.0
            (1_881, 80, 15),   // 15.048 -> 15
            (1_882, 80, 15),   // 15.056 -> 15
            (1_887, 80, 15),   // 15.096 -> 15
            (1_888, 80, 15),   // 15.104 -> 15
            (1_931, 80, 15),   // 15.448 -> 15
            (1_938, 80, 16),   // 15.504 -> 16
            (62_500, 80, 500), // 0.8% of 625.00 = 5.00
            (i64::MAX, 100, 92_233_720_368_547_758),
        ] {
            assert_eq!(fee_minor(net, rate), fee, "{rate} bp of {net}");
        }
    }

    #[test]
    fn the_reliable_rate_starts_with_the_third_successful_launch() {
        assert_eq!(rate_basis_points(0), 100);
        assert_eq!(rate_basis_points(1), 100);
        assert_eq!(rate_basis_points(2), 80);
        assert_eq!(rate_basis_points(7), 80);
    }

    #[test]
    fn a_successful_fee_documents_its_computation_and_bills_only_the_fee_line() {
        let revenue = Revenue {
            currency: "EUR".into(),
            gross_minor: 1_000_000,
            refunds_minor: 250_000,
            seats_sold: 5,
            passengers: 4,
        };
        let fee = Fee::successful(&revenue, 2);
        assert_eq!(fee.amount_minor, 6_000);
        assert_eq!(fee.currency, "EUR");
        assert!(fee.reliable_agency);
        let billed: i64 = fee
            .lines
            .iter()
            .filter(|line| line.kind == "FEE")
            .map(|line| line.amount_minor)
            .sum();
        assert_eq!(billed, fee.amount_minor);
        assert_eq!(fee.lines[0].quantity, 4);
        assert_eq!(fee.lines[1].amount_minor, -250_000);
        assert_eq!(
            fee.lines[3].description,
            "Platform fee 0.8% of net revenue (reliable agency)"
        );
        assert_eq!(
            Fee::successful(&revenue, 1).lines[3].description,
            "Platform fee 1% of net revenue"
        );
    }

    #[test]
    fn an_abort_is_a_flat_1000_usd() {
        let fee = Fee::aborted();
        assert_eq!((fee.amount_minor, fee.currency.as_str()), (100_000, "USD"));
        assert_eq!(fee.rate_basis_points, 0);
    }

    #[test]
    fn numbers_are_zero_padded_per_year() {
        assert_eq!(invoice_number(2026, 42), "AB-2026-000042");
        assert_eq!(invoice_number(2027, 1), "AB-2027-000001");
    }

    #[test]
    fn legal_dates_are_days_of_the_platform_time_zone() {
        let new_york = Calendar {
            time_zone: "America/New_York".parse().expect("zone"),
            clock_offset: chrono::Duration::zero(),
        };
        // 31 December 23:30 in New York is already 1 January in UTC.
        let late = DateTime::parse_from_rfc3339("2027-01-01T04:30:00Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(
            new_york.date_of(late),
            NaiveDate::from_ymd_opt(2026, 12, 31).expect("date")
        );
        assert_eq!(number_year(new_york.date_of(late)), 2026);
        assert_eq!(
            new_york.start_of(NaiveDate::from_ymd_opt(2027, 1, 1).expect("date")),
            DateTime::parse_from_rfc3339("2027-01-01T05:00:00Z").expect("time")
        );
        assert_eq!(
            due_date(NaiveDate::from_ymd_opt(2026, 12, 31).expect("date")),
            NaiveDate::from_ymd_opt(2027, 1, 30).expect("date")
        );
    }

    #[test]
    fn status_follows_the_payments_and_the_due_date() {
        let due = NaiveDate::from_ymd_opt(2026, 6, 30).expect("date");
        let before = NaiveDate::from_ymd_opt(2026, 6, 30).expect("date");
        let after = NaiveDate::from_ymd_opt(2026, 7, 1).expect("date");
        let status = |amount_minor, credited_minor, paid_minor, today| {
            InvoiceStatus::of(
                Tally {
                    amount_minor,
                    credited_minor,
                    paid_minor,
                },
                due,
                today,
            )
        };
        assert_eq!(status(100, 0, 0, before), InvoiceStatus::Issued);
        assert_eq!(status(100, 0, 40, before), InvoiceStatus::PartiallyPaid);
        assert_eq!(status(100, 0, 100, before), InvoiceStatus::Paid);
        assert_eq!(status(100, 0, 40, after), InvoiceStatus::Overdue);
        assert_eq!(status(100, 0, 100, after), InvoiceStatus::Paid);
        assert_eq!(status(0, 0, 0, after), InvoiceStatus::Paid);
        // Credit notes lower what is due: the rest paid is PAID, all of it credited CREDITED.
        assert_eq!(status(100, 30, 40, before), InvoiceStatus::PartiallyPaid);
        assert_eq!(status(100, 30, 40, after), InvoiceStatus::Overdue);
        assert_eq!(status(100, 60, 40, after), InvoiceStatus::Paid);
        assert_eq!(status(100, 100, 0, after), InvoiceStatus::Credited);
        assert_eq!(status(100, 30, 0, before), InvoiceStatus::Issued);
    }

    #[test]
    fn periods_are_years_quarters_or_months() {
        let period = |text| Period::parse("period", text);
        let q2 = period("2026-q2").expect("quarter");
        assert_eq!(q2.name, "2026-Q2");
        assert_eq!(q2.start, NaiveDate::from_ymd_opt(2026, 4, 1).expect("date"));
        assert_eq!(q2.end, NaiveDate::from_ymd_opt(2026, 7, 1).expect("date"));
        assert_eq!(
            period("2026").expect("year").end,
            NaiveDate::from_ymd_opt(2027, 1, 1).expect("date")
        );
        assert_eq!(
            period("2026-12").expect("month").end,
            NaiveDate::from_ymd_opt(2027, 1, 1).expect("date")
        );
        for bad in [
            "", "26", "2026-Q5", "2026-13", "2026-1", "1999", "2026-Q", "x026",
        ] {
            assert!(period(bad).is_err(), "{bad}");
        }
    }
}
