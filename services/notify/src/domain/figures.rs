//! The queue's figures as IT and SystemAPI see them: counts per status and event type, the
//! most frequent failure reasons, and the health (depths, rates, workers alive, the e-mail
//! server's last probe). The counting is the store's; the arithmetic is here.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{event::EventType, event::Priority, notification::Status};

/// Notifications of one (event type, status) pair; `None` for a name this version does not
/// know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCount {
    pub event_type: Option<EventType>,
    pub status: Option<Status>,
    pub count: i64,
}

/// FAILED notifications of one failure reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonCount {
    pub reason: String,
    pub count: i64,
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// Counts per status, in [`Status::ALL`] order (every status, zeros included).
pub type StatusCounts = Vec<(Status, i64)>;

/// The figures both the queue status and the health report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueFigures {
    pub queue_depth: i64,
    pub oldest_pending_age_seconds: i64,
    pub sent_last_hour: i64,
    pub failed_last_hour: i64,
}

/// GetQueueStatus's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueStatus {
    pub by_status: StatusCounts,
    /// By event type name.
    pub by_event_type: Vec<(Option<EventType>, StatusCounts)>,
    pub failure_reasons: Vec<ReasonCount>,
    pub figures: QueueFigures,
    pub measured_at: DateTime<Utc>,
}

impl QueueStatus {
    /// The status of a queue whose notifications are counted by `groups`.
    pub fn of(
        groups: &[GroupCount],
        failure_reasons: Vec<ReasonCount>,
        figures: QueueFigures,
        measured_at: DateTime<Utc>,
    ) -> Self {
        let per_status = |of: &dyn Fn(Option<EventType>) -> bool| -> StatusCounts {
            Status::ALL
                .iter()
                .map(|&status| {
                    let count = groups
                        .iter()
                        .filter(|group| group.status == Some(status) && of(group.event_type))
                        .map(|group| group.count)
                        .sum();
                    (status, count)
                })
                .collect()
        };
        let mut event_types: Vec<Option<EventType>> =
            groups.iter().map(|group| group.event_type).collect();
        event_types.sort_unstable_by_key(|event_type| event_type.map(EventType::name));
        event_types.dedup();
        Self {
            by_status: per_status(&|_| true),
            by_event_type: event_types
                .into_iter()
                .map(|event_type| (event_type, per_status(&|of| of == event_type)))
                .collect(),
            failure_reasons,
            figures,
            measured_at,
        }
    }
}

/// How long the oldest PENDING notification (queued at `oldest`) has waited at `now`.
pub fn pending_age_seconds(now: DateTime<Utc>, oldest: Option<DateTime<Utc>>) -> i64 {
    oldest.map_or(0, |oldest| {
        (now.timestamp_millis() - oldest.timestamp_millis()).max(0) / 1000
    })
}

/// A sending worker's last report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    pub instance: String,
    pub queue: Priority,
    /// Messages it may send at once.
    pub slots: i32,
}

/// The e-mail server as the last probe found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Probe {
    pub reachable: bool,
    /// `None` before the first probe.
    pub checked_at: Option<DateTime<Utc>>,
}

/// What the health is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCounts {
    pub figures: QueueFigures,
    pub high_priority_queue_depth: i64,
    /// Sent within `window`.
    pub sent_recently: i64,
    /// Failed attempts within `window`.
    pub failed_recently: i64,
    pub window: Duration,
    /// Failed attempts within the last hour.
    pub failed_attempts_last_hour: i64,
    pub workers: Vec<Worker>,
    pub probe: Probe,
    pub last_sent_at: Option<DateTime<Utc>>,
    pub measured_at: DateTime<Utc>,
}

/// The notification service's health.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub figures: QueueFigures,
    pub high_priority_queue_depth: i64,
    pub send_rate_per_minute: f64,
    pub failure_rate_per_minute: f64,
    /// Failed attempts over all attempts of the last hour.
    pub failure_ratio_last_hour: f64,
    pub probe: Probe,
    pub last_sent_at: Option<DateTime<Utc>>,
    pub measured_at: DateTime<Utc>,
    /// Sending slots alive, of the normal and of the HIGH queue.
    pub workers_alive: i32,
    pub priority_workers_alive: i32,
}

