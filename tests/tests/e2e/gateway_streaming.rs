//! A large export through the gateway's REST side is streamed, not collected: 100,000
//! activity-log entries seeded straight into the mesh's SystemDB leave `GET /v1/logs:export`
//! as one chunked CSV download, read here chunk by chunk, while the gateway's resident memory
//! stays flat (it holds about a chunk at a time, never the export, and reads no further while
//! the client pauses) and the download outlives the route's unary deadline.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use astro_e2e::{Mesh, Service, TestServers, fixtures, mesh_with};
use astro_proto::astrobookings::{common::v1::Role, system::v1::LogLevel};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use mongodb::bson::{Document, doc};

/// As many entries as one export may hold (SystemAPI's limit): every one must arrive.
const ENTRIES: usize = 100_000;
/// Entries per `insert_many`: SecantusDB is a Python emulator, one round trip per entry would
/// take minutes.
const BATCH: usize = 5_000;
/// Makes each CSV row ~480 bytes, so the export (~48 MB) dwarfs what the gateway needs to relay
/// it and holding it would show plainly in the gateway's resident set.
const PADDING: usize = 400;
/// The export's unary deadline in this mesh (`ASTRO_GATEWAY_ROUTE_TIMEOUTS_MS`): it bounds the
/// wait for the first chunk, which SecantusDB sends only once it has sorted the 100,000 entries
/// (~5 s measured on 2 busy cores; the default 10 s would leave little margin).
const ROUTE_DEADLINE_MS: u64 = 15_000;
/// The client stops reading at least this long once the download has begun (and longer if
/// needed to carry the download past the route's deadline). A gateway reading ahead of its
/// client would fill its memory meanwhile.
const PAUSE: Duration = Duration::from_secs(3);
/// Where in the download the client pauses.
const PAUSE_AFTER_BYTES: usize = 1024 * 1024;
/// The gateway's resident set may grow by at most this much while it relays the export...
const MAX_GROWTH_BYTES: u64 = 16 * 1024 * 1024;
/// ...and by at most this fraction (1/N) of the export's size.
const MAX_GROWTH_FRACTION: u64 = 4;

/// `VmRSS` of process `pid`, in bytes.
fn resident_bytes(pid: u32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the gateway's /proc status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line in kB");
    kib * 1024
}

fn mib(bytes: u64) -> String {
    // Display only: the precision lost converting to f64 is far below a printed MiB.
    #[allow(clippy::cast_precision_loss)]
    let value = bytes as f64 / (1024.0 * 1024.0);
    format!("{value:.1} MiB")
}

/// Samples `pid`'s resident set every 20 ms until stopped; the peak seen.
struct PeakSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl PeakSampler {
    fn start(pid: u32) -> Self {
        let peak = Arc::new(AtomicU64::new(resident_bytes(pid)));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let (peak, stop) = (peak.clone(), stop.clone());
            async move {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(resident_bytes(pid), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });
        Self { peak, stop, task }
    }

    async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("the sampler ends");
        self.peak.load(Ordering::Relaxed)
    }
}

