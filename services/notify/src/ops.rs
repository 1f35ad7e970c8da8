//! What IT does with the queue (list, status, mark sent, retry, cancel), the service's health
//! figures, and what users see of their own notifications.

use std::{
    sync::atomic::{AtomicBool, AtomicI64, Ordering},
    time::Duration,
};

use astro_proto::astrobookings::{
    common::v1::{NotificationServiceHealth, SortOrder},
    notify::v1::{
        EventTypeCount, FailureReasonCount, GetQueueStatusRequest, GetQueueStatusResponse,
        ListMyNotificationsRequest, ListMyNotificationsResponse, ListNotificationsRequest,
        ListNotificationsResponse, Notification, NotificationEventType, NotificationPriority,
        NotificationSortField, NotificationStatus, StatusCount,
    },
};
use astro_shared::{
    AppError,
    convert::{bson_before, bson_from_timestamp, bson_timestamp},
    paging::page_size,
    validate::{bounded_text, fingerprint, page_offset, page_token, required_text},
};
use mongodb::bson::DateTime;

use crate::{
    SERVICE_NAME, State,
    store::notifications::{
        ManualAction, OriginDocument, QueueFilter, QueueOrder, event_type_name, parse_event_type,
        priority_name, status_name,
    },
};

const STATUSES: [NotificationStatus; 4] = [
    NotificationStatus::Pending,
    NotificationStatus::Sent,
    NotificationStatus::Failed,
    NotificationStatus::Cancelled,
];
const MAX_REASON_CHARS: usize = 500;
const FAILURE_REASONS_SHOWN: i64 = 20;
const RATE_WINDOW: Duration = Duration::from_secs(5 * 60);
const HOUR: Duration = Duration::from_secs(60 * 60);
/// A worker that has not reported for this long is not alive.
const WORKER_FRESHNESS: Duration = Duration::from_secs(15);

pub async fn list_notifications(
    state: &State,
    request: ListNotificationsRequest,
) -> Result<ListNotificationsResponse, AppError> {
    let limit = page_size(request.page_size, 50, 200)?;
    let mut filter = QueueFilter {
        statuses: statuses(&request.statuses)?,
        event_types: event_types(&request.event_types, "event_types")?,
        created_after: request
            .created_after
            .as_ref()
            .map(|time| bson_from_timestamp("created_after", time))
            .transpose()?,
        created_before: request
            .created_before
            .as_ref()
            .map(|time| bson_from_timestamp("created_before", time))
            .transpose()?,
        priority: match NotificationPriority::try_from(request.priority) {
            Ok(NotificationPriority::Unspecified) => None,
            Ok(priority) => Some(priority_name(priority)),
            Err(_) => return Err(AppError::invalid("priority", "is not a priority")),
        },
        event_id: Some(request.event_id.trim().to_owned()).filter(|id| !id.is_empty()),
        ..QueueFilter::default()
    };
    let recipient = request.recipient.trim();
    if recipient.chars().count() > 254 {
        return Err(AppError::invalid(
            "recipient",
            "must be at most 254 characters",
        ));
    }
    if uuid::Uuid::parse_str(recipient).is_ok() {
        filter.recipient_user_id = Some(recipient.to_owned());
    } else if !recipient.is_empty() {
        filter.recipient_email_contains = Some(recipient.to_owned());
    }
    let field = match NotificationSortField::try_from(request.sort_by) {
        Ok(NotificationSortField::Unspecified | NotificationSortField::CreatedAt) => "created_at",
        Ok(NotificationSortField::UpdatedAt) => "updated_at",
        Ok(NotificationSortField::NextAttemptAt) => "next_attempt_at",
        Ok(NotificationSortField::Attempts) => "attempts",
        Err(_) => return Err(AppError::invalid("sort_by", "is not a sort field")),
    };
    let ascending = match SortOrder::try_from(request.order) {
        Ok(SortOrder::Ascending) => true,
        Ok(SortOrder::Unspecified | SortOrder::Descending) => false,
        Err(_) => return Err(AppError::invalid("order", "is not a sort order")),
    };
    let query = fingerprint(&[
        &format!("{filter:?}"),
        field,
        if ascending { "asc" } else { "desc" },
    ]);
    let offset = page_offset(&request.page_token, query)?;
    let (page, total) = state
        .notifications
        .list(&filter, QueueOrder { field, ascending }, offset, limit)
        .await?;
    let next_offset = offset + page.len() as u64;
    Ok(ListNotificationsResponse {
        next_page_token: if next_offset < total && !page.is_empty() {
            page_token(next_offset, query)
        } else {
            String::new()
        },
        notifications: page.iter().map(|document| document.to_proto()).collect(),
        total_size: i64::try_from(total).unwrap_or(i64::MAX),
    })
}

