//! BookingAPI: the public catalogue (served from CacheDB), travelers, bookings and
//! cancellations, in OperationsDB (PostgreSQL). Money moves through FinanceAPI only.

pub mod api;
pub mod app;
pub mod clients;
pub mod domain;
pub mod store;

use std::{future::Future, time::Duration};

use astro_proto::astrobookings::{
    booking::v1::{
        booking_internal_service_server::{self, BookingInternalServiceServer},
        booking_service_server::{self, BookingServiceServer},
    },
    common::v1::{MeshService, Role},
    finance::v1::finance_internal_service_client::FinanceInternalServiceClient,
    system::v1::system_internal_service_client::SystemInternalServiceClient,
};
use astro_shared::{
    accounts::Accounts,
    activity::ActivityLog,
    auth,
    config::{Env, ServerConfig, redis_key_prefix},
    db,
    instance::Probe,
    server::{BoundGrpcServer, GrpcServer, Observability},
    service_auth::{ServiceAuthConfig, ServiceCredentials},
};

use crate::{
    app::{
        App, bookings::Bookings, catalogue::Catalogue, outcomes::Outcomes, payments::Payments,
        reserve::Reservations, travelers::Travelers, workers,
    },
    clients::finance::Finance,
    store::{Store, cache::Cache, catalogue::Source},
};

pub use crate::app::SERVICE_NAME;

/// Everything BookingAPI reads from `ASTRO_BOOKING_*`.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// `ASTRO_BOOKING_SYSTEM_URL`: SystemAPI (JWKS, accounts) (default `http://127.0.0.1:50051`).
    pub system_url: String,
    /// `ASTRO_BOOKING_FINANCE_URL`: FinanceAPI, which charges and refunds
    /// (default `http://127.0.0.1:50054`).
    pub finance_url: String,
    /// `ASTRO_BOOKING_DATABASE_URL`: OperationsDB.
    pub database_url: String,
    /// `ASTRO_BOOKING_DATABASE_MAX_CONNECTIONS` (default 20).
    pub database_max_connections: u32,
    /// `ASTRO_BOOKING_REDIS_URL`: CacheDB (catalogue, token denylist).
    pub redis_url: String,
    /// `ASTRO_BOOKING_PAYMENT_HOLD_MS`: how long seats are held for a payment (default 15 min).
    pub payment_hold: Duration,
    /// `ASTRO_BOOKING_SWEEP_INTERVAL_MS`: how often expired holds and unfinished refunds are
    /// swept (default 10 s).
    pub sweep_interval: Duration,
    /// `ASTRO_BOOKING_FEED_INTERVAL_MS`: how often the change log is polled (default 200 ms).
    pub feed_interval: Duration,
    /// `ASTRO_BOOKING_PAYMENT_TIMEOUT_MS`: deadline of one call to FinanceAPI (default 20 s).
    pub payment_timeout: Duration,
    /// `ASTRO_BOOKING_SERVICE_KEY_FILE` and `ASTRO_BOOKING_SERVICE_PUBLIC_KEYS_DIR`: this
    /// service's identity for internal calls and its callers' public keys.
    pub service_auth: ServiceAuthConfig,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let env = Env::new("ASTRO_BOOKING");
        Ok(Self {
            system_url: env.or("SYSTEM_URL", "http://127.0.0.1:50051".to_owned())?,
            finance_url: env.or("FINANCE_URL", "http://127.0.0.1:50054".to_owned())?,
            server: ServerConfig::from_env(&env, ([127, 0, 0, 1], 50053).into())?,
            database_url: env.required_secret("DATABASE_URL")?.expose().to_owned(),
            database_max_connections: env.or("DATABASE_MAX_CONNECTIONS", 20)?,
            redis_url: env.required_secret("REDIS_URL")?.expose().to_owned(),
            payment_hold: env.millis_or("PAYMENT_HOLD_MS", Duration::from_secs(15 * 60))?,
            sweep_interval: env.millis_or("SWEEP_INTERVAL_MS", Duration::from_secs(10))?,
            feed_interval: env.millis_or("FEED_INTERVAL_MS", Duration::from_millis(200))?,
            payment_timeout: env.millis_or("PAYMENT_TIMEOUT_MS", Duration::from_secs(20))?,
            service_auth: ServiceAuthConfig::from_env(&env)?,
        })
    }
}

/// Connects (lazily) and binds; the returned future finishes once its databases answer.
pub async fn build(
    config: Config,
) -> anyhow::Result<(BoundGrpcServer, impl Future<Output = ()> + Send + 'static)> {
    let (operations_db, operations_db_ready) =
        db::postgres(&config.database_url, config.database_max_connections)?;
    let (cache, cache_ready) = db::redis(&config.redis_url)?;
    let ServiceCredentials { identity, keys } =
        ServiceCredentials::load(MeshService::Booking, &config.service_auth)?;
    let auth = auth::remote_auth_layer(
        &config.system_url,
        cache.clone(),
        keys,
        &[
            booking_service_server::SERVICE_NAME,
            booking_internal_service_server::SERVICE_NAME,
        ],
    )?;
    let finance = Finance::new(FinanceInternalServiceClient::new(identity.channel(
        &config.finance_url,
        config.payment_timeout,
        MeshService::Finance,
    )?));
    let accounts = Accounts::new(
        SystemInternalServiceClient::new(identity.channel(
            &config.system_url,
            Duration::from_secs(10),
            MeshService::System,
        )?),
        Role::Traveler,
        "register-traveler",
    );
    let activity = ActivityLog::connect(&config.system_url, SERVICE_NAME, &identity)?;
    let observability = Observability::reporting_to(
        SERVICE_NAME,
        vec![
            Probe::postgres(operations_db.clone()),
            Probe::redis(cache.clone()),
        ],
        &config.system_url,
        &identity,
    )?;
    let store = Store::new(operations_db.clone());
    let payments = Payments::new(store.clone(), finance);
    let bookings = Bookings::new(store.clone(), payments.clone(), activity.clone());
    let app = App {
        catalogue: Catalogue::new(
            Source::new(operations_db),
            Cache::new(cache, &redis_key_prefix()),
        ),
        travelers: Travelers::new(store.clone(), accounts, activity.clone()),
        reservations: Reservations::new(
            store.clone(),
            payments.clone(),
            bookings.clone(),
            activity.clone(),
            config.payment_hold,
        ),
        outcomes: Outcomes::new(store.clone(), payments.clone(), activity),
        bookings,
        payments,
    };
    let api = api::BookingApi::new(app.clone());
    let max_message_bytes = config.server.max_message_bytes;
    let server = GrpcServer::new(config.server, auth, observability)
        .add_service(
            BookingServiceServer::new(api.clone()).max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            BookingInternalServiceServer::new(api).max_decoding_message_size(max_message_bytes),
        )
        .bind()
        .await?;
    let workers = workers::Intervals {
        sweep: config.sweep_interval,
        feed: config.feed_interval,
    };
    Ok((server, async move {
        tokio::join!(operations_db_ready, cache_ready);
        // Background work starts once OperationsDB answers; it runs until the process ends.
        // Until the listener is up, requests waiting on another's idempotency key poll.
        tokio::spawn(store.listen_for_requests());
        workers::spawn(&app, &store, workers);
    }))
}

/// Serves until SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let (server, ready) = build(config).await?;
    server.serve(ready).await
}
