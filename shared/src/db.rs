//! Connections to the databases. Each builder returns a handle at once and a readiness future
//! that retries with back-off, logging what it waits for, until the server answers; the gRPC
//! server reports SERVING only after every readiness future of its process has finished.

use std::{future::Future, time::Duration};

use fred::prelude::{ClientLike as _, ReconnectPolicy};
use sqlx::{PgPool, postgres::PgPoolOptions};

use crate::config::redact_url;

/// The migrations of OperationsDB, embedded so every binary and test can apply them.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// Calls `attempt` until it succeeds, doubling the delay between tries up to 5 s, with a log
/// line per failure that names the database and its address.
pub async fn retry_until_ready<F, Fut, E>(what: &str, address: &str, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut delay = FIRST_RETRY_DELAY;
    for attempt_number in 1_u64.. {
        match attempt().await {
            Ok(()) => {
                tracing::info!(
                    database = what,
                    address,
                    attempts = attempt_number,
                    "database ready"
                );
                return;
            }
            Err(error) => {
                tracing::warn!(
                    database = what,
                    address,
                    attempt = attempt_number,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %error,
                    "waiting for {what} at {address}"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
        }
    }
}

/// A PostgreSQL pool that connects on demand, and its readiness future.
pub fn postgres(
    url: &str,
    max_connections: u32,
) -> anyhow::Result<(PgPool, impl Future<Output = ()> + Send + use<>)> {
    let options: sqlx::postgres::PgConnectOptions = url
        .parse()
        .map_err(|error| anyhow::anyhow!("invalid PostgreSQL URL {}: {error}", redact_url(url)))?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy_with(options.clone());
    let address = redact_url(url);
    let ready = async move {
        // A direct connection, not the pool: a refused connection is reported at once instead
        // of after the pool's acquire timeout.
        retry_until_ready("OperationsDB (PostgreSQL)", &address, || async {
            use sqlx::Connection as _;
            let connection = sqlx::PgConnection::connect_with(&options).await?;
            connection.close().await
        })
        .await;
    };
    Ok((pool, ready))
}

/// A MongoDB-protocol database handle, and its readiness future.
pub async fn mongo(
    url: &str,
    database: &str,
) -> anyhow::Result<(mongodb::Database, impl Future<Output = ()> + Send + use<>)> {
    let mut options = mongodb::options::ClientOptions::parse(url)
        .await
        .map_err(|error| anyhow::anyhow!("invalid MongoDB URL {}: {error}", redact_url(url)))?;
    // Fail fast while the server is down so callers get UNAVAILABLE instead of a 30 s hang.
    options.server_selection_timeout = Some(Duration::from_secs(2));
    // Not 2 s as well: the driver's monitor uses this as the deadline of its heartbeat, and a
    // heartbeat that misses it marks the server unknown and interrupts every operation in
    // flight. A busy server (SecantusDB under load answered heartbeats in over 2 s) then broke
    // a streaming export midway and made a login's retried insert collide with itself.
    options.connect_timeout = Some(Duration::from_secs(10));
    options.app_name = Some("astrobookings".into());
    let database = mongodb::Client::with_options(options)?.database(database);
    let address = redact_url(url);
    let probe = database.clone();
    let ready = async move {
        retry_until_ready("SystemDB (MongoDB protocol)", &address, || async {
            probe
                .run_command(mongodb::bson::doc! { "ping": 1 })
                .await
                .map(drop)
        })
        .await;
    };
    Ok((database, ready))
}

/// A Redis client, and its readiness future (which also starts the connection task; later
/// disconnects are retried by the client's own reconnect policy).
pub fn redis(
    url: &str,
) -> anyhow::Result<(
    fred::prelude::Client,
    impl Future<Output = ()> + Send + use<>,
)> {
    let config = fred::prelude::Config::from_url(url)
        .map_err(|error| anyhow::anyhow!("invalid Redis URL {}: {error}", redact_url(url)))?;
    let client = fred::types::Builder::from_config(config)
        .with_connection_config(|connection| {
            connection.connection_timeout = Duration::from_secs(2);
            connection.internal_command_timeout = Duration::from_secs(2);
        })
        .with_performance_config(|performance| {
            // A Redis outage must fail a command quickly so callers can fall back.
            performance.default_command_timeout = Duration::from_secs(2);
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
        .build()?;
    let address = redact_url(url);
    let probe = client.clone();
    let ready = async move {
        retry_until_ready("CacheDB (Redis)", &address, || async {
            if !probe.is_connected() {
                probe.init().await.map(drop)?;
            }
            probe.ping::<String>(None).await.map(drop)
        })
        .await;
    };
    Ok((client, ready))
}

/// Whether a MongoDB-protocol write failed on a unique index (E11000): the database, not a
/// prior read, decides that something exists already.
pub fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    let by_code = match &*error.kind {
        ErrorKind::Write(WriteFailure::WriteError(write)) => write.code == 11000,
        ErrorKind::Command(command) => command.code == 11000,
        _ => false,
    };
    by_code || error.to_string().contains("E11000")
}
