//! Synchronization jobs: what one is, how its progress adds up, and the rules of starting one.
//! A job reconciles one data set batch by batch; it is claimed by one SystemAPI replica at a time
//! through a lease, and a job whose lease runs out while it is running has lost its worker.

use std::time::Duration;

use astro_shared::{AppError, paging::QueryKey};
use chrono::{DateTime, Utc};

/// At most this many item errors are kept per job (the first ones).
pub const MAX_ERRORS: usize = 100;

/// Why a job whose worker stopped is failed; shown to IT and sent in the e-mail.
pub const WORKER_LOST: &str =
    "its worker stopped before finishing (SystemAPI restarted or crashed); start the job again";

/// A data set that can be synchronized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataSet {
    /// CacheDB's public catalogue, rebuilt from OperationsDB by BookingAPI.
    Catalogue,
    /// Account data mirrored from SystemDB into agency and traveler records.
    UserProfiles,
}

impl DataSet {
    pub const ALL: [Self; 2] = [Self::Catalogue, Self::UserProfiles];

    /// The name stored in SystemDB, used in the one-job-per-data-set lock and in e-mails.
    pub fn name(self) -> &'static str {
        match self {
            Self::Catalogue => "catalogue",
            Self::UserProfiles => "user_profiles",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|data_set| data_set.name() == name)
    }
}

