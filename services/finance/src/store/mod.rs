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

pub mod credit_notes;
pub mod invoice_checkout;
pub mod invoices;
pub mod payments;
pub mod refunds;
pub mod reminders;
pub mod reports;

use std::time::Duration;

use astro_shared::AppError;
use sqlx::PgPool;
use uuid::Uuid;

pub(crate) use astro_shared::changes::record_change;
pub use astro_shared::changes::{AuditRow, Origin};

/// What a write keyed by a client's idempotency key did: the row it wrote, or, for a key used
/// before, the row that key wrote then, untouched.
#[derive(Debug, Clone)]
pub enum Keyed<T> {
    New(T),
    Replay(T),
}

impl<T> Keyed<T> {
    pub fn into_row(self) -> T {
        match self {
            Self::New(row) | Self::Replay(row) => row,
        }
    }

    pub fn is_replay(&self) -> bool {
        matches!(self, Self::Replay(_))
    }
}

/// FinanceAPI's view of OperationsDB.
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

/// A row a lease can be held on: the tables with `lease_token` and `lease_expires_at`.
#[derive(Debug, Clone, Copy)]
pub enum Leased {
    Payment,
    Refund,
}

impl Leased {
    fn table(self) -> &'static str {
        match self {
            Self::Payment => "payments",
            Self::Refund => "booking_refunds",
        }
    }
}

impl Store {
    /// Extends a lease still held with `token` to `lease` from now; `false` if another attempt
    /// took it over (ours ran out), in which case the caller must not call the gateway.
    pub async fn renew_lease(
        &self,
        leased: Leased,
        id: Uuid,
        token: Uuid,
        lease: Duration,
    ) -> Result<bool, AppError> {
        let renewed = sqlx::query(&format!(
            "UPDATE {} SET lease_expires_at = now() + make_interval(secs => $3) \
             WHERE id = $1 AND lease_token = $2",
            leased.table()
        ))
        .bind(id)
        .bind(token)
        .bind(seconds(lease))
        .execute(&self.pool)
        .await?;
        Ok(renewed.rows_affected() == 1)
    }

    /// Gives the lease back, so the next attempt need not wait for it to run out.
    pub async fn release_lease(
        &self,
        leased: Leased,
        id: Uuid,
        token: Uuid,
    ) -> Result<(), AppError> {
        sqlx::query(&format!(
            "UPDATE {} SET lease_token = NULL, lease_expires_at = NULL \
             WHERE id = $1 AND lease_token = $2",
            leased.table()
        ))
        .bind(id)
        .bind(token)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// A lease length as PostgreSQL `make_interval` seconds.
fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}