pub async fn list_mine(
    state: &State,
    user_id: &str,
    request: ListMyNotificationsRequest,
) -> Result<ListMyNotificationsResponse, AppError> {
    let limit = page_size(request.page_size, 20, 100)?;
    let event_types = event_types(&request.event_types, "event_types")?;
    let query = fingerprint(&[user_id, &event_types.join(",")]);
    let offset = page_offset(&request.page_token, query)?;
    // One more than asked tells whether there is a next page without counting.
    let mut page = state
        .notifications
        .list_for_user(user_id, &event_types, offset, limit + 1)
        .await?;
    let more = page.len() > limit as usize;
    page.truncate(limit as usize);
    Ok(ListMyNotificationsResponse {
        next_page_token: if more {
            page_token(offset + u64::from(limit), query)
        } else {
            String::new()
        },
        notifications: page
            .iter()
            .map(|document| Notification {
                // Delivery errors are for IT only.
                last_error: String::new(),
                ..document.to_proto()
            })
            .collect(),
    })
}

/// Mark sent, retry or cancel, by the IT employee `user_id`.
pub async fn apply(
    state: &State,
    user_id: &str,
    id: &str,
    reason: &str,
    action: ManualAction,
) -> Result<Notification, AppError> {
    let id = required_text("id", id, 100)?;
    let reason = bounded_text("reason", reason, MAX_REASON_CHARS)?;
    let by = OriginDocument {
        service: SERVICE_NAME.to_owned(),
        user_id: user_id.to_owned(),
        trace_id: astro_shared::telemetry::trace_id(&tracing::Span::current()),
        time: Some(DateTime::now()),
    };
    let Some((notification, changed)) = state.notifications.apply_manual(&id, action, &by).await?
    else {
        return Err(AppError::NotFound("notification".to_owned()));
    };
    let status = notification.status();
    if !changed {
        // Asking again for what is already so succeeds; anything else is refused.
        let already = matches!(
            (action, status),
            (ManualAction::MarkSent, NotificationStatus::Sent)
                | (ManualAction::Cancel, NotificationStatus::Cancelled)
        );
        if already {
            return Ok(notification.to_proto());
        }
        let allowed = match action {
            ManualAction::MarkSent => "PENDING",
            ManualAction::Retry => "FAILED",
            ManualAction::Cancel => "PENDING or FAILED",
        };
        return Err(AppError::refused(
            "NOTIFICATION_STATUS",
            format!(
                "the notification is {}; only a {allowed} one can be changed so",
                status_name(status)
            ),
        )
        .with_metadata("status", status_name(status)));
    }
    let (event_type, verb) = match action {
        ManualAction::MarkSent => ("notification.marked_sent", "marked sent"),
        ManualAction::Retry => ("notification.retried", "put back in the queue"),
        ManualAction::Cancel => ("notification.cancelled", "cancelled"),
    };
    if action == ManualAction::Retry {
        state.wake.notify(&notification.priority);
    }
    state.activity.info(
        event_type,
        Some(user_id),
        if reason.is_empty() {
            format!("notification {verb} by IT")
        } else {
            format!("notification {verb} by IT: {reason}")
        },
        &[
            ("notification_id", &notification.id),
            ("event_id", &notification.event_id),
            ("event_type", &notification.event_type),
        ],
    );
    Ok(notification.to_proto())
}

pub async fn queue_status(
    state: &State,
    request: GetQueueStatusRequest,
) -> Result<GetQueueStatusResponse, AppError> {
    let since = request
        .since
        .as_ref()
        .map(|time| bson_from_timestamp("since", time))
        .transpose()?;
    let now = DateTime::now();
    let groups = state.notifications.count_by_type_and_status(since).await?;
    let per_status = |of: &dyn Fn(&str) -> bool| -> Vec<StatusCount> {
        STATUSES
            .iter()
            .map(|&status| StatusCount {
                status: status.into(),
                count: groups
                    .iter()
                    .filter(|group| group.status == status_name(status) && of(&group.event_type))
                    .map(|group| group.count)
                    .sum(),
            })
            .collect()
    };
    let mut event_types: Vec<&str> = groups
        .iter()
        .map(|group| group.event_type.as_str())
        .collect();
    event_types.sort_unstable();
    event_types.dedup();
    let by_event_type = event_types
        .into_iter()
        .map(|event_type| EventTypeCount {
            event_type: parse_event_type(event_type).into(),
            counts: per_status(&|name| name == event_type),
        })
        .collect();
    let failure_reasons = state
        .notifications
        .failure_reasons(since, FAILURE_REASONS_SHOWN)
        .await?
        .into_iter()
        .map(|reason| FailureReasonCount {
            reason: reason.reason,
            count: reason.count,
            last_seen_at: reason.last_seen_at.map(bson_timestamp),
        })
        .collect();
    let figures = QueueFigures::measure(state, now).await?;
    Ok(GetQueueStatusResponse {
        by_status: per_status(&|_| true),
        by_event_type,
        failure_reasons,
        queue_depth: figures.queue_depth,
        oldest_pending_age_seconds: figures.oldest_pending_age_seconds,
        measured_at: Some(bson_timestamp(now)),
        sent_last_hour: figures.sent_last_hour,
        failed_last_hour: figures.failed_last_hour,
    })
}

/// The figures both the queue status and the health report.
struct QueueFigures {
    queue_depth: i64,
    oldest_pending_age_seconds: i64,
    sent_last_hour: i64,
    failed_last_hour: i64,
}

