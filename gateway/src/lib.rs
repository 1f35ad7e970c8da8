//! The edge of the mesh. One port serves browsers (grpc-web, binary and text) and gRPC clients
//! for every public service, forwarding to the upstream processes with trace context and a
//! deadline; `GET /healthz` says the gateway is alive, `GET /readyz` that every upstream serves.

pub mod health;
pub mod proxy;
pub mod upstream;

use std::{net::SocketAddr, time::Duration};

use astro_shared::{config::Env, server::stop_signal, telemetry::GrpcServerTraceLayer};
use axum::{
    Json, Router,
    extract::{Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tonic_health::pb::health_check_response::ServingStatus;
use tower::{ServiceBuilder, ServiceExt as _};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::{
    proxy::GrpcRouter,
    upstream::{UpstreamUrls, Upstreams},
};

/// Everything the gateway reads from `ASTRO_GATEWAY_*`.
#[derive(Debug, Clone)]
pub struct Config {
    /// `ASTRO_GATEWAY_LISTEN_ADDR` (default `127.0.0.1:8080`).
    pub listen_addr: SocketAddr,
    /// `ASTRO_GATEWAY_{SYSTEM,AGENCY,BOOKING,FINANCE,NOTIFY}_URL`.
    pub upstreams: UpstreamUrls,
    /// `ASTRO_GATEWAY_UPSTREAM_TIMEOUT_MS`: the deadline given to an upstream call when the
    /// client sent none (or a longer one). Default 10 s.
    pub upstream_timeout: Duration,
    /// `ASTRO_GATEWAY_CORS_ORIGINS`: comma-separated origins allowed to call from a browser,
    /// or `*` (the default, for development).
    pub cors_origins: String,
    /// `ASTRO_GATEWAY_DRAIN_TIMEOUT_MS`: after SIGTERM, how long in-flight requests may take.
    pub drain_timeout: Duration,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let env = Env::new("ASTRO_GATEWAY");
        Ok(Self {
            listen_addr: env.or("LISTEN_ADDR", ([127, 0, 0, 1], 8080).into())?,
            upstreams: UpstreamUrls {
                system: env.or("SYSTEM_URL", "http://127.0.0.1:50051".to_owned())?,
                agency: env.or("AGENCY_URL", "http://127.0.0.1:50052".to_owned())?,
                booking: env.or("BOOKING_URL", "http://127.0.0.1:50053".to_owned())?,
                finance: env.or("FINANCE_URL", "http://127.0.0.1:50054".to_owned())?,
                notify: env.or("NOTIFY_URL", "http://127.0.0.1:50055".to_owned())?,
            },
            upstream_timeout: env.millis_or("UPSTREAM_TIMEOUT_MS", Duration::from_secs(10))?,
            cors_origins: env.or("CORS_ORIGINS", "*".to_owned())?,
            drain_timeout: env.millis_or("DRAIN_TIMEOUT_MS", Duration::from_secs(10))?,
        })
    }
}

#[derive(Clone)]
struct GatewayState {
    upstreams: Upstreams,
    grpc: GrpcRouter,
}

/// The gateway's HTTP application (exposed for in-process tests).
pub fn app(config: &Config) -> anyhow::Result<Router> {
    let upstreams = Upstreams::connect(&config.upstreams, config.upstream_timeout)?;
    let state = GatewayState {
        grpc: GrpcRouter::new(upstreams.clone()),
        upstreams,
    };
    Ok(Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(grpc_or_not_found)
        .with_state(state)
        .layer(cors(&config.cors_origins)?))
}

/// Binds and serves until SIGTERM, then lets in-flight requests finish.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let app = app(&config)?;
    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {}: {error}", config.listen_addr))?;
    tracing::info!(address = %listener.local_addr()?, upstreams = ?config.upstreams, "gateway listening");
    let drain_timeout = config.drain_timeout;
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = axum::serve(listener, app).with_graceful_shutdown(async move {
        stop_signal().await;
        let _ = stopped_tx.send(());
    });
    tokio::select! {
        outcome = serving => outcome?,
        () = async {
            let _ = stopped_rx.await;
            tokio::time::sleep(drain_timeout).await;
        } => tracing::warn!("drain timeout reached with requests still in flight; exiting"),
    }
    tracing::info!("gateway stopped");
    Ok(())
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "alive" }))
}

/// 200 when every upstream reports SERVING, else 503; the body says which are not.
async fn readyz(State(state): State<GatewayState>) -> impl IntoResponse {
    let checks = health::check_all(&state.upstreams).await;
    let ready = checks
        .iter()
        .all(|(_, status)| matches!(status, Ok(ServingStatus::Serving)));
    let upstreams: serde_json::Map<_, _> = checks
        .into_iter()
        .map(|(upstream, status)| {
            let status = match status {
                Ok(status) => status.as_str_name().to_owned(),
                Err(error) => format!("UNREACHABLE: {}", error.message()),
            };
            (upstream.name.to_owned(), serde_json::Value::String(status))
        })
        .collect();
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(serde_json::json!({ "ready": ready, "upstreams": upstreams })),
    )
}

/// gRPC and grpc-web requests go to the proxy; REST transcoding is not built yet, so any
/// other request is an unknown path.
async fn grpc_or_not_found(State(state): State<GatewayState>, request: Request) -> Response {
    let is_grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|content_type| content_type.starts_with("application/grpc"));
    if !is_grpc {
        return (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "code": 5, "message": "no such route", "details": [] })),
        )
            .into_response();
    }
    let grpc = ServiceBuilder::new()
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(GrpcServerTraceLayer)
        .service(state.grpc);
    match grpc.oneshot(request).await {
        Ok(response) => response.map(axum::body::Body::new),
        Err(never) => match never {},
    }
}

/// Browsers call from other origins (the web apps); grpc-web needs its headers allowed and
/// the gRPC status headers exposed.
fn cors(origins: &str) -> anyhow::Result<CorsLayer> {
    let allow_origin = if origins.trim() == "*" {
        AllowOrigin::any()
    } else {
        let origins = origins
            .split(',')
            .map(|origin| HeaderValue::from_str(origin.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| anyhow::anyhow!("ASTRO_GATEWAY_CORS_ORIGINS: {error}"))?;
        AllowOrigin::list(origins)
    };
    let allowed_headers = [
        "content-type",
        "authorization",
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
        "idempotency-key",
        "x-request-id",
        "traceparent",
        "tracestate",
    ];
    let exposed_headers = [
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "x-request-id",
        "retry-after",
    ];
    Ok(CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(allowed_headers.map(HeaderName::from_static))
        .expose_headers(exposed_headers.map(HeaderName::from_static))
        .max_age(Duration::from_secs(3600)))
}
