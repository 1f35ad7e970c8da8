//! The `activity_logs` collection: every service's significant actions. The entry id is the
//! document id, so a retried batch never duplicates; a TTL index on `time` enforces retention;
//! listings page on (time, id), which is stable however many entries share a millisecond.

use std::{collections::BTreeMap, time::Duration};

use astro_proto::astrobookings::system::v1::LogLevel;
use astro_shared::AppError;
use futures::{StreamExt as _, TryStreamExt as _, stream::BoxStream};
use mongodb::{
    Collection, Cursor, IndexModel,
    bson::{DateTime, Document, doc},
    error::ErrorKind,
    options::IndexOptions,
};
use serde::{Deserialize, Serialize};

use super::{bson_time, domain_time};
use crate::domain::logs::{EventTypeFilter, LogFilter, LogPosition, LogRecord, Order};

pub const COLLECTION: &str = "activity_logs";
const TTL_INDEX: &str = "time_ttl";

/// A log entry as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LogDocument {
    #[serde(rename = "_id")]
    id: String,
    /// Millisecond precision (BSON date): the TTL index needs a date.
    time: DateTime,
    service: String,
    /// The `LogLevel` number, so "at least WARN" is a range query.
    level: i32,
    event_type: String,
    /// Empty for system actions.
    user_id: String,
    /// Empty if none.
    trace_id: String,
    message: String,
    attributes: BTreeMap<String, String>,
}

impl From<&LogRecord> for LogDocument {
    fn from(record: &LogRecord) -> Self {
        Self {
            id: record.id.clone(),
            time: bson_time(record.time),
            service: record.service.clone(),
            level: i32::from(record.level),
            event_type: record.event_type.clone(),
            user_id: record.user_id.clone(),
            trace_id: record.trace_id.clone(),
            message: record.message.clone(),
            attributes: record.attributes.clone(),
        }
    }
}

impl From<LogDocument> for LogRecord {
    fn from(document: LogDocument) -> Self {
        Self {
            id: document.id,
            time: domain_time(document.time),
            service: document.service,
            level: LogLevel::try_from(document.level).unwrap_or(LogLevel::Unspecified),
            event_type: document.event_type,
            user_id: document.user_id,
            trace_id: document.trace_id,
            message: document.message,
            attributes: document.attributes,
        }
    }
}

fn direction(order: Order) -> i32 {
    match order {
        Order::NewestFirst => -1,
        Order::OldestFirst => 1,
    }
}

/// The query of `filter`, after `after` in `order`.
fn filter_document(filter: &LogFilter, order: Order, after: Option<&LogPosition>) -> Document {
    let mut conditions: Vec<Document> = Vec::new();
    if let Some(service) = &filter.service {
        conditions.push(doc! { "service": service });
    }
    if let Some(level) = filter.min_level {
        conditions.push(doc! { "level": { "$gte": i32::from(level) } });
    }
    if let Some(user_id) = &filter.user_id {
        conditions.push(doc! { "user_id": user_id });
    }
    match &filter.event_type {
        Some(EventTypeFilter::Exact(event_type)) => {
            conditions.push(doc! { "event_type": event_type });
        }
        Some(EventTypeFilter::Prefix(prefix)) => {
            let pattern = format!("^{}", super::users::regex_escape(prefix));
            conditions.push(doc! { "event_type": { "$regex": pattern } });
        }
        None => {}
    }
    if let Some(trace_id) = &filter.trace_id {
        conditions.push(doc! { "trace_id": trace_id });
    }
    if let Some(start) = filter.start {
        conditions.push(doc! { "time": { "$gte": bson_time(start) } });
    }
    if let Some(end) = filter.end {
        conditions.push(doc! { "time": { "$lt": bson_time(end) } });
    }
    for word in &filter.words {
        // Escaped: the client's words are matched literally, never as a pattern.
        let pattern = super::users::regex_escape(word);
        conditions.push(doc! { "message": { "$regex": pattern, "$options": "i" } });
    }
    if let Some(after) = after {
        let beyond = if order == Order::NewestFirst {
            "$lt"
        } else {
            "$gt"
        };
        let time = bson_time(after.time);
        conditions.push(doc! {
            "$or": [
                { "time": { beyond: time } },
                { "time": time, "_id": { beyond: &after.id } },
            ]
        });
    }
    if conditions.is_empty() {
        doc! {}
    } else {
        doc! { "$and": conditions }
    }
}

