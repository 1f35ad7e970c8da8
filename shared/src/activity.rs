//! Activity logs: the client every service uses to record its significant actions in SystemDB
//! through SystemAPI, without ever slowing the request that records them.
//!
//! [`ActivityLog::record`] builds the entry (id, time, trace id of the current span) and hands
//! it to a bounded buffer with `try_send`: when the buffer is full the entry is dropped and
//! counted, the caller never waits. A background task sends the buffer in batches (up to
//! [`ActivityLogOptions::max_batch`] entries or [`ActivityLogOptions::max_delay`]) to a
//! [`LogSink`]: `SystemInternalService.IngestLogs` for every service, or a direct store for
//! SystemAPI itself. A batch that keeps failing is dropped after a few retries, and counted.
//!
//! Entries are trimmed to the contract's limits here, so a batch is never refused as a whole
//! because of one long message.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use astro_proto::astrobookings::common::v1::MeshService;
use astro_proto::astrobookings::system::v1::{
    IngestLogsRequest, LogEntry, LogLevel,
    system_internal_service_client::SystemInternalServiceClient,
};
use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tonic::Code;

use crate::{AppError, grpc_client::TracedChannel, service_auth::ServiceIdentity};

/// Longest event type (characters), as in the `LogEntry` contract.
pub const MAX_EVENT_TYPE_CHARS: usize = 100;
/// Longest message (characters).
pub const MAX_MESSAGE_CHARS: usize = 4_000;
/// Most attributes per entry.
pub const MAX_ATTRIBUTES: usize = 32;
/// Longest attribute key (characters); the contract is silent, this keeps keys to names.
pub const MAX_ATTRIBUTE_KEY_CHARS: usize = 100;
/// Longest attribute value (characters).
pub const MAX_ATTRIBUTE_VALUE_CHARS: usize = 500;
/// Longest service name and user id (characters).
pub const MAX_NAME_CHARS: usize = 100;
/// Most entries in one `IngestLogs` call.
pub const MAX_INGEST_BATCH: usize = 1_000;

/// Where batches of entries go.
pub trait LogSink: Send + Sync + 'static {
    /// Stores `entries` (idempotent per entry id). `InvalidArgument` means the batch can never
    /// be stored and is not retried; any other error is retried.
    fn ingest<'a>(&'a self, entries: &'a [LogEntry]) -> BoxFuture<'a, Result<(), AppError>>;
}

/// `SystemInternalService.IngestLogs` over the mesh.
pub struct GrpcLogSink {
    client: SystemInternalServiceClient<TracedChannel>,
}

impl GrpcLogSink {
    pub fn new(system: TracedChannel) -> Self {
        Self {
            client: SystemInternalServiceClient::new(system),
        }
    }
}

impl LogSink for GrpcLogSink {
    fn ingest<'a>(&'a self, entries: &'a [LogEntry]) -> BoxFuture<'a, Result<(), AppError>> {
        let mut client = self.client.clone();
        let request = IngestLogsRequest {
            entries: entries.to_vec(),
        };
        Box::pin(async move {
            match client.ingest_logs(request).await {
                Ok(_) => Ok(()),
                Err(status) if status.code() == Code::InvalidArgument => {
                    Err(AppError::invalid("entries", status.message().to_owned()))
                }
                Err(status) => Err(AppError::unavailable(
                    "SystemAPI",
                    anyhow::anyhow!("IngestLogs: {}: {}", status.code(), status.message()),
                )),
            }
        })
    }
}

/// Buffer and batching limits.
#[derive(Debug, Clone)]
pub struct ActivityLogOptions {
    /// Entries waiting to be sent; beyond this, new entries are dropped.
    pub capacity: usize,
    /// Most entries per batch (at most [`MAX_INGEST_BATCH`]).
    pub max_batch: usize,
    /// Longest time an entry waits for its batch to fill.
    pub max_delay: Duration,
    /// Waits before each retry of a failed batch; when they run out the batch is dropped.
    pub retry_delays: Vec<Duration>,
    /// Least time between two warnings about dropped entries.
    pub warn_interval: Duration,
}

impl Default for ActivityLogOptions {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            max_batch: 200,
            max_delay: Duration::from_millis(500),
            retry_delays: vec![
                Duration::from_millis(250),
                Duration::from_secs(1),
                Duration::from_secs(4),
            ],
            warn_interval: Duration::from_secs(10),
        }
    }
}

