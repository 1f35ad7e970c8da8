//! The load tool: workers that call one path until a deadline, what each call came back with,
//! and the numbers of a phase (requests/s, p50, p99, outcomes).

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::{Buf as _, Bytes};
use http_body_util::{BodyExt as _, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use tonic::Code;
use tonic_types::StatusExt as _;

/// splitmix64: enough randomness to spread requests, without another dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(worker: usize) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        Self(u64::from(nanos) ^ ((worker as u64 + 1) << 32))
    }

    pub fn below(&mut self, bound: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z % bound as u64) as usize
    }
}

/// What one request came back with.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Confirmed,
    PendingPayment,
    SoldOut,
    SeatLimit,
    Ok,
    /// Anything else, by gRPC code and reason (or HTTP status).
    Error(String),
}

impl Outcome {
    pub fn label(&self) -> String {
        match self {
            Self::Confirmed => "confirmed".to_owned(),
            Self::PendingPayment => "pending payment".to_owned(),
            Self::SoldOut => "sold out".to_owned(),
            Self::SeatLimit => "seat limit".to_owned(),
            Self::Ok => "ok".to_owned(),
            Self::Error(what) => format!("error {what}"),
        }
    }

    fn refused(code: Code, reason: &str) -> Self {
        match (code, reason) {
            (Code::FailedPrecondition, "SEATS_UNAVAILABLE") => Self::SoldOut,
            (Code::FailedPrecondition, "SEAT_LIMIT_EXCEEDED") => Self::SeatLimit,
            (code, "") => Self::Error(format!("{code:?}")),
            (code, reason) => Self::Error(format!("{code:?} {reason}")),
        }
    }

    pub fn booked(status: &str) -> Self {
        match status {
            "BOOKING_STATUS_CONFIRMED" => Self::Confirmed,
            "BOOKING_STATUS_PENDING_PAYMENT" => Self::PendingPayment,
            other => Self::Error(format!("booking {other}")),
        }
    }
}

/// An outcome, and the message of an error.
pub type Answer = (Outcome, Option<String>);

pub fn grpc_error(status: &tonic::Status) -> Answer {
    let reason = status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default();
    (
        Outcome::refused(status.code(), &reason),
        Some(status.message().to_owned()),
    )
}

pub fn transport_error(error: &anyhow::Error) -> Answer {
    (
        Outcome::Error("transport".to_owned()),
        Some(format!("{error:#}")),
    )
}

/// A REST error body (`google.rpc.Status` as JSON) as an outcome.
pub fn rest_error(status: u16, json: &serde_json::Value) -> Answer {
    let Some(code) = json["code"]
        .as_i64()
        .and_then(|code| i32::try_from(code).ok())
    else {
        return (Outcome::Error(format!("HTTP {status}")), None);
    };
    let reason = json["details"]
        .as_array()
        .and_then(|details| {
            details
                .iter()
                .find_map(|detail| detail["reason"].as_str().map(str::to_owned))
        })
        .unwrap_or_default();
    (
        Outcome::refused(Code::from(code), &reason),
        Some(json["message"].as_str().unwrap_or_default().to_owned()),
    )
}

/// One call's latency and outcome.
pub struct Sample {
    pub latency: Duration,
    pub outcome: Outcome,
    /// The message of an error, to show one per kind.
    pub message: Option<String>,
    /// Seats of a confirmed booking.
    pub seats: i64,
}

impl Sample {
    pub fn of(started: Instant, (outcome, message): Answer) -> Self {
        Self {
            latency: started.elapsed(),
            outcome,
            message,
            seats: 0,
        }
    }
}

/// An HTTP/1.1 client on the gateway that keeps its connections (keep-alive), as a real
/// client would: REST calls and grpc-web calls.
#[derive(Clone)]
pub struct Http {
    client: Arc<Client<HttpConnector, Full<Bytes>>>,
    base: String,
}

/// A grpc-web answer: its gRPC status (trailer frame, or headers when trailers-only).
pub struct GrpcWebAnswer {
    pub grpc_status: Option<i32>,
    pub grpc_message: String,
}

