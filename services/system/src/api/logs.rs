//! Activity log RPCs: IngestLogs (every service, through `astro_shared::activity`), ListLogs and
//! ExportLogs (IT only, enforced by the auth layer). Input is validated here, once; the store
//! only sees checked filters.

use std::sync::Arc;

use astro_proto::astrobookings::{
    common::v1::SortOrder,
    system::v1::{
        ExportLogsRequest, ExportLogsResponse, IngestLogsRequest, IngestLogsResponse,
        ListLogsRequest, ListLogsResponse, LogEntry, LogLevel,
    },
};
use astro_shared::{
    AppError,
    activity::{
        LogSink, MAX_ATTRIBUTE_KEY_CHARS, MAX_ATTRIBUTE_VALUE_CHARS, MAX_ATTRIBUTES,
        MAX_EVENT_TYPE_CHARS, MAX_INGEST_BATCH, MAX_MESSAGE_CHARS, MAX_NAME_CHARS,
    },
    convert::bson_from_timestamp,
    paging::page_size,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use futures::{TryStreamExt as _, future::BoxFuture};
use mongodb::{Cursor, bson::DateTime};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use tonic::codegen::BoxStream;

use crate::store::logs::{EventTypeFilter, LogDocument, LogFilter, LogStore, Order, PageKey};

const PAGE_DEFAULT: u32 = 50;
const PAGE_MAX: u32 = 500;
/// Most entries in one export; beyond, the last chunk says `truncated`.
pub const EXPORT_MAX_ENTRIES: usize = 100_000;
/// Largest chunk of an export (a single longer line is sent alone rather than split).
const CHUNK_BYTES: usize = 64 * 1024;
const MAX_QUERY_CHARS: usize = 200;
/// A page token is a few dozen characters; anything much longer is not ours.
const MAX_PAGE_TOKEN_CHARS: usize = 256;
const CSV_HEADER: &str = "time,service,level,event_type,user_id,trace_id,message\r\n";

/// SystemAPI's own activity goes straight to the store: no hop through its own listener
/// (whose address may be `0.0.0.0` or unreachable from inside a container) and no extra
/// trace per batch, with the same validation as IngestLogs.
pub struct StoreSink(pub LogStore);

impl LogSink for StoreSink {
    fn ingest<'a>(&'a self, entries: &'a [LogEntry]) -> BoxFuture<'a, Result<(), AppError>> {
        Box::pin(async move {
            let documents = parse_entries(entries)?;
            self.0.insert(&documents).await
        })
    }
}

pub async fn ingest_logs(
    store: &LogStore,
    request: IngestLogsRequest,
) -> Result<IngestLogsResponse, AppError> {
    if request.entries.is_empty() || request.entries.len() > MAX_INGEST_BATCH {
        return Err(AppError::invalid("entries", "must hold 1 to 1,000 entries"));
    }
    let documents = parse_entries(&request.entries)?;
    store.insert(&documents).await?;
    Ok(IngestLogsResponse {
        accepted: i32::try_from(documents.len()).unwrap_or(i32::MAX),
    })
}

pub async fn list_logs(
    store: &LogStore,
    request: ListLogsRequest,
) -> Result<ListLogsResponse, AppError> {
    let (filter, order) = parse_filter(&FilterInput {
        service: &request.service,
        min_level: request.min_level,
        user_id: &request.user_id,
        event_type: &request.event_type,
        trace_id: &request.trace_id,
        start_time: request.start_time.as_ref(),
        end_time: request.end_time.as_ref(),
        query: &request.query,
        order: request.order,
    })?;
    let size = page_size(request.page_size, PAGE_DEFAULT, PAGE_MAX)?;
    let after = parse_page_token(&request.page_token, order)?;
    // One more than a page tells whether another page exists, so the last page never
    // points at an empty one.
    let mut documents = store.page(&filter, order, after.as_ref(), size + 1).await?;
    let more = documents.len() > size as usize;
    documents.truncate(size as usize);
    let next_page_token = match documents.last() {
        Some(last) if more => page_token(order, last),
        _ => String::new(),
    };
    Ok(ListLogsResponse {
        entries: documents.iter().map(LogDocument::to_proto).collect(),
        next_page_token,
    })
}

/// Validates, opens the cursor, and returns the stream of chunks read from it as the client
/// consumes them (at most one chunk in memory).
pub async fn export_logs(
    store: &LogStore,
    request: ExportLogsRequest,
) -> Result<BoxStream<ExportLogsResponse>, AppError> {
    let (filter, order) = parse_filter(&FilterInput {
        service: &request.service,
        min_level: request.min_level,
        user_id: &request.user_id,
        event_type: &request.event_type,
        trace_id: &request.trace_id,
        start_time: request.start_time.as_ref(),
        end_time: request.end_time.as_ref(),
        query: &request.query,
        order: request.order,
    })?;
    let format = match request.format.trim().to_ascii_lowercase().as_str() {
        "" | "csv" => Format::Csv,
        "ndjson" => Format::Ndjson(Arc::new(log_entry_descriptor()?)),
        _ => return Err(AppError::invalid("format", "must be \"csv\" or \"ndjson\"")),
    };
    let limit = i64::try_from(EXPORT_MAX_ENTRIES + 1).unwrap_or(i64::MAX);
    let cursor = store.cursor(&filter, order, None, limit).await?;
    let export = Export {
        filename: format!(
            "logs-{}.{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
            format.extension()
        ),
        cursor,
        format,
        first: true,
        carry: None,
        exported: 0,
        finished: false,
    };
    let stream = futures::stream::unfold(export, |mut export| async move {
        if export.finished {
            return None;
        }
        match export.next_chunk().await {
            Ok(chunk) => Some((Ok(chunk), export)),
            Err(error) => {
                export.finished = true;
                Some((Err(error.into()), export))
            }
        }
    });
    Ok(Box::pin(stream))
}

/// The filter fields ListLogs and ExportLogs share.
struct FilterInput<'a> {
    service: &'a str,
    min_level: i32,
    user_id: &'a str,
    event_type: &'a str,
    trace_id: &'a str,
    start_time: Option<&'a prost_types::Timestamp>,
    end_time: Option<&'a prost_types::Timestamp>,
    query: &'a str,
    order: i32,
}

