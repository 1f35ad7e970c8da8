//! The `sync_jobs` collection (one document per job) and `sync_job_locks` (one document per data
//! set with a job queued or running). The lock's `_id` is the data set, so the database itself
//! refuses a second job on a data set, whichever replica starts it. A running job's worker holds
//! a lease (`lease_owner`, `lease_until`) that it renews while it lives; every write of the
//! worker is conditional on still holding it.

use std::time::Duration;

use astro_shared::{AppError, convert::bson_after};
use futures::TryStreamExt as _;
use mongodb::{
    Collection, IndexModel,
    bson::{DateTime, Document, doc},
    options::{FindOptions, ReturnDocument},
};
use serde::{Deserialize, Serialize};

use super::{bson_time, domain_time, is_duplicate_key};
use crate::domain::sync_jobs::{DataSet, ItemError, JobFilter, JobState, SyncJob, WORKER_LOST};

pub const JOBS: &str = "sync_jobs";
pub const LOCKS: &str = "sync_job_locks";

/// A lock whose job was never written (its starter died between the two inserts) is taken
/// over after this long.
const ORPHAN_LOCK_AGE: Duration = Duration::from_secs(10);

/// How long a start that lost the lock waits for the winner's job to be written: 40 × 25 ms.
const JOB_WRITE_POLLS: u32 = 40;
const JOB_WRITE_POLL: Duration = Duration::from_millis(25);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ErrorDocument {
    item_id: String,
    message: String,
    time: DateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct JobDocument {
    #[serde(rename = "_id")]
    id: String,
    /// [`DataSet::name`].
    data_set: String,
    /// [`JobState::name`].
    state: String,
    requested_by: String,
    requested_at: DateTime,
    traceparent: String,
    started_at: Option<DateTime>,
    finished_at: Option<DateTime>,
    items_total: i64,
    items_processed: i64,
    items_changed: i64,
    items_failed: i64,
    errors: Vec<ErrorDocument>,
    failure_message: String,
    cursor: String,
    /// The replica running the job, while it runs.
    lease_owner: Option<String>,
    lease_until: Option<DateTime>,
    /// A FAILED job whose SYNC_JOB_FAILED event NotifyAPI has not taken yet.
    failure_notice_pending: bool,
}

impl From<&SyncJob> for JobDocument {
    fn from(job: &SyncJob) -> Self {
        Self {
            id: job.id.clone(),
            data_set: job.data_set.name().to_owned(),
            state: job.state.name().to_owned(),
            requested_by: job.requested_by.clone(),
            requested_at: bson_time(job.requested_at),
            traceparent: job.traceparent.clone(),
            started_at: job.started_at.map(bson_time),
            finished_at: job.finished_at.map(bson_time),
            items_total: job.items_total,
            items_processed: job.items_processed,
            items_changed: job.items_changed,
            items_failed: job.items_failed,
            errors: errors_document(&job.errors),
            failure_message: job.failure_message.clone(),
            cursor: job.cursor.clone(),
            lease_owner: None,
            lease_until: None,
            failure_notice_pending: false,
        }
    }
}

impl TryFrom<JobDocument> for SyncJob {
    type Error = AppError;

    fn try_from(document: JobDocument) -> Result<Self, AppError> {
        let data_set = DataSet::from_name(&document.data_set).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("unknown data set {}", document.data_set))
        })?;
        let state = JobState::from_name(&document.state).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("unknown job state {}", document.state))
        })?;
        Ok(Self {
            id: document.id,
            data_set,
            state,
            requested_by: document.requested_by,
            requested_at: domain_time(document.requested_at),
            traceparent: document.traceparent,
            started_at: document.started_at.map(domain_time),
            finished_at: document.finished_at.map(domain_time),
            items_total: document.items_total,
            items_processed: document.items_processed,
            items_changed: document.items_changed,
            items_failed: document.items_failed,
            errors: document
                .errors
                .into_iter()
                .map(|error| ItemError {
                    item_id: error.item_id,
                    message: error.message,
                    time: domain_time(error.time),
                })
                .collect(),
            failure_message: document.failure_message,
            cursor: document.cursor,
        })
    }
}

fn errors_document(errors: &[ItemError]) -> Vec<ErrorDocument> {
    errors
        .iter()
        .map(|error| ErrorDocument {
            item_id: error.item_id.clone(),
            message: error.message.clone(),
            time: bson_time(error.time),
        })
        .collect()
}

