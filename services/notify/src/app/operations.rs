//! What IT does with the queue (list, status, mark sent, retry, cancel), the service's health
//! figures, what users see of their own notifications, and the housekeeping behind the health
//! (SMTP probes, forgetting old delivery records). Who may call what is the auth layer's, from
//! the contract; the caller is taken where the answer depends on who asks.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::Duration,
};

use astro_shared::{
    AppError,
    activity::ActivityLog,
    auth::Caller,
    paging::{Page, QueryKey, read_limit},
};
use chrono::{DateTime, SubsecRound as _, Utc};

use super::Wake;
use crate::{
    domain::{
        EventType, Notification, Origin, Priority, SERVICE_NAME,
        figures::{Health, HealthCounts, Probe, QueueFigures, QueueStatus, pending_age_seconds},
        notification::{ManualAction, ManualChange, QueueFilter, QueueOrder},
    },
    smtp::Mailer,
    store::{DeliveryStore, NotificationStore},
};

const FAILURE_REASONS_SHOWN: i64 = 20;
const RATE_WINDOW: Duration = Duration::from_secs(5 * 60);
const HOUR: Duration = Duration::from_secs(60 * 60);
/// A worker that has not reported for this long is not alive.
const WORKER_FRESHNESS: Duration = Duration::from_secs(15);

/// One page of the IT listing, as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueQuery {
    pub filter: QueueFilter,
    pub order: QueueOrder,
    pub limit: u32,
    pub page_token: String,
}

/// One page of a user's own notifications, as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnQuery {
    /// Empty: every event type.
    pub event_types: Vec<EventType>,
    pub limit: u32,
    pub page_token: String,
}

impl QueueQuery {
    /// What its page tokens are bound to: every filter and the order.
    pub fn key(&self) -> QueryKey {
        QueryKey::of(&[
            "ListNotifications",
            &format!("{:?}", self.filter),
            &format!("{:?}", self.order),
        ])
    }
}

impl OwnQuery {
    /// What its page tokens are bound to: whose list, and the event types.
    fn key(&self, user_id: &str) -> QueryKey {
        let event_types: Vec<&str> = self.event_types.iter().map(|t| t.name()).collect();
        QueryKey::of(&["ListMyNotifications", user_id, &event_types.join(",")])
    }
}

/// A page of the IT listing and how many notifications match in all.
#[derive(Debug, Clone)]
pub struct Listed {
    pub page: Page<Notification>,
    pub total: u64,
}

#[derive(Clone)]
pub struct Operations {
    pub notifications: NotificationStore,
    pub delivery: DeliveryStore,
    pub mailer: Mailer,
    pub smtp_health: Arc<SmtpHealth>,
    pub wake: Arc<Wake>,
    pub activity: ActivityLog,
}

impl Operations {
    /// The queue, filtered and sorted as IT asks, a page at a time (offset paging: IT pages a
    /// live queue and sees its total).
    pub async fn list(&self, query: QueueQuery) -> Result<Listed, AppError> {
        let key = query.key();
        let offset = key.offset(&query.page_token)?;
        let (rows, total) = self
            .notifications
            .list(&query.filter, query.order, offset, read_limit(query.limit))
            .await?;
        Ok(Listed {
            page: Page::from_offset_rows(rows, offset, query.limit, key),
            total,
        })
    }

    /// The caller's own notifications, newest first, without delivery errors (those are for
    /// IT only).
    pub async fn list_mine(
        &self,
        caller: &Caller,
        query: OwnQuery,
    ) -> Result<Page<Notification>, AppError> {
        let key = query.key(&caller.user_id);
        let offset = key.offset(&query.page_token)?;
        let rows = self
            .notifications
            .list_for_user(
                &caller.user_id,
                &query.event_types,
                offset,
                read_limit(query.limit),
            )
            .await?;
        Ok(
            Page::from_offset_rows(rows, offset, query.limit, key).map(|notification| {
                Notification {
                    last_error: None,
                    ..notification
                }
            }),
        )
    }

