//! The catalogue's rules as pure functions over entries: what is bookable, how ListLaunches
//! filters, sorts and pages, and its page tokens. CacheDB and the OperationsDB fallback feed the
//! very same functions, so the two can never answer differently.

use astro_proto::astrobookings::{
    booking::v1::{CatalogueSortField, ListLaunchesRequest},
    common::v1::{RocketRange, SortOrder},
};
use astro_shared::{AppError, AppResult, convert::from_timestamp, paging::page_size};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Page size of ListLaunches: default and maximum.
pub const PAGE_DEFAULT: u32 = 20;
pub const PAGE_MAX: u32 = 100;

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
}

/// The price bounds of a query, in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PriceFilter {
    currency: String,
    min: Option<i64>,
    max: Option<i64>,
}

/// Where a page starts: just after the entry with this sort key and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    key: i64,
    id: Uuid,
}

/// A validated ListLaunches request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    destination: Option<String>,
    spaceport: Option<String>,
    range: Option<&'static str>,
    departs_after: Option<DateTime<Utc>>,
    departs_before: Option<DateTime<Utc>>,
    price: Option<PriceFilter>,
    min_seats: i32,
    sort: SortField,
    descending: bool,
    page_size: usize,
    after: Option<Cursor>,
    /// Identifies the filters and order a page token belongs to.
    fingerprint: u64,
}

/// One page of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub launches: Vec<Entry>,
    /// Empty on the last page.
    pub next_page_token: String,
    /// Matches across all pages.
    pub total_size: usize,
}

/// A case-insensitive exact-match filter: `None` when empty.
fn text_filter(value: &str) -> Option<String> {
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_lowercase())
}

fn range_name(value: i32) -> AppResult<Option<&'static str>> {
    match RocketRange::try_from(value) {
        Ok(RocketRange::Unspecified) => Ok(None),
        Ok(RocketRange::Suborbital) => Ok(Some("SUBORBITAL")),
        Ok(RocketRange::LowEarthOrbit) => Ok(Some("LOW_EARTH_ORBIT")),
        Ok(RocketRange::Interplanetary) => Ok(Some("INTERPLANETARY")),
        Err(_) => Err(AppError::invalid("range", "unknown rocket range")),
    }
}

fn time_bound(
    field: &str,
    value: Option<&prost_types::Timestamp>,
) -> AppResult<Option<DateTime<Utc>>> {
    match value {
        None => Ok(None),
        Some(time) => from_timestamp(Some(time))
            .map(Some)
            .ok_or_else(|| AppError::invalid(field, "is not a valid timestamp")),
    }
}

/// An ISO 4217 code: three letters, upper-cased; empty means USD.
fn currency(value: &str) -> AppResult<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Ok("USD".to_owned());
    }
    if trimmed.len() == 3 && trimmed.bytes().all(|byte| byte.is_ascii_alphabetic()) {
        Ok(trimmed.to_ascii_uppercase())
    } else {
        Err(AppError::invalid(
            "currency",
            "must be a three-letter ISO 4217 code",
        ))
    }
}

fn price_bound(field: &str, value: Option<i64>) -> AppResult<Option<i64>> {
    match value {
        Some(amount) if amount < 0 => Err(AppError::invalid(field, "must not be negative")),
        other => Ok(other),
    }
}

/// FNV-1a, stable across builds (unlike `std`'s hasher), over the parts with a separator.
fn fingerprint(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0xff)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

fn invalid_token() -> AppError {
    AppError::invalid(
        "page_token",
        "is not a token from a previous page of this query",
    )
}

fn encode_token(fingerprint: u64, cursor: Cursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "c1.{fingerprint:016x}.{}.{}",
        cursor.key, cursor.id
    ))
}

fn decode_token(token: &str, fingerprint: u64) -> AppResult<Option<Cursor>> {
    if token.is_empty() {
        return Ok(None);
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid_token())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid_token())?;
    let mut parts = text.split('.');
    let (Some("c1"), Some(mark), Some(key), Some(id), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(invalid_token());
    };
    if mark != format!("{fingerprint:016x}") {
        return Err(invalid_token());
    }
    Ok(Some(Cursor {
        key: key.parse().map_err(|_| invalid_token())?,
        id: id.parse().map_err(|_| invalid_token())?,
    }))
}