/// The progress fields a worker writes after each batch.
fn progress(job: &SyncJob) -> Document {
    doc! {
        "items_total": job.items_total,
        "items_processed": job.items_processed,
        "items_changed": job.items_changed,
        "items_failed": job.items_failed,
        "errors": mongodb::bson::to_bson(&errors_document(&job.errors)).unwrap_or_default(),
        "cursor": &job.cursor,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LockDocument {
    /// The data set.
    #[serde(rename = "_id")]
    data_set: String,
    job_id: String,
    locked_at: DateTime,
}

/// How a start went for one data set.
pub enum Start {
    Started,
    /// The data set's job that is still queued or running.
    Running(Box<SyncJob>),
}

#[derive(Clone)]
pub struct SyncJobStore {
    jobs: Collection<JobDocument>,
    locks: Collection<LockDocument>,
}

impl SyncJobStore {
    pub fn new(database: &mongodb::Database) -> Self {
        Self {
            jobs: database.collection(JOBS),
            locks: database.collection(LOCKS),
        }
    }

    /// Creates the indexes of claims and listings (idempotent; run at start-up).
    pub async fn ensure_indexes(&self) -> Result<(), mongodb::error::Error> {
        self.jobs
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "state": 1, "requested_at": 1 })
                    .build(),
            )
            .await?;
        self.jobs
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "data_set": 1, "_id": -1 })
                    .build(),
            )
            .await?;
        Ok(())
    }

    /// Queues `job` unless its data set has a job queued or running: the lock is inserted
    /// first, and its unique `_id` decides between concurrent starts.
    pub async fn start(&self, job: &SyncJob) -> Result<Start, AppError> {
        let lock = LockDocument {
            data_set: job.data_set.name().to_owned(),
            job_id: job.id.clone(),
            locked_at: DateTime::now(),
        };
        // A stale lock is cleared and the insert tried again; twice is plenty, since each
        // retry follows a clearing.
        for _ in 0..3 {
            match self.locks.insert_one(&lock).await {
                Ok(_) => {
                    self.jobs.insert_one(JobDocument::from(job)).await?;
                    return Ok(Start::Started);
                }
                Err(error) if is_duplicate_key(&error) => {
                    if let Some(running) = self.holder(&lock.data_set).await? {
                        return Ok(Start::Running(Box::new(running)));
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(AppError::Aborted(
            "another start of this data set is in progress; try again".to_owned(),
        ))
    }

    /// The job holding `data_set`'s lock if it is still queued or running; otherwise the lock
    /// is stale (its job finished without releasing it, or was never written) and is cleared.
    async fn holder(&self, data_set: &str) -> Result<Option<SyncJob>, AppError> {
        let Some(lock) = self.locks.find_one(doc! { "_id": data_set }).await? else {
            return Ok(None);
        };
        let job = self.job_of(&lock).await?;
        let stale = match job {
            Some(job) => {
                let job = SyncJob::try_from(job)?;
                if !job.state.is_finished() {
                    return Ok(Some(job));
                }
                true
            }
            None => {
                let age_ms = DateTime::now().timestamp_millis() - lock.locked_at.timestamp_millis();
                u128::try_from(age_ms).unwrap_or_default() >= ORPHAN_LOCK_AGE.as_millis()
            }
        };
        if !stale {
            return Err(AppError::Aborted(
                "another start of this data set is in progress; try again".to_owned(),
            ));
        }
        self.release(data_set, &lock.job_id).await?;
        Ok(None)
    }

    /// The job of `lock`. Its starter writes the job right after the lock, so a start racing
    /// it waits a moment for that write instead of refusing with ABORTED.
    async fn job_of(&self, lock: &LockDocument) -> Result<Option<JobDocument>, AppError> {
        for _ in 0..JOB_WRITE_POLLS {
            if let Some(job) = self.jobs.find_one(doc! { "_id": &lock.job_id }).await? {
                return Ok(Some(job));
            }
            tokio::time::sleep(JOB_WRITE_POLL).await;
        }
        Ok(None)
    }

    /// Frees the data set for a new job, if `job_id` still holds it.
    async fn release(&self, data_set: &str, job_id: &str) -> Result<(), AppError> {
        self.locks
            .delete_one(doc! { "_id": data_set, "job_id": job_id })
            .await?;
        Ok(())
    }

    /// The oldest queued job, now RUNNING under `owner`'s lease.
    pub async fn claim_queued(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<SyncJob>, AppError> {
        let now = DateTime::now();
        let claimed = self
            .jobs
            .find_one_and_update(
                doc! { "state": JobState::Queued.name() },
                doc! { "$set": {
                    "state": JobState::Running.name(),
                    "started_at": now,
                    "lease_owner": owner,
                    "lease_until": bson_after(now, lease),
                } },
            )
            .sort(doc! { "requested_at": 1 })
            .return_document(ReturnDocument::After)
            .await?;
        claimed.map(SyncJob::try_from).transpose()
    }

    /// Renews `owner`'s lease on a running job; false once it no longer holds it.
    pub async fn renew(
        &self,
        job_id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, AppError> {
        let result = self
            .jobs
            .update_one(
                doc! { "_id": job_id, "state": JobState::Running.name(), "lease_owner": owner },
                doc! { "$set": { "lease_until": bson_after(DateTime::now(), lease) } },
            )
            .await?;
        Ok(result.matched_count == 1)
    }

    /// Writes a running job's progress; false once `owner` no longer holds it.
    pub async fn save_progress(&self, job: &SyncJob, owner: &str) -> Result<bool, AppError> {
        let result = self
            .jobs
            .update_one(
                doc! { "_id": &job.id, "state": JobState::Running.name(), "lease_owner": owner },
                doc! { "$set": progress(job) },
            )
            .await?;
        Ok(result.matched_count == 1)
    }

    /// Ends a running job as `job.state` says (with its final progress) and frees its data
    /// set; false if `owner` no longer held it (nothing is written then).
    pub async fn finish(&self, job: &SyncJob, owner: &str) -> Result<bool, AppError> {
        let mut fields = progress(job);
        fields.insert("state", job.state.name());
        fields.insert("finished_at", job.finished_at.map(bson_time));
        fields.insert("failure_message", &job.failure_message);
        fields.insert("failure_notice_pending", job.state == JobState::Failed);
        fields.insert("lease_owner", None::<String>);
        fields.insert("lease_until", None::<DateTime>);
        let result = self
            .jobs
            .update_one(
                doc! { "_id": &job.id, "state": JobState::Running.name(), "lease_owner": owner },
                doc! { "$set": fields },
            )
            .await?;
        if result.matched_count == 1 {
            self.release(job.data_set.name(), &job.id).await?;
        }
        Ok(result.matched_count == 1)
    }

    /// Fails the running jobs whose lease ran out (their worker stopped) and frees their data
    /// sets; answers the jobs it failed. Each is failed by one conditional update, so of two
    /// replicas sweeping at once only one fails (and reports) a job.
    pub async fn fail_abandoned(&self) -> Result<Vec<SyncJob>, AppError> {
        let now = DateTime::now();
        let expired = doc! {
            "state": JobState::Running.name(),
            "lease_until": { "$lt": now },
        };
        let candidates: Vec<JobDocument> = self
            .jobs
            .find(expired.clone())
            .limit(20)
            .await?
            .try_collect()
            .await?;
        let mut failed = Vec::new();
        for candidate in candidates {
            let mut filter = expired.clone();
            filter.insert("_id", &candidate.id);
            let updated = self
                .jobs
                .find_one_and_update(
                    filter,
                    doc! { "$set": {
                        "state": JobState::Failed.name(),
                        "finished_at": now,
                        "failure_message": WORKER_LOST,
                        "failure_notice_pending": true,
                        "lease_owner": None::<String>,
                        "lease_until": None::<DateTime>,
                    } },
                )
                .return_document(ReturnDocument::After)
                .await?;
            if let Some(updated) = updated {
                let job = SyncJob::try_from(updated)?;
                self.release(job.data_set.name(), &job.id).await?;
                failed.push(job);
            }
        }
        Ok(failed)
    }

    /// Failed jobs whose SYNC_JOB_FAILED event NotifyAPI has not taken yet, oldest first.
    pub async fn pending_failure_notices(&self) -> Result<Vec<SyncJob>, AppError> {
        self.jobs
            .find(doc! { "state": JobState::Failed.name(), "failure_notice_pending": true })
            .sort(doc! { "_id": 1 })
            .limit(20)
            .await?
            .map_err(AppError::from)
            .and_then(|document| async move { SyncJob::try_from(document) })
            .try_collect()
            .await
    }

    pub async fn failure_notice_sent(&self, job_id: &str) -> Result<(), AppError> {
        self.jobs
            .update_one(
                doc! { "_id": job_id },
                doc! { "$set": { "failure_notice_pending": false } },
            )
            .await?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<SyncJob>, AppError> {
        self.jobs
            .find_one(doc! { "_id": id })
            .await?
            .map(SyncJob::try_from)
            .transpose()
    }

    /// Up to `limit` jobs matching `filter`, newest first, after the job `after`.
    pub async fn page(
        &self,
        filter: &JobFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SyncJob>, AppError> {
        let mut query = doc! {};
        if let Some(data_set) = filter.data_set {
            query.insert("data_set", data_set.name());
        }
        if !filter.states.is_empty() {
            let names: Vec<&str> = filter.states.iter().map(|state| state.name()).collect();
            query.insert("state", doc! { "$in": names });
        }
        if let Some(after) = after {
            query.insert("_id", doc! { "$lt": after });
        }
        let options = FindOptions::builder()
            .sort(doc! { "_id": -1 })
            .limit(limit)
            .build();
        self.jobs
            .find(query)
            .with_options(options)
            .await?
            .map_err(AppError::from)
            .and_then(|document| async move { SyncJob::try_from(document) })
            .try_collect()
            .await
    }
}
