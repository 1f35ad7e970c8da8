//! Sending: per queue (HIGH, NORMAL) one loop claims due notifications with a lease and hands
//! each to one of its sending slots; lettre delivers over a pooled SMTP connection. Transient
//! failures (4xx, connection errors) are retried with exponential back-off and jitter;
//! permanent ones (5xx) and the last allowed attempt make it FAILED with the error kept.
//!
//! Delivery is at least once: a worker killed after the SMTP server accepted a message but
//! before recording it gives the claim back when the lease ends, and the message goes again.
//! Each message carries a stable `Message-ID` (`<notification id@domain>`), so mail systems
//! and people can recognise such a repeat.

use std::{sync::Arc, time::Duration};

use astro_shared::{convert::bson_after, telemetry};
use lettre::{
    AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::{
        PoolConfig,
        client::{Tls, TlsParameters},
    },
};
use mongodb::bson::DateTime;
use tokio::sync::{Notify, Semaphore};
use tracing::Instrument as _;

use crate::{State, store::notifications::NotificationDocument};

/// How SMTP connections are secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text: a local relay or catcher only.
    None,
    /// STARTTLS, required (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Wrapper,
}

impl std::str::FromStr for SmtpTls {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "none" => Ok(Self::None),
            "starttls" => Ok(Self::StartTls),
            "tls" => Ok(Self::Wrapper),
            other => Err(format!("`{other}` is not one of none, starttls, tls")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// User name and password, if the server wants them.
    pub credentials: Option<(String, astro_shared::config::Secret)>,
    /// `From:` of every e-mail, e.g. `AstroBookings <no-reply@astrobookings.example>`.
    pub from: String,
    /// Connections kept open to the server.
    pub pool_size: u32,
    /// Longest an SMTP exchange may take; shorter than the claim lease, so a slow server
    /// cannot make two workers send one message.
    pub timeout: Duration,
}

/// Why an attempt failed, in the words kept on the notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    /// Worth trying again later (4xx, connection trouble)?
    pub transient: bool,
    /// As the server or the connection said, e.g. `smtp 451 4.3.0 try again later`.
    pub error: String,
    /// Without variable parts, for counting by reason, e.g. `smtp 451`.
    pub reason: String,
}

/// The SMTP side: a pooled transport and the sender address.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    message_id_domain: String,
}

impl Mailer {
    pub fn new(config: &SmtpConfig) -> anyhow::Result<Self> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|error| anyhow::anyhow!("ASTRO_NOTIFY_MAIL_FROM is not a mailbox: {error}"))?;
        let tls = match config.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls => Tls::Required(TlsParameters::new(config.host.clone())?),
            SmtpTls::Wrapper => Tls::Wrapper(TlsParameters::new(config.host.clone())?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout))
            .pool_config(
                PoolConfig::new()
                    .max_size(config.pool_size)
                    .idle_timeout(Duration::from_secs(60)),
            );
        if let Some((user, password)) = &config.credentials {
            builder =
                builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
                    user.clone(),
                    password.expose().to_owned(),
                ));
        }
        Ok(Self {
            transport: builder.build(),
            message_id_domain: from.email.domain().to_owned(),
            from,
        })
    }

    /// Delivers one notification's e-mail to the SMTP server.
    pub async fn send(&self, notification: &NotificationDocument) -> Result<(), SendFailure> {
        let message = self.message(notification)?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|error| classify(&error))
    }

    /// Connects and greets the server (EHLO), as the health figures report it.
    pub async fn probe(&self) -> bool {
        matches!(self.transport.test_connection().await, Ok(true))
    }

    fn message(&self, notification: &NotificationDocument) -> Result<Message, SendFailure> {
        let permanent = |error: String, reason: &str| SendFailure {
            transient: false,
            error,
            reason: reason.to_owned(),
        };
        let address = notification.recipient.email.parse().map_err(|error| {
            permanent(
                format!("invalid recipient address: {error}"),
                "invalid recipient address",
            )
        })?;
        let name = Some(notification.recipient.name.clone()).filter(|name| !name.is_empty());
        Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(name, address))
            .subject(notification.email_subject.clone())
            .message_id(Some(format!(
                "<{}@{}>",
                notification.id, self.message_id_domain
            )))
            .multipart(MultiPart::alternative_plain_html(
                notification.email_text.clone(),
                notification.email_html.clone(),
            ))
            .map_err(|error| permanent(format!("e-mail not built: {error}"), "e-mail not built"))
    }
}

/// An SMTP answer or a connection problem, in words IT can act on.
fn classify(error: &lettre::transport::smtp::Error) -> SendFailure {
    let detail = std::error::Error::source(error)
        .map(ToString::to_string)
        .unwrap_or_default();
    let detail = detail.trim();
    match error.status() {
        Some(code) => {
            let reason = format!("smtp {code}");
            SendFailure {
                // 4xx: try later; 5xx: the server will not take it.
                transient: error.is_transient(),
                error: if detail.is_empty() {
                    reason.clone()
                } else {
                    format!("{reason} {detail}")
                },
                reason,
            }
        }
        None => {
            let reason = if error.is_timeout() {
                "smtp timeout"
            } else if error.is_tls() {
                "smtp tls error"
            } else {
                "smtp connection error"
            };
            SendFailure {
                transient: true,
                error: if detail.is_empty() {
                    format!("{reason}: {error}")
                } else {
                    format!("{reason}: {detail}")
                },
                reason: reason.to_owned(),
            }
        }
    }
}