/// Writes `ENTRIES` entries of `service` into the mesh's own `activity_logs` collection, as
/// SystemAPI stores them, one millisecond apart an hour ago (inside retention); entry `n` has
/// the message `entry <n, 6 digits> xxx...`.
///
/// First it drops the collection's filter indexes (not `_id`, not the TTL index): SecantusDB
/// updates each of the six in Python on every insert, which made seeding ~2.7 times slower
/// (100-380 s on 2 busy cores). The export sorts in memory on SecantusDB either way, and this
/// mesh's database is dropped after the test; the indexes are SystemAPI's concern, not this
/// test's.
async fn seed(mesh: &Mesh, service: &str) {
    let logs = mongodb::Client::with_uri_str(&TestServers::from_env().mongo_url)
        .await
        .expect("SystemDB client")
        .database(&mesh.system_db_name)
        .collection::<Document>("activity_logs");
    let names = logs.list_index_names().await.expect("index names");
    for name in names
        .iter()
        .filter(|name| !matches!(name.as_str(), "_id_" | "time_ttl"))
    {
        logs.drop_index(name).await.expect("drop a filter index");
    }
    let now = i64::try_from(astro_shared::auth::unix_now()).expect("time fits") * 1000;
    let start = now - 3_600_000;
    let padding = "x".repeat(PADDING);
    for first in (0..ENTRIES).step_by(BATCH) {
        let documents: Vec<Document> = (first..first + BATCH)
            .map(|number| {
                doc! {
                    "_id": uuid::Uuid::now_v7().to_string(),
                    "time": mongodb::bson::DateTime::from_millis(
                        start + i64::try_from(number).expect("small"),
                    ),
                    "service": service,
                    "level": i32::from(LogLevel::Info),
                    "event_type": "stream.entry",
                    "user_id": "",
                    "trace_id": "",
                    "message": format!("entry {number:06} {padding}"),
                    "attributes": {},
                }
            })
            .collect();
        logs.insert_many(documents)
            .await
            .expect("a batch is stored");
    }
}

/// The entry number of a CSV row written by [`seed`] (its last cell is the message).
fn entry_number(row: &[u8]) -> usize {
    let row = std::str::from_utf8(row).expect("UTF-8 row");
    let message = row.rsplit(',').next().expect("a message cell");
    message
        .strip_prefix("entry ")
        .and_then(|rest| rest.get(..6))
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("not a seeded row: {row:.80}"))
}

fn export_request(mesh: &Mesh, token: &str, service: &str) -> http::Request<Empty<Bytes>> {
    http::Request::get(format!(
        "{}/v1/logs:export?service={service}",
        mesh.gateway_url()
    ))
    .header("authorization", format!("Bearer {token}"))
    .body(Empty::new())
    .expect("request")
}