fn parse_filter(input: &FilterInput<'_>) -> Result<(LogFilter, Order), AppError> {
    let service = optional_name("service", input.service)?;
    let min_level = match LogLevel::try_from(input.min_level) {
        Ok(LogLevel::Unspecified) => None,
        Ok(level) => Some(i32::from(level)),
        Err(_) => return Err(AppError::invalid("min_level", "is not a log level")),
    };
    let user_id = optional_name("user_id", input.user_id)?;
    let event_type = match input.event_type.trim() {
        "" => None,
        event_type if event_type.chars().count() > MAX_EVENT_TYPE_CHARS => {
            return Err(AppError::invalid(
                "event_type",
                "must be at most 100 characters",
            ));
        }
        event_type => match event_type.strip_suffix('*') {
            Some(prefix) if prefix.len() > 1 && prefix.ends_with('.') && !prefix.contains('*') => {
                Some(EventTypeFilter::Prefix(prefix.to_owned()))
            }
            None if !event_type.contains('*') => {
                Some(EventTypeFilter::Exact(event_type.to_owned()))
            }
            _ => {
                return Err(AppError::invalid(
                    "event_type",
                    "must be an event type or a prefix ending in \".*\"",
                ));
            }
        },
    };
    let trace_id = match input.trace_id.trim() {
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
    let start = input
        .start_time
        .map(|time| bson_from_timestamp("start_time", time))
        .transpose()?;
    let end = input
        .end_time
        .map(|time| bson_from_timestamp("end_time", time))
        .transpose()?;
    if let (Some(start_time), Some(end_time)) = (input.start_time, input.end_time)
        && (end_time.seconds, end_time.nanos) < (start_time.seconds, start_time.nanos)
    {
        return Err(AppError::invalid(
            "end_time",
            "must not be before start_time",
        ));
    }
    if input.query.chars().count() > MAX_QUERY_CHARS {
        return Err(AppError::invalid("query", "must be at most 200 characters"));
    }
    let words = input.query.split_whitespace().map(str::to_owned).collect();
    let order = match SortOrder::try_from(input.order) {
        Ok(SortOrder::Unspecified | SortOrder::Descending) => Order::NewestFirst,
        Ok(SortOrder::Ascending) => Order::OldestFirst,
        Err(_) => return Err(AppError::invalid("order", "is not a sort order")),
    };
    Ok((
        LogFilter {
            service,
            min_level,
            user_id,
            event_type,
            trace_id,
            start,
            end,
            words,
        },
        order,
    ))
}

fn optional_name(field: &str, value: &str) -> Result<Option<String>, AppError> {
    let value = value.trim();
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::invalid(field, "must be at most 100 characters"));
    }
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

