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

use astro_shared::AppError;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// Where a write comes from: recorded on the row (created/updated) and in the change log.
#[derive(Debug, Clone)]
pub struct Origin {
    /// `agency-api`, or a worker name.
    pub service: &'static str,
    /// The acting user; `None` for the platform itself.
    pub user_id: Option<String>,
    /// W3C traceparent of the request; empty if none.
    pub traceparent: String,
}

impl Origin {
    /// The trace id part of the traceparent (`00-<trace id>-<span id>-<flags>`).
    pub fn trace_id(&self) -> Option<&str> {
        self.traceparent
            .split('-')
            .nth(1)
            .filter(|trace_id| !trace_id.is_empty())
    }
}

/// The creation and last-change origins every table carries.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub created_at: DateTime<Utc>,
    pub created_service: String,
    pub created_user_id: Option<String>,
    pub created_trace_id: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub updated_service: String,
    pub updated_user_id: Option<String>,
    pub updated_trace_id: Option<String>,
}

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

/// One change-log row, always inside the transaction of the change it records.
pub(crate) async fn record_change(
    connection: &mut PgConnection,
    origin: &Origin,
    entity: &str,
    entity_id: &str,
    event_type: &str,
    payload: serde_json::Value,
) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO change_log (entity, entity_id, event_type, payload, origin_service, \
         origin_user_id, origin_traceparent) VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''))",
    )
    .bind(entity)
    .bind(entity_id)
    .bind(event_type)
    .bind(payload)
    .bind(origin.service)
    .bind(origin.user_id.as_deref())
    .bind(&origin.traceparent)
    .execute(connection)
    .await?;
    Ok(())
}

/// The name of the constraint a statement violated, to turn it into a client error.
pub(crate) fn violated_constraint(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|database_error| database_error.constraint())
        .map(str::to_owned)
}

/// A page of a list: at most `limit` rows after skipping `offset`.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: u32,
    pub offset: u64,
}

impl Page {
    fn limit(self) -> i64 {
        i64::from(self.limit)
    }

    fn offset(self) -> i64 {
        i64::try_from(self.offset).unwrap_or(i64::MAX)
    }
}
