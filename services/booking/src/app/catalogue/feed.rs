//! Keeping CacheDB in step with OperationsDB: every change-log row is mapped to the launches
//! whose entries it may change and those are refreshed (a failure leaves the row for the next
//! round, so nothing is lost while CacheDB is down); and the whole catalogue is rebuilt at
//! start, every minute, after CacheDB reconnects and whenever it lost the catalogue.

use std::time::{Duration, Instant};

use astro_shared::{
    AppResult,
    changes::{Change, ChangeFeed, ChangeHandler, run_feed},
    telemetry::error_chain,
};
use uuid::Uuid;

use super::Catalogue;

/// The change-log consumer name of the catalogue.
pub const CONSUMER: &str = "booking-catalogue";
/// A complete rebuild at least this often: it repairs whatever a refresh could have missed
/// (say, CacheDB restored from an old snapshot).
const REBUILD_EVERY: Duration = Duration::from_secs(60);
/// How often the rebuild conditions are checked.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long a change waits for CacheDB to come back before it is left for the next round.
const OUTAGE_WAIT: Duration = Duration::from_secs(5);

/// Which launches' entries a change may affect.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Affected {
    Launch(Uuid),
    OpenLaunchesOfRocket(Uuid),
    OpenLaunchesOfAgency(Uuid),
    Nothing,
}

fn affected(change: &Change) -> Affected {
    let id = |text: &str| text.parse::<Uuid>().ok();
    let found = match change.entity.as_str() {
        // Scheduled, delayed, aborted, flown.
        "launch" => id(&change.entity_id).map(Affected::Launch),
        // Seats taken or released; BookingAPI's booking writes always name the launch.
        "booking" => change
            .payload
            .get("launch_id")
            .and_then(serde_json::Value::as_str)
            .and_then(id)
            .map(Affected::Launch),
        // Name, range or capacity shown on every open launch of the rocket.
        "rocket" => id(&change.entity_id).map(Affected::OpenLaunchesOfRocket),
        // The agency's name shown on its open launches.
        "agency" => id(&change.entity_id).map(Affected::OpenLaunchesOfAgency),
        _ => Some(Affected::Nothing),
    };
    found.unwrap_or_else(|| {
        tracing::warn!(
            change_id = change.id,
            entity = %change.entity,
            event_type = %change.event_type,
            "change names no launch; the periodic rebuild covers it"
        );
        Affected::Nothing
    })
}

/// Refreshes the entries a change-log row affects.
struct Refresher {
    catalogue: Catalogue,
}

impl Refresher {
    async fn refresh(&self, change: &Change) -> AppResult<()> {
        let ids = match affected(change) {
            Affected::Nothing => return Ok(()),
            Affected::Launch(id) => vec![id],
            Affected::OpenLaunchesOfRocket(rocket) => {
                self.catalogue
                    .source
                    .open_launches_of(Some(rocket), None)
                    .await?
            }
            Affected::OpenLaunchesOfAgency(agency) => {
                self.catalogue
                    .source
                    .open_launches_of(None, Some(agency))
                    .await?
            }
        };
        if ids.is_empty() {
            return Ok(());
        }
        // While CacheDB is down, wait here a little instead of failing at once: the feed then
        // retries (and logs) every few seconds, not on every poll, and resumes as soon as the
        // connection is back. Only the catalogue's own feed waits.
        let waited = Instant::now();
        while !self.catalogue.cache.is_connected() && waited.elapsed() < OUTAGE_WAIT {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.catalogue.refresh(&ids).await.map(drop)
    }
}

impl ChangeHandler for Refresher {
    fn handle(&self, change: &Change) -> impl std::future::Future<Output = AppResult<()>> + Send {
        self.refresh(change)
    }
}

/// Runs the change feed and the rebuild loop for ever.
pub async fn run(catalogue: Catalogue, feed_interval: Duration) {
    let feed = ChangeFeed::new(catalogue.source.pool().clone(), CONSUMER, &[]);
    let refresher = Refresher {
        catalogue: catalogue.clone(),
    };
    tokio::join!(
        run_feed(feed, refresher, feed_interval),
        keep_built(catalogue)
    );
}

/// Rebuilds at start, every [`REBUILD_EVERY`], after every reconnection to CacheDB (it may have
/// restarted, and rows handled meanwhile may be lost with it) and whenever the `built` marker
/// is missing. A failed rebuild is retried on the next check.
async fn keep_built(catalogue: Catalogue) {
    let mut reconnections = catalogue.cache.reconnections();
    let mut last_rebuild: Option<Instant> = None;
    let mut wanted = true;
    let mut ticks = tokio::time::interval(CHECK_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // Lagged or not, a message means at least one reconnection.
        while !matches!(
            reconnections.try_recv(),
            Err(tokio::sync::broadcast::error::TryRecvError::Empty
                | tokio::sync::broadcast::error::TryRecvError::Closed)
        ) {
            wanted = true;
        }
        if !catalogue.cache.is_connected() {
            wanted = true;
            continue;
        }
        if last_rebuild.is_none_or(|at| at.elapsed() >= REBUILD_EVERY) {
            wanted = true;
        }
        if !wanted {
            match catalogue.cache.is_built().await {
                Ok(true) => continue,
                Ok(false) => {
                    tracing::info!("catalogue missing from CacheDB; rebuilding");
                }
                Err(error) => {
                    tracing::debug!(error = %error_chain(&error), "catalogue marker unreadable");
                    continue;
                }
            }
        }
        let started = Instant::now();
        match catalogue.rebuild().await {
            Ok((upserted, removed)) => {
                wanted = false;
                last_rebuild = Some(Instant::now());
                tracing::debug!(
                    upserted,
                    removed,
                    elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "catalogue rebuilt"
                );
            }
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "catalogue rebuild failed; will retry");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(entity: &str, entity_id: &str, payload: serde_json::Value) -> Change {
        Change {
            id: 1,
            event_id: Uuid::new_v4(),
            entity: entity.into(),
            entity_id: entity_id.into(),
            event_type: "ANY".into(),
            payload,
            origin_service: "test".into(),
            origin_user_id: None,
            origin_traceparent: None,
            recorded_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn changes_map_to_the_launches_they_show_on() {
        let id = Uuid::new_v4();
        let other = Uuid::new_v4();
        let text = id.to_string();
        assert_eq!(
            affected(&change("launch", &text, serde_json::json!({}))),
            Affected::Launch(id)
        );
        assert_eq!(
            affected(&change(
                "booking",
                &other.to_string(),
                serde_json::json!({ "launch_id": text })
            )),
            Affected::Launch(id)
        );
        assert_eq!(
            affected(&change("rocket", &text, serde_json::json!({}))),
            Affected::OpenLaunchesOfRocket(id)
        );
        assert_eq!(
            affected(&change("agency", &text, serde_json::json!({}))),
            Affected::OpenLaunchesOfAgency(id)
        );
        assert_eq!(
            affected(&change("invoice", &text, serde_json::json!({}))),
            Affected::Nothing
        );
        assert_eq!(
            affected(&change("booking", &text, serde_json::json!({}))),
            Affected::Nothing
        );
    }
}
