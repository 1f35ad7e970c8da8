//! OperationsDB's change log, written and read by every service that owns operational data.
//!
//! Writers call [`record_change`] inside the transaction of the change, so a change and the
//! record of where it came from (service, acting user, trace) commit or roll back together.
//! Readers are [`ChangeFeed`]s: each consumer (the catalogue, abort refunds, notifications …)
//! keeps its own record of what it handled, so consumers never steal rows from each other and a
//! consumer that dies mid-way sees the unhandled rows again (at-least-once; handlers are
//! idempotent).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use tracing::Span;

use crate::AppError;

/// Where a write comes from: recorded on the row (created/updated) and in the change log.
#[derive(Debug, Clone)]
pub struct Origin {
    /// `agency-api`, or a worker name.
    pub service: &'static str,
    /// The acting user; `None` for the platform itself.
    pub user_id: Option<String>,
    /// W3C traceparent of the request; empty if none.
    pub traceparent: String,
}

impl Origin {
    /// The change is made for `user_id` by the request being served now.
    pub fn user(service: &'static str, user_id: &str) -> Self {
        Self {
            service,
            user_id: Some(user_id.to_owned()),
            traceparent: crate::telemetry::current_traceparent(),
        }
    }

    /// The change is made by the platform itself (a sweeper, a relay), in the current span.
    pub fn platform(service: &'static str) -> Self {
        Self {
            service,
            user_id: None,
            traceparent: crate::telemetry::current_traceparent(),
        }
    }

    /// The trace id part of the traceparent (`00-<trace id>-<span id>-<flags>`).
    pub fn trace_id(&self) -> Option<&str> {
        trace_id_of(&self.traceparent)
    }
}

/// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), if well formed and
/// not all zeros.
pub fn trace_id_of(traceparent: &str) -> Option<&str> {
    let trace_id = traceparent.split('-').nth(1)?;
    (trace_id.len() == 32
        && trace_id
            .bytes()
            .all(|digit| matches!(digit, b'0'..=b'9' | b'a'..=b'f'))
        && trace_id.bytes().any(|digit| digit != b'0'))
    .then_some(trace_id)
}

/// The creation and last-change origins every table carries.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub created_at: DateTime<Utc>,
    pub created_service: String,
    pub created_user_id: Option<String>,
    pub created_trace_id: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub updated_service: String,
    pub updated_user_id: Option<String>,
    pub updated_trace_id: Option<String>,
}

/// One change-log row, always inside the transaction of the change it records.
pub async fn record_change(
    connection: &mut PgConnection,
    origin: &Origin,
    entity: &str,
    entity_id: &str,
    event_type: &str,
    payload: serde_json::Value,
) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO change_log (entity, entity_id, event_type, payload, origin_service, \
         origin_user_id, origin_traceparent) VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''))",
    )
    .bind(entity)
    .bind(entity_id)
    .bind(event_type)
    .bind(payload)
    .bind(origin.service)
    .bind(origin.user_id.as_deref())
    .bind(&origin.traceparent)
    .execute(connection)
    .await?;
    Ok(())
}

/// A change-log row as a consumer sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Change {
    pub id: i64,
    pub event_id: uuid::Uuid,
    pub entity: String,
    pub entity_id: String,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub origin_service: String,
    pub origin_user_id: Option<String>,
    pub origin_traceparent: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

/// A row as [`ChangeFeed::poll`] reads it.
#[derive(sqlx::FromRow)]
struct Polled {
    #[sqlx(flatten)]
    change: Change,
    wanted: bool,
}

impl Change {
    /// A span continuing the trace of the request that made the change, so what a consumer
    /// does about it (a refund, an e-mail) lands in that request's trace.
    pub fn span(&self, consumer: &str) -> Span {
        let span = tracing::info_span!(
            "change_feed.handle",
            consumer,
            change_id = self.id,
            event_type = %self.event_type,
            entity_id = %self.entity_id,
        );
        if let Some(traceparent) = &self.origin_traceparent {
            crate::telemetry::adopt_traceparent(&span, traceparent);
        }
        span
    }
}