#[tokio::test]
async fn a_100k_entry_export_streams_through_rest_while_the_gateway_memory_stays_flat() {
    let mesh = mesh_with(HashMap::from([(
        "ASTRO_GATEWAY_ROUTE_TIMEOUTS_MS".to_owned(),
        format!("ExportLogs={ROUTE_DEADLINE_MS}"),
    )]))
    .await;
    let it = fixtures::employee(&mesh, Role::It).await.token;
    let unique = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let service = format!("stream-{unique}");
    let seeding = Instant::now();
    seed(&mesh, &service).await;
    println!(
        "seeded {ENTRIES} entries in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    // Warm up: the route, the upstream connection and the runtime's buffers exist before the
    // baseline is taken, so the growth measured is the export's.
    let warm_up = client
        .request(export_request(&mesh, &it, &format!("none-{unique}")))
        .await
        .expect("the gateway answers");
    assert_eq!(warm_up.status(), 200);
    warm_up.into_body().collect().await.expect("warm-up body");

    let pid = mesh.processes[&Service::Gateway].pid();
    let before = resident_bytes(pid);
    let sampler = PeakSampler::start(pid);
    let started = Instant::now();
    let response = client
        .request(export_request(&mesh, &it, &service))
        .await
        .expect("the gateway answers");
    let time_to_headers = started.elapsed();
    let status = response.status();
    if status != 200 {
        let body = response
            .into_body()
            .collect()
            .await
            .map(|body| body.to_bytes());
        panic!(
            "export answered {status} after {:.1} s: {body:?}",
            time_to_headers.as_secs_f64()
        );
    }
    let headers = response.headers().clone();
    let mut body = response.into_body();
    let (mut total_bytes, mut frames) = (0_usize, 0_usize);
    let mut pending: Vec<u8> = Vec::new();
    let mut header_row: Option<String> = None;
    let mut rows = 0_usize;
    let (mut first_number, mut last_number) = (None, None);
    let mut paused_at = None;
    let mut pause = Duration::ZERO;
    let mut out_of_order: Option<String> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap_or_else(|error| {
            panic!("the body broke after {total_bytes} bytes, {rows} rows: {error}")
        });
        let Ok(data) = frame.into_data() else {
            continue;
        };
        frames += 1;
        total_bytes += data.len();
        pending.extend_from_slice(&data);
        let mut consumed = 0;
        while let Some(end) = pending[consumed..]
            .windows(2)
            .position(|pair| pair == b"\r\n")
        {
            let row = &pending[consumed..consumed + end];
            consumed += end + 2;
            if header_row.is_none() {
                header_row = Some(String::from_utf8_lossy(row).into_owned());
                continue;
            }
            let number = entry_number(row);
            // Newest first: every entry exactly once, from the last seeded down to the first.
            if out_of_order.is_none() && Some(number) != (ENTRIES - 1).checked_sub(rows) {
                out_of_order = Some(format!("row {rows} is entry {number}"));
            }
            first_number.get_or_insert(number);
            last_number = Some(number);
            rows += 1;
        }
        pending.drain(..consumed);
        if paused_at.is_none() && total_bytes >= PAUSE_AFTER_BYTES {
            let now = started.elapsed();
            paused_at = Some(now);
            // Past the route's deadline before reading on: the download must outlive it.
            let past_deadline =
                Duration::from_millis(ROUTE_DEADLINE_MS + 1_000).saturating_sub(now);
            pause = PAUSE.max(past_deadline);
            tokio::time::sleep(pause).await;
        }
    }
    let duration = started.elapsed();
    let peak = sampler.finish().await;

    let total = u64::try_from(total_bytes).expect("fits");
    let growth = peak.saturating_sub(before);
    println!(
        "export: {rows} entries, {total_bytes} bytes ({}) in {frames} body frames; headers after \
         {:.2} s, paused {:.1} s at {:.2} s, done after {:.1} s; gateway VmRSS before {}, peak {}, \
         growth {} (bound: {} = min(1/{MAX_GROWTH_FRACTION} of the body, {}))",
        mib(total),
        time_to_headers.as_secs_f64(),
        pause.as_secs_f64(),
        paused_at.unwrap_or_default().as_secs_f64(),
        duration.as_secs_f64(),
        mib(before),
        mib(peak),
        mib(growth),
        mib((total / MAX_GROWTH_FRACTION).min(MAX_GROWTH_BYTES)),
        mib(MAX_GROWTH_BYTES),
    );

    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let disposition = headers["content-disposition"].to_str().expect("ASCII");
    assert!(
        disposition.starts_with("attachment; filename=\"logs-") && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    assert!(
        !headers.contains_key("content-length"),
        "a streamed body has no length up front: {headers:?}"
    );
    assert!(pending.is_empty(), "the body ends with a whole row");
    assert_eq!(
        out_of_order, None,
        "a row is missing, repeated or out of order"
    );
    assert_eq!(
        header_row.as_deref(),
        Some("time,service,level,event_type,user_id,trace_id,message")
    );
    assert_eq!(rows, ENTRIES, "every entry arrives");
    assert_eq!(
        first_number,
        Some(ENTRIES - 1),
        "the newest entry comes first"
    );
    assert_eq!(last_number, Some(0), "the oldest entry comes last");
    assert!(frames > 1, "the body arrives in chunks");
    assert!(paused_at.is_some(), "the client paused mid-download");
    assert!(
        duration > Duration::from_millis(ROUTE_DEADLINE_MS),
        "the download outlived the route's unary deadline"
    );
    assert!(
        growth < total / MAX_GROWTH_FRACTION,
        "the gateway grew by {} relaying {}: more than 1/{MAX_GROWTH_FRACTION} of the export",
        mib(growth),
        mib(total)
    );
    assert!(
        growth < MAX_GROWTH_BYTES,
        "the gateway grew by {} relaying the export (bound {})",
        mib(growth),
        mib(MAX_GROWTH_BYTES)
    );
}
