//! Request metrics of one process: a tower layer on every gRPC server counts requests by RPC
//! and status code and measures their latency. The totals are served as Prometheus text on the
//! admin port (`/metrics`, what Kubernetes scrapes); each window's share is sent to SystemAPI
//! as `SystemMetric`s (`RecordMetrics`), so an operator without Prometheus still sees rates,
//! error ratios and percentiles.
//!
//! Latency is kept in fixed buckets (no per-request samples), so memory stays flat under load
//! and a percentile is read by interpolating inside its bucket.

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use astro_proto::astrobookings::{
    common::v1::InstanceInfo,
    system::v1::{RecordMetricsRequest, SystemMetric},
};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use http::{Request, Response};

use crate::convert::timestamp;

/// Upper bounds of the latency buckets in milliseconds; one more bucket holds the rest.
const BUCKETS_MS: [f64; 26] = [
    0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 200.0,
    300.0, 500.0, 750.0, 1_000.0, 1_500.0, 2_000.0, 3_000.0, 5_000.0, 10_000.0, 30_000.0,
];

/// Codes that mean the server failed the call (the error ratio); the others (NOT_FOUND,
/// INVALID_ARGUMENT, …) are the caller's mistakes answered correctly.
const SERVER_ERRORS: [tonic::Code; 6] = [
    tonic::Code::Unknown,
    tonic::Code::DeadlineExceeded,
    tonic::Code::Unimplemented,
    tonic::Code::Internal,
    tonic::Code::Unavailable,
    tonic::Code::DataLoss,
];

/// Latencies of one RPC, bucketed.
#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: [u64; BUCKETS_MS.len() + 1],
    sum_ms: f64,
}

impl Histogram {
    fn observe(&mut self, millis: f64) {
        let bucket = BUCKETS_MS
            .iter()
            .position(|bound| millis <= *bound)
            .unwrap_or(BUCKETS_MS.len());
        self.counts[bucket] += 1;
        self.sum_ms += millis;
    }

    fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The `q` quantile (0..=1), interpolated linearly inside its bucket; 0 when empty.
    fn quantile(&self, q: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return 0.0;
        }
        #[allow(clippy::cast_precision_loss)] // counts stay far below 2^52
        let rank = q * total as f64;
        let mut seen = 0u64;
        for (bucket, count) in self.counts.iter().enumerate() {
            #[allow(clippy::cast_precision_loss)]
            let reached = (seen + count) as f64;
            if *count > 0 && reached >= rank {
                let lower = if bucket == 0 {
                    0.0
                } else {
                    BUCKETS_MS[bucket - 1]
                };
                let Some(upper) = BUCKETS_MS.get(bucket) else {
                    // Beyond the last bound: the bound is the best honest answer.
                    return lower;
                };
                #[allow(clippy::cast_precision_loss)]
                let inside = (rank - seen as f64) / *count as f64;
                return lower + (upper - lower) * inside.clamp(0.0, 1.0);
            }
            seen += count;
        }
        BUCKETS_MS[BUCKETS_MS.len() - 1]
    }
}

/// Counts and latencies of one RPC: since the process started, and in the current window.
#[derive(Debug, Clone, Default)]
struct MethodStats {
    codes: BTreeMap<i32, u64>,
    latency: Histogram,
    window_codes: BTreeMap<i32, u64>,
    window_latency: Histogram,
}

/// The request metrics of this process.
#[derive(Debug)]
pub struct Metrics {
    service: &'static str,
    methods: Mutex<BTreeMap<String, MethodStats>>,
}

impl Metrics {
    /// Empty metrics of `service` (its display name, e.g. "booking-api").
    pub fn new(service: &'static str) -> Arc<Self> {
        Arc::new(Self {
            service,
            methods: Mutex::new(BTreeMap::new()),
        })
    }

    /// Counts one finished call of `method` (its gRPC path).
    pub fn record(&self, method: &str, code: tonic::Code, elapsed: Duration) {
        let millis = elapsed.as_secs_f64() * 1_000.0;
        let Ok(mut methods) = self.methods.lock() else {
            return;
        };
        let stats = match methods.get_mut(method) {
            Some(stats) => stats,
            None => methods.entry(method.to_owned()).or_default(),
        };
        *stats.codes.entry(code as i32).or_default() += 1;
        *stats.window_codes.entry(code as i32).or_default() += 1;
        stats.latency.observe(millis);
        stats.window_latency.observe(millis);
    }

