//! The `rockets` table. A rocket's launches lock it (`FOR SHARE`) while being scheduled, and
//! deleting locks it (`FOR UPDATE`), so a rocket can never be deleted under a launch being
//! scheduled on it.

use astro_shared::AppError;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{AuditRow, Origin, Slice, Store, record_change, violated_constraint};
use crate::domain::rocket::{NewRocket, RocketChanges, RocketRange};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RocketRow {
    pub id: Uuid,
    pub agency_id: Uuid,
    pub name: String,
    pub passenger_capacity: i32,
    pub rocket_range: String,
    pub retired_at: Option<DateTime<Utc>>,
    pub upcoming_launch_count: i32,
    #[sqlx(flatten)]
    pub audit: AuditRow,
}

const SELECT_ROCKET: &str = "SELECT r.id, r.agency_id, r.name, r.passenger_capacity, \
     r.rocket_range, r.retired_at, (SELECT count(*) FROM launches l WHERE l.rocket_id = r.id \
     AND l.status IN ('SCHEDULED', 'DELAYED'))::int AS upcoming_launch_count, r.created_at, \
     r.created_service, r.created_user_id, r.created_trace_id, r.updated_at, r.updated_service, \
     r.updated_user_id, r.updated_trace_id FROM rockets r";

fn name_taken(error: sqlx::Error) -> AppError {
    if violated_constraint(&error).as_deref() == Some("rockets_agency_name_key") {
        AppError::AlreadyExists("the agency already has a rocket with this name".into())
    } else {
        error.into()
    }
}

fn payload(row: &RocketRow) -> serde_json::Value {
    serde_json::json!({
        "agency_id": row.agency_id,
        "name": row.name,
        "passenger_capacity": row.passenger_capacity,
        "range": row.rocket_range,
        "retired_at": row.retired_at.map(|time| time.to_rfc3339()),
    })
}

