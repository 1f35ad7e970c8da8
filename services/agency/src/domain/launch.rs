//! Launches: scheduling rules, the slug, and the status machine of DOMAIN.md:
//! `SCHEDULED -> DELAYED (may repeat) -> ABORTED | SUCCESSFUL | FAILED`, the last three final,
//! SUCCESSFUL and FAILED only at or after the launch date; occupancy, and what a launch list
//! filters and sorts by.

use astro_shared::AppError;
use chrono::{DateTime, Utc};

use super::{bounded_text, required_text};

/// The highest seat price, in minor units (10 billion in a two-decimal currency). Far above any
/// ticket, and low enough that a booking's total (price × seats, refunds, fees) can never
/// overflow 64 bits: a launch holds at most a few thousand seats.
pub const MAX_SEAT_PRICE_MINOR: i64 = 1_000_000_000_000;

/// Longest reason of a delay, abort or outcome.
pub const MAX_REASON_CHARS: usize = 500;
/// Currency of a price that names none.
pub const DEFAULT_CURRENCY: &str = "USD";

/// A launch's status, stored by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchStatus {
    Scheduled,
    Delayed,
    Aborted,
    Successful,
    Failed,
}

impl LaunchStatus {
    pub const ALL: [Self; 5] = [
        Self::Scheduled,
        Self::Delayed,
        Self::Aborted,
        Self::Successful,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "SCHEDULED",
            Self::Delayed => "DELAYED",
            Self::Aborted => "ABORTED",
            Self::Successful => "SUCCESSFUL",
            Self::Failed => "FAILED",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }

    /// ABORTED, SUCCESSFUL and FAILED never change again.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Aborted | Self::Successful | Self::Failed)
    }
}

/// A status change an agency asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusAction {
    Delay {
        new_scheduled_at: DateTime<Utc>,
        reason: String,
    },
    Abort {
        reason: String,
    },
    Succeed {
        reason: String,
    },
    Fail {
        reason: String,
    },
}

impl StatusAction {
    /// Validates what does not depend on the launch: reasons and the new date being ahead.
    pub fn delay(
        new_scheduled_at: Option<DateTime<Utc>>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, AppError> {
        let new_scheduled_at =
            new_scheduled_at.ok_or_else(|| AppError::invalid("new_scheduled_at", "is required"))?;
        if new_scheduled_at <= now {
            return Err(AppError::invalid(
                "new_scheduled_at",
                "must be in the future",
            ));
        }
        Ok(Self::Delay {
            new_scheduled_at,
            reason: required_text("reason", reason, MAX_REASON_CHARS)?,
        })
    }

    pub fn abort(reason: &str) -> Result<Self, AppError> {
        Ok(Self::Abort {
            reason: required_text("reason", reason, MAX_REASON_CHARS)?,
        })
    }

    pub fn succeed(reason: &str) -> Result<Self, AppError> {
        Ok(Self::Succeed {
            reason: bounded_text("reason", reason, MAX_REASON_CHARS)?,
        })
    }

    pub fn fail(reason: &str) -> Result<Self, AppError> {
        Ok(Self::Fail {
            reason: bounded_text("reason", reason, MAX_REASON_CHARS)?,
        })
    }

    /// The status this action leads to.
    pub fn target(&self) -> LaunchStatus {
        match self {
            Self::Delay { .. } => LaunchStatus::Delayed,
            Self::Abort { .. } => LaunchStatus::Aborted,
            Self::Succeed { .. } => LaunchStatus::Successful,
            Self::Fail { .. } => LaunchStatus::Failed,
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Self::Delay { reason, .. }
            | Self::Abort { reason }
            | Self::Succeed { reason }
            | Self::Fail { reason } => reason,
        }
    }
}

/// What applying an action to a launch comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The launch changes to `status`, dated `scheduled_at`.
    Change {
        status: LaunchStatus,
        scheduled_at: DateTime<Utc>,
    },
    /// The launch already is where the action leads (a repeated abort, succeed or fail): the
    /// contract answers it unchanged, and nothing is written.
    Unchanged,
}

