//! What bookings show of their launch (AgencyAPI's tables, read only).

use astro_shared::AppError;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Store;

/// A launch as a booking shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LaunchSummaryRow {
    pub id: Uuid,
    pub slug: String,
    pub agency_id: Uuid,
    pub agency_name: String,
    pub rocket_name: String,
    pub rocket_range: String,
    pub spaceport: String,
    pub destination: String,
    pub scheduled_at: DateTime<Utc>,
    pub status: String,
    pub price_minor: i64,
    pub currency: String,
}

/// One entry of a launch's status history.
pub use astro_shared::launch_history::StatusChangeRow;

impl Store {
    /// Summaries of `ids` (missing ids are simply absent).
    pub async fn launch_summaries(&self, ids: &[Uuid]) -> Result<Vec<LaunchSummaryRow>, AppError> {
        Ok(sqlx::query_as::<_, LaunchSummaryRow>(
            "SELECT l.id, l.slug, l.agency_id, a.name AS agency_name, r.name AS rocket_name, \
                    r.rocket_range, l.spaceport, l.destination, l.scheduled_at, l.status, \
                    l.price_minor, l.currency \
             FROM launches l JOIN rockets r ON r.id = l.rocket_id \
             JOIN agencies a ON a.id = l.agency_id WHERE l.id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn launch_summary(&self, id: Uuid) -> Result<Option<LaunchSummaryRow>, AppError> {
        Ok(self.launch_summaries(&[id]).await?.into_iter().next())
    }

    /// The launch's status history, oldest first.
    pub async fn launch_history(&self, id: Uuid) -> Result<Vec<StatusChangeRow>, AppError> {
        astro_shared::launch_history::read(self.pool(), id).await
    }
}
