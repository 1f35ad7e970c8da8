//! All of BookingAPI's SQL. Every write runs in one transaction with its `change_log` row.
//! Seats are taken and given back only by conditional updates of the launch row and of the
//! traveler's per-launch seat count, so concurrency is decided by PostgreSQL, never by a read
//! followed by an unguarded write.
//!
//! BookingAPI reads AgencyAPI's `launches`, `rockets`, `agencies` and `launch_status_changes`
//! (same OperationsDB) and writes only `launches.seats_booked`, the column AgencyAPI set aside
//! for it.

pub mod bookings;
pub mod catalogue;
pub mod launches;
pub mod requests;
pub mod travelers;

pub use astro_shared::changes::{AuditRow, Origin};
use sqlx::PgPool;

/// BookingAPI's view of OperationsDB.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
