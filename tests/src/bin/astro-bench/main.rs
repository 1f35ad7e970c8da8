//! The release benchmark of the mesh, side by side with its anchors, in one run on one
//! machine: every phase runs `--runs` times (3) and reports the median, with the load average
//! beside it and the CPU per request of every process read from `/proc` (the primary figure:
//! throughput on 2 shared cores is noisy). Prints a markdown table and writes JSON; asserts
//! nothing (benchmarks are not tests). `bench/run` builds the release binaries, starts the
//! bench environment's servers (`./dev servers bench`) and runs this.
//!
//! Usage: `astro-bench [--workers 16] [--seconds 5] [--runs 3] [--json FILE] [--data-dir DIR]`
//! with the `ASTRO_TEST_*` variables of `.data/bench/env` and `ASTRO_TEST_BIN_DIR` pointing at
//! the release binaries. `--data-dir` (`.data/bench`) is where the servers' pidfiles are.

mod anchors;
mod booking;
mod catalogue;
mod cpu;
mod load;
mod payment;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use astro_e2e::{
    Service,
    accounts::PASSWORD,
    fixtures::{self, Actor, booking_client},
};
use astro_proto::astrobookings::booking::v1::{GetLaunchRequest, ListLaunchesRequest};

use crate::{
    anchors::{BareServer, Pgbench},
    booking::{FRESH_AHEAD, LaunchPool, Scheduler},
    catalogue::{Read, ReadPath},
    cpu::{CpuMeter, CpuSample, Watched},
    load::{Http, Outcome, Run},
    payment::{Localstripe, PaymentStandIn},
};

struct Options {
    workers: usize,
    seconds: u64,
    runs: usize,
    json: PathBuf,
    data_dir: PathBuf,
    /// `--only TEXT`: run only the phases whose label holds TEXT, or one of `A|B|...` (while
    /// working on one path).
    only: Option<String>,
}

fn repository_root() -> anyhow::Result<PathBuf> {
    Ok(Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the repository root")?
        .to_path_buf())
}

