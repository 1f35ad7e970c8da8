//! The edge of the mesh. One port serves browsers and scripts as REST/JSON (transcoded from
//! the contracts' `google.api.http` rules, documented at `/openapi.json` and `/docs`), browsers
//! as grpc-web (binary and text) and gRPC clients, for every public service; every call is
//! admitted at the edge (bearer token, shared rate limits) and forwarded with trace context,
//! request id and a deadline. `GET /healthz` says the gateway is alive, `GET /readyz` that
//! every upstream serves.

pub mod contracts;
pub mod edge;
pub mod errors;
pub mod health;
pub mod openapi;
pub mod proxy;
pub mod ratelimit;
pub mod rest;
pub mod upstream;
pub mod web;

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use astro_shared::{
    config::Env,
    metrics::{self, Metrics, MetricsLayer},
    server::stop_signal,
    telemetry::GrpcServerTraceLayer,
};
use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use prost_reflect::DescriptorPool;
use tonic_health::pb::health_check_response::ServingStatus;
use tower::{ServiceBuilder, ServiceExt as _};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
};

use crate::{
    contracts::{Contracts, RouteSettings},
    edge::{Edge, JwksVerifier, VerifyToken},
    errors::ApiError,
    proxy::GrpcRouter,
    ratelimit::{RateLimiter, RateLimits},
    rest::Rest,
    upstream::{UpstreamUrls, Upstreams},
};