/// How long a writer's transaction may stay open at most. Change-log ids are handed out when a
/// row is inserted, not when its transaction commits, so a row may become visible after rows
/// with higher ids; the feed looks back this far behind its low-water mark to find such rows.
const COMMIT_LAG: Duration = Duration::from_secs(120);

/// One consumer's view of the change log: which rows it has not handled yet.
///
/// Handled rows are marked per consumer in `change_log_handled`; `change_log_consumers` keeps a
/// low-water mark below which everything is handled, so a scan never starts from the beginning.
#[derive(Clone)]
pub struct ChangeFeed {
    pool: PgPool,
    consumer: &'static str,
    event_types: Vec<String>,
}

impl ChangeFeed {
    /// A consumer named `consumer` interested in `event_types` (all events if empty).
    pub fn new(pool: PgPool, consumer: &'static str, event_types: &[&str]) -> Self {
        Self {
            pool,
            consumer,
            event_types: event_types.iter().map(|&name| name.to_owned()).collect(),
        }
    }

    pub fn consumer(&self) -> &'static str {
        self.consumer
    }

    /// Up to `limit` rows this consumer has not handled, oldest first.
    pub async fn pending(&self, limit: i64) -> Result<Vec<Change>, AppError> {
        self.pending_after(0, limit).await
    }

    /// As [`Self::pending`], among the rows above `after` only: a poll that needs only what
    /// arrived since the last one, without reading the look-back window again.
    pub async fn pending_after(&self, after: i64, limit: i64) -> Result<Vec<Change>, AppError> {
        let changes = sqlx::query_as::<_, Change>(
            "SELECT c.id, c.event_id, c.entity, c.entity_id, c.event_type, c.payload, \
                    c.origin_service, c.origin_user_id, c.origin_traceparent, c.recorded_at \
             FROM change_log c \
             WHERE c.id > GREATEST($4, COALESCE( \
                     (SELECT low_water_mark FROM change_log_consumers WHERE consumer = $1), 0)) \
               AND (cardinality($2::text[]) = 0 OR c.event_type = ANY($2)) \
               AND NOT EXISTS (SELECT 1 FROM change_log_handled h \
                               WHERE h.consumer = $1 AND h.change_id = c.id) \
             ORDER BY c.id LIMIT $3",
        )
        .bind(self.consumer)
        .bind(&self.event_types)
        .bind(limit)
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        Ok(changes)
    }

    /// Every committed row above `after` (up to `limit`, oldest first) and the rows of `gaps`
    /// that are committed now, each with whether this consumer wants it (its event type, not
    /// handled yet). Unlike [`Self::pending_after`] nothing is filtered out, so an id missing
    /// between two rows is a row whose transaction has not committed (or rolled back): the
    /// feed asks for exactly those again instead of rereading its whole look-back window.
    async fn poll(&self, after: i64, gaps: &[i64], limit: i64) -> Result<Vec<Polled>, AppError> {
        // The rows above `after` and the gap ids are read by two index scans: one condition
        // `id > $3 OR id = ANY($4)` was planned (in the prepared statement's generic plan) as
        // one scan from the low-water mark, which reread the whole look-back window on every
        // poll (~1 300 rows per booking).
        let rows = sqlx::query_as::<_, Polled>(
            "WITH consumer AS (SELECT COALESCE((SELECT low_water_mark FROM change_log_consumers \
                                                WHERE consumer = $1), 0) AS mark) \
             SELECT id, event_id, entity, entity_id, event_type, \
                    CASE WHEN wanted THEN payload ELSE 'null'::jsonb END AS payload, \
                    origin_service, origin_user_id, origin_traceparent, recorded_at, wanted \
             FROM (SELECT c.*, \
                          (cardinality($2::text[]) = 0 OR c.event_type = ANY($2)) \
                          AND NOT EXISTS (SELECT 1 FROM change_log_handled h \
                                          WHERE h.consumer = $1 AND h.change_id = c.id) \
                              AS wanted \
                   FROM ((SELECT * FROM change_log \
                          WHERE id > GREATEST($3, (SELECT mark FROM consumer)) \
                          ORDER BY id LIMIT $5) \
                         UNION ALL \
                         (SELECT * FROM change_log \
                          WHERE id = ANY($4) AND id <= $3 \
                            AND id > (SELECT mark FROM consumer))) c \
                   ORDER BY c.id LIMIT $5) polled \
             ORDER BY id",
        )
        .bind(self.consumer)
        .bind(&self.event_types)
        .bind(after)
        .bind(gaps)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Marks rows handled; a row handled twice is harmless.
    pub async fn mark_handled(&self, ids: &[i64]) -> Result<(), AppError> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO change_log_handled (consumer, change_id) SELECT $1, unnest($2::bigint[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(self.consumer)
        .bind(ids)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Moves the low-water mark up to the newest row older than [`COMMIT_LAG`] below which
    /// every relevant row is handled, and forgets the per-row marks under it.
    pub async fn compact(&self) -> Result<(), AppError> {
        let lag_seconds = COMMIT_LAG.as_secs_f64();
        let mut transaction = self.pool.begin().await?;
        let mark: Option<i64> = sqlx::query_scalar(
            "SELECT COALESCE(( \
                 SELECT min(c.id) - 1 FROM change_log c \
                 WHERE c.id > COALESCE((SELECT low_water_mark FROM change_log_consumers \
                                        WHERE consumer = $1), 0) \
                   AND (cardinality($2::text[]) = 0 OR c.event_type = ANY($2)) \
                   AND NOT EXISTS (SELECT 1 FROM change_log_handled h \
                                   WHERE h.consumer = $1 AND h.change_id = c.id)), \
               (SELECT max(id) FROM change_log)) \
             ",
        )
        .bind(self.consumer)
        .bind(&self.event_types)
        .fetch_one(&mut *transaction)
        .await?;
        // Never past rows that might still be committing.
        let safe: Option<i64> = sqlx::query_scalar(
            "SELECT max(id) FROM change_log WHERE recorded_at < now() - make_interval(secs => $1)",
        )
        .bind(lag_seconds)
        .fetch_one(&mut *transaction)
        .await?;
        let Some(new_mark) = mark.zip(safe).map(|(mark, safe)| mark.min(safe)) else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO change_log_consumers (consumer, low_water_mark) VALUES ($1, $2) \
             ON CONFLICT (consumer) DO UPDATE SET low_water_mark = \
                 GREATEST(change_log_consumers.low_water_mark, EXCLUDED.low_water_mark), \
                 updated_at = now()",
        )
        .bind(self.consumer)
        .bind(new_mark)
        .execute(&mut *transaction)
        .await?;
        sqlx::query("DELETE FROM change_log_handled WHERE consumer = $1 AND change_id <= $2")
            .bind(self.consumer)
            .bind(new_mark)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(())
    }
}

/// What a consumer does with one row. `Ok` marks it handled; `Err` leaves it for the next
/// round (logged), so a dependency outage delays work without losing it.
pub trait ChangeHandler: Send + Sync + 'static {
    fn handle(
        &self,
        change: &Change,
    ) -> impl std::future::Future<Output = Result<(), AppError>> + Send;
}

