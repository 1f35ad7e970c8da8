//! Relays the outbox to NotifyAPI, at least once: claim an entry with a lease, send it, mark it
//! delivered. NotifyAPI deduplicates on (event id, recipient), so a resend after a crash is
//! harmless. While NotifyAPI cannot take it (down, or not built yet: UNIMPLEMENTED), entries
//! wait and are retried with back-off; none is dropped.

use std::time::Duration;

use astro_proto::astrobookings::{
    common::v1::{Contact, Origin, Role},
    notify::v1::{
        EnqueueNotificationRequest, NotificationEventType, NotificationSubject,
        notify_internal_service_client::NotifyInternalServiceClient,
    },
};
use astro_shared::{
    backoff::Backoff, changes::trace_id_of, grpc_client::TracedChannel,
    telemetry::adopt_traceparent,
};
use tracing::Instrument as _;

use crate::store::{OutboxEntry, OutboxStore};

const LEASE: Duration = Duration::from_secs(30);
const IDLE_POLL: Duration = Duration::from_millis(500);
/// 1 s, 2 s, 4 s, ... up to a minute.
const BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));

/// Runs forever (until the process stops).
pub async fn run(outbox: OutboxStore, notify: TracedChannel) {
    let client = NotifyInternalServiceClient::new(notify);
    loop {
        match outbox.claim_due(LEASE).await {
            Ok(Some(entry)) => {
                let span = delivery_span(&entry);
                deliver(&outbox, client.clone(), entry)
                    .instrument(span)
                    .await;
            }
            Ok(None) => tokio::time::sleep(IDLE_POLL).await,
            Err(error) => {
                tracing::warn!(error = %error, "outbox relay cannot read SystemDB");
                tokio::time::sleep(IDLE_POLL * 4).await;
            }
        }
    }
}

async fn deliver(
    outbox: &OutboxStore,
    mut client: NotifyInternalServiceClient<TracedChannel>,
    entry: OutboxEntry,
) {
    let event_type = NotificationEventType::from_str_name(&entry.event_type)
        .unwrap_or(NotificationEventType::Unspecified);
    let request = EnqueueNotificationRequest {
        event_id: entry.event_id.clone(),
        event_type: event_type.into(),
        recipient: Some(Contact {
            user_id: entry.recipient_user_id.clone(),
            name: entry.recipient_name.clone(),
            email: entry.recipient_email.clone(),
            phone: String::new(),
        }),
        subject: Some(NotificationSubject {
            user_id: entry.recipient_user_id.clone(),
            ..NotificationSubject::default()
        }),
        data: entry.data.clone().into_iter().collect(),
        priority: 0,
        // The account's own role: the welcome e-mail speaks to a traveler or an agency.
        recipient_role: entry
            .data
            .get("role")
            .and_then(|role| Role::from_str_name(&format!("ROLE_{role}")))
            .unwrap_or(Role::Unspecified)
            .into(),
        trace_context: entry.traceparent.clone(),
        origin: Some(Origin {
            service: "system-api".to_owned(),
            user_id: entry.recipient_user_id.clone(),
            trace_id: trace_id_of(&entry.traceparent)
                .unwrap_or_default()
                .to_owned(),
            time: Some(astro_shared::convert::bson_timestamp(entry.created_at)),
        }),
    };
    let outcome = match client.enqueue_notification(request).await {
        Ok(_) => outbox.mark_delivered(&entry.event_id).await,
        Err(status) => {
            let attempts = u32::try_from(entry.attempts.max(1)).unwrap_or(u32::MAX);
            let delay = BACKOFF.ceiling(attempts);
            tracing::info!(
                event_id = %entry.event_id,
                attempts,
                retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                status = %status.code(),
                "outbox entry not accepted by NotifyAPI yet"
            );
            outbox
                .retry_later(
                    &entry.event_id,
                    delay,
                    &format!("{}: {}", status.code(), status.message()),
                )
                .await
        }
    };
    if let Err(error) = outcome {
        // The lease runs out and the entry is claimed again: delivered at least once.
        tracing::warn!(event_id = %entry.event_id, error = %error, "outbox bookkeeping failed");
    }
}

/// A span in the trace of the request that caused the event (its stored `traceparent`), so
/// the delivery and NotifyAPI's work join that trace instead of starting new ones.
fn delivery_span(entry: &OutboxEntry) -> tracing::Span {
    let span = tracing::info_span!(
        "outbox.relay",
        otel.name = "outbox.relay",
        event_id = %entry.event_id,
        event_type = %entry.event_type,
        attempt = entry.attempts,
    );
    adopt_traceparent(&span, &entry.traceparent);
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
    fn trace_id_is_read_from_traceparent() {
        assert_eq!(
            trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(trace_id_of(""), None);
    }
}