impl ListQuery {
    /// Validates a request; every refusal names its field.
    pub fn parse(request: &ListLaunchesRequest) -> AppResult<Self> {
        let destination = text_filter(&request.destination);
        let spaceport = text_filter(&request.spaceport);
        let range = range_name(request.range)?;
        let departs_after = time_bound("departs_after", request.departs_after.as_ref())?;
        let departs_before = time_bound("departs_before", request.departs_before.as_ref())?;
        if let (Some(after), Some(before)) = (departs_after, departs_before)
            && before <= after
        {
            return Err(AppError::invalid(
                "departs_before",
                "must be later than departs_after",
            ));
        }
        let currency = currency(&request.currency)?;
        let min_price = price_bound("min_price_minor", request.min_price_minor)?;
        let max_price = price_bound("max_price_minor", request.max_price_minor)?;
        if let (Some(min), Some(max)) = (min_price, max_price)
            && min > max
        {
            return Err(AppError::invalid(
                "max_price_minor",
                "must not be below min_price_minor",
            ));
        }
        // The currency only filters together with a bound, as the contract says.
        let price = (min_price.is_some() || max_price.is_some()).then_some(PriceFilter {
            currency,
            min: min_price,
            max: max_price,
        });
        let min_seats = match request.min_seats_available {
            seats if seats < 0 => {
                return Err(AppError::invalid(
                    "min_seats_available",
                    "must not be negative",
                ));
            }
            0 => 1,
            seats => seats,
        };
        let sort = match CatalogueSortField::try_from(request.sort_by) {
            Ok(CatalogueSortField::Unspecified | CatalogueSortField::Date) => SortField::Date,
            Ok(CatalogueSortField::Price) => SortField::Price,
            Err(_) => return Err(AppError::invalid("sort_by", "unknown sort field")),
        };
        let descending = match SortOrder::try_from(request.order) {
            Ok(SortOrder::Unspecified | SortOrder::Ascending) => false,
            Ok(SortOrder::Descending) => true,
            Err(_) => return Err(AppError::invalid("order", "unknown sort order")),
        };
        let page_size = page_size(request.page_size, PAGE_DEFAULT, PAGE_MAX)? as usize;
        let micros = |time: Option<DateTime<Utc>>| {
            time.map(|time| time.timestamp_micros().to_string())
                .unwrap_or_default()
        };
        let number = |value: Option<i64>| value.map(|value| value.to_string()).unwrap_or_default();
        let fingerprint = fingerprint(&[
            destination.as_deref().unwrap_or_default(),
            spaceport.as_deref().unwrap_or_default(),
            range.unwrap_or_default(),
            &micros(departs_after),
            &micros(departs_before),
            price
                .as_ref()
                .map(|price| price.currency.as_str())
                .unwrap_or_default(),
            &number(min_price),
            &number(max_price),
            &min_seats.to_string(),
            if sort == SortField::Date {
                "date"
            } else {
                "price"
            },
            if descending { "desc" } else { "asc" },
        ]);
        let after = decode_token(&request.page_token, fingerprint)?;
        Ok(Self {
            destination,
            spaceport,
            range,
            departs_after,
            departs_before,
            price,
            min_seats,
            sort,
            descending,
            page_size,
            after,
            fingerprint,
        })
    }

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

    /// The (key, id) an entry sorts by, in ascending terms.
    fn position(&self, entry: &Entry) -> (i64, Uuid) {
        (self.sort.key(entry), entry.id)
    }
}

