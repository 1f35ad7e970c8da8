//! All of AgencyAPI's SQL. Every write runs in one transaction with its `change_log` row, so
//! a change and the record of where it came from commit or roll back together. Invariants are
//! held by the database (checks, unique indexes, the rocket-ownership foreign key) and by row
//! locks taken before a rule is decided, never by a read followed by an unguarded write.
//!
//! Queries are checked at run time (`sqlx::query_as` with `FromRow`): the project has no
//! `.sqlx/` offline data yet.

pub mod agencies;
pub mod launches;
pub mod report;
pub mod rockets;

use sqlx::PgPool;

pub(crate) use astro_shared::changes::record_change;
pub use astro_shared::changes::{AuditRow, Origin};

/// AgencyAPI's view of OperationsDB.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// The name of the constraint a statement violated, to turn it into a client error.
pub(crate) fn violated_constraint(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|database_error| database_error.constraint())
        .map(str::to_owned)
}

/// The rows of a list to read: at most `limit` after skipping `offset` (a page asks for one
/// row more than it shows, `astro_shared::paging::read_limit`, to learn whether another follows).
#[derive(Debug, Clone, Copy)]
pub struct Slice {
    pub limit: i64,
    pub offset: u64,
}

impl Slice {
    fn offset(self) -> i64 {
        i64::try_from(self.offset).unwrap_or(i64::MAX)
    }
}
