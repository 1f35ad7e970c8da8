//! The catalogue's rules as pure functions over entries: what is bookable, and how ListLaunches
//! filters, sorts and pages. CacheDB and the OperationsDB fallback feed the very same functions,
//! so the two can never answer differently.

use astro_shared::{AppError, AppResult, paging::QueryKey};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Statuses a launch can be booked in.
const OPEN_STATUSES: [&str; 2] = ["SCHEDULED", "DELAYED"];

/// One launch as the catalogue keeps it: what CatalogueLaunch shows, in OperationsDB's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: Uuid,
    pub slug: String,
    pub agency_id: Uuid,
    pub agency_name: String,
    pub rocket_name: String,
    /// `SUBORBITAL`, `LOW_EARTH_ORBIT` or `INTERPLANETARY`.
    pub range: String,
    pub spaceport: String,
    pub destination: String,
    pub scheduled_at: DateTime<Utc>,
    pub price_minor: i64,
    pub currency: String,
    /// `SCHEDULED`, `DELAYED`, `ABORTED`, `SUCCESSFUL` or `FAILED`.
    pub status: String,
    pub capacity: i32,
    pub seats_available: i32,
    /// When this entry was read from OperationsDB.
    pub refreshed_at: DateTime<Utc>,
}

impl Entry {
    /// SCHEDULED or DELAYED, in the future, seats left: the catalogue's one rule. Applied when
    /// an entry is written and again when it is read, because time passes in between.
    pub fn bookable_at(&self, now: DateTime<Utc>) -> bool {
        OPEN_STATUSES.contains(&self.status.as_str())
            && self.scheduled_at > now
            && self.seats_available > 0
    }
}

/// What ListLaunches sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    Date,
    Price,
}

impl SortField {
    /// The value an entry sorts by (ties are broken by id).
    fn key(self, entry: &Entry) -> i64 {
        match self {
            Self::Date => entry.scheduled_at.timestamp_micros(),
            Self::Price => entry.price_minor,
        }
    }

    /// The field's name in a query's key.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Date => "date",
            Self::Price => "price",
        }
    }
}

/// The price bounds of a query, in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceFilter {
    pub currency: String,
    pub min: Option<i64>,
    pub max: Option<i64>,
}

/// What a ListLaunches request selects, validated: text filters lower-cased, `min_seats` at
/// least 1 (a bookable launch has a seat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filters {
    pub destination: Option<String>,
    pub spaceport: Option<String>,
    /// A rocket range as stored (`LOW_EARTH_ORBIT`).
    pub range: Option<&'static str>,
    /// Inclusive.
    pub departs_after: Option<DateTime<Utc>>,
    /// Exclusive.
    pub departs_before: Option<DateTime<Utc>>,
    pub price: Option<PriceFilter>,
    pub min_seats: i32,
}

impl Filters {
    /// Whether a bookable entry passes the filters.
    fn matches(&self, entry: &Entry) -> bool {
        let same_text = |filter: &Option<String>, value: &str| {
            filter
                .as_deref()
                .is_none_or(|filter| value.trim().to_lowercase() == filter)
        };
        same_text(&self.destination, &entry.destination)
            && same_text(&self.spaceport, &entry.spaceport)
            && self.range.is_none_or(|range| entry.range == range)
            && self
                .departs_after
                .is_none_or(|after| entry.scheduled_at >= after)
            && self
                .departs_before
                .is_none_or(|before| entry.scheduled_at < before)
            && self.price.as_ref().is_none_or(|price| {
                entry.currency == price.currency
                    && price.min.is_none_or(|min| entry.price_minor >= min)
                    && price.max.is_none_or(|max| entry.price_minor <= max)
            })
            && entry.seats_available >= self.min_seats
    }
}

/// Where a page starts: just after the entry with this sort key and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub key: i64,
    pub id: Uuid,
}

/// A validated ListLaunches request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub filters: Filters,
    pub sort: SortField,
    pub descending: bool,
    pub page_size: usize,
    /// The filters and order the page tokens belong to.
    pub key: QueryKey,
    /// `None` for the first page.
    pub after: Option<Cursor>,
}

impl ListQuery {
    /// The (key, id) an entry sorts by, in ascending terms.
    fn position(&self, entry: &Entry) -> (i64, Uuid) {
        (self.sort.key(entry), entry.id)
    }
}

/// One page of the catalogue, borrowed from the entries it was selected from: a list call
/// renders it straight from the held snapshot instead of copying 20 entries first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection<'a> {
    pub launches: Vec<&'a Entry>,
    /// Empty on the last page.
    pub next_page_token: String,
    /// Matches across all pages.
    pub total_size: usize,
}

