//! All of FinanceAPI's SQL. Every change of a charge or a refund runs in one transaction with
//! its `change_log` row, so a change and the record of where it came from commit or roll back
//! together. Invariants are held by the database: one charge per booking and one refund per
//! refund id (primary and unique keys), refunds within the charge (a conditional UPDATE and a
//! CHECK), and status changes only along the allowed edges (conditional UPDATEs).
//!
//! Leases (`lease_token`, `lease_expires_at`) only say who may call the payment gateway about a
//! row right now. Taking, renewing and giving one back changes no business data, so those
//! writes are not in the change log.
//!
//! Queries are checked at run time (`sqlx::query_as` with `FromRow`): the project has no
//! `.sqlx/` offline data yet.

pub mod payments;
pub mod refunds;

use std::time::Duration;

use sqlx::PgPool;

pub(crate) use astro_shared::changes::record_change;
pub use astro_shared::changes::{AuditRow, Origin};

/// FinanceAPI's view of OperationsDB.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// A lease length as PostgreSQL `make_interval` seconds.
fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}
