//! Sending: per queue (HIGH, NORMAL) one loop claims due notifications with a lease and hands
//! each to one of its sending slots; the SMTP adapter delivers it, and the outcome is recorded
//! under the claim as the retry rules say ([`SendFailure::after`]).
//!
//! Delivery is at least once: a worker killed after the SMTP server accepted a message but
//! before recording it gives the claim back when the lease ends, and the message goes again.

use std::{sync::Arc, time::Duration};

use astro_shared::{AppError, activity::ActivityLog, backoff::Backoff, telemetry};
use tokio::sync::Semaphore;
use tracing::Instrument as _;

use super::Wake;
use crate::{
    domain::{
        Notification, Priority,
        delivery::{AfterFailure, SendFailure, after},
    },
    smtp::Mailer,
    store::{DeliveryStore, NotificationStore},
};

/// How often a worker reports it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Sending {
    pub notifications: NotificationStore,
    pub delivery: DeliveryStore,
    pub mailer: Mailer,
    pub wake: Arc<Wake>,
    pub activity: ActivityLog,
    /// This replica's name in worker heartbeats.
    pub instance: String,
    /// How long a claim to send lasts.
    pub lease: Duration,
    /// How often idle workers look for due work.
    pub poll_interval: Duration,
    /// Pacing of the retries of transient failures.
    pub backoff: Backoff,
}

impl Sending {
    /// Claims and sends the notifications of `queue` with up to `slots` messages in flight,
    /// for ever.
    pub async fn run_queue(self, queue: Priority, slots: usize) {
        let slots_in_use = Arc::new(Semaphore::new(slots.max(1)));
        let slot_count = i32::try_from(slots).unwrap_or(i32::MAX);
        let queue_name = queue.name();
        let mut last_heartbeat: Option<tokio::time::Instant> = None;
        loop {
            if last_heartbeat.is_none_or(|beat| beat.elapsed() >= HEARTBEAT) {
                match self
                    .delivery
                    .heartbeat(&self.instance, queue, slot_count)
                    .await
                {
                    Ok(()) => last_heartbeat = Some(tokio::time::Instant::now()),
                    Err(error) => {
                        tracing::warn!(queue = queue_name, error = %error, "worker heartbeat not recorded");
                    }
                }
            }
            let Ok(slot) = Arc::clone(&slots_in_use).acquire_owned().await else {
                return;
            };
            let token = uuid::Uuid::now_v7().to_string();
            match self.notifications.claim(queue, self.lease, &token).await {
                Ok(Some(notification)) => {
                    let sending = self.clone();
                    tokio::spawn(async move {
                        sending.deliver(notification, &token).await;
                        drop(slot);
                    });
                }
                Ok(None) => {
                    drop(slot);
                    tokio::select! {
                        () = self.wake.of(queue).notified() => {}
                        () = tokio::time::sleep(self.poll_interval) => {}
                    }
                }
                Err(error) => {
                    drop(slot);
                    tracing::warn!(queue = queue_name, error = %error, "cannot claim notifications");
                    tokio::time::sleep(self.poll_interval * 4).await;
                }
            }
        }
    }

    /// One attempt: send, then record the outcome under the claim `token`.
    async fn deliver(&self, notification: Notification, token: &str) {
        let span = tracing::info_span!(
            "smtp.send",
            otel.name = "smtp send",
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            peer.service = "smtp",
            notification.id = %notification.id,
            notification.event_type = %notification.event_type().name(),
            notification.queue = %notification.priority.name(),
            attempt = notification.attempts,
            smtp.reason = tracing::field::Empty,
        );
        telemetry::adopt_traceparent(&span, &notification.trace_context);
        async {
            let outcome = self.mailer.send(&notification).await;
            if let Err(error) = self.record(&notification, token, outcome).await {
                // The claim lapses and the message is tried again: at least once.
                tracing::warn!(
                    notification_id = %notification.id,
                    error = %error,
                    "delivery outcome not recorded"
                );
            }
        }
        .instrument(span)
        .await;
    }

    async fn record(
        &self,
        notification: &Notification,
        token: &str,
        outcome: Result<(), SendFailure>,
    ) -> Result<(), AppError> {
        let span = tracing::Span::current();
        let id = notification.id.as_str();
        let event_type = notification.event_type().name();
        let attributes = [
            ("notification_id", id),
            ("event_id", notification.event_id.as_str()),
            ("event_type", event_type),
        ];
        let failure = match outcome {
            Ok(()) => {
                if self.notifications.complete_sent(id, token).await? {
                    tracing::info!(
                        notification_id = id,
                        attempt = notification.attempts,
                        "e-mail sent"
                    );
                    self.activity.info(
                        "notification.sent",
                        notification.user_id(),
                        format!("{event_type} e-mail sent"),
                        &attributes,
                    );
                } else {
                    tracing::warn!(notification_id = id, "e-mail sent after its claim was lost");
                }
                return Ok(());
            }
            Err(failure) => failure,
        };
        span.record("otel.status_code", "ERROR");
        span.record("smtp.reason", failure.reason.as_str());
        self.delivery
            .record_failed_attempt(id, &failure.error)
            .await?;
        match failure.after(
            notification.attempts,
            notification.max_attempts,
            &self.backoff,
        ) {
            AfterFailure::Fail => {
                self.notifications
                    .complete_failed(id, token, &failure.error, &failure.reason)
                    .await?;
                tracing::warn!(
                    notification_id = id,
                    attempts = notification.attempts,
                    error = %failure.error,
                    "e-mail FAILED"
                );
                self.activity.warn(
                    "notification.failed",
                    notification.user_id(),
                    format!(
                        "{event_type} e-mail failed after {} attempt(s): {}",
                        notification.attempts, failure.reason
                    ),
                    &attributes,
                );
            }
            AfterFailure::RetryIn(delay) => {
                self.notifications
                    .complete_retry(
                        id,
                        token,
                        after(chrono::Utc::now(), delay),
                        &failure.error,
                        &failure.reason,
                    )
                    .await?;
                tracing::info!(
                    notification_id = id,
                    attempts = notification.attempts,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %failure.error,
                    "e-mail not sent yet; will retry"
                );
            }
        }
        Ok(())
    }
}