fn options() -> anyhow::Result<Options> {
    let root = repository_root()?;
    let mut options = Options {
        workers: 16,
        seconds: 5,
        runs: 3,
        json: root.join("target/bench/results.json"),
        data_dir: root.join(".data/bench"),
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--workers" => options.workers = value("--workers")?.parse()?,
            "--seconds" => options.seconds = value("--seconds")?.parse()?,
            "--runs" => options.runs = value("--runs")?.parse()?,
            "--json" => options.json = value("--json")?.into(),
            "--data-dir" => options.data_dir = value("--data-dir")?.into(),
            "--only" => options.only = Some(value("--only")?),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    anyhow::ensure!(
        options.workers > cores && options.runs > 0 && options.seconds > 0,
        "nothing to run"
    );
    Ok(options)
}

/// One run's figures.
struct Measured {
    requests: usize,
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    load_average: f64,
    /// CPU ms per request, by process.
    cpu_ms: BTreeMap<String, f64>,
    outcomes: String,
}

/// Every run of one phase.
struct Figure {
    label: String,
    anchor: bool,
    runs: Vec<Measured>,
    note: String,
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

impl Figure {
    fn median(&self, figure: impl Fn(&Measured) -> f64) -> f64 {
        median(self.runs.iter().map(figure).collect())
    }

    fn rate(&self) -> f64 {
        self.median(|run| run.rate)
    }

    fn p50(&self) -> f64 {
        self.median(|run| run.p50_ms)
    }

    fn p99(&self) -> f64 {
        self.median(|run| run.p99_ms)
    }

    fn cpu(&self, process: &str) -> f64 {
        self.median(|run| run.cpu_ms.get(process).copied().unwrap_or(0.0))
    }

    fn json(&self) -> serde_json::Value {
        let processes: Vec<String> = self
            .runs
            .first()
            .map(|run| run.cpu_ms.keys().cloned().collect())
            .unwrap_or_default();
        serde_json::json!({
            "phase": self.label,
            "anchor": self.anchor,
            "note": self.note,
            "median": {
                "requests_per_second": self.rate(),
                "p50_ms": self.p50(),
                "p99_ms": self.p99(),
                "load_average": self.median(|run| run.load_average),
                "cpu_ms_per_request": processes
                    .iter()
                    .map(|process| (process.clone(), serde_json::json!(self.cpu(process))))
                    .collect::<serde_json::Map<_, _>>(),
            },
            "runs": self.runs.iter().map(|run| serde_json::json!({
                "requests": run.requests,
                "requests_per_second": run.rate,
                "p50_ms": run.p50_ms,
                "p99_ms": run.p99_ms,
                "load_average": run.load_average,
                "cpu_ms_per_request": run.cpu_ms,
                "outcomes": run.outcomes,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The 1-minute load average: the numbers mean little on a busy machine.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn pidfile(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// The measuring context: options, the CPU meter and the figures so far.
struct Bench {
    options: Options,
    meter: CpuMeter,
    figures: Vec<Figure>,
}

impl Bench {
    fn duration(&self) -> Duration {
        Duration::from_secs(self.options.seconds)
    }

    fn wants(&self, label: &str) -> bool {
        self.options
            .only
            .as_ref()
            .is_none_or(|only| only.split('|').any(|text| label.contains(text)))
    }

    /// Runs `phase` `runs` times, each between two CPU readings, and keeps the figures.
    async fn phase<F, Fut>(&mut self, label: &str, anchor: bool, mut phase: F) -> anyhow::Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<(Run, String)>>,
    {
        if !self.wants(label) {
            return Ok(());
        }
        let mut runs = Vec::new();
        let mut note = String::new();
        for _ in 0..self.options.runs {
            let before = self.meter.sample();
            let (run, run_note) = phase().await?;
            let after = self.meter.sample();
            note = run_note;
            runs.push(measured(&run, &before, &after));
            if let Some((outcome, message)) = run
                .messages
                .iter()
                .find(|(outcome, _)| matches!(outcome, Outcome::Error(_)))
            {
                println!("  first {}: {message}", outcome.label());
            }
        }
        let figure = Figure {
            label: label.to_owned(),
            anchor,
            runs,
            note,
        };
        println!(
            "{label}: {:.0} req/s  p50 {:.2} ms  p99 {:.2} ms  load {:.1}  [{}]",
            figure.rate(),
            figure.p50(),
            figure.p99(),
            figure.median(|run| run.load_average),
            figure
                .runs
                .last()
                .map(|run| run.outcomes.as_str())
                .unwrap_or_default()
        );
        self.figures.push(figure);
        Ok(())
    }

    /// A phase measured by another tool: its own figures, CPU read around it.
    async fn external<F, Fut>(&mut self, label: &str, mut phase: F) -> anyhow::Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<(usize, f64, f64, f64)>>,
    {
        if !self.wants(label) {
            return Ok(());
        }
        let mut runs = Vec::new();
        for _ in 0..self.options.runs {
            let before = self.meter.sample();
            let (requests, rate, p50_ms, p99_ms) = phase().await?;
            let after = self.meter.sample();
            runs.push(Measured {
                requests,
                rate,
                p50_ms,
                p99_ms,
                load_average: load_average(),
                cpu_ms: cpu::per_request(&before, &after, requests),
                outcomes: String::new(),
            });
        }
        let figure = Figure {
            label: label.to_owned(),
            anchor: true,
            runs,
            note: String::new(),
        };
        println!(
            "{label}: {:.0} /s  p50 {:.2} ms  p99 {:.2} ms",
            figure.rate(),
            figure.p50(),
            figure.p99()
        );
        self.figures.push(figure);
        Ok(())
    }

    fn figure(&self, label: &str) -> Option<&Figure> {
        self.figures.iter().find(|figure| figure.label == label)
    }
}

fn measured(run: &Run, before: &CpuSample, after: &CpuSample) -> Measured {
    Measured {
        requests: run.requests(),
        rate: run.rate(),
        p50_ms: run.percentile(50.0),
        p99_ms: run.percentile(99.0),
        load_average: load_average(),
        cpu_ms: cpu::per_request(before, after, run.requests()),
        outcomes: run.outcomes(),
    }
}

const LIST_DIRECT: &str = "catalogue list, gRPC direct to BookingAPI";
const LIST_GATEWAY: &str = "catalogue list, gRPC via gateway";
const LIST_REST: &str = "catalogue list, REST via gateway";
const GET_DIRECT: &str = "catalogue get, gRPC direct to BookingAPI";
const GET_GATEWAY: &str = "catalogue get, gRPC via gateway";
const GET_REST: &str = "catalogue get, REST via gateway";
const GET_REST_WITH_LOGINS: &str = "catalogue get, REST via gateway, while logins run";
const BARE_LIST: &str = "anchor: bare tonic server, ListLaunches";
const BARE_GET: &str = "anchor: bare tonic server, GetLaunch";
const PGBENCH_BOOKING: &str = "anchor: pgbench, booking transaction";
const ARGON2: &str = "anchor: argon2id hash (m=19456, t=2, p=1)";
const LOGIN: &str = "login, REST POST /v1/auth/login, one per core at a time";
const BOOKINGS_STAND_IN: &str =
    "bookings, REST via gateway, zero-latency payment stand-in (benchmark only)";
const BOOKINGS_LOCALSTRIPE: &str = "bookings, REST via gateway, localstripe";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some(anchors::SERVE_BARE) {
        return anchors::serve_bare(args).await;
    }
    let options = options()?;
    let root = repository_root()?;
    let mut servers = astro_e2e::TestServers::from_env();
    println!(
        "astro-bench: {} workers, {} s per run, {} runs per phase (median), binaries {}",
        options.workers,
        options.seconds,
        options.runs,
        servers.bin_dir.display()
    );
    println!("load average before setup: {:.2}", load_average());

    let mut watched = vec![Watched {
        name: "load tool".to_owned(),
        pid: std::process::id(),
        with_children: false,
    }];
    for (name, file) in [
        ("postgres", "pg/data/postmaster.pid"),
        ("redis", "pids/redis.pid"),
        ("secantus", "pids/secantus.pid"),
    ] {
        match pidfile(&options.data_dir.join(file)) {
            Some(pid) => watched.push(Watched {
                name: name.to_owned(),
                pid,
                with_children: true,
            }),
            None => println!(
                "  {name}: no pidfile under {}, its CPU is not read",
                options.data_dir.display()
            ),
        }
    }
    let mut localstripe = Localstripe::start(astro_e2e::free_port()).await?;
    servers.stripe_url = localstripe.url();
    let stand_in_url = PaymentStandIn::start().await?;
    let mut mesh = astro_e2e::Mesh::start(&servers, astro_e2e::MeshOptions::default()).await?;
    for service in Service::BACKENDS.into_iter().chain([Service::Gateway]) {
        watched.push(Watched {
            name: service.name().to_owned(),
            pid: mesh.processes[&service].pid(),
            with_children: false,
        });
    }
    if let Some(pid) = localstripe.pid() {
        watched.push(Watched {
            name: "localstripe".to_owned(),
            pid,
            with_children: true,
        });
    }
    let mut bench = Bench {
        meter: CpuMeter::new(watched),
        options,
        figures: Vec::new(),
    };
    let workers = bench.options.workers;
    let duration = bench.duration();

    let gateway = mesh.address(Service::Gateway);
    let direct = mesh.address(Service::Booking);
    let setup = Instant::now();
    let agency = fixtures::agency(gateway, "bench").await;
    let rocket = fixtures::rocket(gateway, &agency, 20).await;
    let travelers = Arc::new(booking::travelers(gateway, (2 * workers).max(32)).await);
    let scheduler = Scheduler {
        gateway,
        agency: agency.clone(),
        rocket,
    };
    let catalogue_pool = LaunchPool::new(4);
    scheduler.fill(&catalogue_pool, 28).await;
    let launches = Arc::new(catalogue_pool.all());
    println!(
        "setup: 1 agency, {} travelers, {} launches in {:.1} s",
        travelers.len(),
        launches.len(),
        setup.elapsed().as_secs_f64()
    );

    // The bare server answers what BookingAPI answered.
    let mut booking_api = booking_client(direct);
    let list = booking_api
        .list_launches(ListLaunchesRequest {
            page_size: catalogue::PAGE_SIZE,
            ..ListLaunchesRequest::default()
        })
        .await?
        .into_inner();
    let launch = booking_api
        .get_launch(GetLaunchRequest {
            id_or_slug: launches[0].clone(),
        })
        .await?
        .into_inner();
    let bare = BareServer::start(&list, &launch).await?;
    if let Some(pid) = bare.pid() {
        bench.meter.add(Watched {
            name: "bare tonic".to_owned(),
            pid,
            with_children: false,
        });
    }

    let http = Http::new(gateway);
    let read_paths = [
        ("gRPC direct to BookingAPI", ReadPath::Grpc(direct)),
        ("gRPC via gateway", ReadPath::Grpc(gateway)),
        ("grpc-web via gateway", ReadPath::GrpcWeb(http.clone())),
        ("REST via gateway", ReadPath::Rest(http.clone())),
    ];
    for (read, name) in [(Read::List, "list"), (Read::Get, "get")] {
        let bare_label = if read == Read::List {
            BARE_LIST
        } else {
            BARE_GET
        };
        let targets = std::iter::once((bare_label.to_owned(), ReadPath::Grpc(bare.address), true))
            .chain(
                read_paths
                    .iter()
                    .map(|(how, path)| (format!("catalogue {name}, {how}"), path.clone(), false)),
            );
        for (label, path, anchor) in targets.collect::<Vec<_>>() {
            let launches = launches.clone();
            bench
                .phase(&label, anchor, || {
                    let (path, launches) = (path.clone(), launches.clone());
                    async move {
                        let run = load::run(workers, duration, |worker, deadline| {
                            catalogue::read_until(
                                path.clone(),
                                read,
                                launches.clone(),
                                worker,
                                deadline,
                            )
                        })
                        .await;
                        Ok((run, String::new()))
                    }
                })
                .await?;
        }
    }
    bench.meter.remove("bare tonic");
    drop(bare);

    // An authenticated read: the gateway verifies the token, SystemAPI reads the account.
    let tokens: Arc<Vec<String>> = Arc::new(travelers.iter().map(|t| t.token.clone()).collect());
    {
        let (http, tokens) = (http.clone(), tokens.clone());
        bench
            .phase(
                "authenticated read, REST GET /v1/users/me",
                false,
                move || {
                    let (http, tokens) = (http.clone(), tokens.clone());
                    async move {
                        let run = load::run_calls(workers, duration, move |worker| {
                            let http = http.clone();
                            let authorization = format!("Bearer {}", tokens[worker % tokens.len()]);
                            async move {
                                rest_answer(
                                    http.rest(
                                        "GET",
                                        "/v1/users/me",
                                        &[("authorization", &authorization)],
                                        None,
                                    )
                                    .await,
                                )
                            }
                        })
                        .await;
                        Ok((run, String::new()))
                    }
                },
            )
            .await?;
    }

    let hashes = anchors::argon2_hashes(20).await?;
    let argon2_p50 = load::percentile(&hashes, 50.0);
    bench
        .external(ARGON2, || async {
            let started = Instant::now();
            let hashes = anchors::argon2_hashes(10).await?;
            Ok((
                hashes.len(),
                hashes.len() as f64 / started.elapsed().as_secs_f64(),
                load::percentile(&hashes, 50.0),
                load::percentile(&hashes, 99.0),
            ))
        })
        .await?;
    println!("  (first 20 hashes: p50 {argon2_p50:.1} ms)");

    // As many logins at once as there are cores (SystemAPI hashes that many at a time and
    // sheds beyond a queue): the login's own cost, not the queue in front of it.
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let logins = login_phase(&http, &travelers, cores, duration);
    bench
        .phase(LOGIN, false, || async {
            Ok((logins.clone().run().await, String::new()))
        })
        .await?;
    // Logins beside catalogue reads on the other workers: do the reads suffer?
    if bench.wants(GET_REST_WITH_LOGINS) {
        let (launches, http) = (launches.clone(), http.clone());
        let mut with_logins = Vec::new();
        for _ in 0..bench.options.runs {
            let before = bench.meter.sample();
            let reads = load::run(workers - cores, duration, |worker, deadline| {
                catalogue::read_until(
                    ReadPath::Rest(http.clone()),
                    Read::Get,
                    launches.clone(),
                    worker,
                    deadline,
                )
            });
            let (reads, _logins) = tokio::join!(reads, logins.clone().run());
            let after = bench.meter.sample();
            with_logins.push(measured(&reads, &before, &after));
        }
        bench.figures.push(Figure {
            label: GET_REST_WITH_LOGINS.to_owned(),
            anchor: false,
            runs: with_logins,
            note: format!(
                "{} workers read while {cores} log in; CPU per read includes the logins",
                workers - cores
            ),
        });
    }

    // Anchors of the databases.
    let pgbench = Pgbench::setup(&root, &servers.pg_admin_url).await?;
    for (label, script) in [
        (PGBENCH_BOOKING, "pgbench_booking.sql"),
        (
            "anchor: pgbench, bare hot-row conditional UPDATE",
            "pgbench_hot_row.sql",
        ),
    ] {
        let pgbench = &pgbench;
        bench
            .external(label, || async move {
                let run = pgbench.run(script, workers, duration).await?;
                if run.failed > 0 {
                    println!("  {label}: {} failed transactions", run.failed);
                }
                Ok((run.transactions, run.tps, run.p50_ms, run.p99_ms))
            })
            .await?;
    }
    pgbench.drop_database().await;
    let redis_url = servers.redis_url.clone();
    bench
        .external("anchor: redis-benchmark GET", || {
            let redis_url = redis_url.clone();
            async move {
                let run = anchors::redis_benchmark(&redis_url, workers, 200_000).await?;
                Ok((run.requests, run.rate, run.p50_ms, run.p99_ms))
            }
        })
        .await?;

    // Bookings with contention: the stand-in first (the mesh's own ceiling), then localstripe.
    let mut answered_seats = 0;
    let mut per_booking = Vec::new();
    for (label, stand_in) in [(BOOKINGS_STAND_IN, true), (BOOKINGS_LOCALSTRIPE, false)] {
        if !bench.wants(label) {
            continue;
        }
        let url = if stand_in {
            stand_in_url.clone()
        } else {
            localstripe.url()
        };
        mesh.restart_with(
            Service::Finance,
            &[("ASTRO_FINANCE_STRIPE_URL", url.as_str())],
        )
        .await?;
        bench.meter.add(Watched {
            name: Service::Finance.name().to_owned(),
            pid: mesh.processes[&Service::Finance].pid(),
            with_children: false,
        });
        let counters_before = DatabaseCounters::read(&mesh, &servers).await?;
        let mut confirmed = 0;
        let mut runs = Vec::new();
        for _ in 0..bench.options.runs {
            if !stand_in {
                localstripe.restart().await?;
                if let Some(pid) = localstripe.pid() {
                    bench.meter.add(Watched {
                        name: "localstripe".to_owned(),
                        pid,
                        with_children: true,
                    });
                }
            }
            let pool = Arc::new(LaunchPool::new(4));
            scheduler.fill(&pool, 4 + FRESH_AHEAD).await;
            answered_seats += booking::warm_up(&http, &pool, &travelers).await;
            let refill = tokio::spawn(scheduler.clone().keep_ahead(pool.clone()));
            let before = bench.meter.sample();
            let run = load::run(workers, duration, |worker, deadline| {
                booking::book_until(
                    http.clone(),
                    pool.clone(),
                    travelers.clone(),
                    worker,
                    deadline,
                )
            })
            .await;
            let after = bench.meter.sample();
            refill.abort();
            answered_seats += run.seats_confirmed;
            confirmed += run.outcomes.get(&Outcome::Confirmed).copied().unwrap_or(0);
            runs.push(measured(&run, &before, &after));
            println!("  {label}: {:.1} req/s [{}]", run.rate(), run.outcomes());
        }
        let counters_after = DatabaseCounters::read(&mesh, &servers).await?;
        per_booking.push((
            label,
            counters_after.per_booking(&counters_before, confirmed),
        ));
        bench.figures.push(Figure {
            label: label.to_owned(),
            anchor: false,
            runs,
            note: format!(
                "{workers} workers on 4 hot launches of 20 seats, 1-2 seats per booking{}",
                if stand_in {
                    "; the stand-in runs inside the load tool"
                } else {
                    ""
                }
            ),
        });
    }
    let oversold = booking::seat_audit(&mesh.database_url, &agency.id, answered_seats).await?;
    localstripe.stop().await;

    let report = report(&bench, &per_booking, oversold, argon2_p50);
    println!("{report}");
    let json = serde_json::json!({
        "workers": workers,
        "seconds_per_run": bench.options.seconds,
        "runs_per_phase": bench.options.runs,
        "processes": bench.meter.names(),
        "phases": bench.figures.iter().map(Figure::json).collect::<Vec<_>>(),
        "database_operations_per_booking": per_booking.iter().map(|(label, ops)| serde_json::json!({"phase": label, "operations": ops})).collect::<Vec<_>>(),
        "oversold_seats": oversold,
    });
    if let Some(parent) = bench.options.json.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&bench.options.json, serde_json::to_string_pretty(&json)?)?;
    println!("JSON: {}", bench.options.json.display());
    Ok(())
}

fn rest_answer(answer: anyhow::Result<(u16, serde_json::Value)>) -> load::Answer {
    match answer {
        Ok((200, _)) => (Outcome::Ok, None),
        Ok((status, json)) => load::rest_error(status, &json),
        Err(error) => load::transport_error(&error),
    }
}

/// Logins through the gateway's REST API, each worker as its own traveler.
#[derive(Clone)]
struct LoginLoad {
    http: Http,
    emails: Arc<Vec<String>>,
    workers: usize,
    duration: Duration,
}

fn login_phase(http: &Http, travelers: &[Actor], workers: usize, duration: Duration) -> LoginLoad {
    LoginLoad {
        http: http.clone(),
        emails: Arc::new(travelers.iter().map(|t| t.email.clone()).collect()),
        workers,
        duration,
    }
}

impl LoginLoad {
    async fn run(self) -> Run {
        let Self {
            http,
            emails,
            workers,
            duration,
        } = self;
        load::run_calls(workers, duration, move |worker| {
            let http = http.clone();
            let body = serde_json::json!({
                "email": emails[worker % emails.len()],
                "password": PASSWORD,
            })
            .to_string();
            async move { rest_answer(http.rest("POST", "/v1/auth/login", &[], Some(body)).await) }
        })
        .await
    }
}

/// Operations counted by the database servers: OperationsDB's transactions and rows written
/// (`pg_stat_database` of the mesh's database) and SystemDB's operations (`serverStatus`
/// opcounters, server-wide: everything the mesh did meanwhile, background work included).
struct DatabaseCounters {
    postgres: BTreeMap<String, f64>,
    system_db: BTreeMap<String, f64>,
}

/// PostgreSQL publishes a backend's counters at most once a second and an idle one's after
/// 10 s: wait that long before reading, so the counts hold the phase.
const PG_STATS_SETTLE: Duration = Duration::from_secs(11);

impl DatabaseCounters {
    async fn read(
        mesh: &astro_e2e::Mesh,
        servers: &astro_e2e::TestServers,
    ) -> anyhow::Result<Self> {
        tokio::time::sleep(PG_STATS_SETTLE).await;
        let pool = sqlx::PgPool::connect(&servers.pg_admin_url).await?;
        let database = mesh
            .database_url
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let (commits, rollbacks, inserted, updated, deleted, fetched): (
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
        ) = sqlx::query_as(
            "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, \
                 tup_fetched FROM pg_stat_database WHERE datname = $1",
        )
        .bind(&database)
        .fetch_one(&pool)
        .await?;
        pool.close().await;
        // By table: which statements read the rows (sequential scans read every row).
        let mesh_db = sqlx::PgPool::connect(&mesh.database_url).await?;
        let tables: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT relname::text, COALESCE(seq_scan, 0), COALESCE(seq_tup_read, 0), \
             COALESCE(idx_tup_fetch, 0) FROM pg_stat_user_tables",
        )
        .fetch_all(&mesh_db)
        .await?;
        mesh_db.close().await;
        let mut postgres = BTreeMap::from([
            ("transactions".to_owned(), (commits + rollbacks) as f64),
            ("rows inserted".to_owned(), inserted as f64),
            ("rows updated".to_owned(), updated as f64),
            ("rows deleted".to_owned(), deleted as f64),
            ("rows fetched".to_owned(), fetched as f64),
        ]);
        for (table, seq_scans, seq_rows, index_rows) in tables {
            postgres.insert(format!("{table}: sequential scans"), seq_scans as f64);
            postgres.insert(
                format!("{table}: rows read by sequential scans"),
                seq_rows as f64,
            );
            postgres.insert(format!("{table}: rows fetched by index"), index_rows as f64);
        }
        let client = mongodb::Client::with_uri_str(&servers.mongo_url).await?;
        let status = client
            .database("admin")
            .run_command(mongodb::bson::doc! { "serverStatus": 1 })
            .await?;
        let opcounters = status.get_document("opcounters")?;
        let system_db = opcounters
            .iter()
            .filter_map(|(name, value)| {
                let count = value
                    .as_i64()
                    .or_else(|| value.as_i32().map(i64::from))
                    .or_else(|| value.as_f64().map(|v| v as i64))?;
                Some((name.clone(), count as f64))
            })
            .collect();
        Ok(Self {
            postgres,
            system_db,
        })
    }

    fn per_booking(&self, before: &Self, bookings: usize) -> serde_json::Value {
        let delta = |after: &BTreeMap<String, f64>, before: &BTreeMap<String, f64>| {
            after
                .iter()
                .filter_map(|(name, count)| {
                    let per =
                        (count - before.get(name).copied().unwrap_or(0.0)) / bookings.max(1) as f64;
                    let per = (per * 100.0).round() / 100.0;
                    (per != 0.0).then(|| (name.clone(), serde_json::json!(per)))
                })
                .collect::<serde_json::Map<_, _>>()
        };
        serde_json::json!({
            "confirmed_bookings": bookings,
            "operations_db": delta(&self.postgres, &before.postgres),
            "system_db": delta(&self.system_db, &before.system_db),
        })
    }
}

/// The processes in the order the table shows them.
const COLUMNS: [&str; 12] = [
    "gateway",
    "booking",
    "system",
    "finance",
    "agency",
    "notify",
    "bare tonic",
    "postgres",
    "redis",
    "secantus",
    "localstripe",
    "load tool",
];

fn report(
    bench: &Bench,
    per_booking: &[(&str, serde_json::Value)],
    oversold: i64,
    argon2_p50: f64,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## Results (median of {} runs of {} s, {} workers)\n",
        bench.options.runs, bench.options.seconds, bench.options.workers
    );
    let _ = writeln!(
        out,
        "| phase | req/s | p50 ms | p99 ms | load | CPU ms per request: {} |",
        COLUMNS.join(" | ")
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|{}",
        "---:|".repeat(COLUMNS.len())
    );
    for figure in &bench.figures {
        let cpu: Vec<String> = COLUMNS
            .iter()
            .map(|process| {
                let ms = figure.cpu(process);
                if ms < 0.0005 {
                    "-".to_owned()
                } else {
                    format!("{ms:.3}")
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.2} | {:.1} | {} |",
            figure.label,
            figure.rate(),
            figure.p50(),
            figure.p99(),
            figure.median(|run| run.load_average),
            cpu.join(" | ")
        );
    }
    for figure in bench
        .figures
        .iter()
        .filter(|figure| !figure.note.is_empty())
    {
        let _ = writeln!(out, "\n{}: {}", figure.label, figure.note);
    }
    let _ = writeln!(out, "\n### Database operations per confirmed booking\n");
    for (label, ops) in per_booking {
        let _ = writeln!(out, "- {label}: {ops}");
    }
    let _ = writeln!(out, "- oversold seats: {oversold}");

    let _ = writeln!(out, "\n### Targets (ratios from this run)\n");
    let _ = writeln!(out, "| target | measured | goal | met |");
    let _ = writeln!(out, "|---|---:|---:|---|");
    let rate = |label: &str| bench.figure(label).map_or(f64::NAN, Figure::rate);
    let cpu = |label: &str, process: &str| bench.figure(label).map_or(f64::NAN, |f| f.cpu(process));
    let p = |label: &str, pick: fn(&Figure) -> f64| bench.figure(label).map_or(f64::NAN, pick);
    let rows: Vec<(String, f64, &str, bool)> = vec![
        (
            "gateway gRPC pass-through, list: via gateway / direct".to_owned(),
            rate(LIST_GATEWAY) / rate(LIST_DIRECT),
            ">= 0.75",
            rate(LIST_GATEWAY) / rate(LIST_DIRECT) >= 0.75,
        ),
        (
            "gateway gRPC pass-through, get: via gateway / direct".to_owned(),
            rate(GET_GATEWAY) / rate(GET_DIRECT),
            ">= 0.75",
            rate(GET_GATEWAY) / rate(GET_DIRECT) >= 0.75,
        ),
        (
            "gateway CPU per list call / bare tonic CPU per call".to_owned(),
            cpu(LIST_GATEWAY, "gateway") / cpu(BARE_LIST, "bare tonic"),
            "<= 1.5",
            cpu(LIST_GATEWAY, "gateway") / cpu(BARE_LIST, "bare tonic") <= 1.5,
        ),
        (
            "REST transcoding, list: REST / gateway gRPC".to_owned(),
            rate(LIST_REST) / rate(LIST_GATEWAY),
            ">= 0.90",
            rate(LIST_REST) / rate(LIST_GATEWAY) >= 0.9,
        ),
        (
            "REST transcoding, get: REST / gateway gRPC".to_owned(),
            rate(GET_REST) / rate(GET_GATEWAY),
            ">= 0.90",
            rate(GET_REST) / rate(GET_GATEWAY) >= 0.9,
        ),
        (
            "BookingAPI CPU per list call / bare tonic".to_owned(),
            cpu(LIST_DIRECT, "booking") / cpu(BARE_LIST, "bare tonic"),
            "<= 2",
            cpu(LIST_DIRECT, "booking") / cpu(BARE_LIST, "bare tonic") <= 2.0,
        ),
        (
            "BookingAPI CPU per get call / bare tonic".to_owned(),
            cpu(GET_DIRECT, "booking") / cpu(BARE_GET, "bare tonic"),
            "<= 2",
            cpu(GET_DIRECT, "booking") / cpu(BARE_GET, "bare tonic") <= 2.0,
        ),
        (
            "bookings with the stand-in / pgbench booking transaction".to_owned(),
            rate(BOOKINGS_STAND_IN) / rate(PGBENCH_BOOKING),
            ">= 0.50",
            rate(BOOKINGS_STAND_IN) / rate(PGBENCH_BOOKING) >= 0.5 && oversold == 0,
        ),
        (
            format!("login p50 / argon2id p50 ({argon2_p50:.1} ms)"),
            p(LOGIN, Figure::p50) / p(ARGON2, Figure::p50),
            "<= 1.2",
            p(LOGIN, Figure::p50) / p(ARGON2, Figure::p50) <= 1.2,
        ),
        (
            "catalogue get p99 while logins run / alone".to_owned(),
            p(GET_REST_WITH_LOGINS, Figure::p99) / p(GET_REST, Figure::p99),
            "about 1",
            p(GET_REST_WITH_LOGINS, Figure::p99) / p(GET_REST, Figure::p99) <= 1.2,
        ),
    ];
    for (what, value, goal, met) in rows {
        let _ = writeln!(
            out,
            "| {what} | {value:.2} | {goal} | {} |",
            if met { "yes" } else { "no" }
        );
    }
    out
}
