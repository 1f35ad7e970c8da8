//! All of BookingAPI's SQL and Redis commands. Every write runs in one transaction with its
//! `change_log` row. Seats are taken and given back only by conditional updates of the launch
//! row and of the traveler's per-launch seat count, so concurrency is decided by PostgreSQL,
//! never by a read followed by an unguarded write.
//!
//! BookingAPI reads AgencyAPI's `launches`, `rockets`, `agencies` and `launch_status_changes`
//! (same OperationsDB) and writes only `launches.seats_booked`, the column AgencyAPI set aside
//! for it. The catalogue's read model lives in CacheDB ([`cache`]), fed from [`catalogue`].

pub mod bookings;
pub mod cache;
pub mod catalogue;
pub mod launches;
pub mod request_events;
pub mod requests;
pub mod travelers;

pub use astro_shared::changes::{AuditRow, Origin};
use sqlx::PgPool;

use self::request_events::RequestEvents;

/// BookingAPI's view of OperationsDB.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    /// Wake-ups of the requests waiting on another request's idempotency key.
    request_events: RequestEvents,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            request_events: RequestEvents::default(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Listens for the ends of idempotency claims for ever (one connection of the pool); spawned
    /// once per process.
    pub fn listen_for_requests(&self) -> impl Future<Output = ()> + Send + 'static {
        self.request_events.clone().listen(self.pool.clone())
    }
}
