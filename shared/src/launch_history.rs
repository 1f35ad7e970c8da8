//! A launch's status history (`launch_status_changes` in OperationsDB): written by AgencyAPI,
//! which owns launches, and read the same way by AgencyAPI and by BookingAPI (a traveler sees
//! the history of the launches they booked).

use astro_proto::astrobookings::common::v1::{LaunchStatus, LaunchStatusChange};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    AppError,
    convert::{recorded_origin, timestamp},
};

/// One status change as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StatusChangeRow {
    pub status: String,
    pub previous_status: Option<String>,
    pub scheduled_at: DateTime<Utc>,
    pub previous_scheduled_at: Option<DateTime<Utc>>,
    pub reason: String,
    pub origin_service: String,
    pub origin_user_id: Option<String>,
    pub origin_trace_id: Option<String>,
    pub changed_at: DateTime<Utc>,
}

/// The history of launch `id`, oldest first (empty for an unknown launch).
pub async fn read(pool: &PgPool, id: Uuid) -> Result<Vec<StatusChangeRow>, AppError> {
    Ok(sqlx::query_as::<_, StatusChangeRow>(
        "SELECT status, previous_status, scheduled_at, previous_scheduled_at, reason, \
         origin_service, origin_user_id, origin_trace_id, changed_at \
         FROM launch_status_changes WHERE launch_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?)
}

/// A stored status name (`DELAYED`) as the contract's enum.
pub fn status(name: &str) -> LaunchStatus {
    LaunchStatus::from_str_name(&format!("LAUNCH_STATUS_{name}")).unwrap_or_default()
}

impl StatusChangeRow {
    pub fn to_proto(&self) -> LaunchStatusChange {
        LaunchStatusChange {
            status: status(&self.status).into(),
            previous_status: self
                .previous_status
                .as_deref()
                .map(status)
                .unwrap_or_default()
                .into(),
            scheduled_at: Some(timestamp(self.scheduled_at)),
            previous_scheduled_at: self.previous_scheduled_at.map(timestamp),
            reason: self.reason.clone(),
            origin: Some(recorded_origin(
                &self.origin_service,
                self.origin_user_id.as_deref(),
                self.origin_trace_id.as_deref(),
                self.changed_at,
            )),
        }
    }
}
