//! Traveler profiles.

use astro_shared::{
    AppError,
    accounts::ProfileMirror,
    changes::{AuditRow, Origin, record_change},
};
use uuid::Uuid;

use super::Store;
use crate::domain::traveler::TravelerDetails;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TravelerRow {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub tax_id: String,
    pub address_line1: String,
    pub address_line2: String,
    pub address_city: String,
    pub address_region: String,
    pub address_postal_code: String,
    pub address_country_code: String,
    pub profile_complete: bool,
    /// Derived from bookings (DOMAIN: VIP), computed by the query.
    pub vip: bool,
    #[sqlx(flatten)]
    pub audit: AuditRow,
}

const SELECT_TRAVELER: &str = "SELECT t.id, t.name, t.email, t.phone, t.tax_id, t.address_line1, \
    t.address_line2, t.address_city, t.address_region, t.address_postal_code, \
    t.address_country_code, t.profile_complete, \
    (SELECT count(DISTINCT b.launch_id) >= 2 FROM bookings b \
     WHERE b.traveler_id = t.id AND b.status IN ('CONFIRMED', 'COMPLETED')) AS vip, \
    t.created_at, t.created_service, t.created_user_id, t.created_trace_id, t.updated_at, \
    t.updated_service, t.updated_user_id, t.updated_trace_id FROM travelers t";