/// Decides `action` on a launch now in `status` and dated `scheduled_at`.
pub fn transition(
    status: LaunchStatus,
    scheduled_at: DateTime<Utc>,
    action: &StatusAction,
    now: DateTime<Utc>,
) -> Result<Transition, AppError> {
    let target = action.target();
    if status.is_final() {
        // Repeating the final step is harmless (clients retry); anything else is refused.
        if status == target && target != LaunchStatus::Delayed {
            return Ok(Transition::Unchanged);
        }
        return Err(AppError::FailedPrecondition(format!(
            "the launch is {} and can no longer change",
            status.as_str()
        )));
    }
    match action {
        StatusAction::Delay {
            new_scheduled_at, ..
        } => {
            if *new_scheduled_at <= scheduled_at {
                return Err(AppError::invalid(
                    "new_scheduled_at",
                    "must be later than the current launch date",
                ));
            }
            Ok(Transition::Change {
                status: target,
                scheduled_at: *new_scheduled_at,
            })
        }
        StatusAction::Abort { .. } => Ok(Transition::Change {
            status: target,
            scheduled_at,
        }),
        StatusAction::Succeed { .. } | StatusAction::Fail { .. } => {
            if now < scheduled_at {
                return Err(AppError::FailedPrecondition(format!(
                    "a launch can only become {} at or after its launch date",
                    target.as_str()
                )));
            }
            Ok(Transition::Change {
                status: target,
                scheduled_at,
            })
        }
    }
}

/// A launch to schedule, validated except for what needs the rocket (ownership, retirement,
/// minimum occupancy within capacity), which the store checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLaunch {
    pub rocket_id: uuid::Uuid,
    pub spaceport: String,
    pub destination: String,
    pub scheduled_at: DateTime<Utc>,
    pub price_minor: i64,
    pub currency: String,
    pub minimum_occupancy: i32,
}

/// The request as received.
#[derive(Debug, Clone)]
pub struct LaunchInput<'a> {
    pub rocket_id: &'a str,
    pub spaceport: &'a str,
    pub destination: &'a str,
    pub scheduled_at: Option<DateTime<Utc>>,
    /// `None` when the request carries no price.
    pub price: Option<(i64, &'a str)>,
    pub minimum_occupancy: i32,
}

impl NewLaunch {
    pub fn parse(input: &LaunchInput<'_>, now: DateTime<Utc>) -> Result<Self, AppError> {
        let rocket_id = parse_id("rocket_id", input.rocket_id)?;
        let spaceport = required_text("spaceport", input.spaceport, 100)?;
        let destination = required_text("destination", input.destination, 100)?;
        let scheduled_at = input
            .scheduled_at
            .ok_or_else(|| AppError::invalid("scheduled_at", "is required"))?;
        if scheduled_at <= now {
            return Err(AppError::invalid("scheduled_at", "must be in the future"));
        }
        let (price_minor, currency) = input
            .price
            .ok_or_else(|| AppError::invalid("price_per_seat", "is required"))?;
        if price_minor <= 0 {
            return Err(AppError::invalid(
                "price_per_seat.amount_minor",
                "must be positive",
            ));
        }
        if price_minor > MAX_SEAT_PRICE_MINOR {
            return Err(AppError::invalid(
                "price_per_seat.amount_minor",
                format!("must be at most {MAX_SEAT_PRICE_MINOR} minor units"),
            ));
        }
        let currency = parse_currency("price_per_seat.currency", currency)?;
        if input.minimum_occupancy < 1 {
            return Err(AppError::invalid("minimum_occupancy", "must be at least 1"));
        }
        Ok(Self {
            rocket_id,
            spaceport,
            destination,
            scheduled_at,
            price_minor,
            currency,
            minimum_occupancy: input.minimum_occupancy,
        })
    }
}

/// Filters of a launch list; `None` (or no status) means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchFilter {
    pub agency_id: Option<uuid::Uuid>,
    pub statuses: Vec<LaunchStatus>,
    /// `Some(true)`: only launches whose seats booked reach their minimum occupancy.
    pub viable: Option<bool>,
    pub scheduled_after: Option<DateTime<Utc>>,
    pub scheduled_before: Option<DateTime<Utc>>,
    pub status_changed_after: Option<DateTime<Utc>>,
    pub status_changed_before: Option<DateTime<Utc>>,
    pub rocket_id: Option<uuid::Uuid>,
}

/// The sort keys of a launch list; ties are broken by id in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchSort {
    ScheduledAt,
    OccupancyPercent,
    SeatsBooked,
    SeatsAvailable,
    CreatedAt,
}

/// How full a launch is, from its capacity, its seats booked and its minimum occupancy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Occupancy {
    pub seats_available: i32,
    /// The launch flies only once its seats booked reach the minimum occupancy.
    pub viable: bool,
    /// Seats booked out of capacity, 0 to 100 (0 for a launch without seats).
    pub percent: f64,
}

impl Occupancy {
    pub fn of(capacity: i32, seats_booked: i32, minimum_occupancy: i32) -> Self {
        Self {
            seats_available: (capacity - seats_booked).max(0),
            viable: seats_booked >= minimum_occupancy,
            percent: if capacity > 0 {
                100.0 * f64::from(seats_booked) / f64::from(capacity)
            } else {
                0.0
            },
        }
    }
}

