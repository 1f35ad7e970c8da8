//! Load tool: the same read RPC (BookingService.GetLaunch) called directly over gRPC, through
//! the gateway as grpc-web, and through the gateway as REST, at the same concurrency; prints
//! requests/s, p50 and p99 for each and the ratio to direct gRPC.
//!
//! The upstream is a stand-in BookingService inside this process that answers GetLaunch from
//! the request (no database), so the numbers measure the transport and the gateway, not a
//! service. The gateway is the real binary (`target/<profile>/astro-gateway`), without rate
//! limits.
//!
//! `cargo run -p astro-gateway --example gateway_bench -- [concurrency] [seconds]`

use std::{
    net::SocketAddr,
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use astro_proto::astrobookings::booking::v1::{
    CatalogueLaunch, GetLaunchRequest, GetLaunchResponse,
    booking_service_client::BookingServiceClient,
    booking_service_server::{BookingService, BookingServiceServer},
};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use prost::Message as _;
use tokio::sync::Mutex;

struct StandIn;

#[tonic::async_trait]
impl BookingService for StandIn {
    async fn get_launch(
        &self,
        request: tonic::Request<GetLaunchRequest>,
    ) -> Result<tonic::Response<GetLaunchResponse>, tonic::Status> {
        let id = request.into_inner().id_or_slug;
        Ok(tonic::Response::new(GetLaunchResponse {
            launch: Some(CatalogueLaunch {
                slug: format!("{id}-cape-canaveral-moon-2027-03-14"),
                id,
                agency_name: "Orbital Dynamics".into(),
                rocket_name: "Falcon X".into(),
                spaceport: "Cape Canaveral".into(),
                destination: "Moon".into(),
                capacity: 12,
                seats_available: 7,
                bookable: true,
                ..CatalogueLaunch::default()
            }),
        }))
    }
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Grpc,
    GrpcWeb,
    Rest,
}

struct Outcome {
    rps: f64,
    p50: Duration,
    p99: Duration,
    errors: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let concurrency: usize = args.get(1).map_or(Ok(32), |value| value.parse())?;
    let seconds: u64 = args.get(2).map_or(Ok(10), |value| value.parse())?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let upstream = listener.local_addr()?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(BookingServiceServer::new(StandIn))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(|examples| examples.parent())
        .ok_or_else(|| anyhow::anyhow!("unexpected example location"))?;
    let gateway_binary = profile_dir.join("astro-gateway");
    let gateway_address: SocketAddr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?
    };
    let mut gateway = tokio::process::Command::new(&gateway_binary)
        .env_clear()
        .env("RUST_LOG", "warn")
        .env("ASTRO_GATEWAY_LISTEN_ADDR", gateway_address.to_string())
        .env("ASTRO_GATEWAY_BOOKING_URL", format!("http://{upstream}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| anyhow::anyhow!("start {}: {error}", gateway_binary.display()))?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    println!(
        "GetLaunch, concurrency {concurrency}, {seconds} s per mode, {} build",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>8} {:>7}",
        "mode", "req/s", "p50 ms", "p99 ms", "errors", "ratio"
    );
    let mut baseline = None;
    for mode in [Mode::Grpc, Mode::GrpcWeb, Mode::Rest] {
        let outcome = run(
            mode,
            upstream,
            gateway_address,
            concurrency,
            Duration::from_secs(seconds),
        )
        .await?;
        let base = *baseline.get_or_insert(outcome.rps);
        println!(
            "{:<10} {:>10.0} {:>10.2} {:>10.2} {:>8} {:>7.2}",
            format!("{mode:?}"),
            outcome.rps,
            outcome.p50.as_secs_f64() * 1000.0,
            outcome.p99.as_secs_f64() * 1000.0,
            outcome.errors,
            outcome.rps / base
        );
    }
    gateway.kill().await?;
    Ok(())
}

async fn run(
    mode: Mode,
    upstream: SocketAddr,
    gateway: SocketAddr,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let channel = tonic::transport::Channel::from_shared(format!("http://{upstream}"))?
        .connect()
        .await?;
    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let message = GetLaunchRequest {
        id_or_slug: "falcon-x".into(),
    }
    .encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(message.len())?.to_be_bytes());
    frame.extend_from_slice(&message);
    let frame = Bytes::from(frame);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (latencies, errors, channel, http, frame) = (
            latencies.clone(),
            errors.clone(),
            channel.clone(),
            http.clone(),
            frame.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut client = BookingServiceClient::new(channel);
            let mut own = Vec::new();
            while started.elapsed() < duration {
                let begin = Instant::now();
                let ok = match mode {
                    Mode::Grpc => client
                        .get_launch(GetLaunchRequest {
                            id_or_slug: "falcon-x".into(),
                        })
                        .await
                        .is_ok(),
                    Mode::GrpcWeb => {
                        let request = http::Request::post(format!(
                            "http://{gateway}/astrobookings.booking.v1.BookingService/GetLaunch"
                        ))
                        .header("content-type", "application/grpc-web+proto")
                        .header("x-grpc-web", "1")
                        .body(Full::new(frame.clone()));
                        match request {
                            Ok(request) => match http.request(request).await {
                                Ok(response) => {
                                    let status = response.status();
                                    response.into_body().collect().await.is_ok()
                                        && status.is_success()
                                }
                                Err(_) => false,
                            },
                            Err(_) => false,
                        }
                    }
                    Mode::Rest => {
                        let request =
                            http::Request::get(format!("http://{gateway}/v1/launches/falcon-x"))
                                .body(Full::new(Bytes::new()));
                        match request {
                            Ok(request) => match http.request(request).await {
                                Ok(response) => {
                                    let status = response.status();
                                    response.into_body().collect().await.is_ok()
                                        && status.is_success()
                                }
                                Err(_) => false,
                            },
                            Err(_) => false,
                        }
                    }
                };
                if ok {
                    own.push(begin.elapsed());
                } else {
                    errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            latencies.lock().await.extend(own);
        }));
    }
    for worker in workers {
        worker.await?;
    }
    let elapsed = started.elapsed();
    let mut latencies = std::mem::take(&mut *latencies.lock().await);
    latencies.sort();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Ok(Outcome {
        rps: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(0.50),
        p99: percentile(0.99),
        errors: errors.load(std::sync::atomic::Ordering::Relaxed),
    })
}
