//! Activity logs: an entry, the filters of a listing or an export, and their rules. A producer's
//! entry is checked field by field (any bad field refuses the whole batch, naming it); a
//! listing pages on (time, id), stable however many entries share a millisecond.

use std::collections::{BTreeMap, HashMap};

use astro_proto::astrobookings::system::v1::LogLevel;
use astro_shared::{
    AppError,
    activity::{
        MAX_ATTRIBUTE_KEY_CHARS, MAX_ATTRIBUTE_VALUE_CHARS, MAX_ATTRIBUTES, MAX_EVENT_TYPE_CHARS,
        MAX_MESSAGE_CHARS, MAX_NAME_CHARS,
    },
    paging::QueryKey,
    text::csv_cell,
};
use chrono::{DateTime, Utc};

const MAX_QUERY_CHARS: usize = 200;

/// The header row of a CSV export, in [`csv_line`]'s column order.
pub const CSV_HEADER: &str = "time,service,level,event_type,user_id,trace_id,message\r\n";

/// One entry of a service's significant action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Chosen by the producer: a retried batch never duplicates.
    pub id: String,
    /// To the millisecond, as stored.
    pub time: DateTime<Utc>,
    pub service: String,
    pub level: LogLevel,
    pub event_type: String,
    /// Empty for system actions.
    pub user_id: String,
    /// Empty if none.
    pub trace_id: String,
    pub message: String,
    pub attributes: BTreeMap<String, String>,
}

/// The fields of one produced entry, as sent; `time` as (seconds, nanos) since the epoch.
pub struct RawEntry<'a> {
    pub id: &'a str,
    pub time: Option<(i64, i32)>,
    pub service: &'a str,
    pub level: i32,
    pub event_type: &'a str,
    pub user_id: &'a str,
    pub trace_id: &'a str,
    pub message: &'a str,
    pub attributes: &'a HashMap<String, String>,
}

impl LogRecord {
    /// Entry `index` of a batch, checked; errors name `entries[index].field`.
    pub fn parse(index: usize, entry: &RawEntry<'_>) -> Result<Self, AppError> {
        let field = |name: &str| format!("entries[{index}].{name}");
        let id = uuid::Uuid::parse_str(entry.id)
            .map_err(|_| AppError::invalid(field("id"), "must be a UUID"))?
            .to_string();
        let (seconds, nanos) = entry
            .time
            .ok_or_else(|| AppError::invalid(field("time"), "is required"))?;
        let time = to_millis(parse_time(&field("time"), seconds, nanos)?);
        let service = entry.service.trim();
        if service.is_empty() || service.chars().count() > MAX_NAME_CHARS {
            return Err(AppError::invalid(
                field("service"),
                "must be 1 to 100 characters",
            ));
        }
        let level = match LogLevel::try_from(entry.level) {
            Ok(LogLevel::Unspecified) | Err(_) => {
                return Err(AppError::invalid(
                    field("level"),
                    "must be DEBUG, INFO, WARN or ERROR",
                ));
            }
            Ok(level) => level,
        };
        let event_type = entry.event_type.trim();
        if event_type.is_empty()
            || event_type.chars().count() > MAX_EVENT_TYPE_CHARS
            || event_type
                .chars()
                .any(|character| character.is_whitespace() || character == '*')
        {
            return Err(AppError::invalid(
                field("event_type"),
                "must be 1 to 100 characters, without spaces or '*'",
            ));
        }
        if entry.user_id.chars().count() > MAX_NAME_CHARS {
            return Err(AppError::invalid(
                field("user_id"),
                "must be at most 100 characters",
            ));
        }
        if !entry.trace_id.is_empty() && !is_trace_id(entry.trace_id) {
            return Err(AppError::invalid(
                field("trace_id"),
                "must be empty or 32 lowercase hexadecimal digits",
            ));
        }
        if entry.message.trim().is_empty() || entry.message.chars().count() > MAX_MESSAGE_CHARS {
            return Err(AppError::invalid(
                field("message"),
                "must be 1 to 4,000 characters",
            ));
        }
        if entry.attributes.len() > MAX_ATTRIBUTES {
            return Err(AppError::invalid(
                field("attributes"),
                "must hold at most 32 entries",
            ));
        }
        for (key, value) in entry.attributes {
            if key.is_empty() || key.chars().count() > MAX_ATTRIBUTE_KEY_CHARS {
                return Err(AppError::invalid(
                    field("attributes"),
                    "keys must be 1 to 100 characters",
                ));
            }
            if value.chars().count() > MAX_ATTRIBUTE_VALUE_CHARS {
                return Err(AppError::invalid(
                    format!("entries[{index}].attributes[{key}]"),
                    "must be at most 500 characters",
                ));
            }
        }
        Ok(Self {
            id,
            time,
            service: service.to_owned(),
            level,
            event_type: event_type.to_owned(),
            user_id: entry.user_id.to_owned(),
            trace_id: entry.trace_id.to_owned(),
            message: entry.message.to_owned(),
            attributes: entry
                .attributes
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        })
    }
}