    /// The totals since start in the Prometheus text format (version 0.0.4).
    pub fn prometheus(&self) -> String {
        let methods = self
            .methods
            .lock()
            .map(|methods| methods.clone())
            .unwrap_or_default();
        let service = self.service;
        let mut text = String::new();
        text.push_str(
            "# HELP astro_grpc_server_requests_total gRPC calls handled, by RPC and status code.\n\
             # TYPE astro_grpc_server_requests_total counter\n",
        );
        for (method, stats) in &methods {
            for (code, count) in &stats.codes {
                let _ = writeln!(
                    text,
                    "astro_grpc_server_requests_total{{service=\"{service}\",method=\"{method}\",code=\"{}\"}} {count}",
                    code_name(*code)
                );
            }
        }
        text.push_str(
            "# HELP astro_grpc_server_request_duration_seconds Time from request to the end of its answer, by RPC.\n\
             # TYPE astro_grpc_server_request_duration_seconds histogram\n",
        );
        for (method, stats) in &methods {
            let labels = format!("service=\"{service}\",method=\"{method}\"");
            let mut cumulative = 0u64;
            for (bound, count) in BUCKETS_MS.iter().zip(&stats.latency.counts) {
                cumulative += count;
                let _ = writeln!(
                    text,
                    "astro_grpc_server_request_duration_seconds_bucket{{{labels},le=\"{}\"}} {cumulative}",
                    bound / 1_000.0
                );
            }
            let total = stats.latency.count();
            let _ = writeln!(
                text,
                "astro_grpc_server_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {total}\n\
                 astro_grpc_server_request_duration_seconds_sum{{{labels}}} {}\n\
                 astro_grpc_server_request_duration_seconds_count{{{labels}}} {total}",
                stats.latency.sum_ms / 1_000.0
            );
        }
        text
    }

    /// The window `[start, end)` as `SystemMetric`s, one set per RPC called in it, and a new
    /// window begun. `covered` is the part of the window this process was up (its first window
    /// starts late), the divisor of the rates.
    pub fn take_window(
        &self,
        instance: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        covered: Duration,
    ) -> Vec<SystemMetric> {
        let windows: Vec<(String, BTreeMap<i32, u64>, Histogram)> = match self.methods.lock() {
            Ok(mut methods) => methods
                .iter_mut()
                .filter(|(_, stats)| !stats.window_codes.is_empty())
                .map(|(method, stats)| {
                    (
                        method.clone(),
                        std::mem::take(&mut stats.window_codes),
                        std::mem::take(&mut stats.window_latency),
                    )
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        let seconds = covered.as_secs_f64().max(0.001);
        let mut metrics = Vec::new();
        for (method, codes, latency) in windows {
            let labels = |extra: Option<(&str, String)>| {
                let mut labels = HashMap::from([
                    ("method".to_owned(), method.clone()),
                    ("instance".to_owned(), instance.to_owned()),
                ]);
                if let Some((key, value)) = extra {
                    labels.insert(key.to_owned(), value);
                }
                labels
            };
            let metric = |name: &str, value: f64, unit: &str, labels| SystemMetric {
                service: self.service.to_owned(),
                name: name.to_owned(),
                value,
                unit: unit.to_owned(),
                labels,
                window_start: Some(timestamp(start)),
                window_end: Some(timestamp(end)),
            };
            let requests: u64 = codes.values().sum();
            let errors: u64 = codes
                .iter()
                .filter(|(code, _)| SERVER_ERRORS.iter().any(|error| *error as i32 == **code))
                .map(|(_, count)| count)
                .sum();
            #[allow(clippy::cast_precision_loss)] // counts stay far below 2^52
            let (requests_f, errors_f) = (requests as f64, errors as f64);
            metrics.push(metric("grpc.requests", requests_f, "count", labels(None)));
            metrics.push(metric("grpc.errors", errors_f, "count", labels(None)));
            metrics.push(metric(
                "grpc.requests_per_second",
                requests_f / seconds,
                "1/s",
                labels(None),
            ));
            metrics.push(metric(
                "grpc.error_ratio",
                if requests == 0 {
                    0.0
                } else {
                    errors_f / requests_f
                },
                "ratio",
                labels(None),
            ));
            for (name, q) in [
                ("grpc.latency_p50_ms", 0.50),
                ("grpc.latency_p95_ms", 0.95),
                ("grpc.latency_p99_ms", 0.99),
            ] {
                metrics.push(metric(name, latency.quantile(q), "ms", labels(None)));
            }
            for (code, count) in codes.iter().filter(|(code, _)| **code != 0) {
                #[allow(clippy::cast_precision_loss)]
                let count = *count as f64;
                metrics.push(metric(
                    "grpc.responses",
                    count,
                    "count",
                    labels(Some(("code", code_name(*code)))),
                ));
            }
        }
        metrics
    }
}

/// `NOT_FOUND` for 5: the name gRPC gives a status code.
fn code_name(code: i32) -> String {
    let name = format!("{:?}", tonic::Code::from_i32(code));
    // Debug names are CamelCase (`NotFound`); gRPC spells them SCREAMING_SNAKE_CASE.
    let mut upper = String::with_capacity(name.len() + 4);
    for (index, letter) in name.chars().enumerate() {
        if letter.is_ascii_uppercase() && index > 0 {
            upper.push('_');
        }
        upper.push(letter.to_ascii_uppercase());
    }
    upper
}

/// Counts every call through the wrapped gRPC server into [`Metrics`].
#[derive(Debug, Clone)]
pub struct MetricsLayer {
    metrics: Arc<Metrics>,
}

impl MetricsLayer {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// See [`MetricsLayer`].
#[derive(Debug, Clone)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for MetricsService<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = Response<MeteredBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let call = PendingCall {
            metrics: self.metrics.clone(),
            method: request.uri().path().to_owned(),
            started: Instant::now(),
            header_code: None,
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            match response.await {
                Ok(response) => {
                    // A failed call answers "trailers only": its status is in the headers.
                    // Otherwise the status comes in the trailers, at the end of the body.
                    let header_code = grpc_status(response.headers());
                    Ok(response.map(|inner| MeteredBody {
                        inner,
                        call: Some(PendingCall {
                            header_code,
                            ..call
                        }),
                    }))
                }
                Err(error) => {
                    call.finish(tonic::Code::Unknown);
                    Err(error)
                }
            }
        })
    }
}

