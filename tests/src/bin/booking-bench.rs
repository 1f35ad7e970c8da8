//! Load for BookingAPI: bookings with contention and catalogue reads, through the gateway's REST
//! API, over gRPC through the gateway and over gRPC straight to BookingAPI. Reports requests/s,
//! p50 and p99 per phase with the count of every outcome, then reads OperationsDB to count
//! oversold seats. Prints numbers; asserts nothing (benchmarks are not tests).
//!
//! Usage: `booking-bench <gateway host:port | --spawn> [concurrency] [seconds]
//! [--booking host:port] [--database-url URL] [--hot N] [--capacity N] [--travelers N]
//! [--shared-stripe]`:
//! against a running mesh (then `--booking` is BookingAPI's own address for the direct gRPC
//! phases and `--database-url` its OperationsDB for the oversold count; each is skipped when
//! not given), or `--spawn` to start one with the test harness (needs the `ASTRO_TEST_*`
//! variables of `.data/<env>/env`). The dev gateway rate-limits (`./dev up` sets
//! `ASTRO_GATEWAY_RATE_LIMIT_*`); a spawned mesh does not.
//!
//! Contention: the workers of a booking phase all book on the same `--hot` launches (4) of
//! `--capacity` seats (20), 1 or 2 seats at a time, each request as a random one of
//! `--travelers` travelers; a launch that answers SEATS_UNAVAILABLE is replaced by a fresh one,
//! scheduled ahead by a background task. Each booking phase starts with one unmeasured booking.
//!
//! With `--spawn` the mesh pays through a private localstripe, restarted empty before each
//! booking phase (localstripe slows down as its store grows); `--shared-stripe` uses
//! `ASTRO_TEST_STRIPE_URL` instead.