/// The gateway's name in metrics.
pub const SERVICE_NAME: &str = "gateway";

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
    /// `ASTRO_GATEWAY_ROUTE_TIMEOUTS_MS`: per-RPC deadlines overriding the default, as
    /// `ExportLogs=60000,GenerateInvoices=30000` (RPC method names). For a server-streaming
    /// RPC answered over REST this bounds the wait for its first message (until then the
    /// answer can still be a 504).
    pub route_timeouts: HashMap<String, Duration>,
    /// `ASTRO_GATEWAY_STREAM_TIMEOUT_MS`: the deadline of a whole server stream answered over
    /// REST (a long export), sent upstream as its `grpc-timeout`; never shorter than the
    /// route's own deadline. Past it the body is aborted. Default 10 min.
    pub stream_timeout: Duration,
    /// `ASTRO_GATEWAY_CORS_ORIGINS`: comma-separated origins allowed to call from a browser,
    /// or `*` (the default, for development).
    pub cors_origins: String,
    /// `ASTRO_GATEWAY_DRAIN_DELAY_MS`: after SIGTERM, how long `/readyz` says 503 while requests
    /// are still served, so load balancers stop routing here first (default 1 s, as the
    /// services').
    pub drain_delay: Duration,
    /// `ASTRO_GATEWAY_DRAIN_TIMEOUT_MS`: then, how long in-flight requests may take.
    pub drain_timeout: Duration,
    /// `ASTRO_GATEWAY_READY_CACHE_MS`: how long one `/readyz` answer is reused, so a storm of
    /// probes costs the upstreams one health check each per period (default 1 s).
    pub ready_cache: Duration,
    /// `ASTRO_GATEWAY_MAX_BODY_BYTES`: largest REST request body (default 1 MiB); larger is 413.
    pub max_body_bytes: usize,
    /// `ASTRO_GATEWAY_MAX_HEADER_BYTES`: largest total of request header names and values
    /// (default 16 KiB); larger is 431.
    pub max_header_bytes: usize,
    /// `ASTRO_GATEWAY_REDIS_URL`: CacheDB for the shared rate limits; unset: no rate limits.
    pub redis_url: Option<String>,
    /// `ASTRO_GATEWAY_RATE_LIMIT_{AUTH,CATALOGUE,WEBHOOK,DEFAULT}`: `N/period` or `off`.
    pub rate_limits: RateLimits,
    /// `ASTRO_GATEWAY_TRUSTED_PROXY_HOPS`: how many trusted proxies (load balancers) stand in
    /// front of the gateway; the client address is the `X-Forwarded-For` entry that many from
    /// the right. Default 0: the TCP peer is the client and the header is ignored.
    pub trusted_proxy_hops: usize,
    /// `ASTRO_GATEWAY_ADMIN_ADDR`: where `/metrics` (Prometheus text) is served; empty (the
    /// default) serves none. Never routed to from the public port.
    pub admin_addr: Option<SocketAddr>,
    /// `ASTRO_GATEWAY_WEB_DIR`: the built web apps (one directory per app in [`web::APPS`]),
    /// served under `/<app>/`; empty (the default) serves none.
    pub web_dir: Option<std::path::PathBuf>,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let env = Env::new("ASTRO_GATEWAY");
        let route_timeouts_text: String = env.or("ROUTE_TIMEOUTS_MS", String::new())?;
        let route_timeouts = parse_route_timeouts(&route_timeouts_text)
            .map_err(|reason| anyhow::anyhow!("{}: {reason}", env.variable("ROUTE_TIMEOUTS_MS")))?;
        let redis_url = env
            .secret("REDIS_URL")?
            .map(|url| url.expose().to_owned())
            .unwrap_or_default();
        Ok(Self {
            listen_addr: env.or("LISTEN_ADDR", ([127, 0, 0, 1], 8080).into())?,
            upstreams: UpstreamUrls {
                system: env.or("SYSTEM_URL", "http://127.0.0.1:50051".to_owned())?,
                agency: env.or("AGENCY_URL", "http://127.0.0.1:50052".to_owned())?,
                booking: env.or("BOOKING_URL", "http://127.0.0.1:50053".to_owned())?,
                finance: env.or("FINANCE_URL", "http://127.0.0.1:50054".to_owned())?,
                notify: env.or("NOTIFY_URL", "http://127.0.0.1:50055".to_owned())?,
                extra: Vec::new(),
            },
            upstream_timeout: env.millis_or("UPSTREAM_TIMEOUT_MS", Duration::from_secs(10))?,
            route_timeouts,
            stream_timeout: env.millis_or("STREAM_TIMEOUT_MS", Duration::from_secs(600))?,
            cors_origins: env.or("CORS_ORIGINS", "*".to_owned())?,
            drain_delay: env.millis_or("DRAIN_DELAY_MS", Duration::from_secs(1))?,
            drain_timeout: env.millis_or("DRAIN_TIMEOUT_MS", Duration::from_secs(10))?,
            ready_cache: env.millis_or("READY_CACHE_MS", Duration::from_secs(1))?,
            max_body_bytes: env.or("MAX_BODY_BYTES", 1024 * 1024)?,
            max_header_bytes: env.or("MAX_HEADER_BYTES", 16 * 1024)?,
            redis_url: Some(redis_url).filter(|url| !url.is_empty()),
            rate_limits: RateLimits::from_env(&env)?,
            trusted_proxy_hops: env.or("TRUSTED_PROXY_HOPS", 0)?,
            admin_addr: astro_shared::config::optional_address(&env, "ADMIN_ADDR")?,
            web_dir: Some(env.or("WEB_DIR", String::new())?)
                .filter(|dir| !dir.is_empty())
                .map(std::path::PathBuf::from),
        })
    }

    /// The longest deadline any upstream call of a route may have: a server stream's, or the
    /// longest per-RPC one.
    fn longest_deadline(&self) -> Duration {
        self.route_timeouts
            .values()
            .copied()
            .chain([self.upstream_timeout, self.stream_timeout])
            .max()
            .unwrap_or(self.upstream_timeout)
    }
}

fn parse_route_timeouts(text: &str) -> Result<HashMap<String, Duration>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (rpc, millis) = entry
                .split_once('=')
                .ok_or_else(|| format!("{entry:?} is not Rpc=milliseconds"))?;
            let millis: u64 = millis
                .trim()
                .parse()
                .map_err(|_| format!("{millis:?} is not milliseconds"))?;
            Ok((rpc.trim().to_owned(), Duration::from_millis(millis)))
        })
        .collect()
}

impl RouteSettings for Config {
    fn group(&self, rpc_name: &str) -> &'static str {
        ratelimit::group_of(rpc_name)
    }

    fn timeout(&self, rpc_name: &str) -> Duration {
        self.route_timeouts
            .get(rpc_name)
            .copied()
            .unwrap_or(self.upstream_timeout)
    }

    fn stream_timeout(&self, rpc_name: &str) -> Duration {
        self.stream_timeout.max(self.timeout(rpc_name))
    }
}

/// What an in-process test may swap: the contracts (a test's own descriptor set) and the
/// token verifier; and where the request metrics are counted.
pub struct AppParts {
    pub pool: DescriptorPool,
    /// `None`: the production [`JwksVerifier`] against the system upstream.
    pub verifier: Option<Arc<dyn VerifyToken>>,
    pub metrics: Arc<Metrics>,
}

