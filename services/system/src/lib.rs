//! SystemAPI: accounts, tokens, roles, employees and activity logs. Stores in SystemDB
//! (MongoDB protocol) and uses CacheDB (Redis) for login rate limits and the token denylist.
//! `api` decodes and calls the use cases of `app`, which use `store` and `clients`; all speak
//! `domain`. `build` wires them.

pub mod api;
pub mod app;
pub mod clients;
pub mod domain;
pub mod store;

// The test harness (crate astro-e2e) signs tokens with the mesh's key and times the hashing
// under these names.
pub use app::{keys, passwords};
use std::{future::Future, path::PathBuf, sync::Arc, time::Duration};

use astro_proto::astrobookings::{
    common::v1::MeshService,
    system::v1::{
        RecordMetricsRequest,
        system_internal_service_server::{self, SystemInternalServiceServer},
        system_service_server::{self, SystemServiceServer},
    },
};
use astro_shared::{
    activity::{ActivityLog, ActivityLogOptions},
    auth::{AccessPolicy, AuthLayer, Denylist, TokenVerifier},
    config::{Env, Secret, ServerConfig, redis_key_prefix},
    db,
    instance::{InstanceStatus, Probe},
    metrics::MetricsSink,
    server::{BoundGrpcServer, GrpcServer, Observability},
    service_auth::{ServiceAuthConfig, ServiceCredentials},
};

use crate::{
    api::internal::StoreSink,
    app::{
        admin::Admin,
        directory::Directory,
        keys::SigningKey,
        logs::{LogIngest, Logs},
        monitoring::Monitoring,
        registration::Registration,
        relay::{ProfileRelay, Relay},
        sessions::{SessionParts, Sessions},
        sync_jobs::{SyncJobs, SyncWorker},
        tokens::Tokens,
    },
    clients::{notify::NotifyClient, status::StatusProbes, sync::SyncTargets},
    domain::{login_limits::LoginLimits, sync_jobs::JobPacing, tokens::TokenLifetimes},
    store::{
        AccountWrites, LogStore, LoginFailures, OutboxStore, ProfileOutboxStore, RefreshTokenStore,
        SyncJobStore, UserStore, monitoring::MetricStore,
    },
};

pub use domain::SERVICE_NAME;

