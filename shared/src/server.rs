//! The one way every service of the mesh serves gRPC: standard health (`grpc.health.v1`,
//! SERVING only once its databases answer, NOT_SERVING as soon as SIGTERM arrives), reflection,
//! a trace span per request, a per-request timeout, and a graceful drain on shutdown.

use std::{convert::Infallible, future::Future, net::SocketAddr};

use http::{Request, Response};
use tokio::net::TcpListener;
use tonic::{
    body::Body,
    server::NamedService,
    service::RoutesBuilder,
    transport::{Server, server::TcpIncoming},
};
use tonic_health::{ServingStatus, server::HealthReporter};

use astro_proto::astrobookings::common::v1::instance_internal_service_server::InstanceInternalServiceServer;

use crate::{
    auth::AuthLayer,
    config::ServerConfig,
    instance::InstanceStatus,
    metrics::{Metrics, MetricsLayer, MetricsSink},
    telemetry::GrpcServerTraceLayer,
};

/// What every server tells about itself: its instance status (served to SystemAPI) and where
/// its request metrics go each window.
pub struct Observability {
    pub instance: InstanceStatus,
    pub metrics_sink: MetricsSink,
}

impl Observability {
    /// A process of `service` with these dependency probes, sending its metrics to SystemAPI
    /// at `system_url` as `identity`.
    pub fn reporting_to(
        service: &'static str,
        probes: Vec<crate::instance::Probe>,
        system_url: &str,
        identity: &std::sync::Arc<crate::service_auth::ServiceIdentity>,
    ) -> anyhow::Result<Self> {
        let channel = identity.channel(
            system_url,
            std::time::Duration::from_secs(5),
            astro_proto::astrobookings::common::v1::MeshService::System,
        )?;
        Ok(Self {
            instance: InstanceStatus::new(service, probes),
            metrics_sink: crate::metrics::record_metrics_at(channel),
        })
    }
}

/// Collects the gRPC services of one process, then serves them.
pub struct GrpcServer {
    config: ServerConfig,
    routes: RoutesBuilder,
    service_names: Vec<&'static str>,
    health: HealthReporter,
    auth: AuthLayer,
    observability: Observability,
    metrics: std::sync::Arc<Metrics>,
}

/// A server bound to its port (so tests and `./dev` know the address before it serves).
pub struct BoundGrpcServer {
    server: GrpcServer,
    listener: TcpListener,
}

impl GrpcServer {
    /// An empty server with the given limits; `auth` authenticates and authorizes every call
    /// of a public service (see [`crate::auth`]). It serves the instance status and counts
    /// every call into the metrics of `observability`.
    pub fn new(config: ServerConfig, auth: AuthLayer, observability: Observability) -> Self {
        let (health, health_service) = tonic_health::server::health_reporter();
        let mut routes = RoutesBuilder::default();
        routes.add_service(health_service);
        let metrics = Metrics::new(observability.instance.service());
        let server = Self {
            config,
            routes,
            service_names: Vec::new(),
            health,
            auth,
            metrics,
            observability,
        };
        let instance = InstanceInternalServiceServer::new(server.observability.instance.clone());
        server.add_service(instance)
    }

    /// The request metrics of this server.
    pub fn metrics(&self) -> std::sync::Arc<Metrics> {
        self.metrics.clone()
    }

    /// The limits this server applies; services use `max_message_bytes` on their generated
    /// servers (`XServer::new(..).max_decoding_message_size(..)`).
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Adds a generated gRPC service; its health status follows the process readiness.
    #[must_use]
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.service_names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// Binds the listen address.
    pub async fn bind(self) -> anyhow::Result<BoundGrpcServer> {
        let listener = TcpListener::bind(self.config.listen_addr)
            .await
            .map_err(|error| {
                anyhow::anyhow!("cannot listen on {}: {error}", self.config.listen_addr)
            })?;
        Ok(BoundGrpcServer {
            server: self,
            listener,
        })
    }
}

