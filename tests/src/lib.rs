//! Test kit for end-to-end tests: real processes of the mesh, started from the built binaries
//! with their own fresh data (a new PostgreSQL database, a new SystemDB database name), an
//! in-test OTLP collector, a minimal grpc-web client and a TCP forwarder that can play a
//! database that is down and then comes up.
//!
//! The servers themselves (PostgreSQL, Redis, SecantusDB, ...) are the ones `./dev test`
//! starts; their addresses come from the `ASTRO_TEST_*` variables of `.data/test/env`.

pub mod accounts;
pub mod collector;
pub mod delay_proxy;
pub mod fixtures;
pub mod forwarder;
pub mod grpc_web;
pub mod keys;
pub mod mail;
pub mod private_postgres;
pub mod process;
pub mod rest;
pub mod standin;
pub mod stripe_webhooks;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context as _;
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

pub use process::{Mesh, MeshOptions, MeshProcess, Service};

/// Addresses of the local servers that `./dev test` (or `./dev up`) started.
#[derive(Debug, Clone)]
pub struct TestServers {
    pub pg_admin_url: String,
    pub mongo_url: String,
    pub redis_url: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub stripe_url: String,
    pub bin_dir: PathBuf,
}

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through `./dev test`, or `source .data/dev/env` after `./dev up`")
    })
}

impl TestServers {
    pub fn from_env() -> Self {
        let bin_dir = std::env::var("ASTRO_TEST_BIN_DIR").map_or_else(
            |_| {
                // target/debug/deps/<test binary> -> target/debug
                let exe = std::env::current_exe().expect("current exe");
                exe.parent()
                    .and_then(|deps| deps.parent())
                    .expect("test binary lives in target/<profile>/deps")
                    .to_path_buf()
            },
            PathBuf::from,
        );
        Self {
            pg_admin_url: required("ASTRO_TEST_PG_ADMIN_URL"),
            mongo_url: required("ASTRO_TEST_MONGO_URL"),
            redis_url: required("ASTRO_TEST_REDIS_URL"),
            smtp_host: required("ASTRO_TEST_SMTP_HOST"),
            smtp_port: required("ASTRO_TEST_SMTP_PORT")
                .parse()
                .expect("ASTRO_TEST_SMTP_PORT is a port"),
            stripe_url: required("ASTRO_TEST_STRIPE_URL"),
            bin_dir,
        }
    }

    /// Creates a fresh, migrated PostgreSQL database and returns its URL.
    pub async fn fresh_postgres_database(&self) -> anyhow::Result<String> {
        use sqlx::Connection as _;
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&self.pg_admin_url)
            .await
            .context("connect to the test PostgreSQL server (is ./dev test running it?)")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        let url = with_database(&self.pg_admin_url, &name);
        let mut database = sqlx::PgConnection::connect(&url).await?;
        astro_shared::db::MIGRATOR.run(&mut database).await?;
        Ok(url)
    }

    /// Removes a test's OperationsDB and SystemDB databases. A full run creates one of each per
    /// mesh; kept, they grew the test PostgreSQL data by ~7 MB a mesh, about 1 GB a run.
    pub async fn drop_databases(
        &self,
        postgres_url: &str,
        system_db_name: &str,
    ) -> anyhow::Result<()> {
        use sqlx::Connection as _;
        let name = postgres_url
            .rsplit_once('/')
            .map(|(_, name)| name)
            .context("a PostgreSQL URL names its database")?;
        let mut admin = sqlx::PgConnection::connect(&self.pg_admin_url).await?;
        // FORCE: a killed service's connections may not have been closed by the server yet.
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .with_context(|| format!("drop PostgreSQL database {name}"))?;
        let client = mongodb::Client::with_uri_str(&self.mongo_url).await?;
        // Bounded: SecantusDB has been seen stuck inside WiredTiger under its global lock, and a
        // test that passed must not hang the whole run on its clean-up.
        tokio::time::timeout(
            std::time::Duration::from_secs(30),
            client.database(system_db_name).drop(),
        )
        .await
        .with_context(|| format!("drop SystemDB database {system_db_name}: no answer in 30 s"))?
        .with_context(|| format!("drop SystemDB database {system_db_name}"))?;
        Ok(())
    }

    /// The host:port of the PostgreSQL server.
    pub fn pg_address(&self) -> String {
        host_port(&self.pg_admin_url)
    }

    /// The host:port of the MongoDB-protocol server.
    pub fn mongo_address(&self) -> String {
        host_port(&self.mongo_url)
    }

    /// The host:port of the Redis server.
    pub fn redis_address(&self) -> String {
        host_port(&self.redis_url)
    }
}

/// Replaces the database (path) of a PostgreSQL URL.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("URL has a path");
    format!("{base}/{database}")
}

