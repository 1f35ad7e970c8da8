//! The public catalogue: bookable launches (SCHEDULED or DELAYED, in the future, seats left),
//! kept in CacheDB as a read model of OperationsDB and refreshed from the change log; read from
//! OperationsDB directly while CacheDB is down or not built, slower but just as correct.
//!
//! The rules (bookable, filters, sort, pages) are `domain::catalogue`'s, used by both paths;
//! OperationsDB reads are `store::catalogue`'s, the CacheDB layout and its atomic writes
//! `store::cache`'s; [`feed`] keeps CacheDB in step.

mod feed;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use astro_shared::{AppError, AppResult, telemetry::error_chain};
use chrono::Utc;
use uuid::Uuid;

use super::PageRequest;
use crate::{
    domain::catalogue::{self, Entry, LaunchKey, ListQuery, Selection, SyncPosition},
    store::{
        cache::{Cache, Change},
        catalogue::Source,
    },
};

/// After a CacheDB command fails, reads go straight to OperationsDB for this long instead of
/// each waiting for CacheDB's timeout.
const CACHE_BACKOFF: Duration = Duration::from_secs(2);
/// At most one "served from OperationsDB" warning per this period and process.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// The read model and its fallback.
#[derive(Clone)]
pub struct Catalogue {
    source: Source,
    cache: Cache,
    health: Arc<Health>,
}

/// One batch of a sync job, as SyncCatalogue reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncBatch {
    pub items_total: i64,
    pub items_processed: u32,
    /// Entries written or removed because CacheDB differed.
    pub items_changed: u32,
    /// Empty when the job is done.
    pub next_page_token: String,
}

/// How CacheDB fared lately, so an outage costs one timeout, not one per request.
#[derive(Default)]
struct Health {
    failed_at: Mutex<Option<Instant>>,
    warned_at: Mutex<Option<Instant>>,
}

impl Health {
    fn usable(&self, cache: &Cache) -> bool {
        cache.is_connected()
            && self.failed_at.lock().map_or(true, |failed_at| {
                failed_at.is_none_or(|at| at.elapsed() >= CACHE_BACKOFF)
            })
    }

    fn failed(&self, error: &AppError) {
        if let Ok(mut failed_at) = self.failed_at.lock() {
            *failed_at = Some(Instant::now());
        }
        self.fallback(&error_chain(error));
    }

    /// Says, now and then, that reads go to OperationsDB and why.
    fn fallback(&self, reason: &str) {
        let Ok(mut warned_at) = self.warned_at.lock() else {
            return;
        };
        if warned_at.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            *warned_at = Some(Instant::now());
            tracing::warn!(reason, "catalogue served from OperationsDB");
        }
    }
}

impl Catalogue {
    pub fn new(source: Source, cache: Cache) -> Self {
        Self {
            source,
            cache,
            health: Arc::new(Health::default()),
        }
    }

    /// One page of bookable launches, given to `render` while it is borrowed from the held
    /// snapshot: from CacheDB, or from OperationsDB when CacheDB is down or not built yet.
    pub async fn list<T>(
        &self,
        query: &ListQuery,
        render: impl FnOnce(&Selection<'_>) -> T,
    ) -> AppResult<T> {
        if self.health.usable(&self.cache) {
            match self.cache.entries().await {
                Ok(Some(snapshot)) => {
                    return Ok(render(&catalogue::select(
                        &snapshot.entries,
                        query,
                        Utc::now(),
                    )));
                }
                Ok(None) => self
                    .health
                    .fallback("the catalogue is not built in CacheDB yet"),
                Err(error) => self.health.failed(&error),
            }
        } else {
            self.health.fallback("CacheDB is not connected");
        }
        let read = self.source.bookable().await?;
        Ok(render(&catalogue::select(&read.entries, query, Utc::now())))
    }

    /// One launch by id or slug with whether it is bookable now. Launches that left the
    /// catalogue (or that CacheDB cannot tell about) are read from OperationsDB.
    pub async fn get(&self, key: &LaunchKey) -> AppResult<(Entry, bool)> {
        if self.health.usable(&self.cache) {
            match self.cache.entry(key).await {
                Ok(Some(entry)) if entry.bookable_at(Utc::now()) => return Ok((entry, true)),
                Ok(_) => {}
                Err(error) => self.health.failed(&error),
            }
        }
        let entry = self
            .source
            .launch(key)
            .await?
            .ok_or_else(|| AppError::NotFound("launch".into()))?;
        let bookable = entry.bookable_at(Utc::now());
        Ok((entry, bookable))
    }

    /// Re-reads `launch_ids` from OperationsDB and writes (bookable) or removes (anything else,
    /// unknown ids included) their entries. Returns (upserted, removed).
    pub async fn refresh(&self, launch_ids: &[Uuid]) -> AppResult<(u32, u32)> {
        let mut ids = launch_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok((0, 0));
        }
        if !self.cache.is_connected() {
            // Fail before reading OperationsDB for nothing; the caller retries.
            return Err(AppError::unavailable(
                "CacheDB",
                anyhow::anyhow!("not connected"),
            ));
        }
        let read = self.source.launches(&ids).await?;
        let found: HashMap<Uuid, &Entry> =
            read.entries.iter().map(|entry| (entry.id, entry)).collect();
        let changes: Vec<Change<'_>> = ids
            .iter()
            .map(|id| {
                let entry = found
                    .get(id)
                    .copied()
                    .filter(|entry| entry.bookable_at(read.at));
                (*id, entry)
            })
            .collect();
        self.cache.apply(read.at, &changes).await?;
        Ok(counts(&changes))
    }