/// A time of request field `field`; INVALID_ARGUMENT outside what google.protobuf.Timestamp
/// allows (years 1 to 9999, nanos below a second).
pub fn parse_time(field: &str, seconds: i64, nanos: i32) -> Result<DateTime<Utc>, AppError> {
    const MIN_SECONDS: i64 = -62_135_596_800;
    const MAX_SECONDS: i64 = 253_402_300_799;
    let invalid = || AppError::invalid(field, "is not a valid timestamp");
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) {
        return Err(invalid());
    }
    let nanos = u32::try_from(nanos)
        .ok()
        .filter(|nanos| *nanos < 1_000_000_000)
        .ok_or_else(invalid)?;
    DateTime::from_timestamp(seconds, nanos).ok_or_else(invalid)
}

/// Entries are stored to the millisecond (SystemDB dates).
fn to_millis(time: DateTime<Utc>) -> DateTime<Utc> {
    super::to_millis(time)
}

/// Which entries a listing or an export returns; every field already checked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LogFilter {
    pub service: Option<String>,
    /// This level or more severe.
    pub min_level: Option<LogLevel>,
    pub user_id: Option<String>,
    pub event_type: Option<EventTypeFilter>,
    pub trace_id: Option<String>,
    /// Inclusive, to the millisecond.
    pub start: Option<DateTime<Utc>>,
    /// Exclusive, to the millisecond.
    pub end: Option<DateTime<Utc>>,
    /// Every word must occur in the message, case-insensitively.
    pub words: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTypeFilter {
    Exact(String),
    /// Event types starting with this (it ends with the dot: `auth.`).
    Prefix(String),
}

/// Sort direction by (time, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

/// The filter fields of ListLogs and ExportLogs, as sent; times as (seconds, nanos).
pub struct RawFilter<'a> {
    pub service: &'a str,
    pub min_level: i32,
    pub user_id: &'a str,
    pub event_type: &'a str,
    pub trace_id: &'a str,
    pub start_time: Option<(i64, i32)>,
    pub end_time: Option<(i64, i32)>,
    pub query: &'a str,
}