/// The `grpc-status` of a header or trailer map, if it has one.
fn grpc_status(headers: &http::HeaderMap) -> Option<tonic::Code> {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map(tonic::Code::from_i32)
}

/// A call whose answer is still being sent.
struct PendingCall {
    metrics: Arc<Metrics>,
    method: String,
    started: Instant,
    /// The status of a trailers-only answer.
    header_code: Option<tonic::Code>,
}

impl PendingCall {
    fn finish(self, code: tonic::Code) {
        self.metrics
            .record(&self.method, code, self.started.elapsed());
    }
}

pin_project_lite::pin_project! {
    /// An answer's body that counts its call when it ends: with the status of its trailers (a
    /// stream failing midway is counted with its error), or CANCELLED if the client went away
    /// before the end.
    pub struct MeteredBody<B> {
        #[pin]
        inner: B,
        call: Option<PendingCall>,
    }

    impl<B> PinnedDrop for MeteredBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(call) = this.project().call.take() {
                let code = call.header_code.unwrap_or(tonic::Code::Cancelled);
                call.finish(code);
            }
        }
    }
}

impl<B: http_body::Body> http_body::Body for MeteredBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        let code = match &polled {
            Poll::Ready(Some(Ok(frame))) => frame.trailers_ref().and_then(grpc_status),
            Poll::Ready(Some(Err(_))) => Some(tonic::Code::Unknown),
            // Ended without trailers: a trailers-only answer, or OK.
            Poll::Ready(None) => Some(
                this.call
                    .as_ref()
                    .and_then(|call| call.header_code)
                    .unwrap_or(tonic::Code::Ok),
            ),
            Poll::Pending => None,
        };
        if let Some(code) = code
            && let Some(call) = this.call.take()
        {
            call.finish(code);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `/metrics` (Prometheus text) on the admin address until the process ends. The port
/// is for the cluster's scraper, not for the public: the gateway never routes to it.
pub async fn serve_admin(address: SocketAddr, metrics: Arc<Metrics>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| {
            anyhow::anyhow!("cannot listen on the admin address {address}: {error}")
        })?;
    tracing::info!(address = %listener.local_addr()?, "admin HTTP listening (/metrics)");
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    metrics.prometheus(),
                )
            }
        }),
    );
    axum::serve(listener, app).await?;
    Ok(())
}