use std::{
    collections::{BTreeMap, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use astro_e2e::{
    Service,
    accounts::with_token,
    fixtures::{self, Actor, booking_client, passengers},
};
use astro_proto::astrobookings::booking::v1::{
    BookingStatus, CreateBookingRequest, GetLaunchRequest, ListLaunchesRequest,
    booking_service_client::BookingServiceClient,
};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt as _;

const PRICE_MINOR: i64 = 1_000_000;
const PAYMENT_METHOD: &str = "pm_card_visa";
/// Fresh launches kept scheduled ahead of the hot ones, so a worker rarely waits for one.
const FRESH_AHEAD: usize = 24;

struct Options {
    target: String,
    concurrency: usize,
    seconds: u64,
    booking: Option<SocketAddr>,
    database_url: Option<String>,
    hot: usize,
    capacity: i32,
    travelers: Option<usize>,
    shared_stripe: bool,
}

fn options() -> anyhow::Result<Options> {
    let mut positional = Vec::new();
    let mut options = Options {
        target: "127.0.0.1:8080".to_owned(),
        concurrency: 16,
        seconds: 10,
        booking: None,
        database_url: None,
        hot: 4,
        capacity: 20,
        travelers: None,
        shared_stripe: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--booking" => options.booking = Some(value("--booking")?.parse()?),
            "--database-url" => options.database_url = Some(value("--database-url")?),
            "--hot" => options.hot = value("--hot")?.parse()?,
            "--capacity" => options.capacity = value("--capacity")?.parse()?,
            "--travelers" => options.travelers = Some(value("--travelers")?.parse()?),
            "--shared-stripe" => options.shared_stripe = true,
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    if let Some(target) = positional.next() {
        options.target = target;
    }
    if let Some(concurrency) = positional.next() {
        options.concurrency = concurrency.parse()?;
    }
    if let Some(seconds) = positional.next() {
        options.seconds = seconds.parse()?;
    }
    anyhow::ensure!(options.concurrency > 0 && options.hot > 0, "nothing to run");
    Ok(options)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut options = options()?;
    // Kept alive for the whole run when spawned.
    let mut _mesh = None;
    let mut stripe = None;
    let gateway: SocketAddr = if options.target == "--spawn" {
        let mut servers = astro_e2e::TestServers::from_env();
        if !options.shared_stripe {
            let private = Stripe::start(astro_e2e::free_port()).await?;
            servers.stripe_url = private.url();
            stripe = Some(private);
        }
        let mesh = astro_e2e::Mesh::start(&servers, astro_e2e::MeshOptions::default()).await?;
        let gateway = mesh.address(Service::Gateway);
        options.booking = Some(mesh.address(Service::Booking));
        options.database_url = Some(mesh.database_url.clone());
        _mesh = Some(mesh);
        gateway
    } else {
        options.target.parse()?
    };
    let Options {
        concurrency,
        seconds,
        hot,
        capacity,
        ..
    } = options;
    let duration = Duration::from_secs(seconds);
    let traveler_count = options.travelers.unwrap_or((2 * concurrency).max(32));

    println!("load average before setup: {}", load_average());
    let setup = Instant::now();
    let agency = fixtures::agency(gateway, "bench").await;
    let rocket = fixtures::rocket(gateway, &agency, capacity).await;
    let travelers = Arc::new(travelers(gateway, traveler_count).await);
    println!(
        "setup: 1 agency, rocket of {capacity} seats, {traveler_count} travelers in {:.1} s; \
         {concurrency} workers, {seconds} s per phase, {hot} hot launches",
        setup.elapsed().as_secs_f64()
    );

    let scheduler = Scheduler {
        gateway,
        agency: agency.clone(),
        rocket,
    };
    let rest = Rest::new(gateway);
    let mut phases = Vec::new();
    let mut booking_targets = vec![
        ("bookings, REST via gateway", Transport::Rest(rest.clone())),
        ("bookings, gRPC via gateway", Transport::Grpc(gateway)),
    ];
    if let Some(booking) = options.booking {
        booking_targets.push(("bookings, gRPC direct", Transport::Grpc(booking)));
    }
    let mut launches = Vec::new();
    let mut warm_seats = 0;
    for (label, transport) in booking_targets {
        if let Some(stripe) = stripe.as_mut() {
            stripe.restart().await?;
        }
        let pool = Arc::new(LaunchPool::new(hot));
        scheduler.fill(&pool, hot + FRESH_AHEAD).await;
        // Not measured: opens the connections of the whole path (the payment gateway's too,
        // after a restart).
        warm_seats += warm_up(&transport, &pool, &travelers).await;
        let refill = tokio::spawn(scheduler.clone().keep_ahead(pool.clone()));
        let phase = run(label, concurrency, duration, |worker, deadline| {
            book_until(
                transport.clone(),
                pool.clone(),
                travelers.clone(),
                worker,
                deadline,
            )
        })
        .await;
        refill.abort();
        launches.extend(pool.all());
        phase.print();
        phases.push(phase);
    }

    let launches = Arc::new(launches);
    let mut catalogue_targets = vec![
        ("catalogue, REST via gateway", Transport::Rest(rest.clone())),
        ("catalogue, gRPC via gateway", Transport::Grpc(gateway)),
    ];
    if let Some(booking) = options.booking {
        catalogue_targets.push(("catalogue, gRPC direct", Transport::Grpc(booking)));
    }
    for (label, transport) in catalogue_targets {
        let phase = run(label, concurrency, duration, |worker, deadline| {
            read_until(transport.clone(), launches.clone(), worker, deadline)
        })
        .await;
        phase.print();
        phases.push(phase);
    }

    println!("load average after the phases: {}", load_average());
    println!();
    println!("| phase | requests | req/s | p50 ms | p99 ms | outcomes (count, p50/p99 ms) |");
    println!("|---|---:|---:|---:|---:|---|");
    for phase in &phases {
        phase.print_row();
    }
    println!();

    if let Some(mut stripe) = stripe {
        stripe.stop().await;
    }
    let answered_seats: i64 = warm_seats
        + phases
            .iter()
            .map(|phase| phase.seats_confirmed)
            .sum::<i64>();
    match options.database_url {
        Some(url) => seat_audit(&url, &agency.id, answered_seats).await?,
        None => println!("oversold seats: not measured (no --database-url)"),
    }
    Ok(())
}

/// A private localstripe (the project's launcher, no persistence) for a spawned mesh.
/// localstripe answers in time that grows with everything it ever stored (it scans its whole
/// store on every charge it renders), so each booking phase starts with an empty one:
/// otherwise the phases would measure the emulator's history, and the shared one of
/// `./dev up` holds every payment of every test run.
struct Stripe {
    port: u16,
    child: tokio::process::Child,
    scratch: std::path::PathBuf,
}

impl Stripe {
    async fn start(port: u16) -> anyhow::Result<Self> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("the repository root")?
            .to_path_buf();
        let python = std::env::var("ASTRO_TEST_PYTHON")
            .map_or_else(|_| root.join(".venv/bin/python"), std::path::PathBuf::from);
        let scratch = std::env::temp_dir().join(format!("booking-bench-stripe-{port}"));
        std::fs::create_dir_all(&scratch)?;
        let child = tokio::process::Command::new(python)
            .arg(root.join("scripts/localstripe_launcher.py"))
            .args([
                "--port",
                &port.to_string(),
                "--from-scratch",
                "--no-persist",
            ])
            .env("TMPDIR", &scratch)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("start localstripe")?;
        let stripe = Self {
            port,
            child,
            scratch,
        };
        let url = format!("{}v1/customers", stripe.url());
        let auth = ("authorization", "Bearer sk_test_astrobookings");
        let ready = astro_e2e::eventually(Duration::from_secs(20), || async {
            astro_e2e::rest::send("GET", &url, &[auth], None)
                .await
                .is_ok_and(|answer| answer.status == 200)
        })
        .await;
        anyhow::ensure!(ready, "localstripe did not start on port {port}");
        Ok(stripe)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// A new, empty one on the same port.
    async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        *self = Self::start(self.port).await?;
        Ok(())
    }

    async fn stop(&mut self) {
        // Already gone is fine: the point is that it no longer runs.
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// One booking of one seat through `transport`, unmeasured; returns the seats it confirmed.
async fn warm_up(transport: &Transport, pool: &LaunchPool, travelers: &[Actor]) -> i64 {
    let mut rng = Rng::new(0);
    let (Some(launch), Some(traveler)) = (pool.pick(&mut rng), travelers.first()) else {
        return 0;
    };
    let (outcome, message) = match &mut transport.caller() {
        Caller::Grpc(client) => book_grpc(client, traveler, &launch, 1).await,
        Caller::Rest(rest) => book_rest(rest, traveler, &launch, 1).await,
    };
    if let Some(message) = message.filter(|_| outcome != Outcome::Confirmed) {
        println!("  warm-up booking: {} ({message})", outcome.label());
    }
    i64::from(outcome == Outcome::Confirmed)
}

/// The machine's 1, 5 and 15 minute load averages: the numbers mean little on a busy machine.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        },
    )
}

/// Registers `count` travelers with complete profiles, a few at a time (each registration and
/// login hashes a password).
async fn travelers(gateway: SocketAddr, count: usize) -> Vec<Actor> {
    let mut made = Vec::with_capacity(count);
    let indexes: Vec<usize> = (0..count).collect();
    for chunk in indexes.chunks(8) {
        made.extend(
            futures::future::join_all(chunk.iter().map(|index| async move {
                fixtures::traveler(gateway, &format!("bench{index}")).await
            }))
            .await,
        );
    }
    made
}

/// Schedules launches of the bench's agency and rocket.
#[derive(Clone)]
struct Scheduler {
    gateway: SocketAddr,
    agency: Actor,
    rocket: String,
}

impl Scheduler {
    async fn fill(&self, pool: &LaunchPool, count: usize) {
        for _ in 0..count.div_ceil(4) {
            let made = futures::future::join_all((0..4).map(|_| {
                fixtures::launch(self.gateway, &self.agency, &self.rocket, 200, PRICE_MINOR)
            }))
            .await;
            for id in made {
                pool.add(id);
            }
        }
    }

    /// Keeps [`FRESH_AHEAD`] launches waiting behind the hot ones while a phase runs.
    async fn keep_ahead(self, pool: Arc<LaunchPool>) {
        loop {
            if pool.fresh() < FRESH_AHEAD {
                self.fill(&pool, 4).await;
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// The launches of one booking phase: the hot ones every worker books on, and fresh ones that
/// replace a hot one when it sells out.
struct LaunchPool {
    hot: usize,
    state: Mutex<PoolState>,
}

#[derive(Default)]
struct PoolState {
    hot: Vec<String>,
    fresh: VecDeque<String>,
    all: Vec<String>,
}

impl LaunchPool {
    fn new(hot: usize) -> Self {
        Self {
            hot,
            state: Mutex::new(PoolState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add(&self, id: String) {
        let mut state = self.lock();
        state.all.push(id.clone());
        if state.hot.len() < self.hot {
            state.hot.push(id);
        } else {
            state.fresh.push_back(id);
        }
    }

    fn pick(&self, rng: &mut Rng) -> Option<String> {
        let state = self.lock();
        (!state.hot.is_empty()).then(|| state.hot[rng.below(state.hot.len())].clone())
    }

    /// `id` answered SEATS_UNAVAILABLE: a fresh launch takes its place (once, however many
    /// workers saw it sell out).
    fn sold_out(&self, id: &str) {
        let mut state = self.lock();
        if let Some(position) = state.hot.iter().position(|hot| hot == id) {
            state.hot.swap_remove(position);
            if let Some(fresh) = state.fresh.pop_front() {
                state.hot.push(fresh);
            }
        }
        while state.hot.len() < self.hot {
            let Some(fresh) = state.fresh.pop_front() else {
                break;
            };
            state.hot.push(fresh);
        }
    }

    fn fresh(&self) -> usize {
        self.lock().fresh.len()
    }

    fn all(&self) -> Vec<String> {
        self.lock().all.clone()
    }
}

/// splitmix64: enough randomness to spread requests, without another dependency.
struct Rng(u64);

impl Rng {
    fn new(worker: usize) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        Self(u64::from(nanos) ^ ((worker as u64 + 1) << 32))
    }

    fn below(&mut self, bound: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z % bound as u64) as usize
    }
}

/// How the bench reaches BookingAPI.
#[derive(Clone)]
enum Transport {
    /// The gateway's REST API.
    Rest(Rest),
    /// gRPC to this address (the gateway or BookingAPI itself).
    Grpc(SocketAddr),
}

/// One worker's connection: REST shares the pool of keep-alive connections, gRPC gets a
/// channel (one HTTP/2 connection) per worker, like separate clients.
enum Caller {
    Rest(Rest),
    Grpc(Box<BookingServiceClient<Channel>>),
}

impl Transport {
    fn caller(&self) -> Caller {
        match self {
            Self::Rest(rest) => Caller::Rest(rest.clone()),
            Self::Grpc(address) => Caller::Grpc(Box::new(booking_client(*address))),
        }
    }
}

/// What one request came back with.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Confirmed,
    PendingPayment,
    SoldOut,
    SeatLimit,
    Read,
    /// Anything else, by gRPC code and reason (or HTTP status).
    Error(String),
}

impl Outcome {
    fn label(&self) -> String {
        match self {
            Self::Confirmed => "confirmed".to_owned(),
            Self::PendingPayment => "pending payment".to_owned(),
            Self::SoldOut => "sold out".to_owned(),
            Self::SeatLimit => "seat limit".to_owned(),
            Self::Read => "ok".to_owned(),
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

    fn booked(status: &str) -> Self {
        match status {
            "BOOKING_STATUS_CONFIRMED" => Self::Confirmed,
            "BOOKING_STATUS_PENDING_PAYMENT" => Self::PendingPayment,
            other => Self::Error(format!("booking {other}")),
        }
    }
}

struct Sample {
    latency: Duration,
    outcome: Outcome,
    /// The message of an error, to show one per kind.
    message: Option<String>,
    /// Seats of a confirmed booking.
    seats: i64,
}

/// Books on the pool's hot launches until `deadline`.
async fn book_until(
    transport: Transport,
    pool: Arc<LaunchPool>,
    travelers: Arc<Vec<Actor>>,
    worker: usize,
    deadline: Instant,
) -> Vec<Sample> {
    let mut rng = Rng::new(worker);
    let mut caller = transport.caller();
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        let Some(launch) = pool.pick(&mut rng) else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let traveler = &travelers[rng.below(travelers.len())];
        let seats = 1 + rng.below(2);
        let started = Instant::now();
        let (outcome, message) = match &mut caller {
            Caller::Grpc(client) => book_grpc(client, traveler, &launch, seats).await,
            Caller::Rest(rest) => book_rest(rest, traveler, &launch, seats).await,
        };
        let latency = started.elapsed();
        if outcome == Outcome::SoldOut {
            pool.sold_out(&launch);
        }
        samples.push(Sample {
            latency,
            seats: if outcome == Outcome::Confirmed {
                seats as i64
            } else {
                0
            },
            outcome,
            message,
        });
    }
    samples
}

fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn book_grpc(
    client: &mut BookingServiceClient<Channel>,
    traveler: &Actor,
    launch: &str,
    seats: usize,
) -> Answer {
    let request = CreateBookingRequest {
        launch_id: launch.to_owned(),
        passengers: passengers(seats),
        payment_method_id: PAYMENT_METHOD.to_owned(),
        idempotency_key: new_key(),
    };
    match client
        .create_booking(with_token(request, &traveler.token))
        .await
    {
        Ok(response) => match response.into_inner().booking.map(|b| b.status()) {
            Some(BookingStatus::Confirmed) => (Outcome::Confirmed, None),
            Some(BookingStatus::PendingPayment) => (Outcome::PendingPayment, None),
            other => (Outcome::Error(format!("booking {other:?}")), None),
        },
        Err(status) => grpc_error(&status),
    }
}

async fn book_rest(rest: &Rest, traveler: &Actor, launch: &str, seats: usize) -> Answer {
    let body = serde_json::json!({
        "launchId": launch,
        "passengers": passengers(seats)
            .into_iter()
            .map(|p| serde_json::json!({
                "fullName": p.full_name,
                "dateOfBirth": p.date_of_birth,
                "email": p.email,
            }))
            .collect::<Vec<_>>(),
        "paymentMethodId": PAYMENT_METHOD,
    });
    let key = new_key();
    let headers = [
        ("authorization", format!("Bearer {}", traveler.token)),
        ("idempotency-key", key),
    ];
    match rest
        .call("POST", "/v1/bookings", &headers, Some(body.to_string()))
        .await
    {
        Ok((200, json)) => (
            Outcome::booked(json["booking"]["status"].as_str().unwrap_or("")),
            None,
        ),
        Ok((_, json)) => rest_error(&json),
        Err(error) => transport_error(&error),
    }
}

/// An outcome, and the message of an error.
type Answer = (Outcome, Option<String>);

fn grpc_error(status: &tonic::Status) -> Answer {
    let reason = status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default();
    (
        Outcome::refused(status.code(), &reason),
        Some(status.message().to_owned()),
    )
}

fn transport_error(error: &anyhow::Error) -> Answer {
    (
        Outcome::Error("transport".to_owned()),
        Some(format!("{error:#}")),
    )
}

/// A REST error body (`google.rpc.Status` as JSON) as an outcome.
fn rest_error(json: &serde_json::Value) -> Answer {
    let code = json["code"]
        .as_i64()
        .and_then(|code| i32::try_from(code).ok())
        .map_or(Code::Unknown, Code::from);
    let reason = json["details"]
        .as_array()
        .and_then(|details| {
            details
                .iter()
                .find_map(|detail| detail["reason"].as_str().map(str::to_owned))
        })
        .unwrap_or_default();
    (
        Outcome::refused(code, &reason),
        Some(json["message"].as_str().unwrap_or_default().to_owned()),
    )
}

/// Reads the catalogue until `deadline`: ListLaunches (first page of 20) and GetLaunch of a
/// random launch of the bench, in turn.
async fn read_until(
    transport: Transport,
    launches: Arc<Vec<String>>,
    worker: usize,
    deadline: Instant,
) -> Vec<Sample> {
    let mut rng = Rng::new(worker);
    let mut caller = transport.caller();
    let mut samples = Vec::new();
    let mut list = worker.is_multiple_of(2);
    while Instant::now() < deadline {
        list = !list || launches.is_empty();
        let launch = if launches.is_empty() {
            String::new()
        } else {
            launches[rng.below(launches.len())].clone()
        };
        let started = Instant::now();
        let (outcome, message) = match &mut caller {
            Caller::Grpc(client) => {
                let answer = if list {
                    client
                        .list_launches(ListLaunchesRequest {
                            page_size: 20,
                            ..ListLaunchesRequest::default()
                        })
                        .await
                        .map(drop)
                } else {
                    client
                        .get_launch(GetLaunchRequest { id_or_slug: launch })
                        .await
                        .map(drop)
                };
                match answer {
                    Ok(()) => (Outcome::Read, None),
                    Err(status) => grpc_error(&status),
                }
            }
            Caller::Rest(rest) => {
                let path = if list {
                    "/v1/launches?pageSize=20".to_owned()
                } else {
                    format!("/v1/launches/{launch}")
                };
                match rest.call("GET", &path, &[], None).await {
                    Ok((200, _)) => (Outcome::Read, None),
                    Ok((_, json)) => rest_error(&json),
                    Err(error) => transport_error(&error),
                }
            }
        };
        samples.push(Sample {
            latency: started.elapsed(),
            outcome,
            message,
            seats: 0,
        });
    }
    samples
}

/// A REST client on the gateway that keeps its connections (HTTP/1.1 keep-alive), as a real
/// client would.
#[derive(Clone)]
struct Rest {
    client: Arc<Client<HttpConnector, Full<Bytes>>>,
    base: String,
}

impl Rest {
    fn new(gateway: SocketAddr) -> Self {
        Self {
            client: Arc::new(Client::builder(TokioExecutor::new()).build_http()),
            base: format!("http://{gateway}"),
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<String>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let request = request.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let response =
            tokio::time::timeout(Duration::from_secs(30), self.client.request(request)).await??;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        ))
    }
}

/// The numbers of one phase.
struct Phase {
    label: String,
    elapsed: Duration,
    latencies: Vec<Duration>,
    outcomes: BTreeMap<Outcome, Vec<Duration>>,
    /// The first error message of each kind.
    messages: BTreeMap<Outcome, String>,
    seats_confirmed: i64,
}

/// `concurrency` workers run `worker(index, deadline)` until `duration` has passed.
async fn run<F, Fut>(label: &str, concurrency: usize, duration: Duration, worker: F) -> Phase
where
    F: Fn(usize, Instant) -> Fut,
    Fut: std::future::Future<Output = Vec<Sample>> + Send + 'static,
{
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|index| tokio::spawn(worker(index, deadline)))
        .collect();
    let mut phase = Phase {
        label: label.to_owned(),
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
            phase.latencies.push(sample.latency);
            phase.seats_confirmed += sample.seats;
            if let Some(message) = sample.message {
                phase
                    .messages
                    .entry(sample.outcome.clone())
                    .or_insert(message);
            }
            phase
                .outcomes
                .entry(sample.outcome)
                .or_default()
                .push(sample.latency);
        }
    }
    // Until the last request came back: the slowest ones end after the deadline.
    phase.elapsed = started.elapsed();
    phase
}

fn sorted(latencies: &[Duration]) -> Vec<Duration> {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    sorted
}

/// The `p`th percentile of sorted latencies, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

impl Phase {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn outcomes(&self) -> String {
        self.outcomes
            .iter()
            .map(|(outcome, latencies)| {
                let latencies = sorted(latencies);
                format!(
                    "{} {} ({:.0}/{:.0})",
                    outcome.label(),
                    latencies.len(),
                    percentile(&latencies, 50.0),
                    percentile(&latencies, 99.0)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn print(&self) {
        let all = sorted(&self.latencies);
        println!(
            "{}: n={}  {:.1} req/s  p50 {:.1} ms  p99 {:.1} ms  [{}]",
            self.label,
            all.len(),
            self.rate(),
            percentile(&all, 50.0),
            percentile(&all, 99.0),
            self.outcomes()
        );
        for (outcome, message) in &self.messages {
            println!("  first {}: {message}", outcome.label());
        }
    }

    fn print_row(&self) {
        let all = sorted(&self.latencies);
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {} |",
            self.label,
            all.len(),
            self.rate(),
            percentile(&all, 50.0),
            percentile(&all, 99.0),
            self.outcomes()
        );
    }
}

/// Counts, over the bench agency's launches, seats sold beyond capacity and seat counters that
/// disagree with the bookings: `seats_booked` must equal the seats of PENDING_PAYMENT,
/// CONFIRMED and COMPLETED bookings plus those of cancelled bookings whose seats stay sold.
async fn seat_audit(
    database_url: &str,
    agency_id: &str,
    answered_seats: i64,
) -> anyhow::Result<()> {
    let db = sqlx::PgPool::connect(database_url)
        .await
        .context("connect to OperationsDB")?;
    let (launches, sold_out, seats_booked, held, oversold, counter_over, mismatched): (
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
    ) = sqlx::query_as(
        "WITH held AS ( \
             SELECT launch_id, sum(seats) FILTER (WHERE status <> 'CANCELLED' \
                 OR NOT seats_released)::bigint AS seats \
             FROM bookings GROUP BY launch_id) \
         SELECT count(*), \
             count(*) FILTER (WHERE l.seats_booked = l.capacity), \
             COALESCE(sum(l.seats_booked), 0)::bigint, \
             COALESCE(sum(COALESCE(h.seats, 0)), 0)::bigint, \
             COALESCE(sum(GREATEST(COALESCE(h.seats, 0) - l.capacity, 0)), 0)::bigint, \
             COALESCE(sum(GREATEST(l.seats_booked - l.capacity, 0)), 0)::bigint, \
             count(*) FILTER (WHERE l.seats_booked <> COALESCE(h.seats, 0)) \
         FROM launches l LEFT JOIN held h ON h.launch_id = l.id \
         WHERE l.agency_id = $1::uuid",
    )
    .bind(agency_id)
    .fetch_one(&db)
    .await?;
    let confirmed: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(b.seats), 0)::bigint FROM bookings b \
         JOIN launches l ON l.id = b.launch_id \
         WHERE l.agency_id = $1::uuid AND b.status = 'CONFIRMED'",
    )
    .bind(agency_id)
    .fetch_one(&db)
    .await?;
    let over_limit: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ( \
             SELECT b.traveler_id, b.launch_id FROM bookings b \
             JOIN launches l ON l.id = b.launch_id \
             WHERE l.agency_id = $1::uuid AND b.status <> 'CANCELLED' \
             GROUP BY b.traveler_id, b.launch_id HAVING sum(b.seats) > 6) AS over",
    )
    .bind(agency_id)
    .fetch_one(&db)
    .await?;
    println!(
        "OperationsDB: {launches} launches ({sold_out} full), seats_booked {seats_booked}, \
         seats of bookings {held}, launches whose counter disagrees with its bookings \
         {mismatched}"
    );
    println!(
        "confirmed seats: {answered_seats} answered CONFIRMED, {confirmed} CONFIRMED in \
         OperationsDB; traveler/launch pairs over 6 seats: {over_limit}"
    );
    println!("oversold seats: {}", oversold.max(counter_over));
    Ok(())
}
