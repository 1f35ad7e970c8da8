//! NotifyAPI: the durable notification queue in SystemDB (MongoDB protocol) and e-mail over
//! SMTP (EmailSvc).
//!
//! `api/` adapts the two gRPC services to the use cases of `app/`, which apply the rules of
//! `domain/` and reach the outside through `store/` (SystemDB), [`smtp`] (the e-mail server)
//! and [`clients`] (the directory: SystemAPI, AgencyAPI, BookingAPI). This file reads the
//! configuration and builds them all once.

pub mod api;
pub mod app;
pub mod clients;
pub mod domain;
pub mod smtp;
pub mod store;

use std::{future::Future, sync::Arc, time::Duration};

use astro_proto::astrobookings::{
    agency::v1::agency_internal_service_client::AgencyInternalServiceClient,
    booking::v1::booking_internal_service_client::BookingInternalServiceClient,
    common::v1::MeshService,
    notify::v1::{
        notify_internal_service_server::{self, NotifyInternalServiceServer},
        notify_service_server::{self, NotifyServiceServer},
    },
    system::v1::system_internal_service_client::SystemInternalServiceClient,
};
use astro_shared::{
    activity::ActivityLog,
    auth,
    changes::{ChangeFeed, run_feed_concurrently},
    config::{Env, Secret, ServerConfig},
    db,
    instance::Probe,
    server::{BoundGrpcServer, GrpcServer, Observability},
    service_auth::{ServiceAuthConfig, ServiceCredentials},
};

use astro_shared::backoff::Backoff;

use crate::{
    app::{Events, Intake, Operations, Queue, Recipients, Relay, Sending, SmtpHealth, Wake},
    clients::Directory,
    domain::{Priority, templates::Links},
    smtp::{Mailer, SmtpConfig, SmtpTls},
};

/// Everything NotifyAPI reads from `ASTRO_NOTIFY_*`.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// `ASTRO_NOTIFY_SYSTEM_URL`: SystemAPI, whose JWKS verifies access tokens and which
    /// knows accounts (default `http://127.0.0.1:50051`).
    pub system_url: String,
    /// `ASTRO_NOTIFY_AGENCY_URL` (default `http://127.0.0.1:50052`).
    pub agency_url: String,
    /// `ASTRO_NOTIFY_BOOKING_URL` (default `http://127.0.0.1:50053`).
    pub booking_url: String,
    /// `ASTRO_NOTIFY_REDIS_URL`: CacheDB (the token denylist).
    pub redis_url: String,
    /// `ASTRO_NOTIFY_MONGO_URL`.
    pub mongo_url: String,
    /// `ASTRO_NOTIFY_MONGO_DB` (default `astro_system`: the queue lives in SystemDB).
    pub mongo_database: String,
    /// `ASTRO_NOTIFY_DATABASE_URL`: OperationsDB, whose change log the relay reads.
    pub database_url: String,
    /// `ASTRO_NOTIFY_SMTP_HOST` (default `127.0.0.1`), `_SMTP_PORT` (default 25),
    /// `_SMTP_TLS` (`none`, `starttls` or `tls`; default `starttls`), `_SMTP_USERNAME` and
    /// `_SMTP_PASSWORD` (optional), `_SMTP_POOL_SIZE` (default 4), `_SMTP_TIMEOUT_MS`
    /// (default 20 s), `_MAIL_FROM` (default `AstroBookings <no-reply@astrobookings.example>`).
    pub smtp: SmtpConfig,
    /// `ASTRO_NOTIFY_PUBLIC_BASE_URL`: where links in e-mails point (default
    /// `https://astrobookings.example`).
    pub public_base_url: String,
    pub settings: Settings,
    /// `ASTRO_NOTIFY_SERVICE_KEY_FILE` and `ASTRO_NOTIFY_SERVICE_PUBLIC_KEYS_DIR`: this
    /// service's identity for internal calls and its callers' public keys.
    pub service_auth: ServiceAuthConfig,
}