impl Store {
    /// Adds a rocket to a complete agency's fleet.
    pub async fn create_rocket(
        &self,
        agency_id: Uuid,
        rocket: &NewRocket,
        origin: &Origin,
    ) -> Result<RocketRow, AppError> {
        let mut transaction = self.pool.begin().await?;
        // Inserting from the agency row makes "profile complete" part of the write itself.
        let id: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO rockets (agency_id, name, passenger_capacity, rocket_range, \
             created_service, created_user_id, created_trace_id, updated_service, \
             updated_user_id, updated_trace_id) \
             SELECT a.id, $2, $3, $4, $5, $6, $7, $5, $6, $7 FROM agencies a \
             WHERE a.id = $1 AND a.profile_complete RETURNING id",
        )
        .bind(agency_id)
        .bind(&rocket.name)
        .bind(rocket.passenger_capacity)
        .bind(rocket.range.as_str())
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_optional(&mut *transaction)
        .await
        .map_err(name_taken)?;
        let id = id.ok_or_else(profile_incomplete)?;
        let row = fetch_rocket(&mut transaction, agency_id, id).await?;
        record_change(
            &mut transaction,
            origin,
            "rocket",
            &id.to_string(),
            "ROCKET_CREATED",
            payload(&row),
        )
        .await?;
        transaction.commit().await?;
        Ok(row)
    }

    /// One of the agency's rockets (deleted ones are gone).
    pub async fn rocket(&self, agency_id: Uuid, id: Uuid) -> Result<RocketRow, AppError> {
        let mut connection = self.pool.acquire().await?;
        fetch_rocket(&mut connection, agency_id, id).await
    }

    /// The agency's rockets by name.
    pub async fn rockets(
        &self,
        agency_id: Uuid,
        include_retired: bool,
        range: Option<RocketRange>,
        slice: Slice,
    ) -> Result<Vec<RocketRow>, AppError> {
        Ok(sqlx::query_as::<_, RocketRow>(&format!(
            "{SELECT_ROCKET} WHERE r.agency_id = $1 AND r.deleted_at IS NULL \
             AND ($2 OR r.retired_at IS NULL) AND ($3::text IS NULL OR r.rocket_range = $3) \
             ORDER BY lower(r.name), r.id LIMIT $4 OFFSET $5"
        ))
        .bind(agency_id)
        .bind(include_retired)
        .bind(range.map(RocketRange::as_str))
        .bind(slice.limit)
        .bind(slice.offset())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Changes the fields given. A new capacity is copied onto the rocket's open launches, where
    /// the checks `seats_booked <= capacity` and `minimum_occupancy <= capacity` refuse it if
    /// it would no longer fit.
    pub async fn update_rocket(
        &self,
        agency_id: Uuid,
        id: Uuid,
        changes: &RocketChanges,
        origin: &Origin,
    ) -> Result<RocketRow, AppError> {
        let mut transaction = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE rockets SET name = COALESCE($3, name), \
             passenger_capacity = COALESCE($4, passenger_capacity), \
             rocket_range = COALESCE($5, rocket_range), updated_at = now(), \
             updated_service = $6, updated_user_id = $7, updated_trace_id = $8 \
             WHERE id = $1 AND agency_id = $2 AND deleted_at IS NULL",
        )
        .bind(id)
        .bind(agency_id)
        .bind(changes.name.as_deref())
        .bind(changes.passenger_capacity)
        .bind(changes.range.map(RocketRange::as_str))
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .execute(&mut *transaction)
        .await
        .map_err(name_taken)?;
        if updated.rows_affected() == 0 {
            return Err(AppError::NotFound("rocket".into()));
        }
        let mut resized_launches = Vec::new();
        if let Some(capacity) = changes.passenger_capacity {
            resized_launches = sqlx::query_scalar::<_, Uuid>(
                "UPDATE launches SET capacity = $2 WHERE rocket_id = $1 \
                 AND status IN ('SCHEDULED', 'DELAYED') AND capacity <> $2 RETURNING id",
            )
            .bind(id)
            .bind(capacity)
            .fetch_all(&mut *transaction)
            .await
            .map_err(|error| match violated_constraint(&error).as_deref() {
                Some("launches_seats_within_capacity") => AppError::FailedPrecondition(
                    "an upcoming launch of this rocket has more seats booked than this capacity"
                        .into(),
                ),
                Some("launches_minimum_within_capacity") => AppError::FailedPrecondition(
                    "an upcoming launch of this rocket needs a minimum occupancy above this \
                     capacity"
                        .into(),
                ),
                _ => error.into(),
            })?;
        }
        let row = fetch_rocket(&mut transaction, agency_id, id).await?;
        let mut change = payload(&row);
        change["changed_fields"] = serde_json::json!(changed_fields(changes));
        change["resized_launch_ids"] = serde_json::json!(resized_launches);
        record_change(
            &mut transaction,
            origin,
            "rocket",
            &id.to_string(),
            "ROCKET_UPDATED",
            change,
        )
        .await?;
        transaction.commit().await?;
        Ok(row)
    }

    /// Retires a rocket; retiring a retired rocket changes nothing and records nothing.
    pub async fn retire_rocket(
        &self,
        agency_id: Uuid,
        id: Uuid,
        origin: &Origin,
    ) -> Result<RocketRow, AppError> {
        let mut transaction = self.pool.begin().await?;
        let retired = sqlx::query(
            "UPDATE rockets SET retired_at = now(), updated_at = now(), updated_service = $3, \
             updated_user_id = $4, updated_trace_id = $5 \
             WHERE id = $1 AND agency_id = $2 AND deleted_at IS NULL AND retired_at IS NULL",
        )
        .bind(id)
        .bind(agency_id)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .execute(&mut *transaction)
        .await?;
        let row = fetch_rocket(&mut transaction, agency_id, id).await?;
        if retired.rows_affected() == 1 {
            record_change(
                &mut transaction,
                origin,
                "rocket",
                &id.to_string(),
                "ROCKET_RETIRED",
                payload(&row),
            )
            .await?;
        }
        transaction.commit().await?;
        Ok(row)
    }

    /// Deletes a rocket with no open launch: removed if it never flew, hidden otherwise so its
    /// launches keep their rocket.
    pub async fn delete_rocket(
        &self,
        agency_id: Uuid,
        id: Uuid,
        origin: &Origin,
    ) -> Result<(), AppError> {
        let mut transaction = self.pool.begin().await?;
        // The lock makes the launch check below hold until commit: scheduling takes FOR SHARE.
        let locked: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM rockets WHERE id = $1 AND agency_id = $2 AND deleted_at IS NULL \
             FOR UPDATE",
        )
        .bind(id)
        .bind(agency_id)
        .fetch_optional(&mut *transaction)
        .await?;
        if locked.is_none() {
            return Err(AppError::NotFound("rocket".into()));
        }
        let (open, total): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status IN ('SCHEDULED', 'DELAYED')), count(*) \
             FROM launches WHERE rocket_id = $1",
        )
        .bind(id)
        .fetch_one(&mut *transaction)
        .await?;
        if open > 0 {
            return Err(AppError::FailedPrecondition(
                "the rocket has upcoming launches: retire it instead".into(),
            ));
        }
        let soft = total > 0;
        if soft {
            sqlx::query(
                "UPDATE rockets SET deleted_at = now(), updated_at = now(), updated_service = $2, \
                 updated_user_id = $3, updated_trace_id = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(origin.service)
            .bind(origin.user_id.as_deref())
            .bind(origin.trace_id())
            .execute(&mut *transaction)
            .await?;
        } else {
            sqlx::query("DELETE FROM rockets WHERE id = $1")
                .bind(id)
                .execute(&mut *transaction)
                .await?;
        }
        record_change(
            &mut transaction,
            origin,
            "rocket",
            &id.to_string(),
            "ROCKET_DELETED",
            serde_json::json!({ "agency_id": agency_id, "kept_for_history": soft }),
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }
}

fn changed_fields(changes: &RocketChanges) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if changes.name.is_some() {
        fields.push("name");
    }
    if changes.passenger_capacity.is_some() {
        fields.push("passenger_capacity");
    }
    if changes.range.is_some() {
        fields.push("range");
    }
    fields
}

pub(crate) fn profile_incomplete() -> AppError {
    AppError::FailedPrecondition(
        "complete the agency profile (name, tax id, legal address) first".into(),
    )
}

async fn fetch_rocket(
    connection: &mut sqlx::PgConnection,
    agency_id: Uuid,
    id: Uuid,
) -> Result<RocketRow, AppError> {
    sqlx::query_as::<_, RocketRow>(&format!(
        "{SELECT_ROCKET} WHERE r.id = $1 AND r.agency_id = $2 AND r.deleted_at IS NULL"
    ))
    .bind(id)
    .bind(agency_id)
    .fetch_optional(connection)
    .await?
    .ok_or_else(|| AppError::NotFound("rocket".into()))
}
