//! SystemAPI: accounts, tokens, roles, employees and activity logs. Stores in SystemDB
//! (MongoDB protocol) and uses CacheDB (Redis) for rate limits and the token denylist.

pub mod api;

use std::future::Future;

use astro_proto::astrobookings::system::v1::{
    system_internal_service_server::SystemInternalServiceServer,
    system_service_server::SystemServiceServer,
};
use astro_shared::{
    config::{Env, ServerConfig},
    db,
    server::{BoundGrpcServer, GrpcServer},
};

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
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let env = Env::new("ASTRO_SYSTEM");
        Ok(Self {
            server: ServerConfig::from_env(&env, ([127, 0, 0, 1], 50051).into())?,
            mongo_url: env.required("MONGO_URL")?,
            mongo_database: env.or("MONGO_DB", "astro_system".to_owned())?,
            redis_url: env.required("REDIS_URL")?,
        })
    }
}

/// What the RPCs share.
#[derive(Clone)]
pub struct State {
    pub system_db: mongodb::Database,
    pub cache: fred::prelude::Client,
}

/// Connects (lazily) and binds; the returned future finishes once SystemDB and CacheDB answer.
pub async fn build(
    config: Config,
) -> anyhow::Result<(BoundGrpcServer, impl Future<Output = ()> + Send + 'static)> {
    let (system_db, system_db_ready) = db::mongo(&config.mongo_url, &config.mongo_database).await?;
    let (cache, cache_ready) = db::redis(&config.redis_url)?;
    let api = api::SystemApi::new(State { system_db, cache });
    let max_message_bytes = config.server.max_message_bytes;
    let server = GrpcServer::new(config.server)
        .add_service(
            SystemServiceServer::new(api.clone()).max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            SystemInternalServiceServer::new(api).max_decoding_message_size(max_message_bytes),
        )
        .bind()
        .await?;
    Ok((server, async move {
        tokio::join!(system_db_ready, cache_ready);
    }))
}

/// Serves until SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let (server, ready) = build(config).await?;
    server.serve(ready).await
}
