//! AgencyAPI: agency profiles, rockets, launches and their status history, occupancy and
//! bookings reports, in OperationsDB (PostgreSQL).

pub mod api;
pub mod app;
pub mod domain;
pub mod store;

use std::{future::Future, time::Duration};

use astro_proto::astrobookings::{
    agency::v1::{
        agency_internal_service_server::{self, AgencyInternalServiceServer},
        agency_service_server::{self, AgencyServiceServer},
    },
    common::v1::{MeshService, Role},
    system::v1::system_internal_service_client::SystemInternalServiceClient,
};
use astro_shared::{
    accounts::Accounts,
    activity::ActivityLog,
    auth,
    config::{Env, ServerConfig},
    db,
    instance::Probe,
    server::{BoundGrpcServer, GrpcServer, Observability},
    service_auth::{ServiceAuthConfig, ServiceCredentials},
};

/// Everything AgencyAPI reads from `ASTRO_AGENCY_*`.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// `ASTRO_AGENCY_SYSTEM_URL`: SystemAPI, whose JWKS verifies access tokens
    /// (default `http://127.0.0.1:50051`).
    pub system_url: String,
    /// `ASTRO_AGENCY_REDIS_URL`: CacheDB (the token denylist).
    pub redis_url: String,
    /// `ASTRO_AGENCY_DATABASE_URL`: OperationsDB.
    pub database_url: String,
    /// `ASTRO_AGENCY_DATABASE_MAX_CONNECTIONS` (default 10).
    pub database_max_connections: u32,
    /// `ASTRO_AGENCY_SERVICE_KEY_FILE` and `ASTRO_AGENCY_SERVICE_PUBLIC_KEYS_DIR`: this
    /// service's identity for internal calls and its callers' public keys.
    pub service_auth: ServiceAuthConfig,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let env = Env::new("ASTRO_AGENCY");
        Ok(Self {
            redis_url: env.required_secret("REDIS_URL")?.expose().to_owned(),
            system_url: env.or("SYSTEM_URL", "http://127.0.0.1:50051".to_owned())?,
            server: ServerConfig::from_env(&env, ([127, 0, 0, 1], 50052).into())?,
            database_url: env.required_secret("DATABASE_URL")?.expose().to_owned(),
            database_max_connections: env.or("DATABASE_MAX_CONNECTIONS", 10)?,
            service_auth: ServiceAuthConfig::from_env(&env)?,
        })
    }
}

/// How long SystemAPI may take to create an account (the password hash is most of it).
const ACCOUNTS_TIMEOUT: Duration = Duration::from_secs(10);

/// This service's name in activity logs and origins (`common.v1.Origin.service`).
pub const SERVICE_NAME: &str = "agency-api";

/// The use cases the RPCs call.
#[derive(Clone)]
pub struct State {
    pub profiles: app::profiles::Profiles,
    pub rockets: app::rockets::Rockets,
    pub launches: app::launches::Launches,
    pub reports: app::reports::Reports,
}

impl State {
    /// The use cases over OperationsDB and SystemAPI's `accounts`, logging significant actions
    /// to `activity`.
    pub fn new(store: &store::Store, accounts: Accounts, activity: &ActivityLog) -> Self {
        Self {
            profiles: app::profiles::Profiles::new(store.clone(), accounts, activity.clone()),
            rockets: app::rockets::Rockets::new(store.clone(), activity.clone()),
            launches: app::launches::Launches::new(store.clone(), activity.clone()),
            reports: app::reports::Reports::new(store.clone(), activity.clone()),
        }
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
        ServiceCredentials::load(MeshService::Agency, &config.service_auth)?;
    let activity = ActivityLog::connect(&config.system_url, SERVICE_NAME, &identity)?;
    let accounts = Accounts::new(
        SystemInternalServiceClient::new(identity.channel(
            &config.system_url,
            ACCOUNTS_TIMEOUT,
            MeshService::System,
        )?),
        Role::Agency,
        "register-agency",
    );
    let observability = Observability::reporting_to(
        SERVICE_NAME,
        vec![
            Probe::postgres(operations_db.clone()),
            Probe::redis(cache.clone()),
        ],
        &config.system_url,
        &identity,
    )?;
    let api = api::AgencyApi::new(State::new(
        &store::Store::new(operations_db),
        accounts,
        &activity,
    ));
    let max_message_bytes = config.server.max_message_bytes;
    let auth = auth::remote_auth_layer(
        &config.system_url,
        cache,
        keys,
        &[
            agency_service_server::SERVICE_NAME,
            agency_internal_service_server::SERVICE_NAME,
        ],
    )?;
    let server = GrpcServer::new(config.server, auth, observability)
        .add_service(
            AgencyServiceServer::new(api.clone()).max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            AgencyInternalServiceServer::new(api).max_decoding_message_size(max_message_bytes),
        )
        .bind()
        .await?;
    Ok((server, async move {
        tokio::join!(operations_db_ready, cache_ready);
    }))
}

/// Serves until SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let (server, ready) = build(config).await?;
    server.serve(ready).await
}
