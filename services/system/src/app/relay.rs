//! Relays the outboxes, at least once: claim an entry with a lease, send it, mark it
//! delivered. Events go to NotifyAPI, which deduplicates on (event id, recipient); profile
//! changes go to AgencyAPI or BookingAPI as the account's snapshot, which they apply once per
//! version. A resend after a crash is therefore harmless. While the receiver cannot take it
//! (down, or refusing), entries wait and are retried with back-off; none is dropped.

use std::{future::Future, time::Duration};

use astro_shared::{AppError, backoff::Backoff, telemetry::adopt_traceparent};
use tracing::Instrument as _;

use crate::{
    clients::{notify::NotifyClient, sync::SyncTargets},
    domain::outbox::{OutboxEvent, ProfilePush},
    store::{OutboxStore, ProfileOutboxStore, UserStore},
};

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
        relay_forever(
            "outbox",
            || self.outbox.claim_due(LEASE),
            |event| {
                let span = delivery_span(&event);
                self.deliver(event).instrument(span)
            },
        )
        .await;
    }

    async fn deliver(&self, event: OutboxEvent) {
        let outcome = match self.notify.enqueue(&event).await {
            Ok(()) => self.outbox.mark_delivered(&event.event_id).await,
            Err(error) => {
                let delay = retry_delay(event.attempts, &error, "NotifyAPI");
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

/// Pushes the accounts whose profiles changed (UpdateCurrentUser, DisableUser, EnableUser) to
/// the OperationsDB records that mirror them, without waiting for a USER_PROFILES sync job.
pub struct ProfileRelay {
    outbox: ProfileOutboxStore,
    users: UserStore,
    targets: SyncTargets,
}

impl ProfileRelay {
    pub fn new(outbox: ProfileOutboxStore, users: UserStore, targets: SyncTargets) -> Self {
        Self {
            outbox,
            users,
            targets,
        }
    }

    /// Runs forever (until the process stops).
    pub async fn run(self) {
        relay_forever(
            "profile outbox",
            || self.outbox.claim_due(LEASE),
            |push| {
                let span = tracing::info_span!(
                    "profile_outbox.relay",
                    otel.name = "profile_outbox.relay",
                    user_id = %push.user_id,
                    version = push.version,
                    attempt = push.attempts,
                );
                adopt_traceparent(&span, &push.traceparent);
                self.deliver(push).instrument(span)
            },
        )
        .await;
    }

    async fn deliver(&self, push: ProfilePush) {
        let outcome = match self.push(&push).await {
            Ok(Some(version)) => self.outbox.delivered(&push.user_id, version).await,
            // The account is gone: there is nothing left to mirror.
            Ok(None) => self.outbox.delivered(&push.user_id, i64::MAX).await,
            Err(error) => {
                let delay = retry_delay(push.attempts, &error, "OperationsDB");
                self.outbox
                    .retry_later(&push.user_id, delay, &refusal_text(&error))
                    .await
            }
        };
        if let Err(error) = outcome {
            // The lease runs out and the entry is claimed again: delivered at least once.
            tracing::warn!(user_id = %push.user_id, error = %error, "profile outbox bookkeeping failed");
        }
    }

    /// Sends the account as it is now (read after the claim, so at least the waiting version);
    /// answers the version sent, or `None` without an account.
    async fn push(&self, push: &ProfilePush) -> Result<Option<i64>, AppError> {
        let Some(account) = self.users.by_id(&push.user_id).await? else {
            return Ok(None);
        };
        let changed = self
            .targets
            .mirror_profiles(std::slice::from_ref(&account))
            .await?;
        tracing::info!(
            user_id = %account.id,
            version = account.profile_version,
            changed,
            "profile pushed to OperationsDB"
        );
        Ok(Some(account.profile_version))
    }
}

/// Claims and delivers `what`'s due entries one at a time, forever, polling while none is due.
async fn relay_forever<T, Claim, Claimed, Deliver, Delivered>(
    what: &str,
    claim: Claim,
    deliver: Deliver,
) where
    Claim: Fn() -> Claimed,
    Claimed: Future<Output = Result<Option<T>, AppError>>,
    Deliver: Fn(T) -> Delivered,
    Delivered: Future<Output = ()>,
{
    loop {
        match claim().await {
            Ok(Some(entry)) => deliver(entry).await,
            Ok(None) => tokio::time::sleep(IDLE_POLL).await,
            Err(error) => {
                tracing::warn!(error = %error, "{what} relay cannot read SystemDB");
                tokio::time::sleep(IDLE_POLL * 4).await;
            }
        }
    }
}

/// The back-off after a refused attempt (`attempts` so far), logged with the refusal.
fn retry_delay(attempts: i32, error: &AppError, receiver: &str) -> Duration {
    let attempts = u32::try_from(attempts.max(1)).unwrap_or(u32::MAX);
    let delay = BACKOFF.ceiling(attempts);
    tracing::info!(
        attempts,
        retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        status = %error.code(),
        "outbox entry not accepted by {receiver} yet"
    );
    delay
}

/// What the receiver answered, for operators (kept in the entry's `last_error`): the code, the
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
