//! The `launches` table and its status history. A status change locks the launch row, lets the
//! domain's status machine decide, then writes the launch, its history entry and the change
//! log in one transaction: concurrent changes of one launch queue behind the lock.

use astro_shared::AppError;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    AuditRow, Origin, Slice, Store, record_change, rockets::profile_incomplete, violated_constraint,
};
use crate::domain::launch::{
    self, LaunchFilter, LaunchSort, LaunchStatus, NewLaunch, StatusAction, Transition,
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LaunchRow {
    pub id: Uuid,
    pub slug: String,
    pub agency_id: Uuid,
    pub agency_name: String,
    pub rocket_id: Uuid,
    pub rocket_name: String,
    pub rocket_range: String,
    pub capacity: i32,
    pub seats_booked: i32,
    pub spaceport: String,
    pub destination: String,
    pub scheduled_at: DateTime<Utc>,
    pub original_scheduled_at: DateTime<Utc>,
    pub price_minor: i64,
    pub currency: String,
    pub minimum_occupancy: i32,
    pub status: String,
    pub status_reason: String,
    pub status_changed_at: DateTime<Utc>,
    #[sqlx(flatten)]
    pub audit: AuditRow,
}

pub use astro_shared::launch_history::StatusChangeRow;

const SELECT_LAUNCH: &str = "SELECT l.id, l.slug, l.agency_id, a.name AS agency_name, \
     l.rocket_id, r.name AS rocket_name, r.rocket_range, l.capacity, l.seats_booked, \
     l.spaceport, l.destination, l.scheduled_at, l.original_scheduled_at, l.price_minor, \
     l.currency, l.minimum_occupancy, l.status, l.status_reason, l.status_changed_at, \
     l.created_at, l.created_service, l.created_user_id, l.created_trace_id, l.updated_at, \
     l.updated_service, l.updated_user_id, l.updated_trace_id \
     FROM launches l JOIN agencies a ON a.id = l.agency_id JOIN rockets r ON r.id = l.rocket_id";

/// The SQL expression of a sort key: a fixed string per variant, never client text.
fn sort_expression(sort: LaunchSort) -> &'static str {
    match sort {
        LaunchSort::ScheduledAt => "l.scheduled_at",
        LaunchSort::OccupancyPercent => "(l.seats_booked::float8 / l.capacity)",
        LaunchSort::SeatsBooked => "l.seats_booked",
        LaunchSort::SeatsAvailable => "(l.capacity - l.seats_booked)",
        LaunchSort::CreatedAt => "l.created_at",
    }
}

const FILTER: &str = "WHERE ($1::uuid IS NULL OR l.agency_id = $1) \
     AND (cardinality($2::text[]) = 0 OR l.status = ANY($2)) \
     AND ($3::boolean IS NULL OR (l.seats_booked >= l.minimum_occupancy) = $3) \
     AND ($4::timestamptz IS NULL OR l.scheduled_at >= $4) \
     AND ($5::timestamptz IS NULL OR l.scheduled_at < $5) \
     AND ($6::timestamptz IS NULL OR l.status_changed_at >= $6) \
     AND ($7::timestamptz IS NULL OR l.status_changed_at < $7) \
     AND ($8::uuid IS NULL OR l.rocket_id = $8)";

fn launch_payload(row: &LaunchRow) -> serde_json::Value {
    serde_json::json!({
        "slug": row.slug,
        "agency_id": row.agency_id,
        "rocket_id": row.rocket_id,
        "spaceport": row.spaceport,
        "destination": row.destination,
        "scheduled_at": row.scheduled_at.to_rfc3339(),
        "original_scheduled_at": row.original_scheduled_at.to_rfc3339(),
        "price_per_seat": { "amount_minor": row.price_minor, "currency": row.currency },
        "capacity": row.capacity,
        "minimum_occupancy": row.minimum_occupancy,
        "status": row.status,
        "status_reason": row.status_reason,
    })
}

