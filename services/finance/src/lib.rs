//! FinanceAPI: payments through the payment gateway (Stripe's API), invoices and
//! revenue reports, in OperationsDB (PostgreSQL).

pub mod api;

use std::future::Future;

use astro_proto::astrobookings::finance::v1::{
    finance_internal_service_server::FinanceInternalServiceServer,
    finance_service_server::FinanceServiceServer,
};
use astro_shared::{
    config::{Env, ServerConfig},
    db,
    server::{BoundGrpcServer, GrpcServer},
};

/// Everything FinanceAPI reads from `ASTRO_FINANCE_*`.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// `ASTRO_FINANCE_DATABASE_URL`: OperationsDB.
    pub database_url: String,
    /// `ASTRO_FINANCE_DATABASE_MAX_CONNECTIONS` (default 10).
    pub database_max_connections: u32,
    /// `ASTRO_FINANCE_STRIPE_URL`: the Stripe API base URL (localstripe in dev and tests).
    pub stripe_url: String,
    /// `ASTRO_FINANCE_STRIPE_SECRET_KEY`: never logged.
    pub stripe_secret_key: Secret,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let env = Env::new("ASTRO_FINANCE");
        Ok(Self {
            server: ServerConfig::from_env(&env, ([127, 0, 0, 1], 50054).into())?,
            database_url: env.required("DATABASE_URL")?,
            database_max_connections: env.or("DATABASE_MAX_CONNECTIONS", 10)?,
            stripe_url: env.or("STRIPE_URL", "https://api.stripe.com/".to_owned())?,
            stripe_secret_key: Secret(env.required("STRIPE_SECRET_KEY")?),
        })
    }
}

/// What the RPCs share.
#[derive(Clone)]
pub struct State {
    pub operations_db: sqlx::PgPool,
}

/// Connects (lazily) and binds; the returned future finishes once its databases answer.
pub async fn build(
    config: Config,
) -> anyhow::Result<(BoundGrpcServer, impl Future<Output = ()> + Send + 'static)> {
    let (operations_db, operations_db_ready) =
        db::postgres(&config.database_url, config.database_max_connections)?;
    let api = api::FinanceApi::new(State { operations_db });
    let max_message_bytes = config.server.max_message_bytes;
    let server = GrpcServer::new(config.server)
        .add_service(
            FinanceServiceServer::new(api.clone()).max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            FinanceInternalServiceServer::new(api).max_decoding_message_size(max_message_bytes),
        )
        .bind()
        .await?;
    Ok((server, operations_db_ready))
}

/// Serves until SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let (server, ready) = build(config).await?;
    server.serve(ready).await
}

/// A secret that never shows in logs or `Debug` output.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Secret(***)")
    }
}