/// Where a process sends its windows: SystemAPI's `RecordMetrics`, or SystemAPI's own store.
pub type MetricsSink =
    Arc<dyn Fn(RecordMetricsRequest) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// A sink that sends each batch to SystemAPI's `RecordMetrics` over `channel` (a channel to
/// SystemAPI signed with this process's identity).
pub fn record_metrics_at(channel: crate::grpc_client::TracedChannel) -> MetricsSink {
    use astro_proto::astrobookings::system::v1::system_internal_service_client::SystemInternalServiceClient;
    let client = SystemInternalServiceClient::new(channel);
    Arc::new(move |request| {
        let mut client = client.clone();
        Box::pin(async move {
            client
                .record_metrics(request)
                .await
                .map(drop)
                .map_err(|status| format!("{:?}: {}", status.code(), status.message()))
        })
    })
}

/// Windows kept while SystemAPI does not take them; older ones are dropped (Prometheus still
/// has the totals).
const MAX_PENDING_WINDOWS: usize = 10;

/// Sends one batch per window, at wall-clock multiples of `window` (so every replica's windows
/// line up), starting with an empty one that says the instance is up. A batch SystemAPI does
/// not take is sent again with the next.
pub async fn report_windows(
    metrics: Arc<Metrics>,
    window: Duration,
    instance: InstanceInfo,
    started: DateTime<Utc>,
    sink: MetricsSink,
) {
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX).max(1);
    let mut pending: Vec<Vec<SystemMetric>> = vec![Vec::new()];
    let mut window_start = started;
    loop {
        let batch: Vec<SystemMetric> = pending.iter().flatten().cloned().collect();
        let request = RecordMetricsRequest {
            metrics: batch,
            reporter: Some(instance.clone()),
        };
        match sink(request).await {
            Ok(()) => pending.clear(),
            Err(error) => {
                tracing::warn!(%error, pending_windows = pending.len(), "metrics not recorded; sending them with the next window");
                if pending.len() > MAX_PENDING_WINDOWS {
                    pending.remove(0);
                }
            }
        }
        let now = Utc::now().timestamp_millis();
        let next_end = (now / window_ms + 1) * window_ms;
        let wait = u64::try_from(next_end - now).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let end = DateTime::from_timestamp_millis(next_end).unwrap_or_else(Utc::now);
        let aligned_start = DateTime::from_timestamp_millis(next_end - window_ms).unwrap_or(end);
        let covered = (end - aligned_start.max(window_start))
            .to_std()
            .unwrap_or(window);
        let taken = metrics.take_window(&instance.instance, aligned_start, end, covered);
        pending.push(taken);
        window_start = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_fall_in_the_bucket_of_their_rank() {
        let mut histogram = Histogram::default();
        for _ in 0..90 {
            histogram.observe(4.0);
        }
        for _ in 0..10 {
            histogram.observe(400.0);
        }
        let p50 = histogram.quantile(0.5);
        assert!((3.0..=5.0).contains(&p50), "p50 {p50}");
        let p99 = histogram.quantile(0.99);
        assert!((300.0..=500.0).contains(&p99), "p99 {p99}");
        assert!(Histogram::default().quantile(0.99).abs() < f64::EPSILON);
    }

    #[test]
    fn a_window_counts_its_calls_then_starts_empty() {
        let metrics = Metrics::new("booking-api");
        let method = "/astrobookings.booking.v1.BookingService/GetLaunch";
        for _ in 0..3 {
            metrics.record(method, tonic::Code::Ok, Duration::from_millis(2));
        }
        metrics.record(method, tonic::Code::NotFound, Duration::from_millis(1));
        metrics.record(method, tonic::Code::Internal, Duration::from_millis(1));
        let now = Utc::now();
        let window = metrics.take_window("pod-1", now, now, Duration::from_secs(10));
        let value = |name: &str| {
            window
                .iter()
                .find(|metric| metric.name == name)
                .map(|metric| metric.value)
        };
        assert_eq!(value("grpc.requests"), Some(5.0));
        assert_eq!(value("grpc.errors"), Some(1.0));
        assert_eq!(value("grpc.error_ratio"), Some(0.2));
        assert_eq!(value("grpc.requests_per_second"), Some(0.5));
        let codes: Vec<_> = window
            .iter()
            .filter(|metric| metric.name == "grpc.responses")
            .map(|metric| metric.labels["code"].clone())
            .collect();
        assert_eq!(codes, ["NOT_FOUND", "INTERNAL"]);
        assert!(
            metrics
                .take_window("pod-1", now, now, Duration::from_secs(10))
                .is_empty()
        );
        let text = metrics.prometheus();
        assert!(text.contains(&format!(
            "astro_grpc_server_requests_total{{service=\"booking-api\",method=\"{method}\",code=\"OK\"}} 3"
        )));
        assert!(text.contains("_count{service=\"booking-api\",method=\"/astrobookings.booking.v1.BookingService/GetLaunch\"} 5"));
    }

    type Frames = Vec<http_body::Frame<bytes::Bytes>>;
    type TestBody = http_body_util::StreamBody<
        futures::stream::Iter<
            std::vec::IntoIter<Result<http_body::Frame<bytes::Bytes>, std::convert::Infallible>>,
        >,
    >;

    /// Calls `method` through the layer on a service answering `frames`, with `header_status`
    /// as a trailers-only status, and returns the metered body unread.
    async fn metered_answer(
        metrics: &Arc<Metrics>,
        method: &'static str,
        header_status: Option<&'static str>,
        frames: Frames,
    ) -> MeteredBody<TestBody> {
        use tower::{Layer as _, ServiceExt as _};
        // Frames are not `Clone`; the service is called once, so it takes them.
        let frames = Mutex::new(Some(frames));
        let service =
            MetricsLayer::new(metrics.clone()).layer(tower::service_fn(move |_: Request<()>| {
                let frames = frames
                    .lock()
                    .ok()
                    .and_then(|mut frames| frames.take())
                    .unwrap_or_default();
                async move {
                    let mut response = Response::new(http_body_util::StreamBody::new(
                        futures::stream::iter(frames.into_iter().map(Ok).collect::<Vec<_>>()),
                    ));
                    if let Some(status) = header_status {
                        response
                            .headers_mut()
                            .insert("grpc-status", http::HeaderValue::from_static(status));
                    }
                    Ok::<_, std::convert::Infallible>(response)
                }
            }));
        let request = Request::builder().uri(method).body(()).expect("request");
        match service.oneshot(request).await {
            Ok(response) => response.into_body(),
            Err(never) => match never {},
        }
    }

    fn trailers(status: &'static str) -> http_body::Frame<bytes::Bytes> {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static(status));
        http_body::Frame::trailers(trailers)
    }

    fn count(metrics: &Metrics, method: &str, code: &str) -> bool {
        metrics.prometheus().contains(&format!(
            "astro_grpc_server_requests_total{{service=\"test\",method=\"{method}\",code=\"{code}\"}} 1\n"
        ))
    }

    #[tokio::test]
    async fn an_answer_is_counted_when_it_ends_with_the_status_it_ended_with() {
        use http_body_util::BodyExt as _;
        let metrics = Metrics::new("test");
        let data = || http_body::Frame::data(bytes::Bytes::from_static(b"entry"));

        // A stream that fails midway sends its error in the trailers, after some entries.
        let body = metered_answer(
            &metrics,
            "/s/Export",
            None,
            vec![data(), data(), trailers("5")],
        )
        .await;
        assert!(
            metrics
                .prometheus()
                .lines()
                .all(|line| !line.starts_with("astro_grpc_server_requests_total")),
            "nothing is counted before the answer ends"
        );
        body.collect().await.expect("body");
        assert!(
            count(&metrics, "/s/Export", "NOT_FOUND"),
            "{}",
            metrics.prometheus()
        );

        let body = metered_answer(&metrics, "/s/Get", None, vec![data(), trailers("0")]).await;
        body.collect().await.expect("body");
        assert!(count(&metrics, "/s/Get", "OK"));

        // A trailers-only answer carries its status in the headers.
        let body = metered_answer(&metrics, "/s/Denied", Some("7"), vec![]).await;
        body.collect().await.expect("body");
        assert!(count(&metrics, "/s/Denied", "PERMISSION_DENIED"));

        // A client that leaves before the end is a cancelled call, counted once.
        let mut body = metered_answer(
            &metrics,
            "/s/Left",
            None,
            vec![data(), data(), trailers("0")],
        )
        .await;
        body.frame().await.expect("one frame").expect("data");
        drop(body);
        assert!(
            count(&metrics, "/s/Left", "CANCELLED"),
            "{}",
            metrics.prometheus()
        );
        assert!(
            !metrics
                .prometheus()
                .contains("method=\"/s/Left\",code=\"OK\"")
        );
    }
}