/// The data sets a StartSyncJob asks for, each once, in a stable order: none means all.
pub fn requested_data_sets(requested: &[Option<DataSet>]) -> Result<Vec<DataSet>, AppError> {
    if requested.is_empty() {
        return Ok(DataSet::ALL.to_vec());
    }
    let mut data_sets = requested
        .iter()
        .map(|data_set| {
            data_set.ok_or_else(|| AppError::invalid("data_sets", "holds an unknown data set"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    data_sets.sort();
    data_sets.dedup();
    Ok(data_sets)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl JobState {
    pub const ALL: [Self; 4] = [Self::Queued, Self::Running, Self::Succeeded, Self::Failed];

    pub fn name(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.name() == name)
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// One item a job could not synchronize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    pub item_id: String,
    pub message: String,
    pub time: DateTime<Utc>,
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Items the whole job covers, when the batch knows it.
    pub items_total: Option<i64>,
    pub processed: i64,
    pub changed: i64,
    pub failed: i64,
    pub errors: Vec<ItemError>,
    /// Where the next batch starts; `None` when the job is done.
    pub next_cursor: Option<String>,
}

/// A synchronization job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncJob {
    /// UUIDv7: ids sort by request time.
    pub id: String,
    pub data_set: DataSet,
    pub state: JobState,
    /// The IT employee who started it.
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    /// The trace of the StartSyncJob request, continued by the job's batches.
    pub traceparent: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub items_total: i64,
    pub items_processed: i64,
    pub items_changed: i64,
    pub items_failed: i64,
    pub errors: Vec<ItemError>,
    pub failure_message: String,
    /// Where the next batch starts (empty: at the beginning).
    pub cursor: String,
}

impl SyncJob {
    /// A job just accepted, waiting for a worker.
    pub fn queued(
        data_set: DataSet,
        requested_by: &str,
        traceparent: &str,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            data_set,
            state: JobState::Queued,
            requested_by: requested_by.to_owned(),
            requested_at: now,
            traceparent: traceparent.to_owned(),
            started_at: None,
            finished_at: None,
            items_total: 0,
            items_processed: 0,
            items_changed: 0,
            items_failed: 0,
            errors: Vec::new(),
            failure_message: String::new(),
            cursor: String::new(),
        }
    }

    /// 0 to 100, rounded down; 100 once finished.
    pub fn percent_done(&self) -> i32 {
        if self.state.is_finished() {
            return 100;
        }
        if self.items_total <= 0 {
            return 0;
        }
        let percent = self.items_processed.clamp(0, self.items_total) * 100 / self.items_total;
        i32::try_from(percent).unwrap_or(100).min(99)
    }

    /// Adds a batch's outcome: counts, the first [`MAX_ERRORS`] errors and where to go on.
    /// Answers whether the job is done.
    pub fn record(&mut self, outcome: BatchOutcome) -> bool {
        if let Some(total) = outcome.items_total {
            self.items_total = total;
        }
        self.items_processed += outcome.processed;
        self.items_changed += outcome.changed;
        self.items_failed += outcome.failed;
        let room = MAX_ERRORS.saturating_sub(self.errors.len());
        self.errors.extend(outcome.errors.into_iter().take(room));
        // Items added while the job ran are processed too: the total never reads below them.
        self.items_total = self.items_total.max(self.items_processed);
        match outcome.next_cursor {
            Some(cursor) => {
                self.cursor = cursor;
                false
            }
            None => true,
        }
    }

    /// How a job that went through every batch ends: with a failed item it has failed.
    pub fn outcome(&self) -> (JobState, String) {
        if self.items_failed > 0 {
            (
                JobState::Failed,
                format!(
                    "{} of {} items failed",
                    self.items_failed, self.items_processed
                ),
            )
        } else {
            (JobState::Succeeded, String::new())
        }
    }
}

/// How jobs are run: the lease a worker holds on its job, the batch size and the pause between
/// batches (to spare the databases a job reads and writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobPacing {
    pub lease: Duration,
    pub batch_size: u32,
    pub pause: Duration,
}

/// ListSyncJobs' filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub data_set: Option<DataSet>,
    /// Empty: any state.
    pub states: Vec<JobState>,
}

impl JobFilter {
    /// The fingerprint page tokens of this filter carry.
    pub fn query_key(&self) -> QueryKey {
        let mut parts = vec!["ListSyncJobs", self.data_set.map_or("", DataSet::name)];
        parts.extend(self.states.iter().map(|state| state.name()));
        QueryKey::of(&parts)
    }
}

/// A job id of a request (a UUID, as every job's is).
pub fn parse_job_id(raw: &str) -> Result<String, AppError> {
    if raw.is_empty() {
        return Err(AppError::invalid("id", "is required"));
    }
    uuid::Uuid::parse_str(raw)
        .map(|id| id.to_string())
        .map_err(|_| AppError::invalid("id", "must be a job id (UUID)"))
}

/// The answer to a second start on a data set whose job is still queued or running.
pub fn already_running(running: &[SyncJob]) -> AppError {
    let jobs: Vec<String> = running
        .iter()
        .map(|job| format!("{} ({})", job.id, job.data_set.name()))
        .collect();
    AppError::AlreadyExists(format!(
        "a sync job is already queued or running for this data set: {}",
        jobs.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> SyncJob {
        SyncJob::queued(DataSet::UserProfiles, "it-1", "", Utc::now())
    }

    #[test]
    fn no_data_set_means_all_and_duplicates_count_once() {
        assert_eq!(
            requested_data_sets(&[]).expect("all"),
            DataSet::ALL.to_vec()
        );
        assert_eq!(
            requested_data_sets(&[Some(DataSet::UserProfiles), Some(DataSet::UserProfiles)])
                .expect("one"),
            vec![DataSet::UserProfiles]
        );
        let unknown = requested_data_sets(&[Some(DataSet::Catalogue), None]).expect_err("unknown");
        assert_eq!(unknown.code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn progress_is_rounded_down_and_100_only_once_finished() {
        let mut job = job();
        assert_eq!(job.percent_done(), 0);
        let done = job.record(BatchOutcome {
            items_total: Some(3),
            processed: 2,
            changed: 1,
            next_cursor: Some("b".into()),
            ..BatchOutcome::default()
        });
        assert!(!done);
        assert_eq!(job.percent_done(), 66);
        assert_eq!(job.cursor, "b");
        assert!(job.record(BatchOutcome {
            processed: 1,
            ..BatchOutcome::default()
        }));
        assert_eq!((job.items_processed, job.items_changed), (3, 1));
        assert_eq!(job.percent_done(), 99, "all items done, not yet finished");
        job.state = JobState::Succeeded;
        assert_eq!(job.percent_done(), 100);
    }

    #[test]
    fn only_the_first_errors_are_kept_and_a_failed_item_fails_the_job() {
        let mut job = job();
        let error = |index: usize| ItemError {
            item_id: index.to_string(),
            message: "no".into(),
            time: Utc::now(),
        };
        for batch in 0..3 {
            job.record(BatchOutcome {
                processed: 50,
                failed: 50,
                errors: (0..50).map(|index| error(batch * 50 + index)).collect(),
                next_cursor: Some(batch.to_string()),
                ..BatchOutcome::default()
            });
        }
        assert_eq!(job.errors.len(), MAX_ERRORS);
        assert_eq!(job.errors[0].item_id, "0");
        assert_eq!(
            job.items_total, 150,
            "the total never reads below what was processed"
        );
        let (state, message) = job.outcome();
        assert_eq!(state, JobState::Failed);
        assert_eq!(message, "150 of 150 items failed");
    }

    #[test]
    fn names_round_trip() {
        for data_set in DataSet::ALL {
            assert_eq!(DataSet::from_name(data_set.name()), Some(data_set));
        }
        for state in JobState::ALL {
            assert_eq!(JobState::from_name(state.name()), Some(state));
        }
    }
}