fn is_trace_id(text: &str) -> bool {
    text.len() == 32
        && text
            .bytes()
            .all(|digit| matches!(digit, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks a batch of entries from a producer; any bad entry refuses the whole batch (the
/// contract: nothing is stored), naming the entry and field.
fn parse_entries(entries: &[LogEntry]) -> Result<Vec<LogDocument>, AppError> {
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| parse_entry(index, entry))
        .collect()
}

fn parse_entry(index: usize, entry: &LogEntry) -> Result<LogDocument, AppError> {
    let field = |name: &str| format!("entries[{index}].{name}");
    let id = uuid::Uuid::parse_str(&entry.id)
        .map_err(|_| AppError::invalid(field("id"), "must be a UUID"))?
        .to_string();
    let time = entry
        .time
        .as_ref()
        .ok_or_else(|| AppError::invalid(field("time"), "is required"))
        .and_then(|time| bson_from_timestamp(&field("time"), time))?;
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
        Ok(level) => i32::from(level),
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
    if !entry.trace_id.is_empty() && !is_trace_id(&entry.trace_id) {
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
    for (key, value) in &entry.attributes {
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
    Ok(LogDocument {
        id,
        time,
        service: service.to_owned(),
        level,
        event_type: event_type.to_owned(),
        user_id: entry.user_id.clone(),
        trace_id: entry.trace_id.clone(),
        message: entry.message.clone(),
        attributes: entry
            .attributes
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
    })
}

/// `{order}.{millis}.{id}`, base64url: opaque to clients, bound to the sort order it was made
/// for.
fn page_token(order: Order, last: &LogDocument) -> String {
    let direction = if order == Order::NewestFirst {
        'd'
    } else {
        'a'
    };
    URL_SAFE_NO_PAD.encode(format!(
        "{direction}.{}.{}",
        last.time.timestamp_millis(),
        last.id
    ))
}

fn parse_page_token(token: &str, order: Order) -> Result<Option<PageKey>, AppError> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || {
        AppError::invalid(
            "page_token",
            "is not a token from a previous page of this listing",
        )
    };
    if token.len() > MAX_PAGE_TOKEN_CHARS {
        return Err(invalid());
    }
    let decoded = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    let mut parts = decoded.splitn(3, '.');
    let (Some(direction), Some(millis), Some(id)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let expected = if order == Order::NewestFirst {
        "d"
    } else {
        "a"
    };
    if direction != expected || uuid::Uuid::parse_str(id).is_err() {
        return Err(invalid());
    }
    let millis: i64 = millis.parse().map_err(|_| invalid())?;
    Ok(Some(PageKey {
        time: DateTime::from_millis(millis),
        id: id.to_owned(),
    }))
}

fn log_entry_descriptor() -> Result<MessageDescriptor, AppError> {
    let pool =
        DescriptorPool::decode(astro_proto::FILE_DESCRIPTOR_SET).map_err(AppError::internal)?;
    pool.get_message_by_name("astrobookings.system.v1.LogEntry")
        .ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "LogEntry is missing from the descriptor set"
            ))
        })
}

enum Format {
    Csv,
    /// Proto3 JSON through reflection, so the lines are exactly what the contract's JSON
    /// mapping says (camelCase names, enum names, RFC 3339 times, defaults omitted).
    Ndjson(Arc<MessageDescriptor>),
}

impl Format {
    fn extension(&self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Ndjson(_) => "ndjson",
        }
    }

    fn content_type(&self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Ndjson(_) => "application/x-ndjson",
        }
    }

    fn line(&self, document: &LogDocument) -> Result<Vec<u8>, AppError> {
        match self {
            Self::Csv => Ok(csv_line(document).into_bytes()),
            Self::Ndjson(descriptor) => {
                let mut message = DynamicMessage::new(descriptor.as_ref().clone());
                message
                    .transcode_from(&document.to_proto())
                    .map_err(AppError::internal)?;
                let mut line = serde_json::to_vec(&message).map_err(AppError::internal)?;
                line.push(b'\n');
                Ok(line)
            }
        }
    }
}