impl Http {
    pub fn new(gateway: SocketAddr) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Self {
            client: Arc::new(Client::builder(TokioExecutor::new()).build(connector)),
            base: format!("http://{gateway}"),
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> anyhow::Result<(http::response::Parts, Bytes)> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body))?;
        let response =
            tokio::time::timeout(Duration::from_secs(30), self.client.request(request)).await??;
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await?.to_bytes();
        Ok((parts, bytes))
    }

    /// A REST call: the HTTP status and the JSON body (`Null` when not JSON).
    pub async fn rest(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if body.is_some() {
            all.push(("content-type", "application/json"));
        }
        let (parts, bytes) = self
            .send(method, path, &all, Bytes::from(body.unwrap_or_default()))
            .await?;
        Ok((
            parts.status.as_u16(),
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        ))
    }

    /// A binary grpc-web call of `path` (`/package.Service/Method`) with one encoded message,
    /// as a browser library sends it.
    pub async fn grpc_web(&self, path: &str, message: &[u8]) -> anyhow::Result<GrpcWebAnswer> {
        let mut frame = Vec::with_capacity(message.len() + 5);
        frame.push(0);
        frame.extend_from_slice(&u32::try_from(message.len())?.to_be_bytes());
        frame.extend_from_slice(message);
        let content_type = "application/grpc-web+proto";
        let headers = [
            ("content-type", content_type),
            ("accept", content_type),
            ("x-grpc-web", "1"),
        ];
        let (parts, mut body) = self
            .send("POST", path, &headers, Bytes::from(frame))
            .await?;
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let mut answer = GrpcWebAnswer {
            grpc_status: header("grpc-status").and_then(|value| value.parse().ok()),
            grpc_message: header("grpc-message").unwrap_or_default(),
        };
        // Frames: flag byte, 4-byte length, payload; flag 0x80 is the trailer block.
        while body.remaining() >= 5 {
            let flag = body.get_u8();
            let length = body.get_u32() as usize;
            anyhow::ensure!(body.remaining() >= length, "truncated grpc-web frame");
            let payload = body.split_to(length);
            if flag & 0x80 != 0 {
                for line in String::from_utf8_lossy(&payload).split("\r\n") {
                    if let Some((name, value)) = line.split_once(':') {
                        match name.trim().to_ascii_lowercase().as_str() {
                            "grpc-status" => answer.grpc_status = value.trim().parse().ok(),
                            "grpc-message" => answer.grpc_message = value.trim().to_owned(),
                            _ => {}
                        }
                    }
                }
            }
        }
        Ok(answer)
    }
}

/// A grpc-web answer as an outcome.
pub fn grpc_web_outcome(answer: anyhow::Result<GrpcWebAnswer>) -> Answer {
    match answer {
        Ok(GrpcWebAnswer {
            grpc_status: Some(0),
            ..
        }) => (Outcome::Ok, None),
        Ok(GrpcWebAnswer {
            grpc_status,
            grpc_message,
        }) => (
            Outcome::Error(grpc_status.map_or_else(
                || "no grpc-status".to_owned(),
                |code| format!("{:?}", Code::from(code)),
            )),
            Some(grpc_message),
        ),
        Err(error) => transport_error(&error),
    }
}

/// The numbers of one run of one phase.
pub struct Run {
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
    pub outcomes: BTreeMap<Outcome, usize>,
    /// The first error message of each kind.
    pub messages: BTreeMap<Outcome, String>,
    pub seats_confirmed: i64,
}

/// `concurrency` workers run `worker(index, deadline)` until `duration` has passed.
pub async fn run<F, Fut>(concurrency: usize, duration: Duration, worker: F) -> Run
where
    F: Fn(usize, Instant) -> Fut,
    Fut: std::future::Future<Output = Vec<Sample>> + Send + 'static,
{
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|index| tokio::spawn(worker(index, deadline)))
        .collect();
    let mut run = Run {
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        outcomes: BTreeMap::new(),
        messages: BTreeMap::new(),
        seats_confirmed: 0,
    };
    for worker in workers {
        let Ok(samples) = worker.await else {
            continue;
        };
        for sample in samples {
            run.latencies.push(sample.latency);
            run.seats_confirmed += sample.seats;
            if let Some(message) = sample.message {
                run.messages
                    .entry(sample.outcome.clone())
                    .or_insert(message);
            }
            *run.outcomes.entry(sample.outcome).or_default() += 1;
        }
    }
    // Until the last request came back: the slowest ones end after the deadline.
    run.elapsed = started.elapsed();
    run.latencies.sort();
    run
}

/// Calls `call` in a loop on every worker until the deadline: the shape of most phases.
pub async fn run_calls<F, Fut>(concurrency: usize, duration: Duration, call: F) -> Run
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Answer> + Send,
{
    run(concurrency, duration, move |worker, deadline| {
        let call = call.clone();
        async move {
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                let answer = call(worker).await;
                samples.push(Sample::of(started, answer));
            }
            samples
        }
    })
    .await
}

impl Run {
    pub fn requests(&self) -> usize {
        self.latencies.len()
    }

    pub fn rate(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p`th percentile latency, in milliseconds.
    pub fn percentile(&self, p: f64) -> f64 {
        percentile(&self.latencies, p)
    }

    pub fn outcomes(&self) -> String {
        self.outcomes
            .iter()
            .map(|(outcome, count)| format!("{} {count}", outcome.label()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The `p`th percentile of sorted latencies, in milliseconds.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}