impl Store {
    pub async fn traveler(&self, id: Uuid) -> Result<Option<TravelerRow>, AppError> {
        Ok(
            sqlx::query_as::<_, TravelerRow>(&format!("{SELECT_TRAVELER} WHERE t.id = $1"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Creates the traveler record of an account (name and e-mail only, profile incomplete)
    /// unless it exists; returns the record either way.
    pub async fn ensure_traveler(
        &self,
        id: Uuid,
        name: &str,
        email: &str,
        origin: &Origin,
    ) -> Result<TravelerRow, AppError> {
        self.write_traveler(id, name, email, None, origin).await
    }

    /// Creates or replaces the traveler's contact and tax information.
    pub async fn save_traveler(
        &self,
        id: Uuid,
        name: &str,
        email: &str,
        details: &TravelerDetails,
        origin: &Origin,
    ) -> Result<TravelerRow, AppError> {
        self.write_traveler(id, name, email, Some(details), origin)
            .await
    }

    /// Mirrors the accounts' name and e-mail into their traveler records, each only if its
    /// version is greater than the one held, or equal with another name or e-mail (a record
    /// changed behind SystemDB's back, repaired by the sync job). One conditional upsert:
    /// replays and reordered deliveries change nothing; a TRAVELER without a record gets one, its profile
    /// incomplete. Answers how many records changed.
    pub async fn mirror_traveler_accounts(
        &self,
        mirrors: &[ProfileMirror],
        origin: &Origin,
    ) -> Result<u32, AppError> {
        let ids: Vec<Uuid> = mirrors.iter().map(|mirror| mirror.user_id).collect();
        let names: Vec<&str> = mirrors.iter().map(|mirror| mirror.name.as_str()).collect();
        let emails: Vec<&str> = mirrors.iter().map(|mirror| mirror.email.as_str()).collect();
        let versions: Vec<i64> = mirrors.iter().map(|mirror| mirror.version).collect();
        let mut transaction = self.pool().begin().await?;
        let changed: Vec<(Uuid, bool, i64)> = sqlx::query_as(
            "INSERT INTO travelers AS t (id, name, email, account_version, created_service, \
                 created_user_id, created_trace_id, updated_service, updated_user_id, \
                 updated_trace_id) \
             SELECT s.id, left(s.name, 100), s.email, s.version, $5, $6, $7, $5, $6, $7 \
             FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bigint[]) \
                 AS s(id, name, email, version) \
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email, \
                 account_version = EXCLUDED.account_version, updated_at = now(), \
                 updated_service = EXCLUDED.updated_service, \
                 updated_user_id = EXCLUDED.updated_user_id, \
                 updated_trace_id = EXCLUDED.updated_trace_id \
             WHERE t.account_version < EXCLUDED.account_version \
                 OR (t.account_version = EXCLUDED.account_version \
                     AND (t.name, t.email) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.email)) \
             RETURNING t.id, (xmax = 0) AS inserted, t.account_version",
        )
        .bind(&ids)
        .bind(&names)
        .bind(&emails)
        .bind(&versions)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_all(&mut *transaction)
        .await?;
        for (id, inserted, version) in &changed {
            record_change(
                &mut transaction,
                origin,
                "traveler",
                &id.to_string(),
                if *inserted {
                    "TRAVELER_CREATED"
                } else {
                    "TRAVELER_ACCOUNT_MIRRORED"
                },
                serde_json::json!({ "account_version": version }),
            )
            .await?;
        }
        transaction.commit().await?;
        Ok(u32::try_from(changed.len()).unwrap_or(u32::MAX))
    }

    async fn write_traveler(
        &self,
        id: Uuid,
        name: &str,
        email: &str,
        details: Option<&TravelerDetails>,
        origin: &Origin,
    ) -> Result<TravelerRow, AppError> {
        let mut transaction = self.pool().begin().await?;
        let address = details.map(|details| &details.billing_address);
        // Without details, an existing record is left as it is.
        let written: Option<(bool,)> = sqlx::query_as(
            "INSERT INTO travelers (id, name, email, phone, tax_id, address_line1, address_line2, \
                 address_city, address_region, address_postal_code, address_country_code, \
                 created_service, created_user_id, created_trace_id, \
                 updated_service, updated_user_id, updated_trace_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $12, $13, $14) \
             ON CONFLICT (id) DO UPDATE SET \
                 phone = EXCLUDED.phone, tax_id = EXCLUDED.tax_id, \
                 address_line1 = EXCLUDED.address_line1, address_line2 = EXCLUDED.address_line2, \
                 address_city = EXCLUDED.address_city, address_region = EXCLUDED.address_region, \
                 address_postal_code = EXCLUDED.address_postal_code, \
                 address_country_code = EXCLUDED.address_country_code, \
                 updated_at = now(), updated_service = EXCLUDED.updated_service, \
                 updated_user_id = EXCLUDED.updated_user_id, \
                 updated_trace_id = EXCLUDED.updated_trace_id \
             WHERE $15 \
             RETURNING (xmax = 0) AS inserted",
        )
        .bind(id)
        .bind(name)
        .bind(email)
        .bind(details.map_or("", |details| details.phone.as_str()))
        .bind(details.map_or("", |details| details.tax_id.as_str()))
        .bind(address.map_or("", |address| address.line1.as_str()))
        .bind(address.map_or("", |address| address.line2.as_str()))
        .bind(address.map_or("", |address| address.city.as_str()))
        .bind(address.map_or("", |address| address.region.as_str()))
        .bind(address.map_or("", |address| address.postal_code.as_str()))
        .bind(address.map_or("", |address| address.country_code.as_str()))
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .bind(details.is_some())
        .fetch_optional(&mut *transaction)
        .await?;
        if let Some((inserted,)) = written {
            let event = if inserted {
                "TRAVELER_CREATED"
            } else {
                "TRAVELER_UPDATED"
            };
            record_change(
                &mut transaction,
                origin,
                "traveler",
                &id.to_string(),
                event,
                serde_json::json!({ "profile_complete": details.is_some() }),
            )
            .await?;
        }
        transaction.commit().await?;
        self.traveler(id)
            .await?
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("traveler {id} vanished")))
    }
}

/// A traveler's contact and, on a launch, the seats and bookings they hold there.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TravelerContactRow {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub seats: i64,
    pub booking_ids: Vec<Uuid>,
}

impl Store {
    /// Travelers booked on a launch (a paid booking: CONFIRMED, COMPLETED, or cancelled
    /// because the launch was aborted), by traveler id, after `after`.
    pub async fn launch_travelers(
        &self,
        launch_id: Uuid,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<TravelerContactRow>, AppError> {
        Ok(sqlx::query_as::<_, TravelerContactRow>(
            "SELECT t.id, t.name, t.email, t.phone, sum(b.seats) AS seats, \
                    array_agg(b.id ORDER BY b.created_at) AS booking_ids \
             FROM bookings b JOIN travelers t ON t.id = b.traveler_id \
             WHERE b.launch_id = $1 \
               AND (b.status IN ('CONFIRMED', 'COMPLETED') \
                    OR (b.status = 'CANCELLED' AND b.cancellation_reason = 'LAUNCH_ABORTED')) \
               AND ($2::uuid IS NULL OR t.id > $2) \
             GROUP BY t.id ORDER BY t.id LIMIT $3",
        )
        .bind(launch_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// VIP travelers (DOMAIN: CONFIRMED or COMPLETED bookings on two launches), by id.
    pub async fn vip_travelers(
        &self,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<TravelerContactRow>, AppError> {
        Ok(sqlx::query_as::<_, TravelerContactRow>(
            "SELECT t.id, t.name, t.email, t.phone, 0::bigint AS seats, \
                    ARRAY[]::uuid[] AS booking_ids \
             FROM travelers t \
             WHERE ($1::uuid IS NULL OR t.id > $1) \
               AND (SELECT count(DISTINCT b.launch_id) FROM bookings b \
                    WHERE b.traveler_id = t.id AND b.status IN ('CONFIRMED', 'COMPLETED')) >= 2 \
             ORDER BY t.id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}
