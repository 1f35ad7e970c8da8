//! Relays the outbox to NotifyAPI, at least once: claim an entry with a lease, send it, mark it
//! delivered. NotifyAPI deduplicates on (event id, recipient), so a resend after a crash is
//! harmless. While NotifyAPI cannot take it (down, or not built yet: UNIMPLEMENTED), entries
//! wait and are retried with back-off; none is dropped.

use std::time::Duration;

use astro_shared::{AppError, backoff::Backoff, telemetry::adopt_traceparent};
use tracing::Instrument as _;

use crate::{clients::notify::NotifyClient, domain::outbox::OutboxEvent, store::OutboxStore};

const LEASE: Duration = Duration::from_secs(30);
const IDLE_POLL: Duration = Duration::from_millis(500);
/// 1 s, 2 s, 4 s, ... up to a minute.
const BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));

pub struct Relay {
    outbox: OutboxStore,
    notify: NotifyClient,
}

impl Relay {
    pub fn new(outbox: OutboxStore, notify: NotifyClient) -> Self {
        Self { outbox, notify }
    }

    /// Runs forever (until the process stops).
    pub async fn run(self) {
        loop {
            match self.outbox.claim_due(LEASE).await {
                Ok(Some(event)) => {
                    let span = delivery_span(&event);
                    self.deliver(event).instrument(span).await;
                }
                Ok(None) => tokio::time::sleep(IDLE_POLL).await,
                Err(error) => {
                    tracing::warn!(error = %error, "outbox relay cannot read SystemDB");
                    tokio::time::sleep(IDLE_POLL * 4).await;
                }
            }
        }
    }

    async fn deliver(&self, event: OutboxEvent) {
        let outcome = match self.notify.enqueue(&event).await {
            Ok(()) => self.outbox.mark_delivered(&event.event_id).await,
            Err(error) => {
                let attempts = u32::try_from(event.attempts.max(1)).unwrap_or(u32::MAX);
                let delay = BACKOFF.ceiling(attempts);
                tracing::info!(
                    event_id = %event.event_id,
                    attempts,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    status = %error.code(),
                    "outbox entry not accepted by NotifyAPI yet"
                );
                self.outbox
                    .retry_later(&event.event_id, delay, &refusal_text(&error))
                    .await
            }
        };
        if let Err(error) = outcome {
            // The lease runs out and the entry is claimed again: delivered at least once.
            tracing::warn!(event_id = %event.event_id, error = %error, "outbox bookkeeping failed");
        }
    }
}

/// What NotifyAPI answered, for operators (kept in the entry's `last_error`): the code, the
/// error and its causes (an unexpected code keeps NotifyAPI's own text there).
fn refusal_text(error: &AppError) -> String {
    let mut text = format!("{}: {error}", error.code());
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(&format!(": {inner}"));
        cause = inner.source();
    }
    text
}

/// A span in the trace of the request that caused the event (its stored `traceparent`), so
/// the delivery and NotifyAPI's work join that trace instead of starting new ones.
fn delivery_span(event: &OutboxEvent) -> tracing::Span {
    let span = tracing::info_span!(
        "outbox.relay",
        otel.name = "outbox.relay",
        event_id = %event.event_id,
        event_type = %event.event_type,
        attempt = event.attempts,
    );
    adopt_traceparent(&span, &event.traceparent);
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        assert_eq!(BACKOFF.ceiling(1), Duration::from_secs(1));
        assert_eq!(BACKOFF.ceiling(2), Duration::from_secs(2));
        assert_eq!(BACKOFF.ceiling(6), Duration::from_secs(32));
        assert_eq!(BACKOFF.ceiling(7), Duration::from_secs(60));
        assert_eq!(BACKOFF.ceiling(50), Duration::from_secs(60));
    }

    #[test]
    fn a_refusal_keeps_its_code_and_text_for_operators() {
        let unimplemented = AppError::from(tonic::Status::unimplemented("not yet"));
        let text = refusal_text(&unimplemented);
        assert!(text.contains("not yet"), "{text}");
        let unavailable = AppError::from(tonic::Status::unavailable("connection refused"));
        let text = refusal_text(&unavailable);
        assert!(text.contains("connection refused"), "{text}");
    }
}
