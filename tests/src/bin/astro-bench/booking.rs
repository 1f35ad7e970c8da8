//! Bookings with contention: every worker books on the same few hot launches, 1 or 2 seats at
//! a time, as a random one of many travelers; a launch that sells out is replaced by a fresh
//! one, scheduled ahead by a background task. Then the seat audit: oversold seats counted in
//! OperationsDB.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use astro_e2e::fixtures::{self, Actor, passengers};

use crate::load::{Answer, Http, Outcome, Rng, Sample, rest_error, transport_error};

pub const PRICE_MINOR: i64 = 1_000_000;
const PAYMENT_METHOD: &str = "pm_card_visa";
/// Fresh launches kept scheduled ahead of the hot ones, so a worker rarely waits for one.
pub const FRESH_AHEAD: usize = 24;

/// One booking of one seat, unmeasured (opens the connections of the whole path); returns the
/// seats it confirmed.
pub async fn warm_up(http: &Http, pool: &LaunchPool, travelers: &[Actor]) -> i64 {
    let mut rng = Rng::new(0);
    let (Some(launch), Some(traveler)) = (pool.pick(&mut rng), travelers.first()) else {
        return 0;
    };
    let (outcome, message) = book_rest(http, traveler, &launch, 1).await;
    if let Some(message) = message.filter(|_| outcome != Outcome::Confirmed) {
        println!("  warm-up booking: {} ({message})", outcome.label());
    }
    i64::from(outcome == Outcome::Confirmed)
}

/// Schedules launches of the bench's agency and rocket.
#[derive(Clone)]
pub struct Scheduler {
    pub gateway: SocketAddr,
    pub agency: Actor,
    pub rocket: String,
}

impl Scheduler {
    pub async fn fill(&self, pool: &LaunchPool, count: usize) {
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
    pub async fn keep_ahead(self, pool: Arc<LaunchPool>) {
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
pub struct LaunchPool {
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
    pub fn new(hot: usize) -> Self {
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

    pub fn pick(&self, rng: &mut Rng) -> Option<String> {
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

    pub fn all(&self) -> Vec<String> {
        self.lock().all.clone()
    }
}

/// Books on the pool's hot launches until `deadline`.
pub async fn book_until(
    http: Http,
    pool: Arc<LaunchPool>,
    travelers: Arc<Vec<Actor>>,
    worker: usize,
    deadline: Instant,
) -> Vec<Sample> {
    let mut rng = Rng::new(worker);
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        let Some(launch) = pool.pick(&mut rng) else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let traveler = &travelers[rng.below(travelers.len())];
        let seats = 1 + rng.below(2);
        let started = Instant::now();
        let (outcome, message) = book_rest(&http, traveler, &launch, seats).await;
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

async fn book_rest(http: &Http, traveler: &Actor, launch: &str, seats: usize) -> Answer {
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
    let key = uuid::Uuid::new_v4().to_string();
    let authorization = format!("Bearer {}", traveler.token);
    let headers = [
        ("authorization", authorization.as_str()),
        ("idempotency-key", key.as_str()),
    ];
    match http
        .rest("POST", "/v1/bookings", &headers, Some(body.to_string()))
        .await
    {
        Ok((200, json)) => (
            Outcome::booked(json["booking"]["status"].as_str().unwrap_or("")),
            None,
        ),
        Ok((status, json)) => rest_error(status, &json),
        Err(error) => transport_error(&error),
    }
}

/// Counts, over the bench agency's launches, seats sold beyond capacity and seat counters that
/// disagree with the bookings: `seats_booked` must equal the seats of PENDING_PAYMENT,
/// CONFIRMED and COMPLETED bookings plus those of cancelled bookings whose seats stay sold.
pub async fn seat_audit(
    database_url: &str,
    agency_id: &str,
    answered_seats: i64,
) -> anyhow::Result<i64> {
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
    let oversold = oversold.max(counter_over);
    println!("oversold seats: {oversold}");
    Ok(oversold)
}

/// Registers `count` travelers with complete profiles, a few at a time (each registration and
/// login hashes a password).
pub async fn travelers(gateway: SocketAddr, count: usize) -> Vec<Actor> {
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
