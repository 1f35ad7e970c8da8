//! Published events: stored first, then resolved into one notification per recipient. The
//! publisher resolves its event at once; events whose resolution failed or was cut short (a
//! dependency down, the process killed) are picked up again by [`run_resolver`] once their
//! claim lapses. Queuing is idempotent per (event, recipient), so resolving twice queues
//! nothing twice.

use std::time::Duration;

use astro_proto::astrobookings::notify::v1::{NotificationEventType, NotificationPriority};
use astro_shared::{AppError, backoff::Backoff, convert::bson_after, telemetry};
use futures::{StreamExt as _, TryStreamExt as _};
use mongodb::bson::DateTime;
use tracing::Instrument as _;

use crate::{
    State,
    queue::{self, Outgoing},
    store::{PublishedEvent, notifications::parse_event_type},
};

/// Recipients queued at once while resolving one event.
const QUEUE_CONCURRENCY: usize = 8;
/// 1 s, 2 s, 4 s, ... up to 5 minutes between tries to resolve one event.
const RESOLVE_BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));

/// The subject ids an event type needs to find its recipients (else INVALID_ARGUMENT).
pub fn required_subject(event_type: NotificationEventType) -> &'static [&'static str] {
    use NotificationEventType as E;
    match event_type {
        E::UserRegistered => &["user_id"],
        E::LaunchScheduled
        | E::LaunchDelayed
        | E::LaunchAborted
        | E::LaunchSuccessful
        | E::LaunchFailed => &["launch_id"],
        E::BookingConfirmed | E::BookingCancelled => &["booking_id", "launch_id", "user_id"],
        E::InvoiceIssued | E::InvoiceOverdue => &["invoice_id", "agency_id"],
        E::SyncJobFailed => &["sync_job_id"],
        E::Unspecified => &[],
    }
}

/// Stores `event` (once: false if it was published before) and resolves it now.
pub async fn publish(state: &State, event: PublishedEvent) -> Result<bool, AppError> {
    if !state
        .events
        .insert_claimed(&event, state.settings.lease)
        .await?
    {
        return Ok(false);
    }
    resolve_claimed(state, &event, 1).await;
    Ok(true)
}

/// Resolves the events whose resolution failed or was interrupted, for ever.
pub async fn run_resolver(state: State) {
    loop {
        match state.events.claim_due(state.settings.lease).await {
            Ok(Some(stored)) => {
                let event = &stored.event;
                let span = tracing::info_span!(
                    "notify.resolve_event",
                    event_id = %event.event_id,
                    event_type = %event.event_type,
                    attempt = stored.attempts,
                );
                telemetry::adopt_traceparent(&span, &event.trace_context);
                resolve_claimed(&state, event, stored.attempts)
                    .instrument(span)
                    .await;
            }
            Ok(None) => tokio::time::sleep(state.settings.poll_interval).await,
            Err(error) => {
                tracing::warn!(error = %error, "cannot read published events");
                tokio::time::sleep(state.settings.poll_interval * 4).await;
            }
        }
    }
}

/// Resolves a claimed event (its `attempts`-th try), or schedules another try.
async fn resolve_claimed(state: &State, event: &PublishedEvent, attempts: i32) {
    match resolve(state, event).await {
        Ok(recipients) => {
            tracing::info!(
                event_id = %event.event_id,
                event_type = %event.event_type,
                recipients,
                "event resolved"
            );
            if let Err(error) = state
                .events
                .mark_resolved(&event.event_id, recipients)
                .await
            {
                // Resolved again after the claim lapses: harmless, queuing is idempotent.
                tracing::warn!(event_id = %event.event_id, error = %error, "event not marked resolved");
            }
        }
        Err(error) => {
            let attempts = u32::try_from(attempts.max(1)).unwrap_or(u32::MAX);
            let delay = RESOLVE_BACKOFF.ceiling(attempts);
            let message = telemetry::error_chain(&error);
            tracing::warn!(
                event_id = %event.event_id,
                event_type = %event.event_type,
                attempts,
                retry_in_s = delay.as_secs(),
                error = %message,
                "event recipients not resolved yet"
            );
            if let Err(error) = state
                .events
                .retry_later(
                    &event.event_id,
                    bson_after(DateTime::now(), delay),
                    &message,
                )
                .await
            {
                tracing::warn!(event_id = %event.event_id, error = %error, "event retry not recorded");
            }
        }
    }
}

/// Queues one notification per recipient; returns how many recipients there are.
async fn resolve(state: &State, event: &PublishedEvent) -> Result<i32, AppError> {
    let event_type = parse_event_type(&event.event_type);
    let recipients = state.directory.resolve(event_type, &event.subject).await?;
    let priority = match event.priority.as_str() {
        "" => NotificationPriority::Unspecified,
        name => NotificationPriority::from_str_name(&format!("NOTIFICATION_PRIORITY_{name}"))
            .unwrap_or(NotificationPriority::Unspecified),
    };
    // The e-mails continue the trace through this resolution, itself in the event's trace.
    let trace_context = Some(telemetry::current_traceparent())
        .filter(|traceparent| !traceparent.is_empty())
        .unwrap_or_else(|| event.trace_context.clone());
    let count = i32::try_from(recipients.len()).unwrap_or(i32::MAX);
    futures::stream::iter(recipients)
        .map(|recipient| {
            queue::enqueue(
                state,
                Outgoing {
                    event_id: event.event_id.clone(),
                    event_type,
                    recipient: recipient.contact,
                    role: recipient.role,
                    subject: event.subject.clone(),
                    data: event.data.clone(),
                    priority,
                    trace_context: trace_context.clone(),
                    origin: event.origin.clone(),
                },
            )
        })
        .buffer_unordered(QUEUE_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(count)
}