/// A handle to record activity; cheap to clone, shared by every request of a service.
#[derive(Clone)]
pub struct ActivityLog {
    service: &'static str,
    sender: mpsc::Sender<LogEntry>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for ActivityLog {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ActivityLog")
            .field("service", &self.service)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl ActivityLog {
    /// Sends to SystemAPI's `IngestLogs` over `system`. `service` names the producer as in
    /// `common.v1.Origin.service` (e.g. `booking-api`). Spawns the sending task, so it must be
    /// called inside the Tokio runtime.
    pub fn start(system: TracedChannel, service: &'static str) -> Self {
        Self::with_sink(
            Arc::new(GrpcLogSink::new(system)),
            service,
            ActivityLogOptions::default(),
        )
    }

    /// [`Self::start`] with a lazy channel to SystemAPI at `system_url` (a service's
    /// `ASTRO_<SVC>_SYSTEM_URL`): the one line a service needs.
    pub fn connect(
        system_url: &str,
        service: &'static str,
        identity: &Arc<ServiceIdentity>,
    ) -> anyhow::Result<Self> {
        Ok(Self::start(
            identity.channel(system_url, Duration::from_secs(5), MeshService::System)?,
            service,
        ))
    }

    /// Sends to any sink (SystemAPI stores its own entries directly).
    pub fn with_sink(
        sink: Arc<dyn LogSink>,
        service: &'static str,
        options: ActivityLogOptions,
    ) -> Self {
        let (sender, receiver) = mpsc::channel(options.capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(send_batches(receiver, sink, Arc::clone(&dropped), options));
        Self {
            service,
            sender,
            dropped,
        }
    }

    /// The producing service's name.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Entries lost so far (buffer full, or batches that could not be delivered).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Records one significant action. Never blocks and never fails: if the buffer is full the
    /// entry is dropped and counted. The trace id is the current span's; `user_id` is the
    /// acting user, `None` for actions of the system itself. The message must hold no secret
    /// nor personal data beyond ids.
    pub fn record(
        &self,
        level: LogLevel,
        event_type: &str,
        user_id: Option<&str>,
        message: impl Into<String>,
        attributes: &[(&str, &str)],
    ) {
        let entry = self.entry(level, event_type, user_id, message.into(), attributes);
        if self.sender.try_send(entry).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// [`Self::record`] at INFO.
    pub fn info(
        &self,
        event_type: &str,
        user_id: Option<&str>,
        message: impl Into<String>,
        attributes: &[(&str, &str)],
    ) {
        self.record(LogLevel::Info, event_type, user_id, message, attributes);
    }

    /// [`Self::record`] at WARN.
    pub fn warn(
        &self,
        event_type: &str,
        user_id: Option<&str>,
        message: impl Into<String>,
        attributes: &[(&str, &str)],
    ) {
        self.record(LogLevel::Warn, event_type, user_id, message, attributes);
    }

    fn entry(
        &self,
        level: LogLevel,
        event_type: &str,
        user_id: Option<&str>,
        message: String,
        attributes: &[(&str, &str)],
    ) -> LogEntry {
        let event_type = truncate(event_type, MAX_EVENT_TYPE_CHARS);
        // The message is required; an empty one would make the whole batch invalid.
        let message = if message.trim().is_empty() {
            event_type.clone()
        } else {
            truncate(&message, MAX_MESSAGE_CHARS)
        };
        let trace_id = crate::telemetry::trace_id(&tracing::Span::current());
        LogEntry {
            id: uuid::Uuid::now_v7().to_string(),
            time: Some(now()),
            service: truncate(self.service, MAX_NAME_CHARS),
            level: level.into(),
            event_type,
            user_id: truncate(user_id.unwrap_or_default(), MAX_NAME_CHARS),
            // Outside any trace the id is all zeros: store "none" as the contract says.
            trace_id: if trace_id.bytes().all(|digit| digit == b'0') {
                String::new()
            } else {
                trace_id
            },
            message,
            attributes: attributes
                .iter()
                .take(MAX_ATTRIBUTES)
                .map(|(key, value)| {
                    (
                        truncate(key, MAX_ATTRIBUTE_KEY_CHARS),
                        truncate(value, MAX_ATTRIBUTE_VALUE_CHARS),
                    )
                })
                .collect(),
        }
    }
}

fn now() -> prost_types::Timestamp {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(elapsed.subsec_nanos()).unwrap_or(0),
    }
}

/// At most `max` characters (not bytes: never splits a character).
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

/// The background task: batch, send, retry, drop; ends once every handle is dropped and the
/// buffer is drained.
async fn send_batches(
    mut receiver: mpsc::Receiver<LogEntry>,
    sink: Arc<dyn LogSink>,
    dropped: Arc<AtomicU64>,
    options: ActivityLogOptions,
) {
    let max_batch = options.max_batch.clamp(1, MAX_INGEST_BATCH);
    let mut warned = DropWarning::default();
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        if receiver.recv_many(&mut batch, max_batch).await == 0 {
            return;
        }
        let deadline = tokio::time::Instant::now() + options.max_delay;
        let mut closed = false;
        while batch.len() < max_batch {
            let wanted = max_batch - batch.len();
            match tokio::time::timeout_at(deadline, receiver.recv_many(&mut batch, wanted)).await {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(_) => {}
                Err(_elapsed) => break,
            }
        }
        deliver(sink.as_ref(), &batch, &dropped, &options.retry_delays).await;
        batch.clear();
        warned.maybe_warn(dropped.load(Ordering::Relaxed), options.warn_interval);
        if closed {
            return;
        }
    }
}

async fn deliver(
    sink: &dyn LogSink,
    batch: &[LogEntry],
    dropped: &AtomicU64,
    retry_delays: &[Duration],
) {
    let mut retries = retry_delays.iter();
    let error = loop {
        match sink.ingest(batch).await {
            Ok(()) => return,
            Err(error @ AppError::InvalidArgument { .. }) => break error,
            Err(error) => match retries.next() {
                Some(delay) => {
                    tracing::debug!(error = %error, retry_in_ms = delay.as_millis(), "activity log batch not stored yet");
                    tokio::time::sleep(*delay).await;
                }
                None => break error,
            },
        }
    };
    dropped.fetch_add(
        u64::try_from(batch.len()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    tracing::warn!(entries = batch.len(), error = %error, "activity log batch dropped");
}

/// Warns when the drop counter grew, at most once per interval (a flood of warnings would
/// be its own outage).
#[derive(Default)]
struct DropWarning {
    reported: u64,
    last: Option<tokio::time::Instant>,
}

impl DropWarning {
    fn maybe_warn(&mut self, dropped: u64, interval: Duration) {
        if dropped <= self.reported || self.last.is_some_and(|last| last.elapsed() < interval) {
            return;
        }
        tracing::warn!(
            dropped_total = dropped,
            dropped_since_last_warning = dropped - self.reported,
            "activity log entries dropped"
        );
        self.reported = dropped;
        self.last = Some(tokio::time::Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A sink that never answers: SystemAPI hung.
    struct StuckSink;

    impl LogSink for StuckSink {
        fn ingest<'a>(&'a self, _: &'a [LogEntry]) -> BoxFuture<'a, Result<(), AppError>> {
            Box::pin(futures::future::pending())
        }
    }

    /// A sink that keeps what it gets, or fails with `failure` every time.
    #[derive(Default)]
    struct RecordingSink {
        batches: Mutex<Vec<Vec<LogEntry>>>,
        attempts: AtomicU64,
        failure: Option<fn() -> AppError>,
    }

    impl LogSink for RecordingSink {
        fn ingest<'a>(&'a self, entries: &'a [LogEntry]) -> BoxFuture<'a, Result<(), AppError>> {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            let outcome = match self.failure {
                Some(failure) => Err(failure()),
                None => {
                    self.batches.lock().unwrap().push(entries.to_vec());
                    Ok(())
                }
            };
            Box::pin(async move { outcome })
        }
    }

    fn fast(capacity: usize, max_batch: usize) -> ActivityLogOptions {
        ActivityLogOptions {
            capacity,
            max_batch,
            max_delay: Duration::from_millis(20),
            retry_delays: vec![Duration::from_millis(1), Duration::from_millis(1)],
            warn_interval: Duration::ZERO,
        }
    }

    async fn until(mut check: impl FnMut() -> bool) {
        for _ in 0..200 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not met within 2 s");
    }

    // A current-thread runtime: the sending task cannot run while the test records, so the
    // count is exact.
    #[tokio::test(flavor = "current_thread")]
    async fn a_full_buffer_drops_and_counts_instead_of_blocking() {
        let log = ActivityLog::with_sink(Arc::new(StuckSink), "test-api", fast(10, 5));
        let started = std::time::Instant::now();
        for number in 0..1_000 {
            log.info("test.event", None, format!("entry {number}"), &[]);
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "recording never waits"
        );
        assert_eq!(log.dropped(), 990);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn entries_are_sent_in_batches_of_at_most_max_batch() {
        let sink = Arc::new(RecordingSink::default());
        let log = ActivityLog::with_sink(sink.clone(), "test-api", fast(1_000, 200));
        for number in 0..450 {
            log.record(
                LogLevel::Warn,
                "test.event",
                Some("user-1"),
                format!("entry {number}"),
                &[("n", "1")],
            );
        }
        until(|| {
            sink.batches
                .lock()
                .unwrap()
                .iter()
                .map(Vec::len)
                .sum::<usize>()
                == 450
        })
        .await;
        let batches = sink.batches.lock().unwrap();
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [200, 200, 50]
        );
        let first = &batches[0][0];
        assert_eq!(first.service, "test-api");
        assert_eq!(first.level(), LogLevel::Warn);
        assert_eq!(first.user_id, "user-1");
        assert_eq!(first.message, "entry 0");
        assert_eq!(first.attributes["n"], "1");
        assert!(first.time.is_some());
        assert!(uuid::Uuid::parse_str(&first.id).is_ok());
        assert_eq!(first.trace_id, "", "no span, no trace id");
        assert_eq!(log.dropped(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_batch_that_keeps_failing_is_retried_then_dropped_and_counted() {
        let sink = Arc::new(RecordingSink {
            failure: Some(|| AppError::unavailable("SystemAPI", anyhow::anyhow!("down"))),
            ..RecordingSink::default()
        });
        let log = ActivityLog::with_sink(sink.clone(), "test-api", fast(100, 200));
        for _ in 0..7 {
            log.info("test.event", None, "lost", &[]);
        }
        until(|| log.dropped() == 7).await;
        assert_eq!(
            sink.attempts.load(Ordering::SeqCst),
            3,
            "first try and two retries"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_invalid_batch_is_not_retried() {
        let sink = Arc::new(RecordingSink {
            failure: Some(|| AppError::invalid("entries[0].id", "is not a UUID")),
            ..RecordingSink::default()
        });
        let log = ActivityLog::with_sink(sink.clone(), "test-api", fast(100, 200));
        log.info("test.event", None, "refused", &[]);
        until(|| log.dropped() == 1).await;
        assert_eq!(sink.attempts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn entries_are_trimmed_to_the_contract_limits() {
        let sink = Arc::new(RecordingSink::default());
        let log = ActivityLog::with_sink(sink.clone(), "test-api", fast(100, 200));
        let long_value = "é".repeat(MAX_ATTRIBUTE_VALUE_CHARS + 10);
        let keys: Vec<String> = (0..40).map(|number| format!("k{number}")).collect();
        let attributes: Vec<(&str, &str)> = keys
            .iter()
            .map(|key| (key.as_str(), long_value.as_str()))
            .collect();
        log.info(
            &"x".repeat(150),
            None,
            "ü".repeat(MAX_MESSAGE_CHARS + 1),
            &attributes,
        );
        log.info("test.empty", None, "  ", &[]);
        until(|| {
            sink.batches
                .lock()
                .unwrap()
                .iter()
                .map(Vec::len)
                .sum::<usize>()
                == 2
        })
        .await;
        let batches = sink.batches.lock().unwrap();
        let entries: Vec<&LogEntry> = batches.iter().flatten().collect();
        assert_eq!(entries[0].event_type.chars().count(), MAX_EVENT_TYPE_CHARS);
        assert_eq!(entries[0].message.chars().count(), MAX_MESSAGE_CHARS);
        assert_eq!(entries[0].attributes.len(), MAX_ATTRIBUTES);
        assert!(
            entries[0]
                .attributes
                .values()
                .all(|value| value.chars().count() == MAX_ATTRIBUTE_VALUE_CHARS)
        );
        assert_eq!(
            entries[1].message, "test.empty",
            "a message is always present"
        );
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("hi", 5), "hi");
    }
}
