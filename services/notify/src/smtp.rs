//! The SMTP adapter: lettre delivers each notification's e-mail over a pooled connection, and
//! the answer becomes a [`SendFailure`] IT can act on (transient or not, with a reason to count
//! by). What to do about a failure is the sending use case's ([`crate::app::sending`]).
//!
//! Each message carries a stable `Message-ID` (`<notification id@domain>`), so mail systems
//! and people can recognise a repeat (delivery is at least once).

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::{
        PoolConfig,
        client::{Tls, TlsParameters},
    },
};

use crate::domain::{Notification, delivery::SendFailure};

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

/// As `ASTRO_NOTIFY_SMTP_TLS` spells it.
impl std::fmt::Display for SmtpTls {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Self::None => "none",
            Self::StartTls => "starttls",
            Self::Wrapper => "tls",
        })
    }
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
    pub async fn send(&self, notification: &Notification) -> Result<(), SendFailure> {
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

    fn message(&self, notification: &Notification) -> Result<Message, SendFailure> {
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
            .subject(notification.email.subject.clone())
            .message_id(Some(format!(
                "<{}@{}>",
                notification.id, self.message_id_domain
            )))
            .multipart(MultiPart::alternative_plain_html(
                notification.email.text.clone(),
                notification.email.html.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_modes_parse_and_unknown_ones_are_refused() {
        assert_eq!("none".parse::<SmtpTls>(), Ok(SmtpTls::None));
        assert_eq!("starttls".parse::<SmtpTls>(), Ok(SmtpTls::StartTls));
        assert_eq!("tls".parse::<SmtpTls>(), Ok(SmtpTls::Wrapper));
        assert!("ssl".parse::<SmtpTls>().is_err());
        for tls in [SmtpTls::None, SmtpTls::StartTls, SmtpTls::Wrapper] {
            assert_eq!(tls.to_string().parse::<SmtpTls>(), Ok(tls));
        }
    }
}