/// Everything SystemAPI reads from `ASTRO_SYSTEM_*`.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// `ASTRO_SYSTEM_MONGO_URL`.
    pub mongo_url: String,
    /// `ASTRO_SYSTEM_MONGO_DB` (default `astro_system`).
    pub mongo_database: String,
    /// `ASTRO_SYSTEM_REDIS_URL`.
    pub redis_url: String,
    /// `ASTRO_SYSTEM_JWT_PRIVATE_KEY_FILE`: PKCS#8 PEM Ed25519 key that signs access tokens.
    pub jwt_private_key_file: PathBuf,
    /// `ASTRO_SYSTEM_ACCESS_TOKEN_TTL_SECONDS` (default 900) and
    /// `ASTRO_SYSTEM_REFRESH_TOKEN_TTL_SECONDS` (default 7 days).
    pub token_lifetimes: TokenLifetimes,
    /// `ASTRO_SYSTEM_ADMIN_EMAIL` and `ASTRO_SYSTEM_ADMIN_PASSWORD_FILE` (or, inline,
    /// `ASTRO_SYSTEM_ADMIN_PASSWORD`): the first ADMIN, created at start-up if no account has
    /// that e-mail.
    pub admin: Option<(String, Secret)>,
    /// `ASTRO_SYSTEM_LOGIN_MAX_FAILURES_PER_EMAIL` (5, per e-mail from one client),
    /// `..._PER_CLIENT` (50), `ASTRO_SYSTEM_LOGIN_SLOW_AFTER_FAILURES_PER_EMAIL` (20, from any
    /// client: then each attempt waits up to 3 s longer, never refused),
    /// `ASTRO_SYSTEM_LOGIN_FAILURE_WINDOW_MS` (15 minutes).
    pub login_limits: LoginLimits,
    /// `ASTRO_SYSTEM_NOTIFY_URL`: NotifyAPI, where the outbox is relayed.
    pub notify_url: String,
    /// `ASTRO_SYSTEM_SERVICE_KEY_FILE` and `ASTRO_SYSTEM_SERVICE_PUBLIC_KEYS_DIR`: this
    /// service's identity for internal calls and its callers' public keys.
    pub service_auth: ServiceAuthConfig,
    /// `ASTRO_SYSTEM_LOG_RETENTION_DAYS` (default 90): activity log entries older than this
    /// are deleted by SystemDB (TTL index).
    pub log_retention: Duration,
    /// `ASTRO_SYSTEM_AGENCY_URL` and `ASTRO_SYSTEM_BOOKING_URL`: where the sync jobs mirror
    /// profiles and rebuild the catalogue.
    pub agency_url: String,
    pub booking_url: String,
    /// `ASTRO_SYSTEM_SYNC_LEASE_MS` (30 s: a job whose worker stopped fails this long after
    /// its last renewal), `ASTRO_SYSTEM_SYNC_BATCH_SIZE` (200 items per batch, at most 1,000)
    /// and `ASTRO_SYSTEM_SYNC_BATCH_PAUSE_MS` (0: how long a job rests between batches, to
    /// spare the databases).
    pub sync_pacing: JobPacing,
    /// `ASTRO_SYSTEM_FINANCE_URL`: FinanceAPI, probed by GetSystemStatus.
    pub finance_url: String,
    /// `ASTRO_SYSTEM_STATUS_PROBE_TIMEOUT_MS` (2000): how long GetSystemStatus waits for each
    /// service before it shows it as UNKNOWN.
    pub status_probe_timeout: Duration,
    /// `ASTRO_SYSTEM_METRICS_RETENTION_HOURS` (168): metric windows older than this are
    /// deleted by SystemDB (TTL index).
    pub metrics_retention: Duration,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let env = Env::new("ASTRO_SYSTEM");
        let admin_email: String = env.or("ADMIN_EMAIL", String::new())?;
        let admin = if admin_email.is_empty() {
            None
        } else {
            let password = env.secret("ADMIN_PASSWORD")?.ok_or_else(|| {
                anyhow::anyhow!(
                    "ASTRO_SYSTEM_ADMIN_EMAIL is set: ASTRO_SYSTEM_ADMIN_PASSWORD_FILE (or \
                     ASTRO_SYSTEM_ADMIN_PASSWORD) is required"
                )
            })?;
            Some((admin_email, password))
        };
        Ok(Self {
            server: ServerConfig::from_env(&env, ([127, 0, 0, 1], 50051).into())?,
            mongo_url: env.required_secret("MONGO_URL")?.expose().to_owned(),
            mongo_database: env.or("MONGO_DB", "astro_system".to_owned())?,
            redis_url: env.required_secret("REDIS_URL")?.expose().to_owned(),
            jwt_private_key_file: env.required("JWT_PRIVATE_KEY_FILE")?,
            token_lifetimes: TokenLifetimes {
                access: Duration::from_secs(env.or("ACCESS_TOKEN_TTL_SECONDS", 900)?),
                refresh: Duration::from_secs(env.or("REFRESH_TOKEN_TTL_SECONDS", 7 * 24 * 3600)?),
            },
            admin,
            login_limits: LoginLimits {
                per_email: env.or("LOGIN_MAX_FAILURES_PER_EMAIL", 5)?,
                per_client: env.or("LOGIN_MAX_FAILURES_PER_CLIENT", 50)?,
                slow_after_per_email: env.or("LOGIN_SLOW_AFTER_FAILURES_PER_EMAIL", 20)?,
                window: env.millis_or("LOGIN_FAILURE_WINDOW_MS", Duration::from_secs(15 * 60))?,
            },
            notify_url: env.or("NOTIFY_URL", "http://127.0.0.1:50055".to_owned())?,
            service_auth: ServiceAuthConfig::from_env(&env)?,
            log_retention: log_retention(env.or("LOG_RETENTION_DAYS", 90)?)?,
            agency_url: env.or("AGENCY_URL", "http://127.0.0.1:50052".to_owned())?,
            booking_url: env.or("BOOKING_URL", "http://127.0.0.1:50053".to_owned())?,
            sync_pacing: sync_pacing(
                env.millis_or("SYNC_LEASE_MS", Duration::from_secs(30))?,
                env.or("SYNC_BATCH_SIZE", 200)?,
                env.millis_or("SYNC_BATCH_PAUSE_MS", Duration::ZERO)?,
            )?,
            finance_url: env.or("FINANCE_URL", "http://127.0.0.1:50054".to_owned())?,
            status_probe_timeout: env
                .millis_or("STATUS_PROBE_TIMEOUT_MS", Duration::from_secs(2))?,
            metrics_retention: Duration::from_secs(
                3600 * env.or::<u64>("METRICS_RETENTION_HOURS", 168)?.max(1),
            ),
        })
    }
}