impl BoundGrpcServer {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until SIGTERM or SIGINT. Health says NOT_SERVING until `ready` finishes (the
    /// process's databases answer), SERVING after, and NOT_SERVING again once a stop signal
    /// arrives; then, after the drain delay, no new connection is accepted and in-flight
    /// requests get the drain timeout to finish.
    pub async fn serve(
        self,
        ready: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.serve_until(ready, stop_signal()).await
    }

    /// As [`Self::serve`], stopping when `stop` finishes instead of on a signal.
    pub async fn serve_until(
        self,
        ready: impl Future<Output = ()> + Send + 'static,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self { server, listener } = self;
        let GrpcServer {
            config,
            mut routes,
            service_names,
            health,
            auth,
            observability,
            metrics,
        } = server;
        let local_addr = listener.local_addr()?;
        // Deny by default: a service whose RPCs have no rule in the auth policy is not served.
        if let Some(uncovered) = service_names.iter().find(|name| !auth.covers(name)) {
            anyhow::bail!(
                "{uncovered} has no access rules in the auth layer: refusing to serve it"
            );
        }

        if let Some(admin_addr) = config.admin_addr {
            let metrics = metrics.clone();
            tokio::spawn(async move {
                if let Err(error) = crate::metrics::serve_admin(admin_addr, metrics).await {
                    tracing::error!(error = %format!("{error:#}"), "admin HTTP stopped: /metrics is not served");
                }
            });
        }
        let Observability {
            instance,
            metrics_sink,
        } = observability;
        tokio::spawn(crate::metrics::report_windows(
            metrics.clone(),
            config.metrics_window,
            instance.info().clone(),
            instance.started(),
            metrics_sink,
        ));

        set_status(&health, &service_names, ServingStatus::NotServing).await;
        let readiness = tokio::spawn({
            let health = health.clone();
            let service_names = service_names.clone();
            let instance = instance.clone();
            async move {
                ready.await;
                set_status(&health, &service_names, ServingStatus::Serving).await;
                instance.set_serving(true);
                tracing::info!(services = ?service_names, "dependencies ready: SERVING");
            }
        });

        let mut reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(astro_proto::FILE_DESCRIPTOR_SET);
        // Internal services are for the mesh only: reflection does not advertise them.
        for name in service_names
            .iter()
            .filter(|name| !crate::auth::is_internal_service(name))
        {
            reflection = reflection.with_service_name(*name);
        }
        routes.add_service(reflection.build_v1()?);

        let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
        let drain_delay = config.drain_delay;
        let stopping = tokio::spawn({
            let health = health.clone();
            let service_names = service_names.clone();
            async move {
                stop.await;
                readiness.abort();
                set_status(&health, &service_names, ServingStatus::NotServing).await;
                instance.set_serving(false);
                tracing::info!(
                    drain_delay_ms = u64::try_from(drain_delay.as_millis()).unwrap_or(u64::MAX),
                    "stop requested: NOT_SERVING, draining"
                );
                tokio::time::sleep(drain_delay).await;
                let _ = drain_tx.send(());
            }
        });

        tracing::info!(address = %local_addr, services = ?service_names, "gRPC server listening");
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let serving = Server::builder()
            .timeout(config.request_timeout)
            // No `max_connection_age_grace`: in tonic 0.14 setting it replaces the GOAWAY at
            // that age with a hard close after age + grace, cutting the calls in flight.
            .max_connection_age(config.max_connection_age)
            .layer(GrpcServerTraceLayer)
            .layer(MetricsLayer::new(metrics))
            .layer(auth)
            .add_routes(routes.routes())
            .serve_with_incoming_shutdown(incoming, async {
                let _ = drain_rx.await;
            });
        tokio::pin!(serving);

        // Once draining starts, in-flight requests get `drain_timeout` to finish.
        let drain_timeout = config.drain_timeout;
        let outcome = tokio::select! {
            outcome = &mut serving => outcome,
            () = async {
                let _ = stopping.await;
                tokio::time::sleep(drain_timeout).await;
            } => {
                tracing::warn!("drain timeout reached with requests still in flight; exiting");
                Ok(())
            }
        };
        outcome?;
        tracing::info!("gRPC server stopped");
        Ok(())
    }
}

async fn set_status(
    health: &HealthReporter,
    service_names: &[&'static str],
    status: ServingStatus,
) {
    // The empty name is the whole process, as grpc.health.v1 defines.
    health.set_service_status("", status).await;
    for name in service_names {
        health.set_service_status(*name, status).await;
    }
}

/// Finishes on SIGTERM (Kubernetes, `./dev down`) or SIGINT (Ctrl-C).
pub async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => tracing::info!("SIGTERM received"),
        result = tokio::signal::ctrl_c() => {
            if result.is_ok() {
                tracing::info!("SIGINT received");
            }
        }
    }
}
