//! NotifyAPI: the durable notification queue in SystemDB (MongoDB protocol) and email over
//! SMTP (EmailSvc).

pub mod api;

use std::future::Future;

use astro_proto::astrobookings::notify::v1::{
    notify_internal_service_server::NotifyInternalServiceServer,
    notify_service_server::NotifyServiceServer,
};
use astro_shared::{
    config::{Env, ServerConfig},
    db,
    server::{BoundGrpcServer, GrpcServer},
};

/// Everything NotifyAPI reads from `ASTRO_NOTIFY_*`.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
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
            server: ServerConfig::from_env(&env, ([127, 0, 0, 1], 50055).into())?,
            mongo_url: env.required("MONGO_URL")?,
            mongo_database: env.or("MONGO_DB", "astro_system".to_owned())?,
            smtp_host: env.or("SMTP_HOST", "127.0.0.1".to_owned())?,
            smtp_port: env.or("SMTP_PORT", 25)?,
        })
    }
}

/// What the RPCs share.
#[derive(Clone)]
pub struct State {
    pub system_db: mongodb::Database,
}

/// Connects (lazily) and binds; the returned future finishes once SystemDB answers.
pub async fn build(
    config: Config,
) -> anyhow::Result<(BoundGrpcServer, impl Future<Output = ()> + Send + 'static)> {
    let (system_db, system_db_ready) = db::mongo(&config.mongo_url, &config.mongo_database).await?;
    let api = api::NotifyApi::new(State { system_db });
    let max_message_bytes = config.server.max_message_bytes;
    let server = GrpcServer::new(config.server)
        .add_service(
            NotifyServiceServer::new(api.clone()).max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            NotifyInternalServiceServer::new(api).max_decoding_message_size(max_message_bytes),
        )
        .bind()
        .await?;
    Ok((server, system_db_ready))
}

/// Serves until SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let (server, ready) = build(config).await?;
    server.serve(ready).await
}