impl QueueFigures {
    async fn measure(state: &State, now: DateTime) -> Result<Self, AppError> {
        let store = &state.notifications;
        let hour_ago = bson_before(now, HOUR);
        let oldest = store.oldest_pending_at().await?;
        Ok(Self {
            queue_depth: store.pending_count(None).await?,
            oldest_pending_age_seconds: oldest.map_or(0, |oldest| {
                (now.timestamp_millis() - oldest.timestamp_millis()).max(0) / 1000
            }),
            sent_last_hour: store.sent_since(hour_ago).await?,
            failed_last_hour: store.failed_since(hour_ago).await?,
        })
    }
}

pub async fn health(state: &State) -> Result<NotificationServiceHealth, AppError> {
    let now = DateTime::now();
    let figures = QueueFigures::measure(state, now).await?;
    let store = &state.notifications;
    let window_minutes = RATE_WINDOW.as_secs_f64() / 60.0;
    let sent_recently = store.sent_since(bson_before(now, RATE_WINDOW)).await?;
    let failed_recently = state
        .delivery
        .failed_attempts_since(bson_before(now, RATE_WINDOW))
        .await?;
    let failed_hour = state
        .delivery
        .failed_attempts_since(bson_before(now, HOUR))
        .await?;
    // Every attempt either failed or sent its notification.
    let attempts_hour = failed_hour + figures.sent_last_hour;
    let workers = state.delivery.workers_alive(WORKER_FRESHNESS).await?;
    let slots = |queue: &str| {
        workers
            .iter()
            .filter(|worker| worker.queue == queue)
            .map(|worker| worker.slots)
            .sum()
    };
    let (reachable, checked_at) = state.smtp_health.last();
    #[expect(clippy::cast_precision_loss, reason = "rates of at most millions")]
    let rate = |count: i64| count as f64 / window_minutes;
    Ok(NotificationServiceHealth {
        queue_depth: figures.queue_depth,
        high_priority_queue_depth: store.pending_count(Some("HIGH")).await?,
        oldest_pending_age_seconds: figures.oldest_pending_age_seconds,
        send_rate_per_minute: rate(sent_recently),
        failure_rate_per_minute: rate(failed_recently),
        #[expect(clippy::cast_precision_loss, reason = "a ratio")]
        failure_ratio_last_hour: if attempts_hour > 0 {
            failed_hour as f64 / attempts_hour as f64
        } else {
            0.0
        },
        sent_last_hour: figures.sent_last_hour,
        failed_last_hour: figures.failed_last_hour,
        email_server_reachable: reachable,
        email_server_checked_at: checked_at.map(bson_timestamp),
        last_sent_at: store.last_sent_at().await?.map(bson_timestamp),
        measured_at: Some(bson_timestamp(now)),
        workers_alive: slots("NORMAL"),
        priority_workers_alive: slots("HIGH"),
    })
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
            .store(DateTime::now().timestamp_millis(), Ordering::Relaxed);
    }

    pub fn last(&self) -> (bool, Option<DateTime>) {
        let millis = self.checked_at_millis.load(Ordering::Relaxed);
        (
            self.reachable.load(Ordering::Relaxed),
            (millis > 0).then(|| DateTime::from_millis(millis)),
        )
    }
}

/// Probes the e-mail server every `interval` and forgets old delivery attempts, for ever.
pub async fn run_housekeeping(state: State, interval: Duration) {
    loop {
        let reachable = state.mailer.probe().await;
        let (was_reachable, checked_before) = state.smtp_health.last();
        if checked_before.is_some() && reachable != was_reachable {
            if reachable {
                tracing::info!("e-mail server reachable again");
            } else {
                tracing::warn!("e-mail server unreachable");
            }
        }
        state.smtp_health.record(reachable);
        if let Err(error) = state.delivery.prune().await {
            tracing::warn!(error = %error, "old delivery records not pruned");
        }
        tokio::time::sleep(interval).await;
    }
}

fn statuses(values: &[i32]) -> Result<Vec<&'static str>, AppError> {
    values
        .iter()
        .filter(|&&value| value != 0)
        .map(|&value| {
            NotificationStatus::try_from(value)
                .map(status_name)
                .map_err(|_| AppError::invalid("statuses", format!("{value} is not a status")))
        })
        .collect()
}

fn event_types(values: &[i32], field: &str) -> Result<Vec<&'static str>, AppError> {
    values
        .iter()
        .filter(|&&value| value != 0)
        .map(|&value| {
            NotificationEventType::try_from(value)
                .map(event_type_name)
                .map_err(|_| AppError::invalid(field, format!("{value} is not an event type")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::notifications::parse_status;

    #[test]
    fn unknown_filter_values_are_refused_and_unspecified_ones_ignored() {
        assert_eq!(statuses(&[0, 3]).expect("valid"), vec!["FAILED"]);
        assert!(statuses(&[99]).is_err());
        assert_eq!(
            event_types(&[7], "event_types").expect("valid"),
            vec!["BOOKING_CONFIRMED"]
        );
        assert!(event_types(&[-1], "event_types").is_err());
        assert_eq!(parse_status("SENT"), NotificationStatus::Sent);
    }
}
