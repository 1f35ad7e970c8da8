//! Who this process is and how its dependencies answer right now: served to SystemAPI as
//! `InstanceInternalService.GetInstanceStatus` by every gRPC server of the mesh, and sent with
//! each metrics window so SystemAPI knows every replica.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use astro_proto::astrobookings::common::v1::{
    DependencyProbe, GetInstanceStatusRequest, GetInstanceStatusResponse, InstanceInfo,
    instance_internal_service_server::InstanceInternalService,
};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::convert::timestamp;

/// How long one dependency probe may take; below SystemAPI's per-service deadline, so a hung
/// database shows as unreachable rather than hiding the whole service.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// One dependency and how to ask it whether it answers.
#[derive(Clone)]
pub struct Probe {
    name: &'static str,
    check: Check,
}

impl Probe {
    /// A probe named `name` ("operations-db", "cache-db", "system-db", "email",
    /// "payment-gateway"); `check` answers `Err` with a short, non-sensitive reason.
    pub fn new<F, Fut>(name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            name,
            check: Arc::new(move || Box::pin(check())),
        }
    }

    /// OperationsDB answers `SELECT 1`.
    pub fn postgres(pool: sqlx::PgPool) -> Self {
        Self::new("operations-db", move || {
            let pool = pool.clone();
            async move {
                sqlx::query("SELECT 1")
                    .execute(&pool)
                    .await
                    .map(drop)
                    .map_err(|_| "OperationsDB did not answer".to_owned())
            }
        })
    }

    /// CacheDB answers PING.
    pub fn redis(client: fred::prelude::Client) -> Self {
        Self::new("cache-db", move || {
            let client = client.clone();
            async move {
                use fred::interfaces::ClientLike as _;
                client
                    .ping::<String>(None)
                    .await
                    .map(drop)
                    .map_err(|_| "CacheDB did not answer".to_owned())
            }
        })
    }

    /// SystemDB answers `ping`.
    pub fn mongo(database: mongodb::Database) -> Self {
        Self::new("system-db", move || {
            let database = database.clone();
            async move {
                database
                    .run_command(mongodb::bson::doc! { "ping": 1 })
                    .await
                    .map(drop)
                    .map_err(|_| "SystemDB did not answer".to_owned())
            }
        })
    }

    /// A TCP connection to the host of `url` is accepted (for servers spoken to over HTTP,
    /// such as the payment gateway, where an authenticated call would cost a request).
    pub fn tcp(name: &'static str, url: &str) -> Self {
        let target = url.parse::<http::Uri>().ok().and_then(|uri| {
            let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
                Some("http") => 80,
                _ => 443,
            });
            uri.host().map(|host| format!("{host}:{port}"))
        });
        Self::new(name, move || {
            let target = target.clone();
            async move {
                let target = target.ok_or_else(|| "its address is not a URL".to_owned())?;
                tokio::net::TcpStream::connect(&target)
                    .await
                    .map(drop)
                    .map_err(|_| "connection refused or unreachable".to_owned())
            }
        })
    }

    async fn run(&self) -> DependencyProbe {
        let started = Instant::now();
        let outcome = tokio::time::timeout(PROBE_TIMEOUT, (self.check)()).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1_000.0;
        let (reachable, detail) = match outcome {
            Ok(Ok(())) => (true, String::new()),
            Ok(Err(reason)) => (false, reason),
            Err(_) => (
                false,
                format!("no answer within {} ms", PROBE_TIMEOUT.as_millis()),
            ),
        };
        DependencyProbe {
            name: self.name.to_owned(),
            reachable,
            latency_ms,
            detail,
        }
    }
}

/// This process: its identity, its dependencies and whether it serves.
#[derive(Clone)]
pub struct InstanceStatus {
    service: &'static str,
    info: InstanceInfo,
    started: DateTime<Utc>,
    probes: Arc<Vec<Probe>>,
    serving: Arc<AtomicBool>,
}

impl InstanceStatus {
    /// The status of this process of `service` ("booking-api"), started now.
    pub fn new(service: &'static str, probes: Vec<Probe>) -> Self {
        let started = Utc::now();
        Self {
            service,
            info: InstanceInfo {
                service: service.to_owned(),
                instance: instance_name(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                started_at: Some(timestamp(started)),
            },
            started,
            probes: Arc::new(probes),
            serving: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn info(&self) -> &InstanceInfo {
        &self.info
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    pub fn started(&self) -> DateTime<Utc> {
        self.started
    }

    /// Follows the grpc.health.v1 status the server sets.
    pub(crate) fn set_serving(&self, serving: bool) {
        self.serving.store(serving, Ordering::Relaxed);
    }

    /// Probes every dependency side by side, each within [`PROBE_TIMEOUT`].
    pub async fn check(&self) -> GetInstanceStatusResponse {
        let dependencies = futures::future::join_all(self.probes.iter().map(Probe::run)).await;
        GetInstanceStatusResponse {
            instance: Some(self.info.clone()),
            serving: self.serving.load(Ordering::Relaxed),
            dependencies,
        }
    }
}

/// The pod's name in Kubernetes (its host name); elsewhere, where every process shares one
/// host, the host name and the process id.
fn instance_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|name| name.trim().to_owned())
        })
        .unwrap_or_else(|| "localhost".to_owned());
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        host
    } else {
        format!("{host}-{}", std::process::id())
    }
}

#[tonic::async_trait]
impl InstanceInternalService for InstanceStatus {
    async fn get_instance_status(
        &self,
        _request: tonic::Request<GetInstanceStatusRequest>,
    ) -> Result<tonic::Response<GetInstanceStatusResponse>, tonic::Status> {
        Ok(tonic::Response::new(self.check().await))
    }
}