/// One RFC 4180 record (CRLF-terminated) in the header's column order.
fn csv_line(document: &LogDocument) -> String {
    let time = chrono::DateTime::from_timestamp_millis(document.time.timestamp_millis())
        .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    let level = LogLevel::try_from(document.level).unwrap_or(LogLevel::Unspecified);
    let level = level.as_str_name().trim_start_matches("LOG_LEVEL_");
    let cells = [
        time.as_str(),
        &document.service,
        level,
        &document.event_type,
        &document.user_id,
        &document.trace_id,
        &document.message,
    ];
    let mut line = cells
        .iter()
        .map(|cell| csv_cell(cell))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// Quotes a cell when needed, and defuses spreadsheet formulas: a cell starting with `=`, `+`,
/// `-`, `@`, tab or CR gets a leading `'` (messages may quote user input).
pub fn csv_cell(cell: &str) -> String {
    let defused;
    let cell = if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        defused = format!("'{cell}");
        defused.as_str()
    } else {
        cell
    };
    if cell.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

/// The state of one export between chunks.
struct Export {
    cursor: Cursor<LogDocument>,
    format: Format,
    filename: String,
    /// No chunk sent yet (it carries the content type, file name and CSV header).
    first: bool,
    /// A line read that did not fit into the previous chunk.
    carry: Option<Vec<u8>>,
    exported: usize,
    finished: bool,
}

impl Export {
    async fn next_chunk(&mut self) -> Result<ExportLogsResponse, AppError> {
        let mut data = Vec::with_capacity(CHUNK_BYTES);
        let mut entry_count = 0_i32;
        let mut truncated = false;
        if self.first && matches!(self.format, Format::Csv) {
            data.extend_from_slice(CSV_HEADER.as_bytes());
        }
        if let Some(line) = self.carry.take() {
            data.extend_from_slice(&line);
            entry_count += 1;
        }
        loop {
            let Some(document) = self.cursor.try_next().await? else {
                self.finished = true;
                break;
            };
            if self.exported == EXPORT_MAX_ENTRIES {
                truncated = true;
                self.finished = true;
                break;
            }
            self.exported += 1;
            let line = self.format.line(&document)?;
            if entry_count > 0 && data.len() + line.len() > CHUNK_BYTES {
                self.carry = Some(line);
                break;
            }
            data.extend_from_slice(&line);
            entry_count += 1;
        }
        let first = std::mem::replace(&mut self.first, false);
        Ok(ExportLogsResponse {
            data,
            content_type: if first {
                self.format.content_type().to_owned()
            } else {
                String::new()
            },
            filename: if first {
                self.filename.clone()
            } else {
                String::new()
            },
            entry_count,
            truncated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> LogEntry {
        LogEntry {
            id: uuid::Uuid::now_v7().to_string(),
            time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_456_789,
            }),
            service: "booking-api".into(),
            level: LogLevel::Info.into(),
            event_type: "booking.created".into(),
            user_id: String::new(),
            trace_id: String::new(),
            message: "created".into(),
            attributes: std::collections::HashMap::new(),
        }
    }

    fn field_of(error: AppError) -> String {
        match error {
            AppError::InvalidArgument { field, .. } => field,
            other => panic!("not INVALID_ARGUMENT: {other:?}"),
        }
    }

    #[test]
    fn a_bad_entry_names_its_index_and_field() {
        let mut bad = entry();
        bad.level = 99;
        let error = parse_entries(&[entry(), bad]).expect_err("unknown level");
        assert_eq!(field_of(error), "entries[1].level");
        let mut bad = entry();
        bad.trace_id = "XYZ".into();
        assert_eq!(
            field_of(parse_entries(&[bad]).expect_err("bad trace")),
            "entries[0].trace_id"
        );
        let mut bad = entry();
        bad.time = None;
        assert_eq!(
            field_of(parse_entries(&[bad]).expect_err("no time")),
            "entries[0].time"
        );
    }

    #[test]
    fn stored_time_keeps_milliseconds() {
        let document = parse_entry(0, &entry()).expect("valid");
        assert_eq!(document.time.timestamp_millis(), 1_700_000_000_123);
    }

    #[test]
    fn page_tokens_round_trip_and_are_bound_to_their_order() {
        let document = parse_entry(0, &entry()).expect("valid");
        let token = page_token(Order::NewestFirst, &document);
        assert_eq!(
            parse_page_token(&token, Order::NewestFirst).expect("valid"),
            Some(PageKey {
                time: document.time,
                id: document.id.clone()
            })
        );
        assert!(parse_page_token(&token, Order::OldestFirst).is_err());
        assert!(parse_page_token("not-a-token", Order::NewestFirst).is_err());
        assert!(parse_page_token(&"A".repeat(10_000), Order::NewestFirst).is_err());
    }

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-1"), "'-1");
    }
}
