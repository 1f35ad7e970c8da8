//! The cancellation policy (DOMAIN: Cancellation and refund): how much a cancellation now
//! refunds, by the launch's current date.

use chrono::{DateTime, Months, Utc};

/// The policy tier applied to a cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundTier {
    /// Launch ABORTED: 100%.
    LaunchAborted,
    /// At least 1 year before the launch: 90%, seats released.
    OneYearOrMore,
    /// At least 3 months before: 70%, seats released.
    ThreeMonthsOrMore,
    /// Later: nothing refunded, seats stay sold.
    Late,
    /// Never paid: nothing to refund, seats released.
    NotPaid,
}

impl RefundTier {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LaunchAborted => "LAUNCH_ABORTED",
            Self::OneYearOrMore => "ONE_YEAR_OR_MORE",
            Self::ThreeMonthsOrMore => "THREE_MONTHS_OR_MORE",
            Self::Late => "LATE",
            Self::NotPaid => "NOT_PAID",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::LaunchAborted,
            Self::OneYearOrMore,
            Self::ThreeMonthsOrMore,
            Self::Late,
            Self::NotPaid,
        ]
        .into_iter()
        .find(|tier| tier.as_str() == text)
    }

    /// The share of the amount paid that goes back.
    pub fn percent(self) -> i64 {
        match self {
            Self::LaunchAborted => 100,
            Self::OneYearOrMore => 90,
            Self::ThreeMonthsOrMore => 70,
            Self::Late | Self::NotPaid => 0,
        }
    }

    /// Whether the seats go back on sale.
    pub fn releases_seats(self) -> bool {
        !matches!(self, Self::Late | Self::LaunchAborted)
    }
}

/// Where a due refund stands, as stored and as FinanceAPI reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundState {
    /// Due, or submitted and not settled yet.
    Pending,
    Succeeded,
    /// Refused for good; finance staff follow up.
    Failed,
}

impl RefundState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
        }
    }
}

/// What cancelling a paid booking now would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    pub tier: RefundTier,
    pub refund_minor: i64,
    /// When the next, lower tier starts; `None` in the last tier.
    pub valid_until: Option<DateTime<Utc>>,
}

/// The traveler's cancellation of a paid booking of `total_minor` at `now`, for a launch at
/// `launch_at`. Calendar months, so "a year before" 2027-03-14 is 2026-03-14.
pub fn traveler_cancellation(
    now: DateTime<Utc>,
    launch_at: DateTime<Utc>,
    total_minor: i64,
) -> Quote {
    let one_year_before = launch_at.checked_sub_months(Months::new(12));
    let three_months_before = launch_at.checked_sub_months(Months::new(3));
    let (tier, valid_until) = match (one_year_before, three_months_before) {
        (Some(boundary), _) if now <= boundary => (RefundTier::OneYearOrMore, Some(boundary)),
        (_, Some(boundary)) if now <= boundary => (RefundTier::ThreeMonthsOrMore, Some(boundary)),
        _ => (RefundTier::Late, None),
    };
    Quote {
        tier,
        refund_minor: refund_amount(total_minor, tier.percent()),
        valid_until,
    }
}

/// `percent` of `total_minor`, rounded down to the minor unit (DOMAIN).
pub fn refund_amount(total_minor: i64, percent: i64) -> i64 {
    // i128: a product of two i64 cannot overflow it.
    let amount = i128::from(total_minor) * i128::from(percent) / 100;
    i64::try_from(amount).unwrap_or(total_minor)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn at(days_before: i64) -> (DateTime<Utc>, DateTime<Utc>) {
        let launch = Utc.with_ymd_and_hms(2028, 3, 14, 12, 0, 0).unwrap();
        (launch - Duration::days(days_before), launch)
    }

    #[test]
    fn tiers_follow_the_calendar() {
        let (now, launch) = at(400);
        assert_eq!(
            traveler_cancellation(now, launch, 10_000).tier,
            RefundTier::OneYearOrMore
        );
        assert_eq!(
            traveler_cancellation(now, launch, 10_000).refund_minor,
            9_000
        );
        let (now, launch) = at(100);
        let quote = traveler_cancellation(now, launch, 10_000);
        assert_eq!(quote.tier, RefundTier::ThreeMonthsOrMore);
        assert_eq!(quote.refund_minor, 7_000);
        assert_eq!(
            quote.valid_until,
            Some(Utc.with_ymd_and_hms(2027, 12, 14, 12, 0, 0).unwrap())
        );
        let (now, launch) = at(30);
        let quote = traveler_cancellation(now, launch, 10_000);
        assert_eq!(
            (quote.tier, quote.refund_minor, quote.valid_until),
            (RefundTier::Late, 0, None)
        );
    }

    #[test]
    fn the_boundary_itself_still_counts_as_at_least() {
        let launch = Utc.with_ymd_and_hms(2028, 3, 14, 12, 0, 0).unwrap();
        let exactly_a_year = Utc.with_ymd_and_hms(2027, 3, 14, 12, 0, 0).unwrap();
        assert_eq!(
            traveler_cancellation(exactly_a_year, launch, 1).tier,
            RefundTier::OneYearOrMore
        );
        let a_second_later = exactly_a_year + Duration::seconds(1);
        assert_eq!(
            traveler_cancellation(a_second_later, launch, 1).tier,
            RefundTier::ThreeMonthsOrMore
        );
    }

    #[test]
    fn amounts_are_rounded_down() {
        assert_eq!(refund_amount(999, 90), 899);
        assert_eq!(refund_amount(1, 70), 0);
        assert_eq!(refund_amount(i64::MAX, 100), i64::MAX);
    }

    #[test]
    fn seats_stay_sold_for_late_and_aborted_only() {
        assert!(RefundTier::OneYearOrMore.releases_seats());
        assert!(RefundTier::ThreeMonthsOrMore.releases_seats());
        assert!(RefundTier::NotPaid.releases_seats());
        assert!(!RefundTier::Late.releases_seats());
        assert!(!RefundTier::LaunchAborted.releases_seats());
        for tier in [
            RefundTier::LaunchAborted,
            RefundTier::Late,
            RefundTier::NotPaid,
        ] {
            assert_eq!(RefundTier::parse(tier.as_str()), Some(tier));
        }
    }
}
