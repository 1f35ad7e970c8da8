//! Adapters of the catalogue RPCs (public ListLaunches/GetLaunch, internal
//! RefreshCatalogueEntries/SyncCatalogue): decode and validate the request into the catalogue's
//! domain query, and encode its answers.

use astro_proto::astrobookings::{
    booking::v1::{
        CatalogueLaunch, CatalogueSortField, ListLaunchesRequest, ListLaunchesResponse,
        SyncCatalogueRequest, SyncCatalogueResponse,
    },
    common::v1::{LaunchStatus, RocketRange, SortOrder},
};
use astro_shared::{
    AppError, AppResult,
    convert::{from_timestamp, money, timestamp},
    paging::{QueryKey, page_size, sort_descending},
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    app::{PageRequest, catalogue::SyncBatch},
    domain::catalogue::{
        Entry, Filters, ListQuery, PriceFilter, Selection, SortField, SyncPosition,
    },
};

/// Page size of ListLaunches: default and maximum.
pub const PAGE_DEFAULT: u32 = 20;
pub const PAGE_MAX: u32 = 100;
/// Most launch ids one RefreshCatalogueEntries call takes.
const REFRESH_MAX_IDS: usize = 500;
/// Launches per SyncCatalogue batch: default and maximum.
const SYNC_BATCH_DEFAULT: u32 = 200;
const SYNC_BATCH_MAX: u32 = 1_000;

fn range(name: &str) -> RocketRange {
    match name {
        "SUBORBITAL" => RocketRange::Suborbital,
        "LOW_EARTH_ORBIT" => RocketRange::LowEarthOrbit,
        "INTERPLANETARY" => RocketRange::Interplanetary,
        _ => RocketRange::Unspecified,
    }
}

fn status(name: &str) -> LaunchStatus {
    match name {
        "SCHEDULED" => LaunchStatus::Scheduled,
        "DELAYED" => LaunchStatus::Delayed,
        "ABORTED" => LaunchStatus::Aborted,
        "SUCCESSFUL" => LaunchStatus::Successful,
        "FAILED" => LaunchStatus::Failed,
        _ => LaunchStatus::Unspecified,
    }
}

pub fn launch(entry: &Entry, bookable: bool) -> CatalogueLaunch {
    CatalogueLaunch {
        id: entry.id.to_string(),
        slug: entry.slug.clone(),
        agency_id: entry.agency_id.to_string(),
        agency_name: entry.agency_name.clone(),
        rocket_name: entry.rocket_name.clone(),
        range: range(&entry.range).into(),
        spaceport: entry.spaceport.clone(),
        destination: entry.destination.clone(),
        scheduled_at: Some(timestamp(entry.scheduled_at)),
        price_per_seat: Some(money(entry.price_minor, &entry.currency)),
        status: status(&entry.status).into(),
        capacity: entry.capacity,
        seats_available: entry.seats_available.max(0),
        bookable,
        refreshed_at: Some(timestamp(entry.refreshed_at)),
    }
}

