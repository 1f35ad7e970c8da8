//! NotifyAPI: the durable notification queue in SystemDB (MongoDB protocol) and email over
//! SMTP (EmailSvc).

pub mod api;
pub mod store;

use std::future::Future;

use astro_proto::astrobookings::notify::v1::{
    notify_internal_service_server::NotifyInternalServiceServer,
    notify_service_server::{self, NotifyServiceServer},
};
use astro_shared::{
    activity::ActivityLog,
    auth,
    config::{Env, ServerConfig},
    db,
    server::{BoundGrpcServer, GrpcServer},
};

/// Everything NotifyAPI reads from `ASTRO_NOTIFY_*`.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// `ASTRO_NOTIFY_SYSTEM_URL`: SystemAPI, whose JWKS verifies access tokens
    /// (default `http://127.0.0.1:50051`).
    pub system_url: String,
    /// `ASTRO_NOTIFY_REDIS_URL`: CacheDB (the token denylist).
    pub redis_url: String,
    /// `ASTRO_NOTIFY_MONGO_URL`.
    pub mongo_url: String,
    /// `ASTRO_NOTIFY_MONGO_DB` (default `astro_system`: the queue lives in SystemDB).
    pub mongo_database: String,
    /// `ASTRO_NOTIFY_SMTP_HOST` (default `127.0.0.1`).
    pub smtp_host: String,
    /// `ASTRO_NOTIFY_SMTP_PORT` (default 25).
    pub smtp_port: u16,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let env = Env::new("ASTRO_NOTIFY");
        Ok(Self {
            redis_url: env.required("REDIS_URL")?,
            system_url: env.or("SYSTEM_URL", "http://127.0.0.1:50051".to_owned())?,
            server: ServerConfig::from_env(&env, ([127, 0, 0, 1], 50055).into())?,
            mongo_url: env.required("MONGO_URL")?,
            mongo_database: env.or("MONGO_DB", "astro_system".to_owned())?,
            smtp_host: env.or("SMTP_HOST", "127.0.0.1".to_owned())?,
            smtp_port: env.or("SMTP_PORT", 25)?,
        })
    }
}

/// This service's name in activity logs and origins (`common.v1.Origin.service`).
pub const SERVICE_NAME: &str = "notify-api";

/// What the RPCs share.
#[derive(Clone)]
pub struct State {
    pub system_db: mongodb::Database,
    /// The notification queue.
    pub notifications: store::NotificationStore,
    /// Significant actions, sent to SystemAPI's IngestLogs.
    pub activity: ActivityLog,
}

/// Connects (lazily) and binds; the returned future finishes once SystemDB answers.
pub async fn build(
    config: Config,
) -> anyhow::Result<(BoundGrpcServer, impl Future<Output = ()> + Send + 'static)> {
    let (system_db, system_db_ready) = db::mongo(&config.mongo_url, &config.mongo_database).await?;
    let (cache, cache_ready) = db::redis(&config.redis_url)?;
    let activity = ActivityLog::connect(&config.system_url, SERVICE_NAME)?;
    let api = api::NotifyApi::new(State {
        notifications: store::NotificationStore::new(&system_db),
        system_db: system_db.clone(),
        activity,
    });
    let max_message_bytes = config.server.max_message_bytes;
    let auth = auth::remote_auth_layer(
        &config.system_url,
        cache,
        notify_service_server::SERVICE_NAME,
    )?;
    let server = GrpcServer::new(config.server, auth)
        .add_service(
            NotifyServiceServer::new(api.clone()).max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            NotifyInternalServiceServer::new(api).max_decoding_message_size(max_message_bytes),
        )
        .bind()
        .await?;
    Ok((server, async move {
        tokio::join!(system_db_ready, cache_ready);
        db::retry_until_ready("SystemDB indexes", "notifications", || {
            store::notifications::ensure_indexes(&system_db)
        })
        .await;
    }))
}

/// Serves until SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let (server, ready) = build(config).await?;
    server.serve(ready).await
}
