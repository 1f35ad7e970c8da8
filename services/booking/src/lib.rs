//! BookingAPI: the public catalogue (served from CacheDB), travelers, bookings and
//! cancellations, in OperationsDB (PostgreSQL).

pub mod api;

use std::future::Future;

use astro_proto::astrobookings::booking::v1::{
    booking_internal_service_server::BookingInternalServiceServer,
    booking_service_server::{self, BookingServiceServer},
};
use astro_shared::{
    auth,
    config::{Env, ServerConfig},
    db,
    server::{BoundGrpcServer, GrpcServer},
};

/// Everything BookingAPI reads from `ASTRO_BOOKING_*`.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// `ASTRO_BOOKING_SYSTEM_URL`: SystemAPI, whose JWKS verifies access tokens
    /// (default `http://127.0.0.1:50051`).
    pub system_url: String,
    /// `ASTRO_BOOKING_DATABASE_URL`: OperationsDB.
    pub database_url: String,
    /// `ASTRO_BOOKING_DATABASE_MAX_CONNECTIONS` (default 10).
    pub database_max_connections: u32,
    /// `ASTRO_BOOKING_REDIS_URL`: CacheDB.
    pub redis_url: String,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let env = Env::new("ASTRO_BOOKING");
        Ok(Self {
            system_url: env.or("SYSTEM_URL", "http://127.0.0.1:50051".to_owned())?,
            server: ServerConfig::from_env(&env, ([127, 0, 0, 1], 50053).into())?,
            database_url: env.required("DATABASE_URL")?,
            database_max_connections: env.or("DATABASE_MAX_CONNECTIONS", 10)?,
            redis_url: env.required("REDIS_URL")?,
        })
    }
}

/// What the RPCs share.
#[derive(Clone)]
pub struct State {
    pub operations_db: sqlx::PgPool,
    pub cache: fred::prelude::Client,
}

/// Connects (lazily) and binds; the returned future finishes once its databases answer.
pub async fn build(
    config: Config,
) -> anyhow::Result<(BoundGrpcServer, impl Future<Output = ()> + Send + 'static)> {
    let (operations_db, operations_db_ready) =
        db::postgres(&config.database_url, config.database_max_connections)?;
    let (cache, cache_ready) = db::redis(&config.redis_url)?;
    let auth = auth::remote_auth_layer(
        &config.system_url,
        cache.clone(),
        booking_service_server::SERVICE_NAME,
    )?;
    let api = api::BookingApi::new(State {
        operations_db,
        cache,
    });
    let max_message_bytes = config.server.max_message_bytes;
    let server = GrpcServer::new(config.server, auth)
        .add_service(
            BookingServiceServer::new(api.clone()).max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            BookingInternalServiceServer::new(api).max_decoding_message_size(max_message_bytes),
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