/// How the background work runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `ASTRO_NOTIFY_INSTANCE`: this replica's name in worker heartbeats (default: a UUID).
    pub instance: String,
    /// `ASTRO_NOTIFY_WORKERS` (default 4): e-mails of the normal queue sent at once.
    pub workers: usize,
    /// `ASTRO_NOTIFY_PRIORITY_WORKERS` (default 2): the HIGH queue's own sending slots.
    pub priority_workers: usize,
    /// `ASTRO_NOTIFY_LEASE_MS` (default 60 s): a claim (of a notification to send, of an event
    /// to resolve) lapses after this, so a killed worker's work comes back.
    pub lease: Duration,
    /// `ASTRO_NOTIFY_POLL_MS` (default 1 s): idle workers look for due work this often.
    pub poll_interval: Duration,
    /// `ASTRO_NOTIFY_RETRY_BASE_MS` (default 30 s) and `_RETRY_MAX_MS` (default 1 h).
    pub backoff: Backoff,
    /// `ASTRO_NOTIFY_FEED_INTERVAL_MS` (default 250 ms): how often the relay reads the change log.
    pub feed_interval: Duration,
    /// `ASTRO_NOTIFY_PROBE_INTERVAL_MS` (default 30 s): SMTP reachability probes.
    pub probe_interval: Duration,
    /// `ASTRO_NOTIFY_MAX_EVENT_AGE_MS` (default 24 h): change-log rows older than this are not
    /// told, so a relay deployed on a long history, or back from a long outage, does not mail
    /// people about what happened weeks ago.
    pub max_event_age: Duration,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let env = Env::new("ASTRO_NOTIFY");
        let smtp_host: String = env.or("SMTP_HOST", "127.0.0.1".to_owned())?;
        let smtp_user: String = env.or("SMTP_USERNAME", String::new())?;
        let smtp_password = env
            .secret("SMTP_PASSWORD")?
            .unwrap_or_else(|| Secret::new(""));
        let smtp_timeout = env.millis_or("SMTP_TIMEOUT_MS", Duration::from_secs(20))?;
        let lease = env.millis_or("LEASE_MS", Duration::from_secs(60))?;
        anyhow::ensure!(
            smtp_timeout < lease,
            "ASTRO_NOTIFY_SMTP_TIMEOUT_MS must be shorter than ASTRO_NOTIFY_LEASE_MS, or a slow \
             server could make two workers send one e-mail"
        );
        Ok(Self {
            server: ServerConfig::from_env(&env, ([127, 0, 0, 1], 50055).into())?,
            system_url: env.or("SYSTEM_URL", "http://127.0.0.1:50051".to_owned())?,
            agency_url: env.or("AGENCY_URL", "http://127.0.0.1:50052".to_owned())?,
            booking_url: env.or("BOOKING_URL", "http://127.0.0.1:50053".to_owned())?,
            redis_url: env.required_secret("REDIS_URL")?.expose().to_owned(),
            mongo_url: env.required_secret("MONGO_URL")?.expose().to_owned(),
            mongo_database: env.or("MONGO_DB", "astro_system".to_owned())?,
            database_url: env.required_secret("DATABASE_URL")?.expose().to_owned(),
            smtp: SmtpConfig {
                port: env.or("SMTP_PORT", 25)?,
                tls: env.or("SMTP_TLS", SmtpTls::StartTls)?,
                credentials: (!smtp_user.is_empty()).then_some((smtp_user, smtp_password)),
                from: env.or(
                    "MAIL_FROM",
                    "AstroBookings <no-reply@astrobookings.example>".to_owned(),
                )?,
                pool_size: env.or("SMTP_POOL_SIZE", 4)?,
                timeout: smtp_timeout,
                host: smtp_host,
            },
            service_auth: ServiceAuthConfig::from_env(&env)?,
            public_base_url: env.or(
                "PUBLIC_BASE_URL",
                "https://astrobookings.example".to_owned(),
            )?,
            settings: Settings {
                instance: env.or("INSTANCE", uuid::Uuid::now_v7().to_string())?,
                workers: env.or("WORKERS", 4)?,
                priority_workers: env.or("PRIORITY_WORKERS", 2)?,
                lease,
                poll_interval: env.millis_or("POLL_MS", Duration::from_secs(1))?,
                backoff: Backoff::new(
                    env.millis_or("RETRY_BASE_MS", Duration::from_secs(30))?,
                    env.millis_or("RETRY_MAX_MS", Duration::from_secs(60 * 60))?,
                ),
                feed_interval: env.millis_or("FEED_INTERVAL_MS", Duration::from_millis(250))?,
                probe_interval: env.millis_or("PROBE_INTERVAL_MS", Duration::from_secs(30))?,
                max_event_age: env
                    .millis_or("MAX_EVENT_AGE_MS", Duration::from_secs(24 * 60 * 60))?,
            },
        })
    }
}

pub use domain::SERVICE_NAME;