    /// Mark sent, retry or cancel, by the IT employee `caller`.
    pub async fn apply(
        &self,
        caller: &Caller,
        change: ManualChange,
    ) -> Result<Notification, AppError> {
        let ManualChange { action, id, reason } = change;
        let by = Origin {
            service: SERVICE_NAME.to_owned(),
            user_id: caller.user_id.clone(),
            trace_id: astro_shared::telemetry::trace_id(&tracing::Span::current()),
            time: Some(Utc::now()),
        };
        let Some((notification, changed)) =
            self.notifications.apply_manual(&id, action, &by).await?
        else {
            return Err(AppError::NotFound("notification".to_owned()));
        };
        if !changed {
            action.unchanged(notification.status)?;
            return Ok(notification);
        }
        let (event_type, verb) = match action {
            ManualAction::MarkSent => ("notification.marked_sent", "marked sent"),
            ManualAction::Retry => ("notification.retried", "put back in the queue"),
            ManualAction::Cancel => ("notification.cancelled", "cancelled"),
        };
        if action == ManualAction::Retry {
            self.wake.notify(notification.priority);
        }
        self.activity.info(
            event_type,
            Some(&caller.user_id),
            if reason.is_empty() {
                format!("notification {verb} by IT")
            } else {
                format!("notification {verb} by IT: {reason}")
            },
            &[
                ("notification_id", &notification.id),
                ("event_id", &notification.event_id),
                ("event_type", notification.event_type().name()),
            ],
        );
        Ok(notification)
    }

    /// Counts per status and event type of what was queued since `since` (all if `None`),
    /// the most frequent failure reasons, and the queue's figures now.
    pub async fn queue_status(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<QueueStatus, AppError> {
        // Measured on SystemDB's millisecond clock.
        let now = Utc::now().trunc_subsecs(3);
        let groups = self.notifications.count_by_type_and_status(since).await?;
        let failure_reasons = self
            .notifications
            .failure_reasons(since, FAILURE_REASONS_SHOWN)
            .await?;
        let figures = self.figures(now).await?;
        Ok(QueueStatus::of(&groups, failure_reasons, figures, now))
    }

    /// The notification service's health, for IT and SystemAPI.
    pub async fn health(&self) -> Result<Health, AppError> {
        // Measured on SystemDB's millisecond clock.
        let now = Utc::now().trunc_subsecs(3);
        let figures = self.figures(now).await?;
        let recently = now - RATE_WINDOW;
        Ok(Health::of(HealthCounts {
            figures,
            high_priority_queue_depth: self
                .notifications
                .pending_count(Some(Priority::High))
                .await?,
            sent_recently: self.notifications.sent_since(recently).await?,
            failed_recently: self.delivery.failed_attempts_since(recently).await?,
            window: RATE_WINDOW,
            failed_attempts_last_hour: self.delivery.failed_attempts_since(now - HOUR).await?,
            workers: self.delivery.workers_alive(WORKER_FRESHNESS).await?,
            probe: self.smtp_health.last(),
            last_sent_at: self.notifications.last_sent_at().await?,
            measured_at: now,
        }))
    }

    /// The figures both the queue status and the health report.
    async fn figures(&self, now: DateTime<Utc>) -> Result<QueueFigures, AppError> {
        let store = &self.notifications;
        let hour_ago = now - HOUR;
        let oldest = store.oldest_pending_at().await?;
        Ok(QueueFigures {
            queue_depth: store.pending_count(None).await?,
            oldest_pending_age_seconds: pending_age_seconds(now, oldest),
            sent_last_hour: store.sent_since(hour_ago).await?,
            failed_last_hour: store.failed_since(hour_ago).await?,
        })
    }

    /// Probes the e-mail server every `interval` and forgets old delivery attempts, for ever.
    pub async fn run_housekeeping(self, interval: Duration) {
        loop {
            let reachable = self.mailer.probe().await;
            let before = self.smtp_health.last();
            if before.checked_at.is_some() && reachable != before.reachable {
                if reachable {
                    tracing::info!("e-mail server reachable again");
                } else {
                    tracing::warn!("e-mail server unreachable");
                }
            }
            self.smtp_health.record(reachable);
            if let Err(error) = self.delivery.prune().await {
                tracing::warn!(error = %error, "old delivery records not pruned");
            }
            tokio::time::sleep(interval).await;
        }
    }
}

/// The last SMTP probe: reachable or not, and when.
#[derive(Default)]
pub struct SmtpHealth {
    reachable: AtomicBool,
    /// Milliseconds since the epoch; 0 before the first probe.
    checked_at_millis: AtomicI64,
}

impl SmtpHealth {
    pub fn record(&self, reachable: bool) {
        self.reachable.store(reachable, Ordering::Relaxed);
        self.checked_at_millis
            .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    pub fn last(&self) -> Probe {
        let millis = self.checked_at_millis.load(Ordering::Relaxed);
        Probe {
            reachable: self.reachable.load(Ordering::Relaxed),
            checked_at: (millis > 0)
                .then(|| DateTime::from_timestamp_millis(millis))
                .flatten(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_is_unknown_until_first_recorded() {
        let health = SmtpHealth::default();
        assert_eq!(health.last(), Probe::default());
        health.record(true);
        let probe = health.last();
        assert!(probe.reachable && probe.checked_at.is_some());
    }
}
