//! Activity logs: storing every service's entries (IngestLogs, and SystemAPI's own activity),
//! and IT's listing (ListLogs, a page at a time) and export (ExportLogs, streamed in chunks
//! read from SystemDB as the client takes them: at most one chunk is held in memory).

use std::sync::Arc;

use astro_shared::{
    AppError,
    activity::ActivityLog,
    auth::Caller,
    paging::{Page, page_size, read_limit},
};
use futures::{StreamExt as _, stream::BoxStream};

use crate::{
    domain::logs::{CSV_HEADER, LogFilter, LogPosition, LogRecord, Order, csv_line},
    store::LogStore,
};

/// Page sizes of ListLogs.
const PAGE_DEFAULT: u32 = 50;
const PAGE_MAX: u32 = 500;
/// Most entries in one export; beyond, the last chunk says `truncated`.
pub const EXPORT_MAX_ENTRIES: usize = 100_000;
/// Largest chunk of an export (a single longer line is sent alone rather than split).
const CHUNK_BYTES: usize = 64 * 1024;

/// Stores entries. Apart from [`Logs`] because SystemAPI's own activity log writes through
/// it, so it cannot need that activity log itself.
#[derive(Clone)]
pub struct LogIngest {
    store: LogStore,
}

impl LogIngest {
    pub fn new(store: LogStore) -> Self {
        Self { store }
    }

    /// Stores checked entries; an entry already stored (same id) is skipped, so a retried
    /// batch is harmless.
    pub async fn ingest(&self, records: &[LogRecord]) -> Result<(), AppError> {
        self.store.insert(records).await
    }
}

/// IT's reading of the logs.
#[derive(Clone)]
pub struct Logs {
    store: LogStore,
    activity: ActivityLog,
}

/// How an export writes its lines.
#[derive(Clone)]
pub enum ExportFormat {
    /// RFC 4180 with a header row.
    Csv,
    /// One entry a line in the contract's JSON mapping, which only the adapter that knows the
    /// contract can write: it hands the line encoder in.
    Ndjson(Arc<dyn EncodeLine>),
}

/// One NDJSON line of an entry, newline included.
pub trait EncodeLine: Send + Sync {
    fn line(&self, record: &LogRecord) -> Result<Vec<u8>, AppError>;
}

impl ExportFormat {
    /// Also the name recorded for the export.
    pub fn extension(&self) -> &'static str {
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

    fn line(&self, record: &LogRecord) -> Result<Vec<u8>, AppError> {
        match self {
            Self::Csv => Ok(csv_line(record).into_bytes()),
            Self::Ndjson(encoder) => encoder.line(record),
        }
    }
}

/// One chunk of an export: whole lines, at most [`CHUNK_BYTES`] unless one line is longer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportChunk {
    pub data: Vec<u8>,
    /// First chunk only (empty after).
    pub content_type: &'static str,
    /// First chunk only (empty after).
    pub filename: String,
    pub entry_count: i32,
    /// On the last chunk: more than [`EXPORT_MAX_ENTRIES`] matched and the export stopped.
    pub truncated: bool,
}

impl Logs {
    pub fn new(store: LogStore, activity: ActivityLog) -> Self {
        Self { store, activity }
    }

    /// ListLogs: one page; its token continues only the same filters and order.
    pub async fn list(
        &self,
        filter: &LogFilter,
        order: Order,
        page_token: &str,
        requested_size: i32,
    ) -> Result<Page<LogRecord>, AppError> {
        let size = page_size(requested_size, PAGE_DEFAULT, PAGE_MAX)?;
        let query = filter.query_key(order);
        let after = LogPosition::of_token(query, page_token)?;
        let records = self
            .store
            .page(filter, order, after.as_ref(), read_limit(size))
            .await?;
        Ok(Page::from_rows(records, size, query, LogPosition::after))
    }

    /// ExportLogs by `it`: opens the read, records the export (it takes data out of the
    /// platform), and returns the chunks, each read as the client consumes the previous one.
    pub async fn export(
        &self,
        it: &Caller,
        filter: &LogFilter,
        order: Order,
        format: ExportFormat,
    ) -> Result<BoxStream<'static, Result<ExportChunk, AppError>>, AppError> {
        let limit = i64::try_from(EXPORT_MAX_ENTRIES + 1).unwrap_or(i64::MAX);
        let records = self.store.stream(filter, order, limit).await?;
        self.activity.info(
            "logs.exported",
            Some(&it.user_id),
            "activity logs exported",
            &[("format", format.extension())],
        );
        let export = Export {
            filename: format!(
                "logs-{}.{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
                format.extension()
            ),
            records,
            format,
            first: true,
            carry: None,
            exported: 0,
            finished: false,
        };
        let chunks = futures::stream::unfold(export, |mut export| async move {
            if export.finished {
                return None;
            }
            match export.next_chunk().await {
                Ok(chunk) => Some((Ok(chunk), export)),
                Err(error) => {
                    export.finished = true;
                    Some((Err(error), export))
                }
            }
        });
        Ok(chunks.boxed())
    }
}