/// At least one day: zero would delete every entry as soon as it is stored.
fn log_retention(days: u64) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        (1..=36_500).contains(&days),
        "ASTRO_SYSTEM_LOG_RETENTION_DAYS must be 1 to 36500 days, not {days}"
    );
    Ok(Duration::from_secs(days * 24 * 3600))
}

/// A lease under a second would be lost to a slow SystemDB write; a batch over 1,000 is
/// more than the services it calls take at once.
fn sync_pacing(lease: Duration, batch_size: u32, pause: Duration) -> anyhow::Result<JobPacing> {
    anyhow::ensure!(
        lease >= Duration::from_secs(1),
        "ASTRO_SYSTEM_SYNC_LEASE_MS must be at least 1000"
    );
    anyhow::ensure!(
        (1..=1000).contains(&batch_size),
        "ASTRO_SYSTEM_SYNC_BATCH_SIZE must be 1 to 1000, not {batch_size}"
    );
    Ok(JobPacing {
        lease,
        batch_size,
        pause,
    })
}

/// Connects (lazily) and binds. The returned future finishes once SystemDB and CacheDB answer,
/// the indexes exist and the first ADMIN does; then the outbox relay starts.
pub async fn build(
    config: Config,
) -> anyhow::Result<(BoundGrpcServer, impl Future<Output = ()> + Send + 'static)> {
    let signing_key = SigningKey::from_file(&config.jwt_private_key_file)?;
    let credentials = ServiceCredentials::load(MeshService::System, &config.service_auth)?;
    let jwks = vec![api::convert::jwk(&signing_key.public_jwk)];
    let (system_db, system_db_ready) = db::mongo(&config.mongo_url, &config.mongo_database).await?;
    let (cache, cache_ready) = db::redis(&config.redis_url)?;
    let prefix = redis_key_prefix();
    let denylist = Denylist::new(cache.clone(), prefix.clone());
    let log_store = LogStore::new(&system_db);
    let ingest = LogIngest::new(log_store.clone());
    let activity = ActivityLog::with_sink(
        Arc::new(StoreSink(ingest.clone())),
        SERVICE_NAME,
        ActivityLogOptions::default(),
    );
    let users = UserStore::new(&system_db);
    let account_writes = AccountWrites::new(&system_db);
    let registration = Registration::new(users.clone(), account_writes.clone(), activity.clone());
    let sessions = Sessions::new(SessionParts {
        users: users.clone(),
        writes: account_writes.clone(),
        refresh_tokens: RefreshTokenStore::new(&system_db),
        failures: LoginFailures::new(cache.clone(), prefix),
        limits: config.login_limits,
        signing_key,
        denylist: denylist.clone(),
        lifetimes: config.token_lifetimes,
        activity: activity.clone(),
    })
    .await?;
    let admin = Admin::new(
        registration.clone(),
        users.clone(),
        account_writes,
        denylist.clone(),
        config.token_lifetimes.access,
        activity.clone(),
    );
    let notify = credentials.identity.channel(
        &config.notify_url,
        Duration::from_secs(5),
        MeshService::Notify,
    )?;
    let status_channel = |url: &str, callee| {
        credentials
            .identity
            .channel(url, config.status_probe_timeout, callee)
    };
    let own_instance = InstanceStatus::new(
        SERVICE_NAME,
        vec![Probe::mongo(system_db.clone()), Probe::redis(cache.clone())],
    );
    let metric_store = MetricStore::new(&system_db);
    let monitoring = Monitoring::new(
        metric_store.clone(),
        StatusProbes::new(
            own_instance.clone(),
            vec![
                (
                    "agency-api",
                    status_channel(&config.agency_url, MeshService::Agency)?,
                ),
                (
                    "booking-api",
                    status_channel(&config.booking_url, MeshService::Booking)?,
                ),
                (
                    "finance-api",
                    status_channel(&config.finance_url, MeshService::Finance)?,
                ),
                (
                    "notify-api",
                    status_channel(&config.notify_url, MeshService::Notify)?,
                ),
            ],
            notify.clone(),
        ),
        config.status_probe_timeout,
        config.server.metrics_window,
    );
    let observability = Observability {
        instance: own_instance,
        metrics_sink: own_metrics_sink(monitoring.clone()),
    };
    let notify = NotifyClient::new(notify);
    let relay = Relay::new(OutboxStore::new(&system_db), notify.clone());
    let sync_store = SyncJobStore::new(&system_db);
    let targets = SyncTargets::new(
        credentials.identity.channel(
            &config.agency_url,
            Duration::from_secs(10),
            MeshService::Agency,
        )?,
        credentials.identity.channel(
            &config.booking_url,
            Duration::from_secs(10),
            MeshService::Booking,
        )?,
    );
    let profile_outbox = ProfileOutboxStore::new(&system_db);
    let profile_relay = ProfileRelay::new(profile_outbox.clone(), users.clone(), targets.clone());
    let sync_worker = SyncWorker::new(
        sync_store.clone(),
        users.clone(),
        targets,
        notify,
        config.sync_pacing,
        activity.clone(),
    );

    let verifier = Arc::new(TokenVerifier::local(&jwks, Some(denylist.clone())));
    let auth = AuthLayer::new(
        verifier.clone(),
        Arc::new(credentials.keys),
        AccessPolicy::from_contracts(&[
            system_service_server::SERVICE_NAME,
            system_internal_service_server::SERVICE_NAME,
        ])?,
    );
    let api = api::SystemApi::new(api::State {
        registration: registration.clone(),
        sessions,
        admin,
        directory: Directory::new(users),
        logs: Logs::new(log_store, activity.clone()),
        ingest,
        jwks,
        tokens: Tokens::new(verifier, denylist),
        sync_jobs: SyncJobs::new(sync_store.clone(), activity),
        monitoring,
    });
    let max_message_bytes = config.server.max_message_bytes;
    let server = GrpcServer::new(config.server, auth, observability)
        .add_service(
            SystemServiceServer::new(api.clone()).max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            SystemInternalServiceServer::new(api).max_decoding_message_size(max_message_bytes),
        )
        .bind()
        .await?;

    let first_admin = config.admin;
    let log_retention = config.log_retention;
    let metrics_retention = config.metrics_retention;
    let ready = async move {
        tokio::join!(system_db_ready, cache_ready);
        db::retry_until_ready("SystemDB indexes", "users, refresh_tokens, outbox", || {
            store::ensure_indexes(&system_db)
        })
        .await;
        db::retry_until_ready("SystemDB indexes", "profile_outbox", || {
            profile_outbox.ensure_indexes()
        })
        .await;
        db::retry_until_ready("SystemDB indexes", "sync_jobs", || {
            sync_store.ensure_indexes()
        })
        .await;
        db::retry_until_ready("SystemDB indexes", "system_metrics, instances", || {
            metric_store.ensure_indexes(metrics_retention)
        })
        .await;
        db::retry_until_ready("SystemDB indexes", "activity_logs", || {
            store::logs::ensure_indexes(&system_db, log_retention)
        })
        .await;
        if let Some((email, password)) = &first_admin {
            db::retry_until_ready("the first ADMIN", email, || {
                registration.ensure_admin(email, password.expose().to_owned())
            })
            .await;
        }
        tokio::spawn(relay.run());
        tokio::spawn(profile_relay.run());
        tokio::spawn(sync_worker.run());
    };
    Ok((server, ready))
}

/// SystemAPI's own metric windows go straight to its store, as RecordMetrics would take them.
fn own_metrics_sink(monitoring: Monitoring) -> MetricsSink {
    Arc::new(move |request: RecordMetricsRequest| {
        let monitoring = monitoring.clone();
        Box::pin(async move {
            let reporter = request
                .reporter
                .map(clients::status::instance)
                .ok_or_else(|| "no reporter".to_owned())?;
            let points = api::monitoring::metric_points(request.metrics)
                .map_err(|error| error.to_string())?;
            monitoring
                .record("system", &reporter, &points)
                .await
                .map(drop)
                .map_err(|error| error.to_string())
        })
    })
}

/// Serves until SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let (server, ready) = build(config).await?;
    server.serve(ready).await
}