#[derive(Clone)]
pub struct LogStore {
    logs: Collection<LogDocument>,
}

impl LogStore {
    pub fn new(database: &mongodb::Database) -> Self {
        Self {
            logs: database.collection(COLLECTION),
        }
    }

    /// Stores entries, skipping those already stored (same id): a retried batch is harmless.
    pub async fn insert(&self, entries: &[LogRecord]) -> Result<(), AppError> {
        if entries.is_empty() {
            return Ok(());
        }
        let documents: Vec<LogDocument> = entries.iter().map(LogDocument::from).collect();
        match self.logs.insert_many(documents).ordered(false).await {
            Ok(_) => Ok(()),
            Err(error) if only_duplicates(&error) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Up to `limit` entries after `after`, in `order`.
    pub async fn page(
        &self,
        filter: &LogFilter,
        order: Order,
        after: Option<&LogPosition>,
        limit: i64,
    ) -> Result<Vec<LogRecord>, AppError> {
        Ok(self
            .cursor(filter, order, after, limit)
            .await?
            .map_ok(LogRecord::from)
            .try_collect()
            .await?)
    }

    /// Up to `limit` matching entries, read from SystemDB as the stream is consumed (a batch
    /// of 500 at a time), for exports that must not hold them all.
    pub async fn stream(
        &self,
        filter: &LogFilter,
        order: Order,
        limit: i64,
    ) -> Result<BoxStream<'static, Result<LogRecord, AppError>>, AppError> {
        let cursor = self.cursor(filter, order, None, limit).await?;
        Ok(cursor
            .map(|read| read.map(LogRecord::from).map_err(AppError::from))
            .boxed())
    }

    async fn cursor(
        &self,
        filter: &LogFilter,
        order: Order,
        after: Option<&LogPosition>,
        limit: i64,
    ) -> Result<Cursor<LogDocument>, AppError> {
        let direction = direction(order);
        Ok(self
            .logs
            .find(filter_document(filter, order, after))
            .sort(doc! { "time": direction, "_id": direction })
            .limit(limit)
            .batch_size(500)
            .await?)
    }
}

/// Whether an unordered insert failed only because some ids were already stored.
pub(super) fn only_duplicates(error: &mongodb::error::Error) -> bool {
    match &*error.kind {
        ErrorKind::InsertMany(failure) => {
            failure.write_concern_error.is_none()
                && failure
                    .write_errors
                    .as_ref()
                    .is_some_and(|errors| errors.iter().all(|write| write.code == 11000))
        }
        _ => super::is_duplicate_key(error),
    }
}

/// The TTL index (entries older than `retention` are deleted by SystemDB) and one index per
/// common filter, each ending in time for the newest-first sort.
pub async fn ensure_indexes(
    database: &mongodb::Database,
    retention: Duration,
) -> Result<(), mongodb::error::Error> {
    let logs = database.collection::<LogDocument>(COLLECTION);
    let expire_after_seconds = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
    let ttl = IndexModel::builder()
        .keys(doc! { "time": 1 })
        .options(
            IndexOptions::builder()
                .name(TTL_INDEX.to_owned())
                .expire_after(retention)
                .build(),
        )
        .build();
    if let Err(error) = logs.create_index(ttl).await {
        // The retention changed since the index was made: retune it in place (85
        // IndexOptionsConflict on MongoDB, 86 IndexKeySpecsConflict on SecantusDB).
        let conflict = matches!(&*error.kind, ErrorKind::Command(command) if command.code == 85 || command.code == 86);
        if !conflict {
            return Err(error);
        }
        database
            .run_command(doc! {
                "collMod": COLLECTION,
                "index": { "name": TTL_INDEX, "expireAfterSeconds": expire_after_seconds },
            })
            .await?;
    }
    for keys in [
        doc! { "time": -1, "_id": -1 },
        doc! { "service": 1, "time": -1 },
        doc! { "level": 1, "time": -1 },
        doc! { "user_id": 1, "time": -1 },
        doc! { "event_type": 1, "time": -1 },
        doc! { "trace_id": 1, "time": -1 },
    ] {
        logs.create_index(IndexModel::builder().keys(keys).build())
            .await?;
    }
    Ok(())
}