impl Store {
    /// Schedules a launch on one of the agency's rockets.
    pub async fn schedule_launch(
        &self,
        agency_id: Uuid,
        new: &NewLaunch,
        origin: &Origin,
    ) -> Result<LaunchRow, AppError> {
        let mut transaction = self.pool.begin().await?;
        // FOR SHARE: the rocket cannot be retired, deleted or resized until this commits.
        let rocket: Option<(String, i32, bool, bool)> = sqlx::query_as(
            "SELECT r.name, r.passenger_capacity, r.retired_at IS NOT NULL, a.profile_complete \
             FROM rockets r JOIN agencies a ON a.id = r.agency_id \
             WHERE r.id = $1 AND r.agency_id = $2 AND r.deleted_at IS NULL FOR SHARE OF r",
        )
        .bind(new.rocket_id)
        .bind(agency_id)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some((rocket_name, capacity, retired, profile_complete)) = rocket else {
            return Err(AppError::NotFound("rocket".into()));
        };
        if !profile_complete {
            return Err(profile_incomplete());
        }
        if retired {
            return Err(AppError::FailedPrecondition(
                "the rocket is retired: no new launches".into(),
            ));
        }
        if new.minimum_occupancy > capacity {
            return Err(AppError::invalid(
                "minimum_occupancy",
                format!("must be between 1 and the rocket's capacity ({capacity})"),
            ));
        }
        let slug = launch::slug(
            &rocket_name,
            &new.spaceport,
            &new.destination,
            new.scheduled_at,
        );
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO launches (slug, agency_id, rocket_id, spaceport, destination, \
             scheduled_at, original_scheduled_at, price_minor, currency, capacity, \
             minimum_occupancy, created_service, created_user_id, created_trace_id, \
             updated_service, updated_user_id, updated_trace_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11, $12, $13, $11, $12, $13) \
             RETURNING id",
        )
        .bind(&slug)
        .bind(agency_id)
        .bind(new.rocket_id)
        .bind(&new.spaceport)
        .bind(&new.destination)
        .bind(new.scheduled_at)
        .bind(new.price_minor)
        .bind(&new.currency)
        .bind(capacity)
        .bind(new.minimum_occupancy)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_one(&mut *transaction)
        .await
        .map_err(|error| {
            if violated_constraint(&error).as_deref() == Some("launches_slug_key") {
                AppError::AlreadyExists(format!("a launch with the slug {slug} already exists"))
            } else {
                error.into()
            }
        })?;
        insert_history(
            &mut transaction,
            id,
            LaunchStatus::Scheduled,
            None,
            new.scheduled_at,
            None,
            "",
            origin,
        )
        .await?;
        let row = fetch_launch(&mut transaction, Some(agency_id), id).await?;
        record_change(
            &mut transaction,
            origin,
            "launch",
            &id.to_string(),
            "LAUNCH_SCHEDULED",
            launch_payload(&row),
        )
        .await?;
        transaction.commit().await?;
        Ok(row)
    }

    /// A launch; scoped to `agency_id` when given (another agency's is NOT_FOUND).
    pub async fn launch(&self, agency_id: Option<Uuid>, id: Uuid) -> Result<LaunchRow, AppError> {
        let mut connection = self.pool.acquire().await?;
        fetch_launch(&mut connection, agency_id, id).await
    }

    /// Launches by id, whatever their agency.
    pub async fn launches_by_id(&self, ids: &[Uuid]) -> Result<Vec<LaunchRow>, AppError> {
        Ok(
            sqlx::query_as::<_, LaunchRow>(&format!("{SELECT_LAUNCH} WHERE l.id = ANY($1)"))
                .bind(ids)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// A launch's status history, oldest first.
    pub async fn launch_history(&self, id: Uuid) -> Result<Vec<StatusChangeRow>, AppError> {
        astro_shared::launch_history::read(&self.pool, id).await
    }

    /// The launches of `slice` and the number matching the filter.
    pub async fn launches(
        &self,
        filter: &LaunchFilter,
        sort: LaunchSort,
        descending: bool,
        slice: Slice,
    ) -> Result<(Vec<LaunchRow>, i64), AppError> {
        let statuses: Vec<&str> = filter
            .statuses
            .iter()
            .map(|status| status.as_str())
            .collect();
        let direction = if descending { "DESC" } else { "ASC" };
        let list_sql = format!(
            "{SELECT_LAUNCH} {FILTER} ORDER BY {key} {direction}, l.id {direction} \
             LIMIT $9 OFFSET $10",
            key = sort_expression(sort)
        );
        let count_sql = format!("SELECT count(*) FROM launches l {FILTER}");
        let rows = sqlx::query_as::<_, LaunchRow>(&list_sql)
            .bind(filter.agency_id)
            .bind(&statuses)
            .bind(filter.viable)
            .bind(filter.scheduled_after)
            .bind(filter.scheduled_before)
            .bind(filter.status_changed_after)
            .bind(filter.status_changed_before)
            .bind(filter.rocket_id)
            .bind(slice.limit)
            .bind(slice.offset())
            .fetch_all(&self.pool)
            .await?;
        let total: i64 = sqlx::query_scalar(&count_sql)
            .bind(filter.agency_id)
            .bind(&statuses)
            .bind(filter.viable)
            .bind(filter.scheduled_after)
            .bind(filter.scheduled_before)
            .bind(filter.status_changed_after)
            .bind(filter.status_changed_before)
            .bind(filter.rocket_id)
            .fetch_one(&self.pool)
            .await?;
        Ok((rows, total))
    }

    /// Applies a status action to one of the agency's launches. Returns the launch and whether
    /// it changed (a repeated final step changes nothing and records nothing).
    pub async fn change_launch_status(
        &self,
        agency_id: Uuid,
        id: Uuid,
        action: &StatusAction,
        now: DateTime<Utc>,
        origin: &Origin,
    ) -> Result<(LaunchRow, bool), AppError> {
        let mut transaction = self.pool.begin().await?;
        let current: Option<(String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT status, scheduled_at FROM launches WHERE id = $1 AND agency_id = $2 \
             FOR UPDATE",
        )
        .bind(id)
        .bind(agency_id)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some((status, scheduled_at)) = current else {
            return Err(AppError::NotFound("launch".into()));
        };
        let status = LaunchStatus::parse(&status)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("unknown launch status {status}")))?;
        let (new_status, new_scheduled_at) =
            match launch::transition(status, scheduled_at, action, now)? {
                Transition::Unchanged => {
                    let row = fetch_launch(&mut transaction, Some(agency_id), id).await?;
                    return Ok((row, false));
                }
                Transition::Change {
                    status,
                    scheduled_at,
                } => (status, scheduled_at),
            };
        sqlx::query(
            "UPDATE launches SET status = $2, scheduled_at = $3, status_reason = $4, \
             status_changed_at = now(), updated_at = now(), updated_service = $5, \
             updated_user_id = $6, updated_trace_id = $7 WHERE id = $1",
        )
        .bind(id)
        .bind(new_status.as_str())
        .bind(new_scheduled_at)
        .bind(action.reason())
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .execute(&mut *transaction)
        .await?;
        insert_history(
            &mut transaction,
            id,
            new_status,
            Some(status),
            new_scheduled_at,
            Some(scheduled_at),
            action.reason(),
            origin,
        )
        .await?;
        let row = fetch_launch(&mut transaction, Some(agency_id), id).await?;
        let mut payload = launch_payload(&row);
        payload["previous_status"] = serde_json::json!(status.as_str());
        payload["previous_scheduled_at"] = serde_json::json!(scheduled_at.to_rfc3339());
        payload["reason"] = serde_json::json!(action.reason());
        record_change(
            &mut transaction,
            origin,
            "launch",
            &id.to_string(),
            &format!("LAUNCH_{}", new_status.as_str()),
            payload,
        )
        .await?;
        transaction.commit().await?;
        Ok((row, true))
    }
}