impl AppParts {
    /// The production parts: every contract, and tokens verified against SystemAPI's JWKS.
    pub fn standard() -> anyhow::Result<Self> {
        Ok(Self {
            pool: contracts::descriptor_pool()?,
            verifier: None,
            metrics: Metrics::new(SERVICE_NAME),
        })
    }
}

/// Shared by every request behind one `Arc` (axum clones the state for each request).
struct GatewayState {
    upstreams: Upstreams,
    grpc: GrpcRouter,
    rest: Rest,
    openapi: Arc<String>,
    docs: Arc<String>,
    trusted_proxy_hops: usize,
    readiness: Arc<Readiness>,
    metrics: Arc<Metrics>,
    web: Option<web::WebApps>,
}

/// Set once SIGTERM arrives: `/readyz` answers 503 from then on.
static DRAINING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The last `/readyz` answer, reused for `ttl`.
struct Readiness {
    ttl: Duration,
    last: tokio::sync::Mutex<Option<(tokio::time::Instant, StatusCode, serde_json::Value)>>,
}

/// The gateway's HTTP application with the production parts (exposed for in-process tests).
pub fn app(config: &Config) -> anyhow::Result<Router> {
    app_with(config, AppParts::standard()?)
}

/// The gateway's HTTP application built from `parts`. Must run inside a Tokio runtime (the
/// CacheDB connection starts in the background).
pub fn app_with(config: &Config, parts: AppParts) -> anyhow::Result<Router> {
    let upstreams = Upstreams::connect(
        &config.upstreams,
        config.upstream_timeout,
        config.longest_deadline(),
    )?;
    let contracts = Arc::new(Contracts::load(
        parts.pool,
        &upstreams.service_names(),
        config,
    )?);
    let redis = match &config.redis_url {
        Some(url) => {
            let (redis, ready) = astro_shared::db::redis(url)?;
            tokio::spawn(ready);
            Some(redis)
        }
        None => {
            tracing::warn!(
                "ASTRO_GATEWAY_REDIS_URL is not set: no rate limits, and revoked tokens are \
                 refused only by the services"
            );
            None
        }
    };
    let limiter = redis.clone().map(|redis| {
        RateLimiter::new(
            redis,
            config.rate_limits.clone(),
            astro_shared::config::redis_key_prefix(),
        )
    });
    let verifier = match parts.verifier {
        Some(verifier) => verifier,
        None => {
            let system = upstreams
                .system_channel()
                .ok_or_else(|| anyhow::anyhow!("no SystemAPI upstream to fetch the JWKS from"))?;
            let denylist = redis.map(|redis| {
                astro_shared::auth::Denylist::new(redis, astro_shared::config::redis_key_prefix())
            });
            Arc::new(JwksVerifier(astro_shared::auth::TokenVerifier::remote(
                system, denylist,
            ))) as Arc<dyn VerifyToken>
        }
    };
    let edge = Edge::new(verifier, limiter);
    let document = openapi::document(&contracts);
    let state = GatewayState {
        grpc: GrpcRouter::new(
            upstreams.clone(),
            contracts.clone(),
            edge.clone(),
            config.trusted_proxy_hops,
        ),
        rest: Rest {
            contracts: contracts.clone(),
            upstreams: upstreams.clone(),
            edge,
            max_body_bytes: config.max_body_bytes,
            metrics: parts.metrics.clone(),
        },
        upstreams,
        docs: Arc::new(openapi::docs_page(&document)),
        openapi: Arc::new(document.to_string()),
        trusted_proxy_hops: config.trusted_proxy_hops,
        readiness: Arc::new(Readiness {
            ttl: config.ready_cache,
            last: tokio::sync::Mutex::new(None),
        }),
        metrics: parts.metrics,
        web: config.web_dir.clone().map(web::WebApps::load).transpose()?,
    };
    let max_header_bytes = config.max_header_bytes;
    let pool = contracts.pool.clone();
    let request_id = HeaderName::from_static("x-request-id");
    Ok(Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs))
        .fallback(grpc_or_rest)
        .with_state(Arc::new(state))
        // The REST handler enforces its own body limit (with a Status body); gRPC messages
        // are limited by the services.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let pool = pool.clone();
            async move { limit_headers(request, next, max_header_bytes, &pool).await }
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(cors(&config.cors_origins)?))
}

