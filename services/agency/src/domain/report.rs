//! The bookings report of a successful launch: one line per paid booking, the totals, and the
//! CSV export (RFC 4180, with the shared guard against spreadsheet formula injection).

use astro_shared::text::{csv_cell, push_csv_row};

/// One paid booking of the launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLine {
    pub booking_id: String,
    pub traveler_id: String,
    pub traveler_name: String,
    pub booking_status: String,
    pub seats: i32,
    /// Seats still sold (0 once cancelled with its seats released).
    pub seats_kept: i32,
    pub passenger_names: Vec<String>,
    pub amount_minor: i64,
    pub refunded_minor: i64,
}

impl ReportLine {
    pub fn net_minor(&self) -> i64 {
        self.amount_minor - self.refunded_minor
    }
}

/// Totals over the lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportTotals {
    /// Passengers flown: those of bookings not cancelled.
    pub passengers: i32,
    /// Seats sold, late-cancelled seats that stayed sold included.
    pub seats: i32,
    pub revenue_minor: i64,
    pub refunds_minor: i64,
}

impl ReportTotals {
    pub fn of(lines: &[ReportLine]) -> Self {
        lines.iter().fold(Self::default(), |totals, line| {
            let flown = if line.booking_status == "CANCELLED" {
                0
            } else {
                i32::try_from(line.passenger_names.len()).unwrap_or(i32::MAX)
            };
            Self {
                passengers: totals.passengers.saturating_add(flown),
                seats: totals.seats.saturating_add(line.seats_kept),
                revenue_minor: totals.revenue_minor.saturating_add(line.amount_minor),
                refunds_minor: totals.refunds_minor.saturating_add(line.refunded_minor),
            }
        })
    }

    pub fn net_revenue_minor(&self) -> i64 {
        self.revenue_minor - self.refunds_minor
    }
}

const CSV_HEADER: [&str; 10] = [
    "booking_id",
    "traveler_id",
    "traveler_name",
    "booking_status",
    "seats",
    "passenger_names",
    "amount_minor",
    "refunded_minor",
    "net_minor",
    "currency",
];

/// The report as CSV: a header, one row per booking, then a `TOTAL` row (whose `seats` and
/// `passenger_names` columns hold the seats sold and the number of passengers flown). Text
/// cells go through [`csv_cell`]; the numbers are ours and are written as they are, so a
/// negative amount stays a number rather than being defused like text.
pub fn to_csv(lines: &[ReportLine], totals: &ReportTotals, currency: &str) -> String {
    let mut csv = String::new();
    push_csv_row(&mut csv, &CSV_HEADER.map(csv_cell));
    for line in lines {
        push_csv_row(
            &mut csv,
            &[
                csv_cell(&line.booking_id),
                csv_cell(&line.traveler_id),
                csv_cell(&line.traveler_name),
                csv_cell(&line.booking_status),
                line.seats.to_string(),
                csv_cell(&line.passenger_names.join("; ")),
                line.amount_minor.to_string(),
                line.refunded_minor.to_string(),
                line.net_minor().to_string(),
                csv_cell(currency),
            ],
        );
    }
    push_csv_row(
        &mut csv,
        &[
            csv_cell("TOTAL"),
            String::new(),
            String::new(),
            String::new(),
            totals.seats.to_string(),
            totals.passengers.to_string(),
            totals.revenue_minor.to_string(),
            totals.refunds_minor.to_string(),
            totals.net_revenue_minor().to_string(),
            csv_cell(currency),
        ],
    );
    csv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(status: &str, names: &[&str], amount: i64, refunded: i64, kept: i32) -> ReportLine {
        ReportLine {
            booking_id: "b1".into(),
            traveler_id: "t1".into(),
            traveler_name: "Ada, \"the\" Traveler".into(),
            booking_status: status.into(),
            seats: i32::try_from(names.len()).unwrap(),
            seats_kept: kept,
            passenger_names: names.iter().map(|name| (*name).to_owned()).collect(),
            amount_minor: amount,
            refunded_minor: refunded,
        }
    }

    #[test]
    fn totals_count_flown_passengers_kept_seats_revenue_and_refunds() {
        let lines = [
            line("COMPLETED", &["A", "B"], 2_000, 0, 2),
            line("CANCELLED", &["C"], 1_000, 700, 0),
            line("CANCELLED", &["D"], 1_000, 0, 1),
        ];
        let totals = ReportTotals::of(&lines);
        assert_eq!(totals.passengers, 2);
        assert_eq!(totals.seats, 3);
        assert_eq!(totals.revenue_minor, 4_000);
        assert_eq!(totals.refunds_minor, 700);
        assert_eq!(totals.net_revenue_minor(), 3_300);
    }

    #[test]
    fn an_empty_report_is_a_header_and_a_zero_total() {
        let csv = to_csv(&[], &ReportTotals::default(), "USD");
        assert_eq!(
            csv,
            "booking_id,traveler_id,traveler_name,booking_status,seats,passenger_names,amount_minor,refunded_minor,net_minor,currency\r\nTOTAL,,,,0,0,0,0,0,USD\r\n"
        );
    }

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        let mut booking = line("COMPLETED", &["=HYPERLINK(\"x\")", "Bob"], 10, 0, 2);
        booking.traveler_name = "Ada, \"the\" Traveler".into();
        let csv = to_csv(&[booking], &ReportTotals::default(), "USD");
        let row = csv.lines().nth(1).unwrap();
        assert!(row.contains("\"Ada, \"\"the\"\" Traveler\""), "{row}");
        assert!(row.contains("\"'=HYPERLINK(\"\"x\"\"); Bob\""), "{row}");
        assert_eq!(csv_cell("-cmd"), "'-cmd");
    }

    #[test]
    fn negative_numbers_of_ours_are_written_as_numbers() {
        // A net of -5 (refunded more than paid) is a number, not a formula to defuse.
        let mut booking = line("CANCELLED", &["Ada"], 10, 15, 0);
        booking.traveler_name = "-cmd".into();
        let totals = ReportTotals::of(std::slice::from_ref(&booking));
        let csv = to_csv(&[booking], &totals, "USD");
        let mut rows = csv.lines().skip(1);
        let row = rows.next().unwrap();
        assert_eq!(row.split(',').nth(8), Some("-5"), "{row}");
        assert_eq!(row.split(',').nth(2), Some("'-cmd"), "{row}");
        assert_eq!(rows.next(), Some("TOTAL,,,,0,0,10,15,-5,USD"));
    }
}