/// The most launches one BatchGetLaunches may ask for.
pub const BATCH_MAX: usize = 100;

/// The launch ids of a batch read, each once in the order first given; more than
/// [`BATCH_MAX`] distinct ids are refused. Malformed ids are kept: they are answered missing.
pub fn batch_ids(ids: &[String]) -> Result<Vec<String>, AppError> {
    let mut seen = std::collections::HashSet::new();
    let requested: Vec<String> = ids
        .iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect();
    if requested.len() > BATCH_MAX {
        return Err(AppError::invalid("launch_ids", "at most 100 ids"));
    }
    Ok(requested)
}

/// A UUID given by the client; `field` names it when malformed.
pub fn parse_id(field: &str, id: &str) -> Result<uuid::Uuid, AppError> {
    if id.trim().is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    uuid::Uuid::parse_str(id.trim()).map_err(|_| AppError::invalid(field, "must be a UUID"))
}

/// An ISO 4217 code in upper case; empty means USD.
pub fn parse_currency(field: &str, currency: &str) -> Result<String, AppError> {
    let currency = currency.trim();
    if currency.is_empty() {
        return Ok(DEFAULT_CURRENCY.to_owned());
    }
    if currency.len() == 3 && currency.bytes().all(|byte| byte.is_ascii_uppercase()) {
        Ok(currency.to_owned())
    } else {
        Err(AppError::invalid(
            field,
            "must be a three-letter upper-case ISO 4217 code, e.g. USD",
        ))
    }
}

/// The SEO slug of a launch: rocket, spaceport, destination and the date, e.g.
/// `falcon-x-cape-canaveral-moon-2027-03-14`. Letters and digits are kept (accents dropped
/// to their base letter where it is plain ASCII), everything else separates words.
pub fn slug(rocket: &str, spaceport: &str, destination: &str, date: DateTime<Utc>) -> String {
    let words = [rocket, spaceport, destination]
        .iter()
        .map(|part| slug_words(part))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let date = date.format("%Y-%m-%d");
    if words.is_empty() {
        date.to_string()
    } else {
        format!("{words}-{date}")
    }
}

fn slug_words(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    let mut pending_dash = false;
    for character in text.chars().flat_map(char::to_lowercase) {
        let character = fold_accent(character);
        if character.is_ascii_alphanumeric() {
            if pending_dash && !slug.is_empty() {
                slug.push('-');
            }
            pending_dash = false;
            slug.push(character);
        } else {
            pending_dash = true;
        }
    }
    slug
}