/// The page `query` asks for among `entries` (bookable or not; only bookable ones at `now` are
/// shown): filters, then sorts (ties by id), then pages by keyset, so an entry removed between
/// two pages does not shift the next one.
pub fn select<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    query: &ListQuery,
    now: DateTime<Utc>,
) -> Selection<'a> {
    let mut matching: Vec<&Entry> = entries
        .into_iter()
        .filter(|entry| entry.bookable_at(now) && query.filters.matches(entry))
        .collect();
    matching.sort_by(|a, b| {
        let order = query.position(a).cmp(&query.position(b));
        if query.descending {
            order.reverse()
        } else {
            order
        }
    });
    let total_size = matching.len();
    let start = query.after.map_or(0, |cursor| {
        let cursor = (cursor.key, cursor.id);
        matching.partition_point(|entry| {
            let position = query.position(entry);
            if query.descending {
                position >= cursor
            } else {
                position <= cursor
            }
        })
    });
    let rest = &matching[start..];
    let page: Vec<&Entry> = rest.iter().take(query.page_size).copied().collect();
    let next_page_token = match page.last() {
        Some(last) if rest.len() > page.len() => query.key.token(&Cursor {
            key: query.sort.key(last),
            id: last.id,
        }),
        _ => String::new(),
    };
    Selection {
        launches: page,
        next_page_token,
        total_size,
    }
}

/// How GetLaunch names a launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchKey {
    Id(Uuid),
    Slug(String),
}

impl LaunchKey {
    /// A UUID is an id; anything else is a slug (slugs are lower case, so the lookup is too).
    pub fn parse(id_or_slug: &str) -> AppResult<Self> {
        let trimmed = id_or_slug.trim();
        if trimmed.is_empty() {
            return Err(AppError::invalid("id_or_slug", "is required"));
        }
        Ok(trimmed
            .parse::<Uuid>()
            .map_or_else(|_| Self::Slug(trimmed.to_lowercase()), Self::Id))
    }

    /// Whether `entry` is the launch this key names.
    pub fn names(&self, entry: &Entry) -> bool {
        match self {
            Self::Id(id) => entry.id == *id,
            Self::Slug(slug) => entry.slug == *slug,
        }
    }
}

/// Where a CATALOGUE sync job stands (SyncCatalogue's resume token): when it started, how many
/// launches it covers, and the last launch written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncPosition {
    /// µs since the epoch: the job's first read, before which everything is gone at the end.
    pub started_us: i64,
    pub total: i64,
    pub after: Uuid,
}

impl SyncPosition {
    /// When the job started; a forged position out of range is the client's mistake.
    pub fn started(&self) -> AppResult<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.started_us)
            .ok_or_else(|| AppError::invalid("page_token", "is not a token of this sync job"))
    }
}

/// A bookable entry for the tests of the catalogue's rules: launch `n`, `days` after `now`, at
/// `price` USD minor units, with 10 of 10 seats free.
#[cfg(test)]
pub(crate) fn sample_entry(n: u128, days: i64, price: i64, now: DateTime<Utc>) -> Entry {
    Entry {
        id: Uuid::from_u128(n),
        slug: format!("launch-{n}"),
        agency_id: Uuid::from_u128(1000),
        agency_name: "Agency".into(),
        rocket_name: "Rocket".into(),
        range: "INTERPLANETARY".into(),
        spaceport: "Cape Canaveral".into(),
        destination: "Moon".into(),
        scheduled_at: now + chrono::Duration::days(days),
        price_minor: price,
        currency: "USD".into(),
        status: "SCHEDULED".into(),
        capacity: 10,
        seats_available: 10,
        refreshed_at: now,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;
    use crate::domain::field_of;

    #[test]
    fn launch_keys_are_ids_or_lower_case_slugs() {
        let now = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        let id = Uuid::from_u128(7);
        assert_eq!(
            LaunchKey::parse(&id.to_string()).unwrap(),
            LaunchKey::Id(id)
        );
        assert_eq!(
            LaunchKey::parse(" Falcon-X-Moon ").unwrap(),
            LaunchKey::Slug("falcon-x-moon".into())
        );
        assert_eq!(field_of(LaunchKey::parse("  ").unwrap_err()), "id_or_slug");
        assert!(LaunchKey::Slug("launch-7".into()).names(&sample_entry(7, 1, 1, now)));
        assert!(LaunchKey::Id(id).names(&sample_entry(7, 1, 1, now)));
    }
}