impl LogFilter {
    pub fn parse(raw: &RawFilter<'_>) -> Result<Self, AppError> {
        let service = optional_name("service", raw.service)?;
        let min_level = match LogLevel::try_from(raw.min_level) {
            Ok(LogLevel::Unspecified) => None,
            Ok(level) => Some(level),
            Err(_) => return Err(AppError::invalid("min_level", "is not a log level")),
        };
        let user_id = optional_name("user_id", raw.user_id)?;
        let event_type = event_type_filter(raw.event_type)?;
        let trace_id = match raw.trace_id.trim() {
            "" => None,
            trace_id if is_trace_id(&trace_id.to_ascii_lowercase()) => {
                Some(trace_id.to_ascii_lowercase())
            }
            _ => {
                return Err(AppError::invalid(
                    "trace_id",
                    "must be 32 hexadecimal digits",
                ));
            }
        };
        let start = raw
            .start_time
            .map(|(seconds, nanos)| parse_time("start_time", seconds, nanos))
            .transpose()?;
        let end = raw
            .end_time
            .map(|(seconds, nanos)| parse_time("end_time", seconds, nanos))
            .transpose()?;
        if let (Some(start), Some(end)) = (start, end)
            && end < start
        {
            return Err(AppError::invalid(
                "end_time",
                "must not be before start_time",
            ));
        }
        if raw.query.chars().count() > MAX_QUERY_CHARS {
            return Err(AppError::invalid("query", "must be at most 200 characters"));
        }
        Ok(Self {
            service,
            min_level,
            user_id,
            event_type,
            trace_id,
            start: start.map(to_millis),
            end: end.map(to_millis),
            words: raw.query.split_whitespace().map(str::to_owned).collect(),
        })
    }

    /// The query a ListLogs page token belongs to: every filter and the order.
    pub fn query_key(&self, order: Order) -> QueryKey {
        let millis = |time: Option<DateTime<Utc>>| {
            time.map_or_else(String::new, |time| time.timestamp_millis().to_string())
        };
        let level = self
            .min_level
            .map_or_else(String::new, |level| i32::from(level).to_string());
        let event_type = match &self.event_type {
            None => String::new(),
            Some(EventTypeFilter::Exact(event_type)) => format!("={event_type}"),
            Some(EventTypeFilter::Prefix(prefix)) => format!("^{prefix}"),
        };
        let (start, end) = (millis(self.start), millis(self.end));
        let mut parts = vec![
            "ListLogs",
            match order {
                Order::NewestFirst => "newest",
                Order::OldestFirst => "oldest",
            },
            self.service.as_deref().unwrap_or(""),
            &level,
            self.user_id.as_deref().unwrap_or(""),
            &event_type,
            self.trace_id.as_deref().unwrap_or(""),
            &start,
            &end,
        ];
        // Last: the only part of variable length.
        parts.extend(self.words.iter().map(String::as_str));
        QueryKey::of(&parts)
    }
}

fn optional_name(field: &str, value: &str) -> Result<Option<String>, AppError> {
    let value = value.trim();
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::invalid(field, "must be at most 100 characters"));
    }
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

/// An exact event type, or a prefix ending in `.*` (`auth.*`); `None` when empty.
fn event_type_filter(raw: &str) -> Result<Option<EventTypeFilter>, AppError> {
    let event_type = raw.trim();
    if event_type.is_empty() {
        return Ok(None);
    }
    if event_type.chars().count() > MAX_EVENT_TYPE_CHARS {
        return Err(AppError::invalid(
            "event_type",
            "must be at most 100 characters",
        ));
    }
    match event_type.strip_suffix('*') {
        Some(prefix) if prefix.len() > 1 && prefix.ends_with('.') && !prefix.contains('*') => {
            Ok(Some(EventTypeFilter::Prefix(prefix.to_owned())))
        }
        None if !event_type.contains('*') => {
            Ok(Some(EventTypeFilter::Exact(event_type.to_owned())))
        }
        _ => Err(AppError::invalid(
            "event_type",
            "must be an event type or a prefix ending in \".*\"",
        )),
    }
}

fn is_trace_id(text: &str) -> bool {
    text.len() == 32
        && text
            .bytes()
            .all(|digit| matches!(digit, b'0'..=b'9' | b'a'..=b'f'))
}

/// Where a ListLogs page starts: after this entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPosition {
    pub time: DateTime<Utc>,
    pub id: String,
}

impl LogPosition {
    /// The position after `record`, as a page token carries it: (milliseconds, id).
    pub fn after(record: &LogRecord) -> (i64, String) {
        (record.time.timestamp_millis(), record.id.clone())
    }