/// Binds and serves until SIGTERM, then lets in-flight requests finish.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let parts = AppParts::standard()?;
    if let Some(admin_addr) = config.admin_addr {
        // The gateway holds no service identity, so its counts are scraped, never reported to
        // SystemAPI's RecordMetrics (an internal RPC).
        let metrics = parts.metrics.clone();
        tokio::spawn(async move {
            if let Err(error) = metrics::serve_admin(admin_addr, metrics).await {
                tracing::error!(%error, "admin HTTP (/metrics) stopped");
            }
        });
    }
    let app = app_with(&config, parts)?;
    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {}: {error}", config.listen_addr))?;
    tracing::info!(address = %listener.local_addr()?, upstreams = ?config.upstreams, "gateway listening");
    let drain_timeout = config.drain_timeout;
    let drain_delay = config.drain_delay;
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    // Small gRPC frames must not wait for Nagle's algorithm and the peer's delayed ACK (about
    // 40 ms per call otherwise); axum does not set TCP_NODELAY on accepted sockets itself.
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    let serving = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        stop_signal().await;
        DRAINING.store(true, std::sync::atomic::Ordering::SeqCst);
        tracing::info!(
            drain_delay_ms = u64::try_from(drain_delay.as_millis()).unwrap_or(u64::MAX),
            "stop requested: /readyz says 503, draining"
        );
        tokio::time::sleep(drain_delay).await;
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

/// 431 when the request headers together exceed `max_bytes`.
async fn limit_headers(
    request: Request,
    next: Next,
    max_bytes: usize,
    pool: &DescriptorPool,
) -> Response {
    let total: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if total > max_bytes {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            tonic::Code::InvalidArgument,
            format!("request headers are larger than {max_bytes} bytes"),
        )
        .into_response_with(pool);
    }
    next.run(request).await
}

async fn openapi_json(State(state): State<Arc<GatewayState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        state.openapi.as_str().to_owned(),
    )
}

async fn docs(State(state): State<Arc<GatewayState>>) -> impl IntoResponse {
    Html(state.docs.as_str().to_owned())
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "alive" }))
}

/// 200 when every upstream reports SERVING, else 503; the body says which are not (never why:
/// transport errors are logged, not shown). Answers are reused for `READY_CACHE_MS`.
async fn readyz(State(state): State<Arc<GatewayState>>) -> impl IntoResponse {
    if DRAINING.load(std::sync::atomic::Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "ready": false, "draining": true })),
        );
    }
    let mut last = state.readiness.last.lock().await;
    if let Some((at, code, body)) = last.as_ref()
        && at.elapsed() < state.readiness.ttl
    {
        return (*code, Json(body.clone()));
    }
    let (code, body) = check_readiness(&state).await;
    *last = Some((tokio::time::Instant::now(), code, body.clone()));
    (code, Json(body))
}

async fn check_readiness(state: &GatewayState) -> (StatusCode, serde_json::Value) {
    let checks = health::check_all(&state.upstreams).await;
    let ready = checks
        .iter()
        .all(|(_, status)| matches!(status, Ok(ServingStatus::Serving)));
    let upstreams: serde_json::Map<_, _> = checks
        .into_iter()
        .map(|(upstream, status)| {
            let status = match status {
                Ok(status) => status.as_str_name().to_owned(),
                Err(error) => {
                    tracing::warn!(upstream = %upstream.name, %error, "upstream unreachable");
                    "UNREACHABLE".to_owned()
                }
            };
            (upstream.name.clone(), serde_json::Value::String(status))
        })
        .collect();
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        serde_json::json!({ "ready": ready, "upstreams": upstreams }),
    )
}

/// gRPC and grpc-web requests go to the proxy; a GET or HEAD under a web app's base path is
/// that app's file; anything else is REST.
async fn grpc_or_rest(State(state): State<Arc<GatewayState>>, mut request: Request) -> Response {
    let is_grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|content_type| content_type.starts_with("application/grpc"));
    if !is_grpc {
        if let Some(web) = &state.web {
            match web.serve(request).await {
                Ok(response) => return response,
                Err(not_web) => request = not_web,
            }
        }
        let client = proxy::client_address(
            request.extensions(),
            request.headers(),
            state.trusted_proxy_hops,
        );
        return state.rest.handle(request, client).await;
    }
    // Counted inside the grpc-web translation, where the gRPC status is still a header.
    let grpc = ServiceBuilder::new()
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(MetricsLayer::new(state.metrics.clone()))
        .layer(GrpcServerTraceLayer)
        .service(state.grpc.clone());
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
