//! Synchronization jobs: IT starts, lists and watches them ([`SyncJobs`]); every replica's
//! [`SyncWorker`] runs queued jobs batch by batch under a lease, fails the jobs whose worker
//! stopped, and tells IT about failed jobs through NotifyAPI (SYNC_JOB_FAILED), at least once.

use std::time::Duration;

use astro_shared::{
    AppError,
    activity::ActivityLog,
    auth::Caller,
    backoff::Backoff,
    paging::{Page, page_size, read_limit},
    telemetry::adopt_traceparent,
};
use futures::stream::BoxStream;
use tonic::Code;
use tracing::Instrument as _;

use crate::{
    clients::{notify::NotifyClient, sync::SyncTargets},
    domain::{
        self,
        sync_jobs::{
            BatchOutcome, DataSet, JobFilter, JobPacing, JobState, SyncJob, already_running,
        },
    },
    store::{UserStore, sync_jobs::Start, sync_jobs::SyncJobStore},
};

/// Page sizes of ListSyncJobs.
const PAGE_DEFAULT: u32 = 20;
const PAGE_MAX: u32 = 100;
/// How often a watch looks at its job.
const WATCH_POLL: Duration = Duration::from_millis(250);
/// How often an idle worker looks for work.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// A batch whose dependency is unreachable is tried this many times (1 s, 2 s, 4 s apart)
/// before the job fails.
const BATCH_ATTEMPTS: u32 = 4;
const BATCH_BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(4));

/// What a StartSyncJob did.
pub struct Started {
    pub started: Vec<SyncJob>,
    /// Requested data sets' jobs that were already queued or running.
    pub running: Vec<SyncJob>,
}

/// IT's side of the jobs.
#[derive(Clone)]
pub struct SyncJobs {
    store: SyncJobStore,
    activity: ActivityLog,
}

impl SyncJobs {
    pub fn new(store: SyncJobStore, activity: ActivityLog) -> Self {
        Self { store, activity }
    }

    /// Queues one job per data set that has none queued or running. When every requested
    /// data set has one already, the answer is ALREADY_EXISTS naming those jobs.
    pub async fn start(
        &self,
        it: &Caller,
        data_sets: &[DataSet],
        traceparent: &str,
    ) -> Result<Started, AppError> {
        let mut started = Vec::new();
        let mut running = Vec::new();
        for &data_set in data_sets {
            let job = SyncJob::queued(data_set, &it.user_id, traceparent, domain::now());
            match self.store.start(&job).await? {
                Start::Started => {
                    self.activity.info(
                        "SYNC_JOB_STARTED",
                        Some(&it.user_id),
                        format!("sync job of {} queued", data_set.name()),
                        &[("job_id", &job.id), ("data_set", data_set.name())],
                    );
                    started.push(job);
                }
                Start::Running(job) => running.push(*job),
            }
        }
        if started.is_empty() {
            return Err(already_running(&running));
        }
        Ok(Started { started, running })
    }

    pub async fn get(&self, id: &str) -> Result<SyncJob, AppError> {
        self.store
            .get(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("sync job {id}")))
    }

    /// One page, newest first; its token continues only the same filter.
    pub async fn list(
        &self,
        filter: &JobFilter,
        page_token: &str,
        requested_size: i32,
    ) -> Result<Page<SyncJob>, AppError> {
        let size = page_size(requested_size, PAGE_DEFAULT, PAGE_MAX)?;
        let query = filter.query_key();
        let after: Option<String> = query.position(page_token)?;
        let rows = self
            .store
            .page(filter, after.as_deref(), read_limit(size))
            .await?;
        Ok(Page::from_rows(rows, size, query, |job| job.id.clone()))
    }

    /// The job now, then each time it changes, until it has finished. NOT_FOUND before the
    /// stream starts if there is no such job.
    pub async fn watch(
        &self,
        id: &str,
    ) -> Result<BoxStream<'static, Result<SyncJob, AppError>>, AppError> {
        let first = self.get(id).await?;
        let store = self.store.clone();
        let stream =
            futures::stream::unfold((Some(first), None::<SyncJob>), move |(next, last)| {
                let store = store.clone();
                async move {
                    // (the job to send now, the last one sent)
                    let mut next = next;
                    loop {
                        if let Some(job) = next.take()
                            && last.as_ref() != Some(&job)
                        {
                            return Some((Ok(job.clone()), (None, Some(job))));
                        }
                        if last.as_ref().is_some_and(|job| job.state.is_finished()) {
                            return None;
                        }
                        tokio::time::sleep(WATCH_POLL).await;
                        let id = last.as_ref().map(|job| job.id.clone()).unwrap_or_default();
                        match store.get(&id).await {
                            Ok(Some(job)) => next = Some(job),
                            // Jobs are never deleted: a job gone is the database's doing.
                            Ok(None) => return None,
                            Err(error) => return Some((Err(error), (None, None))),
                        }
                    }
                }
            });
        Ok(Box::pin(stream))
    }
}