#[expect(clippy::too_many_arguments, reason = "one column each, called twice")]
async fn insert_history(
    connection: &mut sqlx::PgConnection,
    launch_id: Uuid,
    status: LaunchStatus,
    previous_status: Option<LaunchStatus>,
    scheduled_at: DateTime<Utc>,
    previous_scheduled_at: Option<DateTime<Utc>>,
    reason: &str,
    origin: &Origin,
) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO launch_status_changes (launch_id, status, previous_status, scheduled_at, \
         previous_scheduled_at, reason, origin_service, origin_user_id, origin_trace_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(launch_id)
    .bind(status.as_str())
    .bind(previous_status.map(LaunchStatus::as_str))
    .bind(scheduled_at)
    .bind(previous_scheduled_at)
    .bind(reason)
    .bind(origin.service)
    .bind(origin.user_id.as_deref())
    .bind(origin.trace_id())
    .execute(connection)
    .await?;
    Ok(())
}

async fn fetch_launch(
    connection: &mut sqlx::PgConnection,
    agency_id: Option<Uuid>,
    id: Uuid,
) -> Result<LaunchRow, AppError> {
    sqlx::query_as::<_, LaunchRow>(&format!(
        "{SELECT_LAUNCH} WHERE l.id = $1 AND ($2::uuid IS NULL OR l.agency_id = $2)"
    ))
    .bind(id)
    .bind(agency_id)
    .fetch_optional(connection)
    .await?
    .ok_or_else(|| AppError::NotFound("launch".into()))
}