/// The page `query` asks for among `entries` (bookable or not; only bookable ones at `now` are
/// shown): filters, then sorts (ties by id), then pages by keyset.
pub fn select<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    query: &ListQuery,
    now: DateTime<Utc>,
) -> Selection {
    let mut matching: Vec<&Entry> = entries
        .into_iter()
        .filter(|entry| entry.bookable_at(now) && query.matches(entry))
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
    let page: Vec<Entry> = rest
        .iter()
        .take(query.page_size)
        .map(|entry| (*entry).clone())
        .collect();
    let next_page_token = match page.last() {
        Some(last) if rest.len() > page.len() => encode_token(
            query.fingerprint,
            Cursor {
                key: query.sort.key(last),
                id: last.id,
            },
        ),
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
    }

    fn entry(n: u128, days: i64, price: i64) -> Entry {
        Entry {
            id: Uuid::from_u128(n),
            slug: format!("launch-{n}"),
            agency_id: Uuid::from_u128(1000),
            agency_name: "Agency".into(),
            rocket_name: "Rocket".into(),
            range: "INTERPLANETARY".into(),
            spaceport: "Cape Canaveral".into(),
            destination: "Moon".into(),
            scheduled_at: now() + chrono::Duration::days(days),
            price_minor: price,
            currency: "USD".into(),
            status: "SCHEDULED".into(),
            capacity: 10,
            seats_available: 10,
            refreshed_at: now(),
        }
    }

    fn query(request: ListLaunchesRequest) -> ListQuery {
        ListQuery::parse(&request).unwrap()
    }

    fn ids(selection: &Selection) -> Vec<u128> {
        selection
            .launches
            .iter()
            .map(|entry| entry.id.as_u128())
            .collect()
    }

    fn field_of(error: AppError) -> String {
        match error {
            AppError::InvalidArgument { field, .. } => field,
            other => panic!("not a field error: {other:?}"),
        }
    }

    fn at(days: i64) -> Option<prost_types::Timestamp> {
        Some(astro_shared::convert::timestamp(
            now() + chrono::Duration::days(days),
        ))
    }

    #[test]
    fn only_open_future_launches_with_seats_are_shown() {
        let mut aborted = entry(2, 10, 100);
        aborted.status = "ABORTED".into();
        let mut delayed = entry(3, 10, 100);
        delayed.status = "DELAYED".into();
        let mut sold_out = entry(4, 10, 100);
        sold_out.seats_available = 0;
        let past = entry(5, -1, 100);
        let entries = [entry(1, 10, 100), aborted, delayed, sold_out, past];
        let selection = select(&entries, &query(ListLaunchesRequest::default()), now());
        assert_eq!(ids(&selection), [1, 3]);
        assert_eq!(selection.total_size, 2);
        assert!(selection.next_page_token.is_empty());
    }

    #[test]
    fn filters_match_destination_spaceport_range_window_price_and_seats() {
        let mut mars = entry(2, 20, 300);
        mars.destination = "Mars".into();
        mars.spaceport = "Baikonur".into();
        mars.range = "LOW_EARTH_ORBIT".into();
        let mut euro = entry(3, 30, 200);
        euro.currency = "EUR".into();
        let mut few_seats = entry(4, 40, 400);
        few_seats.seats_available = 2;
        let entries = [entry(1, 10, 100), mars, euro, few_seats];
        let run = |request: ListLaunchesRequest| ids(&select(&entries, &query(request), now()));

        let by_destination = ListLaunchesRequest {
            destination: " mARS ".into(),
            ..Default::default()
        };
        assert_eq!(run(by_destination), [2]);
        let by_spaceport = ListLaunchesRequest {
            spaceport: "baikonur".into(),
            ..Default::default()
        };
        assert_eq!(run(by_spaceport), [2]);
        let by_range = ListLaunchesRequest {
            range: RocketRange::Interplanetary.into(),
            ..Default::default()
        };
        assert_eq!(run(by_range), [1, 3, 4]);
        let window = ListLaunchesRequest {
            departs_after: at(20),
            departs_before: at(40),
            ..Default::default()
        };
        assert_eq!(run(window), [2, 3], "after is inclusive, before exclusive");
        let usd_price = ListLaunchesRequest {
            min_price_minor: Some(150),
            max_price_minor: Some(400),
            ..Default::default()
        };
        assert_eq!(run(usd_price), [2, 4], "USD by default, bounds inclusive");
        let euro_price = ListLaunchesRequest {
            max_price_minor: Some(1_000),
            currency: "eur".into(),
            ..Default::default()
        };
        assert_eq!(run(euro_price), [3]);
        let currency_alone = ListLaunchesRequest {
            currency: "EUR".into(),
            ..Default::default()
        };
        assert_eq!(run(currency_alone), [1, 2, 3, 4], "no bound, no filter");
        let seats = ListLaunchesRequest {
            min_seats_available: 3,
            ..Default::default()
        };
        assert_eq!(run(seats), [1, 2, 3]);
    }

    #[test]
    fn sorts_by_date_or_price_both_ways_with_ties_by_id() {
        let entries = [
            entry(1, 30, 200),
            entry(2, 10, 300),
            entry(3, 20, 200),
            entry(4, 40, 100),
        ];
        let run = |sort_by: CatalogueSortField, order: SortOrder| {
            let request = ListLaunchesRequest {
                sort_by: sort_by.into(),
                order: order.into(),
                ..Default::default()
            };
            ids(&select(&entries, &query(request), now()))
        };
        assert_eq!(
            run(CatalogueSortField::Unspecified, SortOrder::Unspecified),
            [2, 3, 1, 4]
        );
        assert_eq!(
            run(CatalogueSortField::Date, SortOrder::Descending),
            [4, 1, 3, 2]
        );
        assert_eq!(
            run(CatalogueSortField::Price, SortOrder::Ascending),
            [4, 1, 3, 2]
        );
        assert_eq!(
            run(CatalogueSortField::Price, SortOrder::Descending),
            [2, 3, 1, 4]
        );
    }

    #[test]
    fn pages_follow_their_tokens_to_the_end_in_both_directions() {
        let entries: Vec<Entry> = (1..=7)
            .map(|n| entry(n, 10, 100 * (i64::try_from(n).unwrap() % 3)))
            .filter(|entry| entry.price_minor > 0)
            .chain([entry(8, 10, 100), entry(9, 10, 100)])
            .collect();
        for order in [SortOrder::Ascending, SortOrder::Descending] {
            let mut request = ListLaunchesRequest {
                sort_by: CatalogueSortField::Price.into(),
                order: order.into(),
                page_size: 2,
                ..Default::default()
            };
            let all = ids(&select(
                &entries,
                &query(ListLaunchesRequest {
                    page_size: 100,
                    ..request.clone()
                }),
                now(),
            ));
            let mut paged = Vec::new();
            loop {
                let page = select(&entries, &query(request.clone()), now());
                assert_eq!(page.total_size, entries.len());
                assert!(page.launches.len() <= 2);
                paged.extend(ids(&page));
                if page.next_page_token.is_empty() {
                    break;
                }
                request.page_token = page.next_page_token;
            }
            assert_eq!(paged, all, "{order:?}");
            assert_eq!(paged.len(), entries.len());
        }
    }

    #[test]
    fn an_entry_removed_between_pages_does_not_shift_the_next_page() {
        let entries: Vec<Entry> = (1..=5).map(|n| entry(n, 10, 100)).collect();
        let first = select(
            &entries,
            &query(ListLaunchesRequest {
                page_size: 2,
                ..Default::default()
            }),
            now(),
        );
        assert_eq!(ids(&first), [1, 2]);
        let remaining: Vec<Entry> = entries
            .into_iter()
            .filter(|e| e.id.as_u128() != 2)
            .collect();
        let second = select(
            &remaining,
            &query(ListLaunchesRequest {
                page_size: 2,
                page_token: first.next_page_token,
                ..Default::default()
            }),
            now(),
        );
        assert_eq!(ids(&second), [3, 4]);
    }

    #[test]
    fn bad_filters_and_tokens_are_refused_naming_the_field() {
        let refused =
            |request: ListLaunchesRequest| field_of(ListQuery::parse(&request).unwrap_err());
        assert_eq!(
            refused(ListLaunchesRequest {
                departs_after: at(10),
                departs_before: at(5),
                ..Default::default()
            }),
            "departs_before"
        );
        assert_eq!(
            refused(ListLaunchesRequest {
                min_price_minor: Some(10),
                max_price_minor: Some(5),
                ..Default::default()
            }),
            "max_price_minor"
        );
        assert_eq!(
            refused(ListLaunchesRequest {
                min_price_minor: Some(-1),
                ..Default::default()
            }),
            "min_price_minor"
        );
        for bad in ["US", "US1", "dollars", "€€€"] {
            assert_eq!(
                refused(ListLaunchesRequest {
                    currency: bad.into(),
                    ..Default::default()
                }),
                "currency",
                "{bad}"
            );
        }
        assert_eq!(
            refused(ListLaunchesRequest {
                page_size: -1,
                ..Default::default()
            }),
            "page_size"
        );
        assert_eq!(
            refused(ListLaunchesRequest {
                range: 99,
                ..Default::default()
            }),
            "range"
        );
        assert_eq!(
            refused(ListLaunchesRequest {
                sort_by: 99,
                ..Default::default()
            }),
            "sort_by"
        );
        assert_eq!(
            refused(ListLaunchesRequest {
                order: 99,
                ..Default::default()
            }),
            "order"
        );
        assert_eq!(
            refused(ListLaunchesRequest {
                min_seats_available: -2,
                ..Default::default()
            }),
            "min_seats_available"
        );
        assert_eq!(
            refused(ListLaunchesRequest {
                departs_after: Some(prost_types::Timestamp {
                    seconds: 0,
                    nanos: -5
                }),
                ..Default::default()
            }),
            "departs_after"
        );
        for token in ["garbage", "Yz", "", "c1"] {
            let request = ListLaunchesRequest {
                page_token: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token),
                ..Default::default()
            };
            if token.is_empty() {
                assert!(ListQuery::parse(&request).is_ok());
            } else {
                assert_eq!(refused(request), "page_token", "{token}");
            }
        }
        assert_eq!(
            refused(ListLaunchesRequest {
                page_token: "not base64 !".into(),
                ..Default::default()
            }),
            "page_token"
        );
    }

    #[test]
    fn a_token_only_continues_the_query_it_came_from() {
        let entries: Vec<Entry> = (1..=3).map(|n| entry(n, 10, 100)).collect();
        let first = select(
            &entries,
            &query(ListLaunchesRequest {
                page_size: 1,
                ..Default::default()
            }),
            now(),
        );
        let other_filters = ListLaunchesRequest {
            destination: "Mars".into(),
            page_token: first.next_page_token.clone(),
            ..Default::default()
        };
        assert_eq!(
            field_of(ListQuery::parse(&other_filters).unwrap_err()),
            "page_token"
        );
        let other_order = ListLaunchesRequest {
            order: SortOrder::Descending.into(),
            page_token: first.next_page_token.clone(),
            ..Default::default()
        };
        assert!(ListQuery::parse(&other_order).is_err());
        let other_page_size = ListLaunchesRequest {
            page_size: 50,
            page_token: first.next_page_token,
            ..Default::default()
        };
        assert!(ListQuery::parse(&other_page_size).is_ok());
    }

    #[test]
    fn page_sizes_default_to_20_and_stop_at_100() {
        let entries: Vec<Entry> = (1..=150).map(|n| entry(n, 10, 100)).collect();
        let default = select(&entries, &query(ListLaunchesRequest::default()), now());
        assert_eq!(default.launches.len(), 20);
        assert_eq!(default.total_size, 150);
        let big = select(
            &entries,
            &query(ListLaunchesRequest {
                page_size: 1000,
                ..Default::default()
            }),
            now(),
        );
        assert_eq!(big.launches.len(), 100);
    }

    #[test]
    fn launch_keys_are_ids_or_lower_case_slugs() {
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
        assert!(LaunchKey::Slug("launch-7".into()).names(&entry(7, 1, 1)));
        assert!(LaunchKey::Id(id).names(&entry(7, 1, 1)));
    }
}
