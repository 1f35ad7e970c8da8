//! The `activity_logs` collection: every service's significant actions. The entry id is the
//! document id, so a retried batch never duplicates; a TTL index on `time` enforces retention;
//! listings page on (time, id), which is stable however many entries share a millisecond.

use std::{collections::BTreeMap, time::Duration};

use astro_proto::astrobookings::system::v1::LogEntry;
use astro_shared::AppError;
use futures::TryStreamExt as _;
use mongodb::{
    Collection, Cursor, IndexModel,
    bson::{DateTime, Document, doc},
    error::ErrorKind,
    options::IndexOptions,
};
use serde::{Deserialize, Serialize};

pub const COLLECTION: &str = "activity_logs";
const TTL_INDEX: &str = "time_ttl";

/// A log entry as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogDocument {
    #[serde(rename = "_id")]
    pub id: String,
    /// Millisecond precision (BSON date): the TTL index needs a date.
    pub time: DateTime,
    pub service: String,
    /// The `LogLevel` number, so "at least WARN" is a range query.
    pub level: i32,
    pub event_type: String,
    /// Empty for system actions.
    pub user_id: String,
    /// Empty if none.
    pub trace_id: String,
    pub message: String,
    pub attributes: BTreeMap<String, String>,
}

impl LogDocument {
    pub fn to_proto(&self) -> LogEntry {
        LogEntry {
            id: self.id.clone(),
            time: Some(astro_shared::convert::bson_timestamp(self.time)),
            service: self.service.clone(),
            level: self.level,
            event_type: self.event_type.clone(),
            user_id: self.user_id.clone(),
            trace_id: self.trace_id.clone(),
            message: self.message.clone(),
            attributes: self
                .attributes
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        }
    }
}

/// Which entries a listing or an export returns; every field already validated.
#[derive(Debug, Default, Clone)]
pub struct LogFilter {
    pub service: Option<String>,
    /// Lowest `LogLevel` number included.
    pub min_level: Option<i32>,
    pub user_id: Option<String>,
    pub event_type: Option<EventTypeFilter>,
    pub trace_id: Option<String>,
    /// Inclusive.
    pub start: Option<DateTime>,
    /// Exclusive.
    pub end: Option<DateTime>,
    /// Every word must occur in the message, case-insensitively.
    pub words: Vec<String>,
}

#[derive(Debug, Clone)]
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

impl Order {
    fn direction(self) -> i32 {
        match self {
            Self::NewestFirst => -1,
            Self::OldestFirst => 1,
        }
    }
}

/// The position of the last entry of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageKey {
    pub time: DateTime,
    pub id: String,
}

impl LogFilter {
    fn to_document(&self, order: Order, after: Option<&PageKey>) -> Document {
        let mut conditions: Vec<Document> = Vec::new();
        if let Some(service) = &self.service {
            conditions.push(doc! { "service": service });
        }
        if let Some(level) = self.min_level {
            conditions.push(doc! { "level": { "$gte": level } });
        }
        if let Some(user_id) = &self.user_id {
            conditions.push(doc! { "user_id": user_id });
        }
        match &self.event_type {
            Some(EventTypeFilter::Exact(event_type)) => {
                conditions.push(doc! { "event_type": event_type });
            }
            Some(EventTypeFilter::Prefix(prefix)) => {
                let pattern = format!("^{}", super::users::regex_escape(prefix));
                conditions.push(doc! { "event_type": { "$regex": pattern } });
            }
            None => {}
        }
        if let Some(trace_id) = &self.trace_id {
            conditions.push(doc! { "trace_id": trace_id });
        }
        if let Some(start) = self.start {
            conditions.push(doc! { "time": { "$gte": start } });
        }
        if let Some(end) = self.end {
            conditions.push(doc! { "time": { "$lt": end } });
        }
        for word in &self.words {
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
            conditions.push(doc! {
                "$or": [
                    { "time": { beyond: after.time } },
                    { "time": after.time, "_id": { beyond: &after.id } },
                ]
            });
        }
        if conditions.is_empty() {
            doc! {}
        } else {
            doc! { "$and": conditions }
        }
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
    pub async fn insert(&self, entries: &[LogDocument]) -> Result<(), AppError> {
        if entries.is_empty() {
            return Ok(());
        }
        match self.logs.insert_many(entries).ordered(false).await {
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
        after: Option<&PageKey>,
        limit: u32,
    ) -> Result<Vec<LogDocument>, AppError> {
        Ok(self
            .cursor(filter, order, after, i64::from(limit))
            .await?
            .try_collect()
            .await?)
    }

    /// A cursor over up to `limit` matching entries, for exports that must not hold them all.
    pub async fn cursor(
        &self,
        filter: &LogFilter,
        order: Order,
        after: Option<&PageKey>,
        limit: i64,
    ) -> Result<Cursor<LogDocument>, AppError> {
        let direction = order.direction();
        Ok(self
            .logs
            .find(filter.to_document(order, after))
            .sort(doc! { "time": direction, "_id": direction })
            .limit(limit)
            .batch_size(500)
            .await?)
    }
}

/// Whether an unordered insert failed only because some ids were already stored.
fn only_duplicates(error: &mongodb::error::Error) -> bool {
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
