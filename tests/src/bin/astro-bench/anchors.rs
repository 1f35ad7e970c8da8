//! What the mesh is measured against, in the same run: a bare tonic server answering a fixed
//! message, pgbench of the booking transaction and of a bare hot-row conditional UPDATE,
//! redis-benchmark GET, and argon2id with the production parameters.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use astro_proto::astrobookings::booking::v1::{
    GetLaunchRequest, GetLaunchResponse, ListLaunchesRequest, ListLaunchesResponse,
    booking_service_server::{BookingService, BookingServiceServer},
};
use prost::Message as _;
use tonic::{Request, Response, Status};

/// The argument that makes this binary the bare server instead of the benchmark.
pub const SERVE_BARE: &str = "--serve-bare";

/// BookingService answering ListLaunches and GetLaunch with one fixed message each (what the
/// mesh answered for the same request), and nothing else: the floor of a tonic call here.
struct BareCatalogue {
    list: ListLaunchesResponse,
    launch: GetLaunchResponse,
}

#[tonic::async_trait]
impl BookingService for BareCatalogue {
    async fn list_launches(
        &self,
        _request: Request<ListLaunchesRequest>,
    ) -> Result<Response<ListLaunchesResponse>, Status> {
        Ok(Response::new(self.list.clone()))
    }

    async fn get_launch(
        &self,
        _request: Request<GetLaunchRequest>,
    ) -> Result<Response<GetLaunchResponse>, Status> {
        Ok(Response::new(self.launch.clone()))
    }
}

/// `astro-bench --serve-bare ADDRESS LIST_FILE GET_FILE`: serves until killed.
pub async fn serve_bare(mut args: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let address: SocketAddr = args.next().context("address")?.parse()?;
    let list =
        ListLaunchesResponse::decode(std::fs::read(args.next().context("list file")?)?.as_slice())?;
    let launch =
        GetLaunchResponse::decode(std::fs::read(args.next().context("get file")?)?.as_slice())?;
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(BookingServiceServer::new(BareCatalogue { list, launch }))
        .serve(address)
        .await?;
    Ok(())
}

/// The bare server, started as a child of this binary so its CPU is its own.
pub struct BareServer {
    pub address: SocketAddr,
    child: tokio::process::Child,
    _files: tempdir::Scratch,
}