/// Replaces the host:port of a URL (`scheme://[user@]host:port/...`), keeping the rest.
pub fn with_address(url: &str, address: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("URL has a scheme");
    let (userinfo, rest) = rest
        .rsplit_once('@')
        .map_or(("", rest), |(userinfo, rest)| (userinfo, rest));
    let at = if userinfo.is_empty() { "" } else { "@" };
    let path_start = rest.find(['/', '?']).unwrap_or(rest.len());
    format!("{scheme}://{userinfo}{at}{address}{}", &rest[path_start..])
}

fn host_port(url: &str) -> String {
    let (_, rest) = url.split_once("://").expect("URL has a scheme");
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    rest[..end].to_owned()
}

/// A port that was free a moment ago (the small race is acceptable in tests).
/// The field a refusal names (its first `BadRequest` field violation); empty if none.
pub fn violated_field(status: &tonic::Status) -> String {
    use tonic_types::StatusExt as _;
    status
        .get_details_bad_request()
        .and_then(|bad_request| bad_request.field_violations.into_iter().next())
        .map(|violation| violation.field)
        .unwrap_or_default()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("bind an ephemeral port")
}

/// A fresh loopback address with a free port.
pub fn free_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// `count` distinct free loopback addresses: all are held open while they are chosen, so the
/// system cannot hand the same port out twice (which one after another it may).
pub fn free_addresses(count: usize) -> Vec<SocketAddr> {
    let listeners: Vec<std::net::TcpListener> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port"))
        .collect();
    listeners
        .iter()
        .map(|listener| listener.local_addr().expect("bound address"))
        .collect()
}

/// A gRPC channel to `address` (connecting lazily).
pub fn channel(address: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{address}"))
        .expect("valid URL")
        .connect_timeout(Duration::from_secs(1))
        .connect_lazy()
}

/// One `grpc.health.v1.Health/Check` call; transport errors come back as `Err`.
pub async fn health_status(
    address: SocketAddr,
    service: &str,
) -> Result<ServingStatus, tonic::Status> {
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: service.to_owned(),
    });
    request.set_timeout(Duration::from_secs(1));
    let response = HealthClient::new(channel(address)).check(request).await?;
    Ok(response.into_inner().status())
}

/// A whole mesh with fresh data for one test (panics with every process's log if it does not
/// become ready).
pub async fn mesh() -> Mesh {
    mesh_with(std::collections::HashMap::new()).await
}

/// As [`mesh`], with extra variables (full names) for every process.
pub async fn mesh_with(extra_env: std::collections::HashMap<String, String>) -> Mesh {
    let options = MeshOptions {
        extra_env,
        ..MeshOptions::default()
    };
    Mesh::start(&TestServers::from_env(), options)
        .await
        .expect("mesh starts")
}

/// A mesh whose NotifyAPI mails to an SMTP catcher of the test's own, with `extra` variables
/// (full names) for every process.
pub async fn mesh_with_catcher(extra: &[(&str, &str)]) -> (mail::MailCatcher, Mesh) {
    let catcher = mail::MailCatcher::start()
        .await
        .expect("SMTP catcher starts");
    let mut extra_env = catcher.notify_env();
    for (name, value) in extra {
        extra_env.insert((*name).to_owned(), (*value).to_owned());
    }
    (catcher, mesh_with(extra_env).await)
}

/// A connection to the test servers' Redis, where every mesh's CacheDB lives (under its
/// `redis_key_prefix`).
pub async fn redis() -> fred::clients::Client {
    use fred::prelude::ClientLike as _;
    let client = fred::types::Builder::from_config(
        fred::prelude::Config::from_url(&TestServers::from_env().redis_url).expect("Redis URL"),
    )
    .build()
    .expect("Redis client");
    client.init().await.expect("Redis connects");
    client
}

/// The mesh's SystemDB, for tests that look at or change what SystemAPI stored.
pub async fn system_db(mesh: &Mesh) -> mongodb::Database {
    mongodb::Client::with_uri_str(&TestServers::from_env().mongo_url)
        .await
        .expect("SystemDB client")
        .database(&mesh.system_db_name)
}

/// Polls until `check` returns true or `timeout` passes; returns whether it did.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_rewriting_keeps_user_and_path() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_address(
                "mongodb://127.0.0.1:27017/?directConnection=true",
                "127.0.0.1:1"
            ),
            "mongodb://127.0.0.1:1/?directConnection=true"
        );
        assert_eq!(
            with_address("postgres://postgres@127.0.0.1:5432/db", "127.0.0.1:9"),
            "postgres://postgres@127.0.0.1:9/db"
        );
        assert_eq!(host_port("redis://127.0.0.1:6379"), "127.0.0.1:6379");
        assert_eq!(host_port("postgres://u:p@h:1/db"), "h:1");
    }
}