/// The state of one export between chunks.
struct Export {
    records: BoxStream<'static, Result<LogRecord, AppError>>,
    format: ExportFormat,
    filename: String,
    /// No chunk sent yet (it carries the content type, file name and CSV header).
    first: bool,
    /// A line read that did not fit into the previous chunk.
    carry: Option<Vec<u8>>,
    exported: usize,
    finished: bool,
}

impl Export {
    async fn next_chunk(&mut self) -> Result<ExportChunk, AppError> {
        let mut data = Vec::with_capacity(CHUNK_BYTES);
        let mut entry_count = 0_i32;
        let mut truncated = false;
        if self.first && matches!(self.format, ExportFormat::Csv) {
            data.extend_from_slice(CSV_HEADER.as_bytes());
        }
        if let Some(line) = self.carry.take() {
            data.extend_from_slice(&line);
            entry_count += 1;
        }
        loop {
            let Some(record) = self.records.next().await.transpose()? else {
                self.finished = true;
                break;
            };
            if self.exported == EXPORT_MAX_ENTRIES {
                truncated = true;
                self.finished = true;
                break;
            }
            self.exported += 1;
            let line = self.format.line(&record)?;
            if entry_count > 0 && data.len() + line.len() > CHUNK_BYTES {
                self.carry = Some(line);
                break;
            }
            data.extend_from_slice(&line);
            entry_count += 1;
        }
        let first = std::mem::replace(&mut self.first, false);
        Ok(ExportChunk {
            data,
            content_type: if first {
                self.format.content_type()
            } else {
                ""
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
    use std::collections::BTreeMap;

    use astro_proto::astrobookings::system::v1::LogLevel;
    use futures::TryStreamExt as _;

    use super::*;

    fn record(message: String) -> LogRecord {
        LogRecord {
            id: uuid::Uuid::now_v7().to_string(),
            time: chrono::DateTime::from_timestamp_millis(1_700_000_000_123).expect("a time"),
            service: "booking-api".into(),
            level: LogLevel::Info,
            event_type: "booking.created".into(),
            user_id: String::new(),
            trace_id: String::new(),
            message,
            attributes: BTreeMap::new(),
        }
    }

    async fn export_of(records: Vec<LogRecord>) -> Vec<ExportChunk> {
        let export = Export {
            records: futures::stream::iter(records.into_iter().map(Ok)).boxed(),
            format: ExportFormat::Csv,
            filename: "logs.csv".into(),
            first: true,
            carry: None,
            exported: 0,
            finished: false,
        };
        futures::stream::unfold(export, |mut export| async move {
            if export.finished {
                return None;
            }
            let chunk = export.next_chunk().await;
            Some((chunk, export))
        })
        .try_collect()
        .await
        .expect("an export")
    }

    #[tokio::test]
    async fn chunks_hold_whole_lines_and_the_first_names_the_file() {
        // 1 KiB lines: about 64 to a chunk.
        let records: Vec<_> = (0..200).map(|_| record("x".repeat(1_000))).collect();
        let chunks = export_of(records).await;
        assert!(chunks.len() > 2, "{} chunks", chunks.len());
        assert!(chunks[0].data.starts_with(CSV_HEADER.as_bytes()));
        assert_eq!(chunks[0].content_type, "text/csv; charset=utf-8");
        assert_eq!(chunks[0].filename, "logs.csv");
        for chunk in &chunks[1..] {
            assert!(chunk.content_type.is_empty() && chunk.filename.is_empty());
            assert!(!chunk.data.starts_with(CSV_HEADER.as_bytes()));
        }
        for chunk in &chunks {
            assert!(chunk.data.len() <= CHUNK_BYTES);
            assert!(chunk.data.is_empty() || chunk.data.ends_with(b"\r\n"));
            assert!(!chunk.truncated);
        }
        let total: i32 = chunks.iter().map(|chunk| chunk.entry_count).sum();
        assert_eq!(total, 200);
    }

    #[tokio::test]
    async fn an_export_stops_at_its_maximum_and_says_so() {
        let records: Vec<_> = (0..=EXPORT_MAX_ENTRIES)
            .map(|_| record("m".into()))
            .collect();
        let chunks = export_of(records).await;
        let total: i32 = chunks.iter().map(|chunk| chunk.entry_count).sum();
        assert_eq!(usize::try_from(total).expect("a count"), EXPORT_MAX_ENTRIES);
        assert!(chunks.last().expect("a chunk").truncated);
        assert!(
            chunks[..chunks.len() - 1]
                .iter()
                .all(|chunk| !chunk.truncated)
        );
    }
}
