//! Published events: stored first, then resolved into one notification per recipient. The
//! publisher resolves its event at once; events whose resolution failed or was cut short (a
//! dependency down, the process killed) are picked up again by [`Events::run_resolver`] once
//! their claim lapses. Queuing is idempotent per (event, recipient), so resolving twice queues
//! nothing twice.

use std::time::Duration;

use astro_shared::{AppError, telemetry};
use futures::{StreamExt as _, TryStreamExt as _};
use tracing::Instrument as _;

use super::{Queue, Recipients};
use crate::{
    domain::{
        Event, Outgoing,
        delivery::{after, resolve_retry_delay},
    },
    store::{ClaimedEvent, EventStore},
};

/// Recipients queued at once while resolving one event.
const QUEUE_CONCURRENCY: usize = 8;

#[derive(Clone)]
pub struct Events {
    pub events: EventStore,
    pub recipients: Recipients,
    pub queue: Queue,
    /// How long a claim to resolve an event lasts.
    pub lease: Duration,
    /// How often an idle resolver looks for due events.
    pub poll_interval: Duration,
}

impl Events {
    /// Stores `event` (once: false if it was published before) and resolves it now.
    pub async fn publish(&self, event: Event) -> Result<bool, AppError> {
        if !self.events.insert_claimed(&event, self.lease).await? {
            return Ok(false);
        }
        self.resolve_claimed(&event, 1).await;
        Ok(true)
    }

    /// Resolves the events whose resolution failed or was interrupted, for ever.
    pub async fn run_resolver(self) {
        loop {
            match self.events.claim_due(self.lease).await {
                Ok(Some(ClaimedEvent { event, attempts })) => {
                    let span = tracing::info_span!(
                        "notify.resolve_event",
                        event_id = %event.event_id,
                        event_type = %event.event_type().name(),
                        attempt = attempts,
                    );
                    telemetry::adopt_traceparent(&span, &event.trace_context);
                    self.resolve_claimed(&event, attempts)
                        .instrument(span)
                        .await;
                }
                Ok(None) => tokio::time::sleep(self.poll_interval).await,
                Err(error) => {
                    tracing::warn!(error = %error, "cannot read published events");
                    tokio::time::sleep(self.poll_interval * 4).await;
                }
            }
        }
    }

    /// Resolves a claimed event (its `attempts`-th try), or schedules another try.
    async fn resolve_claimed(&self, event: &Event, attempts: i32) {
        let event_type = event.event_type().name();
        match self.resolve(event).await {
            Ok(recipients) => {
                tracing::info!(
                    event_id = %event.event_id,
                    event_type,
                    recipients,
                    "event resolved"
                );
                if let Err(error) = self.events.mark_resolved(&event.event_id, recipients).await {
                    // Resolved again after the claim lapses: harmless, queuing is idempotent.
                    tracing::warn!(event_id = %event.event_id, error = %error, "event not marked resolved");
                }
            }
            Err(error) => {
                let delay = resolve_retry_delay(attempts);
                let message = telemetry::error_chain(&error);
                tracing::warn!(
                    event_id = %event.event_id,
                    event_type,
                    attempts,
                    retry_in_s = delay.as_secs(),
                    error = %message,
                    "event recipients not resolved yet"
                );
                if let Err(error) = self
                    .events
                    .retry_later(&event.event_id, after(chrono::Utc::now(), delay), &message)
                    .await
                {
                    tracing::warn!(event_id = %event.event_id, error = %error, "event retry not recorded");
                }
            }
        }
    }

    /// Queues one notification per recipient; returns how many recipients there are.
    async fn resolve(&self, event: &Event) -> Result<i32, AppError> {
        let recipients = self
            .recipients
            .resolve(event.event_type(), &event.subject)
            .await?;
        // The e-mails continue the trace through this resolution, itself in the event's trace.
        let trace_context = Some(telemetry::current_traceparent())
            .filter(|traceparent| !traceparent.is_empty())
            .unwrap_or_else(|| event.trace_context.clone());
        let count = i32::try_from(recipients.len()).unwrap_or(i32::MAX);
        futures::stream::iter(recipients)
            .map(|recipient| {
                self.queue.enqueue(Outgoing {
                    event_id: event.event_id.clone(),
                    recipient: recipient.contact,
                    role: recipient.role,
                    subject: event.subject.clone(),
                    data: event.data.clone(),
                    priority: event.priority,
                    trace_context: trace_context.clone(),
                    origin: event.origin.clone(),
                })
            })
            .buffer_unordered(QUEUE_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(count)
    }
}