/// Runs the jobs of this replica.
pub struct SyncWorker {
    store: SyncJobStore,
    users: UserStore,
    targets: SyncTargets,
    notify: NotifyClient,
    pacing: JobPacing,
    activity: ActivityLog,
    /// This replica's name on the leases it holds.
    owner: String,
}

impl SyncWorker {
    pub fn new(
        store: SyncJobStore,
        users: UserStore,
        targets: SyncTargets,
        notify: NotifyClient,
        pacing: JobPacing,
        activity: ActivityLog,
    ) -> Self {
        Self {
            store,
            users,
            targets,
            notify,
            pacing,
            activity,
            owner: format!("{}-{}", domain::SERVICE_NAME, uuid::Uuid::new_v4()),
        }
    }

    /// Runs forever (until the process stops): fails abandoned jobs, reports failures, and
    /// runs each job it claims in a task of its own (the data sets' jobs run side by side).
    pub async fn run(self) {
        let worker = std::sync::Arc::new(self);
        loop {
            worker.fail_abandoned().await;
            worker.report_failures().await;
            match worker
                .store
                .claim_queued(&worker.owner, worker.pacing.lease)
                .await
            {
                Ok(Some(job)) => {
                    let span = job_span(&job);
                    let runner = worker.clone();
                    tokio::spawn(async move { runner.execute(job).await }.instrument(span));
                }
                Ok(None) => tokio::time::sleep(IDLE_POLL).await,
                Err(error) => {
                    tracing::warn!(error = %error, "sync worker cannot read SystemDB");
                    tokio::time::sleep(IDLE_POLL * 4).await;
                }
            }
        }
    }

    async fn fail_abandoned(&self) {
        match self.store.fail_abandoned().await {
            Ok(failed) => {
                for job in failed {
                    tracing::warn!(job_id = %job.id, data_set = job.data_set.name(), "sync job's lease ran out: failed");
                    self.log_failure(&job);
                }
            }
            Err(error) => tracing::warn!(error = %error, "sync worker cannot sweep abandoned jobs"),
        }
    }

    /// Hands NotifyAPI the failed jobs it has not taken yet; one it refuses now is tried again
    /// on the next round.
    async fn report_failures(&self) {
        let pending = match self.store.pending_failure_notices().await {
            Ok(pending) => pending,
            Err(error) => {
                tracing::warn!(error = %error, "sync worker cannot read failed jobs");
                return;
            }
        };
        for job in pending {
            let sent = async {
                self.notify.publish_sync_job_failed(&job).await?;
                self.store.failure_notice_sent(&job.id).await
            }
            .instrument(job_span(&job))
            .await;
            if let Err(error) = sent {
                tracing::info!(job_id = %job.id, status = %error.code(), "SYNC_JOB_FAILED not taken by NotifyAPI yet");
            }
        }
    }

    /// Runs `job` to its end, renewing the lease meanwhile; stops early if the lease is lost
    /// (another replica failed the job when it seemed dead).
    async fn execute(&self, job: SyncJob) {
        let job_id = job.id.clone();
        let heartbeat = self.heartbeat(&job_id);
        tokio::pin!(heartbeat);
        tokio::select! {
            () = self.run_batches(job) => {}
            () = &mut heartbeat => {}
        }
    }