/// The common Latin accented letters; others simply separate words.
fn fold_accent(character: char) -> char {
    match character {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone as _};

    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 3, day, 12, 0, 0).unwrap()
    }

    #[test]
    fn the_slug_joins_rocket_spaceport_destination_and_date() {
        assert_eq!(
            slug("Falcon X", "Cape Canaveral", "Moon", at(14)),
            "falcon-x-cape-canaveral-moon-2027-03-14"
        );
        assert_eq!(
            slug("  Ariane--6 ", "Kourou (CSG)", "Lune é", at(1)),
            "ariane-6-kourou-csg-lune-e-2027-03-01"
        );
        assert_eq!(slug("火箭", "", "!!", at(2)), "2027-03-02");
    }

    #[test]
    fn every_allowed_transition_passes() {
        let now = at(10);
        let future = at(20);
        let past = at(5);
        let later = StatusAction::delay(Some(at(25)), "weather", now).unwrap();
        for from in [LaunchStatus::Scheduled, LaunchStatus::Delayed] {
            assert_eq!(
                transition(from, future, &later, now).unwrap(),
                Transition::Change {
                    status: LaunchStatus::Delayed,
                    scheduled_at: at(25)
                }
            );
            let abort = StatusAction::abort("budget").unwrap();
            assert!(matches!(
                transition(from, future, &abort, now).unwrap(),
                Transition::Change {
                    status: LaunchStatus::Aborted,
                    ..
                }
            ));
            for action in [
                StatusAction::succeed("").unwrap(),
                StatusAction::fail("").unwrap(),
            ] {
                assert_eq!(
                    transition(from, past, &action, now).unwrap(),
                    Transition::Change {
                        status: action.target(),
                        scheduled_at: past
                    }
                );
                // Exactly at the launch date is allowed.
                assert!(transition(from, now, &action, now).is_ok());
            }
        }
    }

    #[test]
    fn succeed_or_fail_before_the_date_is_a_failed_precondition() {
        for action in [
            StatusAction::succeed("").unwrap(),
            StatusAction::fail("").unwrap(),
        ] {
            let error = transition(LaunchStatus::Scheduled, at(20), &action, at(10)).unwrap_err();
            assert!(matches!(error, AppError::FailedPrecondition(_)));
        }
    }

    #[test]
    fn nothing_changes_a_final_state_except_repeating_it() {
        let now = at(10);
        let actions = [
            StatusAction::delay(Some(at(25)), "again", now).unwrap(),
            StatusAction::abort("why").unwrap(),
            StatusAction::succeed("").unwrap(),
            StatusAction::fail("").unwrap(),
        ];
        for from in [
            LaunchStatus::Aborted,
            LaunchStatus::Successful,
            LaunchStatus::Failed,
        ] {
            for action in &actions {
                let outcome = transition(from, at(5), action, now);
                if action.target() == from {
                    assert_eq!(outcome.unwrap(), Transition::Unchanged);
                } else {
                    assert!(
                        matches!(outcome, Err(AppError::FailedPrecondition(_))),
                        "{from:?} then {action:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_delay_must_move_the_date_later_and_into_the_future_with_a_reason() {
        let now = at(10);
        assert!(StatusAction::delay(Some(at(9)), "x", now).is_err());
        assert!(StatusAction::delay(Some(at(12)), " ", now).is_err());
        assert!(StatusAction::delay(None, "x", now).is_err());
        let earlier = StatusAction::delay(Some(at(12)), "x", now).unwrap();
        let error = transition(LaunchStatus::Scheduled, at(15), &earlier, now).unwrap_err();
        assert!(
            matches!(error, AppError::InvalidArgument { ref field, .. } if field == "new_scheduled_at")
        );
    }

    #[test]
    fn occupancy_counts_free_seats_viability_and_percent() {
        let half = Occupancy::of(10, 5, 5);
        assert_eq!(half.seats_available, 5);
        assert!(half.viable);
        assert!((half.percent - 50.0).abs() < f64::EPSILON);
        let short = Occupancy::of(10, 4, 5);
        assert!(!short.viable);
        // Overbooked after a capacity change never shows negative seats.
        assert_eq!(Occupancy::of(3, 5, 1).seats_available, 0);
        assert!(Occupancy::of(0, 0, 1).percent.abs() < f64::EPSILON);
    }

    #[test]
    fn batch_ids_are_deduplicated_in_order_and_bounded() {
        let ids: Vec<String> = ["b", "a", "b", "nope"].map(str::to_owned).to_vec();
        assert_eq!(batch_ids(&ids).unwrap(), ["b", "a", "nope"]);
        let many: Vec<String> = (0..=BATCH_MAX).map(|n| n.to_string()).collect();
        assert!(
            matches!(batch_ids(&many), Err(AppError::InvalidArgument { ref field, .. }) if field == "launch_ids")
        );
        let repeated: Vec<String> = (0..=BATCH_MAX).map(|_| "x".to_owned()).collect();
        assert_eq!(batch_ids(&repeated).unwrap(), ["x"]);
    }

    #[test]
    fn scheduling_validates_date_price_currency_and_occupancy() {
        let now = at(10);
        let valid = LaunchInput {
            rocket_id: "0190a0a0-0000-7000-8000-000000000001",
            spaceport: "Cape Canaveral",
            destination: "Moon",
            scheduled_at: Some(now + Duration::days(30)),
            price: Some((100_000, "")),
            minimum_occupancy: 2,
        };
        let launch = NewLaunch::parse(&valid, now).unwrap();
        assert_eq!(launch.currency, "USD");
        let cases: Vec<(LaunchInput<'_>, &str)> = vec![
            (
                LaunchInput {
                    scheduled_at: Some(at(9)),
                    ..valid.clone()
                },
                "scheduled_at",
            ),
            (
                LaunchInput {
                    rocket_id: "nope",
                    ..valid.clone()
                },
                "rocket_id",
            ),
            (
                LaunchInput {
                    price: Some((0, "USD")),
                    ..valid.clone()
                },
                "price_per_seat.amount_minor",
            ),
            (
                LaunchInput {
                    price: Some((5, "usd")),
                    ..valid.clone()
                },
                "price_per_seat.currency",
            ),
            (
                LaunchInput {
                    minimum_occupancy: 0,
                    ..valid.clone()
                },
                "minimum_occupancy",
            ),
            (
                LaunchInput {
                    spaceport: "",
                    ..valid.clone()
                },
                "spaceport",
            ),
        ];
        for (case, field) in cases {
            let error = NewLaunch::parse(&case, now).unwrap_err();
            assert!(
                matches!(error, AppError::InvalidArgument { field: ref named, .. } if named == field),
                "{field}: {error:?}"
            );
        }
    }
}