impl BareServer {
    pub async fn start(
        list: &ListLaunchesResponse,
        launch: &GetLaunchResponse,
    ) -> anyhow::Result<Self> {
        let files = tempdir::Scratch::new("astro-bench-bare")?;
        let list_file = files.path.join("list.bin");
        let get_file = files.path.join("get.bin");
        std::fs::write(&list_file, list.encode_to_vec())?;
        std::fs::write(&get_file, launch.encode_to_vec())?;
        let address = astro_e2e::free_address();
        let child = tokio::process::Command::new(std::env::current_exe()?)
            .arg(SERVE_BARE)
            .arg(address.to_string())
            .arg(&list_file)
            .arg(&get_file)
            .kill_on_drop(true)
            .spawn()
            .context("start the bare tonic server")?;
        let up = astro_e2e::eventually(Duration::from_secs(10), || async {
            tokio::net::TcpStream::connect(address).await.is_ok()
        })
        .await;
        anyhow::ensure!(up, "the bare tonic server did not listen on {address}");
        Ok(Self {
            address,
            child,
            _files: files,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

mod tempdir {
    use std::path::PathBuf;

    /// A directory removed when dropped.
    pub struct Scratch {
        pub path: PathBuf,
    }

    impl Scratch {
        pub fn new(label: &str) -> std::io::Result<Self> {
            let path = std::env::temp_dir().join(format!("{label}-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&path)?;
            Ok(Self { path })
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A database seeded by `bench/pgbench.sh` (SETUP_ONLY), dropped by [`Pgbench::drop_database`].
pub struct Pgbench {
    root: PathBuf,
    pg_bin: PathBuf,
    url: String,
    admin_url: String,
    database: String,
}

/// One pgbench run: transactions, tps and per-transaction p50/p99 (ms).
pub struct PgbenchRun {
    pub transactions: usize,
    pub tps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub failed: usize,
}

impl Pgbench {
    pub async fn setup(root: &Path, admin_url: &str) -> anyhow::Result<Self> {
        let pg_bin = std::fs::read_dir("/usr/lib/postgresql")?
            .flatten()
            .map(|entry| entry.path().join("bin"))
            .filter(|bin| bin.join("pgbench").exists())
            .max()
            .context("pgbench not found under /usr/lib/postgresql/*/bin")?;
        let output = tokio::process::Command::new(root.join("bench/pgbench.sh"))
            .env("SETUP_ONLY", "1")
            .env("ASTRO_TEST_PG_ADMIN_URL", admin_url)
            .current_dir(root)
            .output()
            .await?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        anyhow::ensure!(
            output.status.success(),
            "bench/pgbench.sh setup failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let url = stdout
            .lines()
            .find_map(|line| line.strip_prefix("database_url="))
            .context("bench/pgbench.sh printed no database_url")?
            .to_owned();
        let database = url.rsplit('/').next().unwrap_or_default().to_owned();
        Ok(Self {
            root: root.to_path_buf(),
            pg_bin,
            url,
            admin_url: admin_url.to_owned(),
            database,
        })
    }

    /// Runs `script` (under `bench/`) with `clients` clients for `duration`.
    pub async fn run(
        &self,
        script: &str,
        clients: usize,
        duration: Duration,
    ) -> anyhow::Result<PgbenchRun> {
        let logs = tempdir::Scratch::new("astro-bench-pgbench")?;
        let output = tokio::process::Command::new(self.pg_bin.join("pgbench"))
            .args(["-n", "-M", "prepared", "-f"])
            .arg(self.root.join("bench").join(script))
            .args([
                "-c",
                &clients.to_string(),
                "-j",
                "2",
                "-T",
                &duration.as_secs().to_string(),
            ])
            .args([
                "-D",
                "launches=2000",
                "-D",
                "travelers=10000",
                "-D",
                "seat_limit=4",
            ])
            .args(["-l", "--log-prefix=tx"])
            .arg(&self.url)
            .current_dir(&logs.path)
            .output()
            .await?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        anyhow::ensure!(
            output.status.success(),
            "pgbench {script} failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let number_after = |prefix: &str| {
            stdout.lines().find_map(|line| {
                line.trim()
                    .strip_prefix(prefix)?
                    .split_whitespace()
                    .next()?
                    .parse::<f64>()
                    .ok()
            })
        };
        let tps = number_after("tps =").context("pgbench printed no tps")?;
        let failed = number_after("number of failed transactions:").unwrap_or(0.0) as usize;
        // Per-transaction log: `client tx_no latency_us script epoch epoch_us`.
        let mut latencies: Vec<Duration> = Vec::new();
        for entry in std::fs::read_dir(&logs.path)?.flatten() {
            let text = std::fs::read_to_string(entry.path())?;
            latencies.extend(text.lines().filter_map(|line| {
                let micros = line.split_whitespace().nth(2)?.parse::<u64>().ok()?;
                Some(Duration::from_micros(micros))
            }));
        }
        latencies.sort();
        Ok(PgbenchRun {
            transactions: latencies.len(),
            tps,
            p50_ms: crate::load::percentile(&latencies, 50.0),
            p99_ms: crate::load::percentile(&latencies, 99.0),
            failed,
        })
    }

    pub async fn drop_database(&self) {
        let _ = tokio::process::Command::new(self.pg_bin.join("psql"))
            .args(["-q", &self.admin_url, "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.database
            ))
            .output()
            .await;
    }
}

/// One redis-benchmark GET run: requests/s and p50/p99 (ms).
pub struct RedisRun {
    pub requests: usize,
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

pub async fn redis_benchmark(
    redis_url: &str,
    clients: usize,
    requests: usize,
) -> anyhow::Result<RedisRun> {
    let address = redis_url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or_default();
    let (host, port) = address.rsplit_once(':').unwrap_or((address, "6379"));
    let output = tokio::process::Command::new("redis-benchmark")
        .args(["-h", host, "-p", port, "-c", &clients.to_string(), "-n"])
        .arg(requests.to_string())
        .args(["-t", "get", "--csv"])
        .output()
        .await
        .context("redis-benchmark (Debian redis-tools)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",...
    let row = stdout
        .lines()
        .find(|line| line.starts_with("\"GET\""))
        .with_context(|| format!("redis-benchmark printed no GET row: {stdout}"))?;
    let fields: Vec<f64> = row
        .split(',')
        .skip(1)
        .filter_map(|field| field.trim_matches('"').parse().ok())
        .collect();
    anyhow::ensure!(fields.len() >= 6, "unexpected redis-benchmark row {row}");
    Ok(RedisRun {
        requests,
        rate: fields[0],
        p50_ms: fields[3],
        p99_ms: fields[5],
    })
}

/// argon2id hashes with the production parameters (SystemAPI's own code), one after another:
/// sorted latencies.
pub async fn argon2_hashes(count: usize) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        astro_system::passwords::hash(astro_e2e::accounts::PASSWORD.to_owned())
            .await
            .map_err(|error| anyhow::anyhow!("argon2 hash: {error:?}"))?;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    Ok(latencies)
}