pub fn list_response(selection: &Selection<'_>) -> ListLaunchesResponse {
    ListLaunchesResponse {
        launches: selection
            .launches
            .iter()
            .map(|&entry| launch(entry, true))
            .collect(),
        next_page_token: selection.next_page_token.clone(),
        total_size: i32::try_from(selection.total_size).unwrap_or(i32::MAX),
    }
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

fn filters(request: &ListLaunchesRequest) -> AppResult<Filters> {
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
    Ok(Filters {
        destination,
        spaceport,
        range,
        departs_after,
        departs_before,
        price,
        min_seats,
    })
}

/// ListLaunches' tokens belong to its filters and order (never to the page size).
fn list_key(filters: &Filters, sort: SortField, descending: bool) -> QueryKey {
    let micros = |time: Option<DateTime<Utc>>| {
        time.map(|time| time.timestamp_micros().to_string())
            .unwrap_or_default()
    };
    let number = |value: Option<i64>| value.map(|value| value.to_string()).unwrap_or_default();
    let price = filters.price.as_ref();
    QueryKey::of(&[
        "ListLaunches",
        filters.destination.as_deref().unwrap_or_default(),
        filters.spaceport.as_deref().unwrap_or_default(),
        filters.range.unwrap_or_default(),
        &micros(filters.departs_after),
        &micros(filters.departs_before),
        price
            .map(|price| price.currency.as_str())
            .unwrap_or_default(),
        &number(price.and_then(|price| price.min)),
        &number(price.and_then(|price| price.max)),
        &filters.min_seats.to_string(),
        sort.as_str(),
        if descending { "desc" } else { "asc" },
    ])
}

/// A ListLaunches request as the catalogue's query; every refusal names its field.
pub fn list_query(request: &ListLaunchesRequest) -> AppResult<ListQuery> {
    let filters = filters(request)?;
    let sort = match CatalogueSortField::try_from(request.sort_by) {
        Ok(CatalogueSortField::Unspecified | CatalogueSortField::Date) => SortField::Date,
        Ok(CatalogueSortField::Price) => SortField::Price,
        Err(_) => return Err(AppError::invalid("sort_by", "unknown sort field")),
    };
    let descending = sort_descending(request.order, SortOrder::Ascending)?;
    let page_size = page_size(request.page_size, PAGE_DEFAULT, PAGE_MAX)? as usize;
    let key = list_key(&filters, sort, descending);
    let after = key.position(&request.page_token)?;
    Ok(ListQuery {
        filters,
        sort,
        descending,
        page_size,
        key,
        after,
    })
}

/// RefreshCatalogueEntries' launch ids: 1 to [`REFRESH_MAX_IDS`] UUIDs.
pub fn refresh_ids(launch_ids: &[String]) -> AppResult<Vec<Uuid>> {
    if launch_ids.is_empty() {
        return Err(AppError::invalid(
            "launch_ids",
            "at least one id is required",
        ));
    }
    if launch_ids.len() > REFRESH_MAX_IDS {
        return Err(AppError::invalid(
            "launch_ids",
            format!("at most {REFRESH_MAX_IDS} ids per call"),
        ));
    }
    launch_ids
        .iter()
        .enumerate()
        .map(|(index, id)| {
            id.trim()
                .parse::<Uuid>()
                .map_err(|_| AppError::invalid(format!("launch_ids[{index}]"), "is not a UUID"))
        })
        .collect()
}

/// A sync job's resume tokens belong to the job.
fn sync_key(job_id: &str) -> QueryKey {
    QueryKey::of(&["SyncCatalogue", job_id])
}

/// The batch a SyncCatalogue request asks for: its job, size and where the job stands.
pub fn sync_page(request: &SyncCatalogueRequest) -> AppResult<PageRequest<SyncPosition>> {
    let job_id = request.job_id.trim();
    if job_id.is_empty() {
        return Err(AppError::invalid("job_id", "is required"));
    }
    let limit = match u32::try_from(request.batch_size) {
        Err(_) => return Err(AppError::invalid("batch_size", "must not be negative")),
        Ok(0) => SYNC_BATCH_DEFAULT,
        Ok(size) => size.min(SYNC_BATCH_MAX),
    };
    let key = sync_key(job_id);
    Ok(PageRequest {
        key,
        limit,
        after: key.position(&request.page_token)?,
    })
}

pub fn sync_response(batch: &SyncBatch) -> SyncCatalogueResponse {
    SyncCatalogueResponse {
        items_total: batch.items_total,
        items_processed: i32::try_from(batch.items_processed).unwrap_or(i32::MAX),
        // A batch is written atomically: it fails as a whole (and is retried with the same
        // token), never launch by launch.
        items_failed: 0,
        errors: Vec::new(),
        next_page_token: batch.next_page_token.clone(),
        items_changed: i32::try_from(batch.items_changed).unwrap_or(i32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use chrono::TimeZone as _;

    use super::*;
    use crate::domain::catalogue::{sample_entry, select};
    use crate::domain::field_of;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
    }

    fn entry(n: u128, days: i64, price: i64) -> Entry {
        sample_entry(n, days, price, now())
    }

    fn query(request: ListLaunchesRequest) -> ListQuery {
        list_query(&request).unwrap()
    }

    fn ids(selection: &Selection<'_>) -> Vec<u128> {
        selection
            .launches
            .iter()
            .map(|entry| entry.id.as_u128())
            .collect()
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
            .iter()
            .filter(|e| e.id.as_u128() != 2)
            .cloned()
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
        let refused = |request: ListLaunchesRequest| field_of(list_query(&request).unwrap_err());
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
        // Forged tokens: the header of a genuine token of this query (its version byte and the
        // query's fingerprint, 9 bytes) followed by a position that is none; "" is no token at
        // all (the first page), and "c1" (once the version mark alone) is a token cut after its
        // version byte.
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let genuine = engine
            .decode(
                query(ListLaunchesRequest::default())
                    .key
                    .token(&(0_i64, Uuid::nil())),
            )
            .unwrap();
        let header = &genuine[..9];
        for token in ["garbage", "Yz", "", "c1"] {
            let page_token = match token {
                "" => String::new(),
                "c1" => engine.encode(&header[..1]),
                position => engine.encode([header, position.as_bytes()].concat()),
            };
            let request = ListLaunchesRequest {
                page_token,
                ..Default::default()
            };
            if token.is_empty() {
                assert!(list_query(&request).is_ok());
            } else {
                assert_eq!(refused(request), "page_token", "{token}");
            }
        }
        // The same values as whole tokens, and a token of the old "c1." format.
        let old_format = format!("c1.{:016x}.0.{}", 0x1234_u64, Uuid::nil());
        for token in ["garbage", "Yz", "c1", old_format.as_str()] {
            let request = ListLaunchesRequest {
                page_token: engine.encode(token),
                ..Default::default()
            };
            assert_eq!(refused(request), "page_token", "{token}");
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
            field_of(list_query(&other_filters).unwrap_err()),
            "page_token"
        );
        let other_order = ListLaunchesRequest {
            order: SortOrder::Descending.into(),
            page_token: first.next_page_token.clone(),
            ..Default::default()
        };
        assert!(list_query(&other_order).is_err());
        let other_page_size = ListLaunchesRequest {
            page_size: 50,
            page_token: first.next_page_token,
            ..Default::default()
        };
        assert!(list_query(&other_page_size).is_ok());
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
    fn sync_tokens_round_trip_and_belong_to_one_job() {
        let request = |job_id: &str, page_token: String| SyncCatalogueRequest {
            job_id: job_id.into(),
            page_token,
            ..Default::default()
        };
        let first = sync_page(&request("job-1", String::new())).unwrap();
        assert_eq!(first.after, None);
        assert_eq!(first.limit, SYNC_BATCH_DEFAULT);
        let position = SyncPosition {
            started_us: 1_800_000_000_123_456,
            total: 42,
            after: Uuid::new_v4(),
        };
        let token = first.key.token(&position);
        let resumed = sync_page(&request("job-1", token.clone())).unwrap();
        assert_eq!(resumed.after, Some(position));
        assert_eq!(
            position.started().unwrap(),
            DateTime::from_timestamp_micros(1_800_000_000_123_456).unwrap()
        );
        assert_eq!(
            field_of(sync_page(&request("job-2", token)).unwrap_err()),
            "page_token"
        );
        assert_eq!(
            field_of(sync_page(&request("job-1", "garbage".into())).unwrap_err()),
            "page_token"
        );
        let out_of_range = SyncPosition {
            started_us: i64::MAX,
            ..position
        };
        assert_eq!(field_of(out_of_range.started().unwrap_err()), "page_token");
    }
}