    /// Renews the lease every third of it; ends when the lease is lost.
    async fn heartbeat(&self, job_id: &str) {
        loop {
            tokio::time::sleep(self.pacing.lease / 3).await;
            match self
                .store
                .renew(job_id, &self.owner, self.pacing.lease)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(job_id, "sync job lease lost: this worker stops");
                    return;
                }
                Err(error) => tracing::warn!(job_id, error = %error, "sync job lease not renewed"),
            }
        }
    }

    async fn run_batches(&self, mut job: SyncJob) {
        tracing::info!(job_id = %job.id, data_set = job.data_set.name(), "sync job running");
        loop {
            let outcome = match self.batch_with_retries(&job).await {
                Ok(outcome) => outcome,
                Err(error) => {
                    tracing::warn!(job_id = %job.id, error = %error, "sync job stopped by a failing batch");
                    job.state = JobState::Failed;
                    job.failure_message = failure_text(&error);
                    break;
                }
            };
            if job.record(outcome) {
                (job.state, job.failure_message) = job.outcome();
                break;
            }
            match self.store.save_progress(&job, &self.owner).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(job_id = %job.id, "sync job taken from this worker: it stops");
                    return;
                }
                Err(error) => {
                    tracing::warn!(job_id = %job.id, error = %error, "sync job progress not saved")
                }
            }
            tokio::time::sleep(self.pacing.pause).await;
        }
        job.finished_at = Some(domain::now());
        match self.store.finish(&job, &self.owner).await {
            Ok(true) => {
                tracing::info!(
                    job_id = %job.id,
                    state = job.state.name(),
                    items_processed = job.items_processed,
                    items_changed = job.items_changed,
                    items_failed = job.items_failed,
                    "sync job finished"
                );
                if job.state == JobState::Failed {
                    self.log_failure(&job);
                    self.report_failures().await;
                }
            }
            Ok(false) => {
                tracing::warn!(job_id = %job.id, "sync job taken from this worker before it finished")
            }
            // The lease runs out and the sweep fails the job: it never stays RUNNING.
            Err(error) => {
                tracing::warn!(job_id = %job.id, error = %error, "sync job end not saved")
            }
        }
    }

    /// One batch; a dependency that is unreachable or slow is tried again a few times.
    async fn batch_with_retries(&self, job: &SyncJob) -> Result<BatchOutcome, AppError> {
        let mut attempt = 1;
        loop {
            match self.batch(job).await {
                Err(error) if attempt < BATCH_ATTEMPTS && transient(&error) => {
                    tracing::info!(job_id = %job.id, attempt, error = %error, "sync batch retried");
                    tokio::time::sleep(BATCH_BACKOFF.ceiling(attempt)).await;
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    async fn batch(&self, job: &SyncJob) -> Result<BatchOutcome, AppError> {
        let size = self.pacing.batch_size;
        match job.data_set {
            DataSet::Catalogue => {
                self.targets
                    .sync_catalogue(&job.id, &job.cursor, size)
                    .await
            }
            DataSet::UserProfiles => {
                let after = Some(job.cursor.as_str()).filter(|cursor| !cursor.is_empty());
                let (accounts, total) = self.users.walk(after, i64::from(size)).await?;
                let changed = self.targets.mirror_profiles(&accounts).await?;
                let full = accounts.len() >= usize::try_from(size).unwrap_or(usize::MAX);
                Ok(BatchOutcome {
                    items_total: total.map(|total| i64::try_from(total).unwrap_or(i64::MAX)),
                    processed: i64::try_from(accounts.len()).unwrap_or(i64::MAX),
                    changed,
                    failed: 0,
                    errors: Vec::new(),
                    next_cursor: accounts
                        .last()
                        .filter(|_| full)
                        .map(|account| account.id.clone()),
                })
            }
        }
    }

    fn log_failure(&self, job: &SyncJob) {
        self.activity.warn(
            "SYNC_JOB_FAILED",
            Some(&job.requested_by),
            format!(
                "sync job of {} failed: {}",
                job.data_set.name(),
                job.failure_message
            ),
            &[("job_id", &job.id), ("data_set", job.data_set.name())],
        );
    }
}

fn transient(error: &AppError) -> bool {
    matches!(
        error.code(),
        Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted | Code::Aborted
    )
}

/// Why a batch stopped the job, for IT: the dependency, never internal text.
fn failure_text(error: &AppError) -> String {
    match error {
        AppError::Unavailable { dependency, .. } => {
            format!("{dependency} stayed unreachable after {BATCH_ATTEMPTS} attempts")
        }
        AppError::DeadlineExceeded => "a batch did not finish in time".to_owned(),
        _ => format!("a batch failed ({})", error.code().description()),
    }
}

/// A span in the trace of the StartSyncJob request, so the job's batches join it.
fn job_span(job: &SyncJob) -> tracing::Span {
    let span = tracing::info_span!(
        "sync_job",
        otel.name = "sync_job",
        job_id = %job.id,
        data_set = job.data_set.name(),
    );
    adopt_traceparent(&span, &job.traceparent);
    span
}
