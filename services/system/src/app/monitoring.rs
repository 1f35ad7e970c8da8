//! IT's view of the running mesh: the metric windows every process reports, and the status of
//! every service assembled from live probes.

use std::time::{Duration, Instant};

use astro_shared::{
    AppError,
    paging::{Page, page_size, read_limit},
};
use chrono::Utc;

use crate::{
    clients::status::StatusProbes,
    domain::monitoring::{
        self, Instance, MetricFilter, MetricPoint, PAGE_DEFAULT, PAGE_MAX, REPLICA_WINDOWS,
        ServiceHealth, SystemHealth,
    },
    store::monitoring::MetricStore,
};

#[derive(Clone)]
pub struct Monitoring {
    store: MetricStore,
    probes: StatusProbes,
    /// Each probe's deadline; the whole status takes about this long at most.
    probe_timeout: Duration,
    /// The processes' metric window: replicas are those seen in the last few.
    metrics_window: Duration,
}

impl Monitoring {
    pub fn new(
        store: MetricStore,
        probes: StatusProbes,
        probe_timeout: Duration,
        metrics_window: Duration,
    ) -> Self {
        Self {
            store,
            probes,
            probe_timeout,
            metrics_window,
        }
    }

    /// Stores a window of `reporter`'s metrics, sent by the mesh service `caller` ("booking"),
    /// and notes the reporter as seen. A resent window is taken again without duplicates.
    pub async fn record(
        &self,
        caller: &str,
        reporter: &Instance,
        points: &[MetricPoint],
    ) -> Result<usize, AppError> {
        monitoring::check_batch(caller, reporter, points)?;
        let accepted = self.store.record(points).await?;
        self.store.seen(reporter, Utc::now()).await?;
        Ok(accepted)
    }

    /// One page of the metric windows of `filter`, in window, service and name order.
    pub async fn list(
        &self,
        filter: &MetricFilter,
        page_token: &str,
        requested_size: i32,
    ) -> Result<Page<MetricPoint>, AppError> {
        let size = page_size(requested_size, PAGE_DEFAULT, PAGE_MAX)?;
        let query = filter.query_key();
        let after: Option<String> = query.position(page_token)?;
        let rows = self
            .store
            .page(filter, after.as_deref(), read_limit(size))
            .await?;
        Ok(Page::from_rows(rows, size, query, MetricPoint::key))
    }

    /// Every service probed side by side, each within the probe deadline, and NotifyAPI's
    /// delivery figures. A service that hangs is UNKNOWN; a SystemDB that does not list the
    /// replicas in time leaves only the probed instances.
    pub async fn status(&self) -> SystemHealth {
        let deadline = self.probe_timeout;
        let since = Utc::now()
            - chrono::Duration::from_std(self.metrics_window * REPLICA_WINDOWS.unsigned_abs())
                .unwrap_or_else(|_| chrono::Duration::minutes(3));
        let replicas = async {
            match tokio::time::timeout(deadline, self.store.replicas(since)).await {
                Ok(Ok(replicas)) => replicas,
                Ok(Err(error)) => {
                    tracing::warn!(%error, "replicas not listed");
                    Vec::new()
                }
                Err(_) => Vec::new(),
            }
        };
        let probes = futures::future::join_all(monitoring::SERVICES.iter().map(|service| async {
            let started = Instant::now();
            let outcome = self.probes.probe(service, deadline).await;
            (*service, outcome, started.elapsed())
        }));
        let (replicas, probed, delivery) =
            tokio::join!(replicas, probes, self.probes.delivery_health(deadline));
        let now = Utc::now();
        let services: Vec<ServiceHealth> = probed
            .into_iter()
            .map(|(service, outcome, elapsed)| {
                let (state, detail) = monitoring::service_state(&outcome);
                let answer = match outcome {
                    monitoring::ProbeOutcome::Answered(answer) => Some(answer),
                    _ => None,
                };
                ServiceHealth {
                    name: service.to_owned(),
                    state,
                    latency_ms: elapsed.as_secs_f64() * 1_000.0,
                    detail,
                    replicas: monitoring::replicas_of(service, &replicas, answer.as_ref(), now),
                    answer,
                    checked_at: now,
                }
            })
            .collect();
        SystemHealth {
            overall: monitoring::overall_state(&services),
            services,
            delivery,
            checked_at: now,
        }
    }
}