/// Connects (lazily) and binds; the returned future finishes once its databases answer, and
/// starts the background work.
pub async fn build(
    config: Config,
) -> anyhow::Result<(BoundGrpcServer, impl Future<Output = ()> + Send + 'static)> {
    let (system_db, system_db_ready) = db::mongo(&config.mongo_url, &config.mongo_database).await?;
    let (operations_db, operations_db_ready) = db::postgres(&config.database_url, 4)?;
    let (cache, cache_ready) = db::redis(&config.redis_url)?;
    let ServiceCredentials { identity, keys } =
        ServiceCredentials::load(MeshService::Notify, &config.service_auth)?;
    let channel = |url: &str, callee| identity.channel(url, Duration::from_secs(10), callee);
    let settings = config.settings.clone();
    let notifications = store::NotificationStore::new(&system_db);
    let delivery = store::DeliveryStore::new(&system_db);
    let directory = Directory {
        system: SystemInternalServiceClient::new(channel(&config.system_url, MeshService::System)?),
        agency: AgencyInternalServiceClient::new(channel(&config.agency_url, MeshService::Agency)?),
        booking: BookingInternalServiceClient::new(channel(
            &config.booking_url,
            MeshService::Booking,
        )?),
    };
    let mailer = Mailer::new(&config.smtp)?;
    let links = Links::new(&config.public_base_url);
    let wake = Arc::new(Wake::default());
    // Significant actions, sent to SystemAPI's IngestLogs.
    let activity = ActivityLog::connect(&config.system_url, SERVICE_NAME, &identity)?;
    let email_probe = {
        let mailer = mailer.clone();
        Probe::new("email", move || {
            let mailer = mailer.clone();
            async move {
                if mailer.probe().await {
                    Ok(())
                } else {
                    Err("the e-mail server refused the connection or the greeting".to_owned())
                }
            }
        })
    };
    let observability = Observability::reporting_to(
        SERVICE_NAME,
        vec![
            Probe::mongo(system_db.clone()),
            Probe::postgres(operations_db.clone()),
            Probe::redis(cache.clone()),
            email_probe,
        ],
        &config.system_url,
        &identity,
    )?;
    let queue = Queue {
        notifications: notifications.clone(),
        links: links.clone(),
        wake: Arc::clone(&wake),
        activity: activity.clone(),
    };
    let events = Events {
        events: store::EventStore::new(&system_db),
        recipients: Recipients {
            directory: directory.clone(),
        },
        queue: queue.clone(),
        lease: settings.lease,
        poll_interval: settings.poll_interval,
    };
    let operations = Operations {
        notifications: notifications.clone(),
        delivery: delivery.clone(),
        mailer: mailer.clone(),
        smtp_health: Arc::new(SmtpHealth::default()),
        wake: Arc::clone(&wake),
        activity: activity.clone(),
    };
    let background = Background {
        sending: Sending {
            notifications,
            delivery,
            mailer,
            wake,
            activity,
            instance: settings.instance.clone(),
            lease: settings.lease,
            poll_interval: settings.poll_interval,
            backoff: settings.backoff,
        },
        relay: Relay {
            events: events.clone(),
            directory,
            links,
            max_event_age: settings.max_event_age,
        },
        events: events.clone(),
        operations: operations.clone(),
        settings,
    };
    let api = api::NotifyApi::new(Intake { queue, events }, operations);
    let max_message_bytes = config.server.max_message_bytes;
    let auth = auth::remote_auth_layer(
        &config.system_url,
        cache,
        keys,
        &[
            notify_service_server::SERVICE_NAME,
            notify_internal_service_server::SERVICE_NAME,
        ],
    )?;
    let server = GrpcServer::new(config.server, auth, observability)
        .add_service(
            NotifyServiceServer::new(api.clone()).max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            NotifyInternalServiceServer::new(api).max_decoding_message_size(max_message_bytes),
        )
        .bind()
        .await?;
    Ok((server, async move {
        tokio::join!(system_db_ready, operations_db_ready, cache_ready);
        db::retry_until_ready("SystemDB indexes", "notifications", || {
            store::ensure_indexes(&system_db)
        })
        .await;
        background.spawn(operations_db);
    }))
}

/// Change-log rows the relay turns into events at once.
const RELAY_CONCURRENCY: usize = 8;

/// The work that runs beside the RPCs until the process ends.
struct Background {
    sending: Sending,
    events: Events,
    relay: Relay,
    operations: Operations,
    settings: Settings,
}

impl Background {
    /// The workers of both queues, the resolver of interrupted events, the change-log relay
    /// and housekeeping.
    fn spawn(self, operations_db: sqlx::PgPool) {
        let settings = self.settings;
        tokio::spawn(
            self.sending
                .clone()
                .run_queue(Priority::High, settings.priority_workers),
        );
        tokio::spawn(self.sending.run_queue(Priority::Normal, settings.workers));
        tokio::spawn(self.events.run_resolver());
        tokio::spawn(self.operations.run_housekeeping(settings.probe_interval));
        let feed = ChangeFeed::new(operations_db, app::relay::CONSUMER, app::relay::EVENT_TYPES);
        // Events are independent: each becomes its own e-mails, so they resolve side by side.
        tokio::spawn(run_feed_concurrently(
            feed,
            self.relay,
            settings.feed_interval,
            RELAY_CONCURRENCY,
        ));
    }
}

/// Serves until SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let (server, ready) = build(config).await?;
    server.serve(ready).await
}
