//! Logs and traces. Every process logs JSON lines to stdout and, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, exports its spans over OTLP/gRPC. W3C trace context is
//! taken from incoming request headers (gRPC metadata) and put on every outgoing call, so one
//! request through the gateway and several services is one trace.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use opentelemetry::{
    KeyValue, global,
    propagation::{Extractor, Injector},
    trace::TracerProvider as _,
};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    runtime,
    trace::{SdkTracerProvider, span_processor_with_async_runtime::BatchSpanProcessor},
};
use tracing::{Instrument as _, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::{EnvFilter, layer::SubscriberExt as _, util::SubscriberInitExt as _};

/// Keeps the tracer provider alive; call [`TelemetryGuard::shutdown`] before exiting so the
/// last spans are exported.
#[must_use = "dropping the guard early loses the spans not yet exported"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl TelemetryGuard {
    /// Flushes and stops the exporter. Blocking, so it runs on a blocking thread.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(error)) = flushed {
            eprintln!("telemetry shutdown: {error}");
        }
    }
}

/// Installs logging and tracing for the process named `service_name` (e.g. `booking`).
///
/// Must be called inside the Tokio runtime: the span exporter runs on it (the SDK's default
/// thread-based processor has no Tokio reactor, which the tonic OTLP client needs).
pub fn init(service_name: &'static str) -> anyhow::Result<TelemetryGuard> {
    global::set_text_map_propagator(TraceContextPropagator::new());

    let resource = Resource::builder()
        .with_service_name(format!("astro-{service_name}"))
        .with_attribute(KeyValue::new("service.namespace", "astrobookings"))
        .build();
    let mut provider_builder = SdkTracerProvider::builder().with_resource(resource);
    let otlp_endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|endpoint| !endpoint.is_empty());
    if let Some(endpoint) = &otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()?;
        provider_builder = provider_builder
            .with_span_processor(BatchSpanProcessor::builder(exporter, runtime::Tokio).build());
    }
    // Without an exporter spans are still created, so trace ids propagate through this
    // process even when only its neighbours export.
    let provider = provider_builder.build();
    global::set_tracer_provider(provider.clone());
    let otel_layer = tracing_opentelemetry::layer().with_tracer(provider.tracer(service_name));

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter).with(otel_layer);
    if std::env::var("ASTRO_LOG_FORMAT").as_deref() == Ok("pretty") {
        registry.with(tracing_subscriber::fmt::layer()).try_init()?;
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init()?;
    }
    tracing::info!(
        service = service_name,
        otlp_endpoint = otlp_endpoint
            .as_deref()
            .unwrap_or("(none: spans not exported)"),
        "telemetry initialised"
    );
    Ok(TelemetryGuard { provider })
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Makes `span` a child of the trace context carried by `headers`, if any.
pub fn adopt_remote_parent(span: &Span, headers: &HeaderMap) {
    let parent =
        global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)));
    // An invalid or absent context leaves the span as a new root, which is what we want.
    let _ = span.set_parent(parent);
}

/// Makes `span` a child of a stored W3C `traceparent` (from a change-log or outbox row), so
/// work done later for a request joins that request's trace. Empty or malformed: a new root.
pub fn adopt_traceparent(span: &Span, traceparent: &str) {
    if let Ok(value) = http::HeaderValue::from_str(traceparent) {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", value);
        adopt_remote_parent(span, &headers);
    }
}

/// Writes the context of `span` (`traceparent`, `tracestate`) into outgoing `headers`.
pub fn inject_context(span: &Span, headers: &mut HeaderMap) {
    let context = span.context();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(headers));
    });
}

/// The trace id of `span` as 32 hex digits, for logs and stored records.
pub fn trace_id(span: &Span) -> String {
    use opentelemetry::trace::TraceContextExt as _;
    span.context().span().span_context().trace_id().to_string()
}

/// A tower layer for gRPC servers: one `SERVER` span per request, child of the caller's trace
/// context, named after the RPC path.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcServerTraceLayer;

impl<S> tower::Layer<S> for GrpcServerTraceLayer {
    type Service = GrpcServerTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcServerTrace { inner }
    }
}

/// See [`GrpcServerTraceLayer`].
#[derive(Debug, Clone)]
pub struct GrpcServerTrace<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for GrpcServerTrace<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let span = request_span(&request, "server");
        let response = span.in_scope(|| self.inner.call(request));
        Box::pin(
            async move {
                let response = response.await;
                if let Ok(response) = &response {
                    record_trailers_only_status(response.headers());
                }
                response
            }
            .instrument(span),
        )
    }
}

/// The span of one gRPC request as seen by this process (`kind` is `server` or `client`),
/// already attached to the remote parent found in the request headers.
pub fn request_span<B>(request: &Request<B>, kind: &'static str) -> Span {
    let path = request.uri().path();
    let (rpc_service, rpc_method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or(("", path));
    let request_id = request_id(request.headers());
    let span = tracing::info_span!(
        "grpc.request",
        otel.name = %path,
        otel.kind = kind,
        rpc.system = "grpc",
        rpc.service = rpc_service,
        rpc.method = rpc_method,
        request_id,
        rpc.grpc.status_code = tracing::field::Empty,
    );
    adopt_remote_parent(&span, request.headers());
    span
}

/// The `x-request-id` of a request (the gateway sets one on every request), or empty.
pub fn request_id(headers: &HeaderMap) -> &str {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

/// A failure answered before any message (trailers-only) carries `grpc-status` in the headers.
fn record_trailers_only_status(headers: &HeaderMap) {
    if let Some(code) = headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
    {
        Span::current().record("rpc.grpc.status_code", code);
    }
}

/// An error and all its sources on one line (`a: b: c`), for logs.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    causes(error)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// An error followed by its sources, outermost first.
pub fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |cause| cause.source())
}

/// The W3C `traceparent` of the current span, to store with records whose consequences should
/// join this trace later (outbox rows, change log).
pub fn current_traceparent() -> String {
    let mut headers = HeaderMap::new();
    inject_context(&Span::current(), &mut headers);
    headers
        .get("traceparent")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