/// Wakes a queue's loop when something is queued in this process, so a new notification
/// does not wait for the next poll.
#[derive(Default)]
pub struct Wake {
    high: Notify,
    normal: Notify,
}

impl Wake {
    pub fn notify(&self, queue: &str) {
        self.of(queue).notify_one();
    }

    fn of(&self, queue: &str) -> &Notify {
        if queue == "HIGH" {
            &self.high
        } else {
            &self.normal
        }
    }
}

/// How often a worker reports it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// Claims and sends the notifications of `queue` (`HIGH` or `NORMAL`) with up to `slots`
/// messages in flight, for ever.
pub async fn run_queue(state: State, queue: &'static str, slots: usize) {
    let slots_in_use = Arc::new(Semaphore::new(slots.max(1)));
    let slot_count = i32::try_from(slots).unwrap_or(i32::MAX);
    let mut last_heartbeat: Option<tokio::time::Instant> = None;
    loop {
        if last_heartbeat.is_none_or(|beat| beat.elapsed() >= HEARTBEAT) {
            match state
                .delivery
                .heartbeat(&state.settings.instance, queue, slot_count)
                .await
            {
                Ok(()) => last_heartbeat = Some(tokio::time::Instant::now()),
                Err(error) => {
                    tracing::warn!(queue, error = %error, "worker heartbeat not recorded")
                }
            }
        }
        let Ok(slot) = Arc::clone(&slots_in_use).acquire_owned().await else {
            return;
        };
        let token = uuid::Uuid::now_v7().to_string();
        match state
            .notifications
            .claim(queue, state.settings.lease, &token)
            .await
        {
            Ok(Some(notification)) => {
                let state = state.clone();
                tokio::spawn(async move {
                    deliver(&state, notification, &token).await;
                    drop(slot);
                });
            }
            Ok(None) => {
                drop(slot);
                tokio::select! {
                    () = state.wake.of(queue).notified() => {}
                    () = tokio::time::sleep(state.settings.poll_interval) => {}
                }
            }
            Err(error) => {
                drop(slot);
                tracing::warn!(queue, error = %error, "cannot claim notifications");
                tokio::time::sleep(state.settings.poll_interval * 4).await;
            }
        }
    }
}

/// One attempt: send, then record the outcome under the claim `token`.
async fn deliver(state: &State, notification: NotificationDocument, token: &str) {
    let span = tracing::info_span!(
        "smtp.send",
        otel.name = "smtp send",
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        peer.service = "smtp",
        notification.id = %notification.id,
        notification.event_type = %notification.event_type,
        notification.queue = %notification.priority,
        attempt = notification.attempts,
        smtp.reason = tracing::field::Empty,
    );
    telemetry::adopt_traceparent(&span, &notification.trace_context);
    async {
        let outcome = state.mailer.send(&notification).await;
        if let Err(error) = record(state, &notification, token, outcome).await {
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
    state: &State,
    notification: &NotificationDocument,
    token: &str,
    outcome: Result<(), SendFailure>,
) -> Result<(), astro_shared::AppError> {
    let span = tracing::Span::current();
    let id = notification.id.as_str();
    let user_id = Some(notification.recipient.user_id.as_str()).filter(|id| !id.is_empty());
    let attributes = [
        ("notification_id", id),
        ("event_id", notification.event_id.as_str()),
        ("event_type", notification.event_type.as_str()),
    ];
    match outcome {
        Ok(()) => {
            let recorded = state.notifications.complete_sent(id, token).await?;
            if recorded {
                tracing::info!(
                    notification_id = id,
                    attempt = notification.attempts,
                    "e-mail sent"
                );
                state.activity.info(
                    "notification.sent",
                    user_id,
                    format!("{} e-mail sent", notification.event_type),
                    &attributes,
                );
            } else {
                tracing::warn!(notification_id = id, "e-mail sent after its claim was lost");
            }
        }
        Err(failure) => {
            span.record("otel.status_code", "ERROR");
            span.record("smtp.reason", failure.reason.as_str());
            state
                .delivery
                .record_failed_attempt(id, &failure.error)
                .await?;
            let exhausted = notification.attempts >= notification.max_attempts;
            if !failure.transient || exhausted {
                state
                    .notifications
                    .complete_failed(id, token, &failure.error, &failure.reason)
                    .await?;
                tracing::warn!(
                    notification_id = id,
                    attempts = notification.attempts,
                    error = %failure.error,
                    "e-mail FAILED"
                );
                state.activity.warn(
                    "notification.failed",
                    user_id,
                    format!(
                        "{} e-mail failed after {} attempt(s): {}",
                        notification.event_type, notification.attempts, failure.reason
                    ),
                    &attributes,
                );
            } else {
                let delay = state
                    .settings
                    .backoff
                    .jittered(u32::try_from(notification.attempts).unwrap_or(0));
                state
                    .notifications
                    .complete_retry(
                        id,
                        token,
                        bson_after(DateTime::now(), delay),
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
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_modes_parse_and_unknown_ones_are_refused() {
        assert_eq!("none".parse::<SmtpTls>(), Ok(SmtpTls::None));
        assert_eq!("starttls".parse::<SmtpTls>(), Ok(SmtpTls::StartTls));
        assert_eq!("tls".parse::<SmtpTls>(), Ok(SmtpTls::Wrapper));
        assert!("ssl".parse::<SmtpTls>().is_err());
    }
}