    /// Rebuilds the whole catalogue from one OperationsDB snapshot: writes every bookable
    /// launch, then removes whatever that snapshot did not show, and marks the catalogue built.
    /// Returns (upserted, removed).
    pub async fn rebuild(&self) -> AppResult<(u32, u32)> {
        let read = self.source.bookable().await?;
        let changes: Vec<Change<'_>> = read
            .entries
            .iter()
            .filter(|entry| entry.bookable_at(read.at))
            .map(|entry| (entry.id, Some(entry)))
            .collect();
        self.cache.apply(read.at, &changes).await?;
        let removed = self.cache.sweep(read.at).await?;
        Ok((counts(&changes).0, removed))
    }

    /// One batch of a CATALOGUE sync job (SyncCatalogue): the next `page.limit` launches in id
    /// order are written or removed; the last batch removes entries of launches no batch saw
    /// and marks the catalogue built. `page.after` is `None` for the first batch.
    pub async fn sync_batch(&self, page: PageRequest<SyncPosition>) -> AppResult<SyncBatch> {
        let batch_size = page.limit;
        // (when the job started, where it stands)
        let resumed = match page.after {
            Some(position) => Some((position.started()?, position)),
            None => None,
        };
        if !self.cache.is_connected() {
            return Err(AppError::unavailable(
                "CacheDB",
                anyhow::anyhow!("not connected"),
            ));
        }
        let (read, total) = self
            .source
            .batch(
                resumed.map(|(_, position)| position.after),
                i64::from(batch_size),
                resumed.is_none(),
            )
            .await?;
        let (started, items_total) = match resumed {
            Some((started, position)) => (started, position.total),
            None => (read.at, total.unwrap_or_default()),
        };
        let changes: Vec<Change<'_>> = read
            .entries
            .iter()
            .map(|entry| {
                (
                    entry.id,
                    Some(entry).filter(|entry| entry.bookable_at(read.at)),
                )
            })
            .collect();
        let mut items_changed = self.cache.apply(read.at, &changes).await?;
        let items_processed = u32::try_from(changes.len()).unwrap_or(u32::MAX);
        let next_page_token = match read.entries.last() {
            Some(last) if items_processed >= batch_size => page.key.token(&SyncPosition {
                started_us: started.timestamp_micros(),
                total: items_total,
                after: last.id,
            }),
            _ => {
                // Every launch that existed when the job started was written by some batch
                // since, so what is older than the start is gone from OperationsDB.
                items_changed = items_changed.saturating_add(self.cache.sweep(started).await?);
                String::new()
            }
        };
        Ok(SyncBatch {
            items_total,
            items_processed,
            items_changed,
            next_page_token,
        })
    }

    /// Keeps the read model in step with OperationsDB for ever: follows the change log (every
    /// `feed_interval`) and rebuilds everything now and then. Spawned by `workers::spawn`.
    pub async fn run(self, feed_interval: Duration) {
        feed::run(self, feed_interval).await;
    }
}

/// (upserted, removed) of a list of changes.
fn counts(changes: &[Change<'_>]) -> (u32, u32) {
    let upserted = changes.iter().filter(|(_, entry)| entry.is_some()).count();
    let removed = changes.len() - upserted;
    (
        u32::try_from(upserted).unwrap_or(u32::MAX),
        u32::try_from(removed).unwrap_or(u32::MAX),
    )
}