/// Polls `feed` every `interval` and hands each pending row to `handler`, in log order, for
/// ever. Rows that fail are retried on the next round; rows after a failed one still run, so
/// one poisoned row cannot stall the feed.
pub async fn run_feed<H: ChangeHandler>(feed: ChangeFeed, handler: H, interval: Duration) {
    run_feed_concurrently(feed, handler, interval, 1).await;
}

/// As [`run_feed`], with up to `concurrency` rows in hand at once, for consumers whose rows
/// do not depend on each other's order (e.g. notifications: one e-mail per event).
pub async fn run_feed_concurrently<H: ChangeHandler>(
    feed: ChangeFeed,
    handler: H,
    interval: Duration,
    concurrency: usize,
) {
    use futures::StreamExt as _;
    use tracing::Instrument as _;
    let mut last_compaction = tokio::time::Instant::now();
    let mut last_full_scan: Option<tokio::time::Instant> = None;
    // Everything at or below it was seen by this process: most polls read only above it.
    let mut cursor: i64 = 0;
    let mut gaps = Gaps::default();
    loop {
        let full_scan = last_full_scan.is_none_or(|at| at.elapsed() >= FULL_SCAN_EVERY);
        let polled = if full_scan {
            last_full_scan = Some(tokio::time::Instant::now());
            feed.pending_after(0, PAGE).await.map(|changes| {
                changes
                    .into_iter()
                    .map(|change| Polled {
                        change,
                        wanted: true,
                    })
                    .collect::<Vec<_>>()
            })
        } else {
            feed.poll(cursor, &gaps.ids(), PAGE).await
        };
        match polled {
            Ok(rows) => {
                let handler = &handler;
                let consumer = feed.consumer();
                let full_page = rows.len() == usize::try_from(PAGE).unwrap_or(usize::MAX);
                let ids: Vec<i64> = rows.iter().map(|row| row.change.id).collect();
                if !full_scan {
                    gaps.update(cursor, &ids, std::time::Instant::now());
                }
                // Rows this consumer does not want count as handled: the cursor passes them.
                let unwanted: Vec<(i64, bool)> = rows
                    .iter()
                    .filter(|row| !row.wanted)
                    .map(|row| (row.change.id, true))
                    .collect();
                let wanted = rows
                    .into_iter()
                    .filter(|row| row.wanted)
                    .map(|row| row.change);
                // Owned rows: a stream of borrowed ones trips the compiler's `Send` checks.
                // (id, handled) of every row of the round.
                let mut outcomes: Vec<(i64, bool)> = futures::stream::iter(wanted)
                    .map(|change: Change| async move {
                        let span = change.span(consumer);
                        match handler.handle(&change).instrument(span).await {
                            Ok(()) => (change.id, true),
                            Err(error) => {
                                tracing::warn!(
                                    consumer,
                                    change_id = change.id,
                                    event_type = %change.event_type,
                                    error = %crate::telemetry::error_chain(&error),
                                    "change not handled yet; will retry"
                                );
                                (change.id, false)
                            }
                        }
                    })
                    .buffered(concurrency.max(1))
                    .collect()
                    .await;
                let handled: Vec<i64> = outcomes
                    .iter()
                    .filter(|(_, handled)| *handled)
                    .map(|(id, _)| *id)
                    .collect();
                outcomes.extend(unwanted);
                cursor = next_cursor(cursor, changes_seen(&outcomes));
                if let Err(error) = feed.mark_handled(&handled).await {
                    tracing::warn!(consumer = feed.consumer(), %error, "could not mark changes handled");
                }
                if full_page {
                    continue;
                }
            }
            Err(error) => {
                tracing::warn!(consumer = feed.consumer(), %error, "change feed unavailable");
            }
        }
        if last_compaction.elapsed() >= COMPACT_EVERY {
            last_compaction = tokio::time::Instant::now();
            if let Err(error) = feed.compact().await {
                tracing::warn!(consumer = feed.consumer(), %error, "change feed compaction failed");
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// How often a feed reads its whole look-back window (from its low-water mark): a safety net
/// only. The polls between read the rows above what they have seen and the ids they found
/// missing ([`Gaps`]), which is how a row that commits after rows with higher ids is found
/// within one poll. Rereading the window every few seconds was most of OperationsDB's work per
/// booking (README, "Benchmarks").
const FULL_SCAN_EVERY: Duration = Duration::from_secs(60);
/// How often a feed moves its low-water mark up, which bounds the window a full scan reads.
const COMPACT_EVERY: Duration = Duration::from_secs(30);
/// Rows per poll.
const PAGE: i64 = 200;
/// More missing ids than this in one poll (a sequence that jumped) are left to the full scan.
const MOST_GAPS: i64 = 1_000;

/// Ids a poll found missing between the rows it read: rows whose transaction had not committed
/// yet (ids are handed out at insert, not at commit) or rolled back. Each is asked for again on
/// every poll until it shows up or is older than [`COMMIT_LAG`].
#[derive(Default)]
struct Gaps {
    noticed: std::collections::BTreeMap<i64, std::time::Instant>,
}

impl Gaps {
    fn ids(&self) -> Vec<i64> {
        self.noticed.keys().copied().collect()
    }

    /// After a poll above `cursor` that read `ids` (ascending, gap ids that showed up
    /// included).
    fn update(&mut self, cursor: i64, ids: &[i64], now: std::time::Instant) {
        for id in ids {
            self.noticed.remove(id);
        }
        // Without a cursor (nothing seen since the start) what lies below the first row is
        // the full scan's.
        let mut expected = (cursor > 0).then_some(cursor + 1);
        for &id in ids.iter().filter(|&&id| id > cursor) {
            if let Some(expected) = expected
                && id - expected <= MOST_GAPS
            {
                for missing in expected..id {
                    self.noticed.entry(missing).or_insert(now);
                }
            }
            expected = Some(id + 1);
        }
        self.noticed
            .retain(|_, noticed| now.duration_since(*noticed) < COMMIT_LAG);
    }
}

/// What one round saw: (highest id, lowest id that failed).
fn changes_seen(outcomes: &[(i64, bool)]) -> (Option<i64>, Option<i64>) {
    let highest = outcomes.iter().map(|(id, _)| *id).max();
    let lowest_failed = outcomes
        .iter()
        .filter(|(_, handled)| !handled)
        .map(|(id, _)| *id)
        .min();
    (highest, lowest_failed)
}

/// The cursor after a round: past every row seen, but below a row that failed so the next
/// poll retries it.
fn next_cursor(cursor: i64, (highest, lowest_failed): (Option<i64>, Option<i64>)) -> i64 {
    let advanced = highest.map_or(cursor, |highest| cursor.max(highest));
    lowest_failed.map_or(advanced, |failed| advanced.min(failed - 1))
}

#[cfg(test)]
mod tests {
    use super::{COMMIT_LAG, Gaps, changes_seen, next_cursor};

    #[test]
    fn ids_missing_between_rows_are_asked_for_until_they_show_or_are_too_old() {
        let start = std::time::Instant::now();
        let mut gaps = Gaps::default();
        // Rows 11, 12 and 15 seen above cursor 10: 13 and 14 are still committing.
        gaps.update(10, &[11, 12, 15], start);
        assert_eq!(gaps.ids(), vec![13, 14]);
        // 14 commits; 16 is new; nothing is missing between 15 and 16.
        gaps.update(15, &[14, 16], start);
        assert_eq!(gaps.ids(), vec![13]);
        // A poll without a cursor (nothing seen since the start) leaves what lies below its
        // first row to the full scan.
        let mut fresh = Gaps::default();
        fresh.update(0, &[7, 9], start);
        assert_eq!(fresh.ids(), vec![8]);
        // A sequence that jumped far is not tracked id by id.
        fresh.update(9, &[5_000], start);
        assert_eq!(fresh.ids(), vec![8]);
        // A row that never shows (rolled back) is given up after COMMIT_LAG.
        gaps.update(16, &[], start + COMMIT_LAG);
        assert!(gaps.ids().is_empty());
    }

    #[test]
    fn the_cursor_passes_what_was_seen_and_stops_below_a_row_that_failed() {
        assert_eq!(next_cursor(10, changes_seen(&[])), 10);
        assert_eq!(next_cursor(10, changes_seen(&[(11, true), (14, true)])), 14);
        // A full scan that found a late row below the cursor does not move it back.
        assert_eq!(next_cursor(20, changes_seen(&[(12, true)])), 20);
        // The failed row is read again by the next poll; the rows after it were handled.
        assert_eq!(
            next_cursor(10, changes_seen(&[(11, true), (12, false), (13, true)])),
            11
        );
    }
}