    /// The position a page token of `query` carries; `None` for the first page.
    pub fn of_token(query: QueryKey, token: &str) -> Result<Option<Self>, AppError> {
        let Some((millis, id)) = query.position::<(i64, String)>(token)? else {
            return Ok(None);
        };
        let time = DateTime::from_timestamp_millis(millis).ok_or_else(|| {
            AppError::invalid(
                "page_token",
                "is not a token from a previous page of this query",
            )
        })?;
        Ok(Some(Self { time, id }))
    }
}

/// One RFC 4180 record (CRLF-terminated) in [`CSV_HEADER`]'s column order. Every cell goes
/// through `csv_cell`: all of them are text that producers or users chose.
pub fn csv_line(record: &LogRecord) -> String {
    let time = record
        .time
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let level = record.level.as_str_name().trim_start_matches("LOG_LEVEL_");
    let cells = [
        time.as_str(),
        &record.service,
        level,
        &record.event_type,
        &record.user_id,
        &record.trace_id,
        &record.message,
    ];
    let mut line = cells
        .iter()
        .map(|cell| csv_cell(cell))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> LogRecord {
        LogRecord {
            id: uuid::Uuid::now_v7().to_string(),
            time: DateTime::from_timestamp_millis(1_700_000_000_123).expect("a time"),
            service: "booking-api".into(),
            level: LogLevel::Info,
            event_type: "booking.created".into(),
            user_id: String::new(),
            trace_id: String::new(),
            message: "created".into(),
            attributes: BTreeMap::new(),
        }
    }

    #[test]
    fn page_tokens_round_trip_and_are_bound_to_their_order() {
        let record = record();
        let filter = LogFilter::default();
        let newest = filter.query_key(Order::NewestFirst);
        let token = newest.token(&LogPosition::after(&record));
        assert_eq!(
            LogPosition::of_token(newest, &token).expect("valid"),
            Some(LogPosition {
                time: record.time,
                id: record.id.clone()
            })
        );
        let oldest = filter.query_key(Order::OldestFirst);
        assert!(LogPosition::of_token(oldest, &token).is_err());
        assert!(LogPosition::of_token(newest, "not-a-token").is_err());
        assert!(LogPosition::of_token(newest, &"A".repeat(10_000)).is_err());
    }

    #[test]
    fn page_tokens_are_bound_to_their_filters() {
        let record = record();
        let auth = LogFilter {
            event_type: Some(EventTypeFilter::Prefix("auth.".into())),
            ..LogFilter::default()
        };
        let token = auth
            .query_key(Order::NewestFirst)
            .token(&LogPosition::after(&record));
        for other in [
            LogFilter::default(),
            LogFilter {
                event_type: Some(EventTypeFilter::Exact("auth.".into())),
                ..LogFilter::default()
            },
            LogFilter {
                words: vec!["failed".into()],
                ..auth.clone()
            },
            LogFilter {
                min_level: Some(LogLevel::Warn),
                ..auth.clone()
            },
        ] {
            assert!(
                LogPosition::of_token(other.query_key(Order::NewestFirst), &token).is_err(),
                "{other:?}"
            );
        }
    }

    #[test]
    fn event_type_filters_are_exact_or_a_dotted_prefix() {
        assert_eq!(event_type_filter(" ").unwrap(), None);
        assert_eq!(
            event_type_filter("auth.*").unwrap(),
            Some(EventTypeFilter::Prefix("auth.".into()))
        );
        assert_eq!(
            event_type_filter("auth.login").unwrap(),
            Some(EventTypeFilter::Exact("auth.login".into()))
        );
        for bad in ["auth*", ".*", "a*.b.*", "*"] {
            assert!(event_type_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_csv_line_quotes_and_defuses_its_cells() {
        let record = LogRecord {
            user_id: "-1".into(),
            message: "=HYPERLINK(\"x\"), or not".into(),
            ..record()
        };
        assert_eq!(
            csv_line(&record),
            "2023-11-14T22:13:20.123Z,booking-api,INFO,booking.created,'-1,,\
             \"'=HYPERLINK(\"\"x\"\"), or not\"\r\n"
        );
    }
}