impl Health {
    pub fn of(counts: HealthCounts) -> Self {
        let window_minutes = counts.window.as_secs_f64() / 60.0;
        #[expect(clippy::cast_precision_loss, reason = "rates of at most millions")]
        let rate = |count: i64| count as f64 / window_minutes;
        // Every attempt either failed or sent its notification.
        let attempts_hour = counts.failed_attempts_last_hour + counts.figures.sent_last_hour;
        let slots = |queue: Priority| {
            counts
                .workers
                .iter()
                .filter(|worker| worker.queue == queue)
                .map(|worker| worker.slots)
                .sum()
        };
        Self {
            high_priority_queue_depth: counts.high_priority_queue_depth,
            send_rate_per_minute: rate(counts.sent_recently),
            failure_rate_per_minute: rate(counts.failed_recently),
            #[expect(clippy::cast_precision_loss, reason = "a ratio")]
            failure_ratio_last_hour: if attempts_hour > 0 {
                counts.failed_attempts_last_hour as f64 / attempts_hour as f64
            } else {
                0.0
            },
            probe: counts.probe,
            last_sent_at: counts.last_sent_at,
            measured_at: counts.measured_at,
            workers_alive: slots(Priority::Normal),
            priority_workers_alive: slots(Priority::High),
            figures: counts.figures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures() -> QueueFigures {
        QueueFigures {
            queue_depth: 3,
            oldest_pending_age_seconds: 0,
            sent_last_hour: 6,
            failed_last_hour: 1,
        }
    }

    #[test]
    fn counts_are_given_per_status_overall_and_per_event_type() {
        let group = |event_type, status, count| GroupCount {
            event_type: Some(event_type),
            status: Some(status),
            count,
        };
        let status = QueueStatus::of(
            &[
                group(EventType::SyncJobFailed, Status::Sent, 4),
                group(EventType::BookingConfirmed, Status::Sent, 2),
                group(EventType::SyncJobFailed, Status::Failed, 1),
            ],
            Vec::new(),
            figures(),
            Utc::now(),
        );
        assert_eq!(
            status.by_status,
            vec![
                (Status::Pending, 0),
                (Status::Sent, 6),
                (Status::Failed, 1),
                (Status::Cancelled, 0)
            ]
        );
        let types: Vec<_> = status.by_event_type.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            types,
            vec![
                Some(EventType::BookingConfirmed),
                Some(EventType::SyncJobFailed)
            ]
        );
        assert_eq!(status.by_event_type[1].1[1], (Status::Sent, 4));
    }

    #[test]
    fn rates_ratios_and_slots_come_from_the_counts() {
        let worker = |queue, slots| Worker {
            instance: "a".into(),
            queue,
            slots,
        };
        let health = Health::of(HealthCounts {
            figures: figures(),
            high_priority_queue_depth: 1,
            sent_recently: 10,
            failed_recently: 5,
            window: Duration::from_secs(5 * 60),
            failed_attempts_last_hour: 2,
            workers: vec![
                worker(Priority::Normal, 4),
                worker(Priority::Normal, 4),
                worker(Priority::High, 2),
            ],
            probe: Probe::default(),
            last_sent_at: None,
            measured_at: Utc::now(),
        });
        assert!((health.send_rate_per_minute - 2.0).abs() < f64::EPSILON);
        assert!((health.failure_rate_per_minute - 1.0).abs() < f64::EPSILON);
        assert!((health.failure_ratio_last_hour - 0.25).abs() < f64::EPSILON);
        assert_eq!(
            (health.workers_alive, health.priority_workers_alive),
            (8, 2)
        );
        let now = Utc::now();
        assert_eq!(
            pending_age_seconds(now, Some(now - chrono::Duration::seconds(90))),
            90
        );
        assert_eq!(pending_age_seconds(now, None), 0);
    }
}
