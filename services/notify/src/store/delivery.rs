//! Delivery bookkeeping beside the queue: one document per failed SMTP attempt (for failure
//! rates) and one per sending worker (its heartbeat, for "workers alive" across replicas).

use std::time::Duration;

use astro_shared::{AppError, convert::bson_before};
use chrono::Utc;
use mongodb::{
    Collection, IndexModel,
    bson::{DateTime, doc},
    options::UpdateOptions,
};
use serde::{Deserialize, Serialize};

use super::bson_time;
use crate::domain::{Priority, figures::Worker};

const ATTEMPTS: &str = "notification_attempts";
const WORKERS: &str = "notification_workers";

/// How long attempts and silent workers are kept: the longest window a rate is computed
/// over, with margin.
const KEPT: Duration = Duration::from_secs(2 * 60 * 60);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttemptDocument {
    #[serde(rename = "_id")]
    pub id: String,
    pub notification_id: String,
    pub at: DateTime,
    pub error: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerDocument {
    /// `<instance>/<queue>`.
    #[serde(rename = "_id")]
    pub id: String,
    pub instance: String,
    /// `NORMAL` or `HIGH`.
    pub queue: String,
    /// Messages it may send at once.
    pub slots: i32,
    pub heartbeat_at: DateTime,
}

#[derive(Clone)]
pub struct DeliveryStore {
    attempts: Collection<AttemptDocument>,
    workers: Collection<WorkerDocument>,
}

impl DeliveryStore {
    pub fn new(database: &mongodb::Database) -> Self {
        Self {
            attempts: database.collection(ATTEMPTS),
            workers: database.collection(WORKERS),
        }
    }

    /// Records a failed delivery attempt (successes are the SENT notifications themselves).
    pub async fn record_failed_attempt(
        &self,
        notification_id: &str,
        error: &str,
    ) -> Result<(), AppError> {
        self.attempts
            .insert_one(AttemptDocument {
                id: uuid::Uuid::now_v7().to_string(),
                notification_id: notification_id.to_owned(),
                at: DateTime::now(),
                error: error.to_owned(),
            })
            .await?;
        Ok(())
    }

    /// Failed attempts since `since`.
    pub async fn failed_attempts_since(
        &self,
        since: chrono::DateTime<Utc>,
    ) -> Result<i64, AppError> {
        let failed = self
            .attempts
            .count_documents(doc! { "at": { "$gte": bson_time(since) } })
            .await?;
        Ok(i64::try_from(failed).unwrap_or(i64::MAX))
    }

    pub async fn heartbeat(
        &self,
        instance: &str,
        queue: Priority,
        slots: i32,
    ) -> Result<(), AppError> {
        let queue = queue.name();
        self.workers
            .update_one(
                doc! { "_id": format!("{instance}/{queue}") },
                doc! { "$set": {
                    "instance": instance, "queue": queue, "slots": slots,
                    "heartbeat_at": DateTime::now(),
                } },
            )
            .with_options(UpdateOptions::builder().upsert(true).build())
            .await?;
        Ok(())
    }

    /// The workers that reported within `fresh` (of a queue this version knows).
    pub async fn workers_alive(&self, fresh: Duration) -> Result<Vec<Worker>, AppError> {
        use futures::TryStreamExt as _;
        let cutoff = bson_before(DateTime::now(), fresh);
        let workers: Vec<WorkerDocument> = self
            .workers
            .find(doc! { "heartbeat_at": { "$gte": cutoff } })
            .await?
            .try_collect()
            .await?;
        Ok(workers
            .into_iter()
            .filter_map(|worker| {
                Some(Worker {
                    queue: Priority::from_name(&worker.queue)?,
                    instance: worker.instance,
                    slots: worker.slots,
                })
            })
            .collect())
    }

    /// Forgets attempts older than any rate needs, and replicas that stopped reporting long
    /// ago (recently stopped ones simply count as not alive).
    pub async fn prune(&self) -> Result<(), AppError> {
        let cutoff = bson_before(DateTime::now(), KEPT);
        self.attempts
            .delete_many(doc! { "at": { "$lt": cutoff } })
            .await?;
        self.workers
            .delete_many(doc! { "heartbeat_at": { "$lt": cutoff } })
            .await?;
        Ok(())
    }
}

pub async fn ensure_indexes(database: &mongodb::Database) -> Result<(), mongodb::error::Error> {
    database
        .collection::<AttemptDocument>(ATTEMPTS)
        .create_index(IndexModel::builder().keys(doc! { "at": 1 }).build())
        .await?;
    Ok(())
}
