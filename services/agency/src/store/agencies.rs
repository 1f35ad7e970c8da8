//! The `agencies` table: profiles keyed by the owning account's user id.

use astro_shared::{AppError, accounts::ProfileMirror};
use uuid::Uuid;

use super::{AuditRow, Origin, Store, record_change};
use crate::domain::profile::AgencyProfile;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AgencyRow {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub contact_email: String,
    pub contact_phone: String,
    pub tax_id: String,
    pub address_line1: String,
    pub address_line2: String,
    pub address_city: String,
    pub address_region: String,
    pub address_postal_code: String,
    pub address_country_code: String,
    pub account_email: String,
    pub profile_complete: bool,
    pub successful_launch_count: i32,
    #[sqlx(flatten)]
    pub audit: AuditRow,
}

const SELECT_AGENCY: &str = "SELECT a.*, (SELECT count(*) FROM launches l \
     WHERE l.agency_id = a.id AND l.status = 'SUCCESSFUL')::int AS successful_launch_count \
     FROM agencies a";

impl Store {
    /// The agency's profile, `None` if it never wrote one.
    pub async fn agency(&self, agency_id: Uuid) -> Result<Option<AgencyRow>, AppError> {
        Ok(
            sqlx::query_as::<_, AgencyRow>(&format!("{SELECT_AGENCY} WHERE a.id = $1"))
                .bind(agency_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Creates or replaces the agency's profile (every field written). `account_email` is
    /// the account's login e-mail when the caller knows it (registration); `None` keeps the
    /// stored one.
    pub async fn put_agency_profile(
        &self,
        agency_id: Uuid,
        profile: &AgencyProfile,
        account_email: Option<&str>,
        origin: &Origin,
    ) -> Result<AgencyRow, AppError> {
        let mut transaction = self.pool.begin().await?;
        let address = &profile.legal_address;
        let created: bool = sqlx::query_scalar(
            "INSERT INTO agencies AS a (id, name, description, contact_email, contact_phone, \
             tax_id, address_line1, address_line2, address_city, address_region, \
             address_postal_code, address_country_code, account_email, created_service, \
             created_user_id, created_trace_id, updated_service, updated_user_id, \
             updated_trace_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, COALESCE($16, ''), \
             $13, $14, $15, $13, $14, $15) \
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, \
             description = EXCLUDED.description, contact_email = EXCLUDED.contact_email, \
             contact_phone = EXCLUDED.contact_phone, tax_id = EXCLUDED.tax_id, \
             address_line1 = EXCLUDED.address_line1, address_line2 = EXCLUDED.address_line2, \
             address_city = EXCLUDED.address_city, address_region = EXCLUDED.address_region, \
             address_postal_code = EXCLUDED.address_postal_code, \
             address_country_code = EXCLUDED.address_country_code, \
             account_email = COALESCE($16, a.account_email), updated_at = now(), \
             updated_service = EXCLUDED.updated_service, \
             updated_user_id = EXCLUDED.updated_user_id, \
             updated_trace_id = EXCLUDED.updated_trace_id \
             RETURNING (xmax = 0)",
        )
        .bind(agency_id)
        .bind(&profile.name)
        .bind(&profile.description)
        .bind(&profile.contact_email)
        .bind(&profile.contact_phone)
        .bind(&profile.tax_id)
        .bind(&address.line1)
        .bind(&address.line2)
        .bind(&address.city)
        .bind(&address.region)
        .bind(&address.postal_code)
        .bind(&address.country_code)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .bind(account_email)
        .fetch_one(&mut *transaction)
        .await?;
        let row = sqlx::query_as::<_, AgencyRow>(&format!("{SELECT_AGENCY} WHERE a.id = $1"))
            .bind(agency_id)
            .fetch_one(&mut *transaction)
            .await?;
        record_change(
            &mut transaction,
            origin,
            "agency",
            &agency_id.to_string(),
            if created {
                "AGENCY_PROFILE_CREATED"
            } else {
                "AGENCY_PROFILE_UPDATED"
            },
            serde_json::json!({
                "name": row.name,
                "contact_email": row.contact_email,
                "contact_phone": row.contact_phone,
                "tax_id": row.tax_id,
                "legal_address": {
                    "line1": row.address_line1, "line2": row.address_line2,
                    "city": row.address_city, "region": row.address_region,
                    "postal_code": row.address_postal_code,
                    "country_code": row.address_country_code,
                },
                "profile_complete": row.profile_complete,
            }),
        )
        .await?;
        transaction.commit().await?;
        Ok(row)
    }

    /// Mirrors the accounts' login e-mail into their agencies, each only if its version is
    /// greater than the one held, or equal with another e-mail (a record changed behind
    /// SystemDB's back, repaired by the sync job). One conditional UPDATE: replays and
    /// reordered deliveries change nothing. Answers how many agencies changed; accounts without an agency are not
    /// written.
    pub async fn mirror_agency_accounts(
        &self,
        mirrors: &[ProfileMirror],
        origin: &Origin,
    ) -> Result<u32, AppError> {
        let ids: Vec<Uuid> = mirrors.iter().map(|mirror| mirror.user_id).collect();
        let emails: Vec<&str> = mirrors.iter().map(|mirror| mirror.email.as_str()).collect();
        let versions: Vec<i64> = mirrors.iter().map(|mirror| mirror.version).collect();
        let mut transaction = self.pool.begin().await?;
        let changed: Vec<(Uuid, String, i64)> = sqlx::query_as(
            "UPDATE agencies AS a SET account_email = s.email, account_version = s.version, \
             updated_at = now(), updated_service = $4, updated_user_id = $5, \
             updated_trace_id = $6 \
             FROM UNNEST($1::uuid[], $2::text[], $3::bigint[]) AS s(id, email, version) \
             WHERE a.id = s.id AND (a.account_version < s.version \
                 OR (a.account_version = s.version AND a.account_email <> s.email)) \
             RETURNING a.id, a.account_email, a.account_version",
        )
        .bind(&ids)
        .bind(&emails)
        .bind(&versions)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_all(&mut *transaction)
        .await?;
        for (id, account_email, version) in &changed {
            record_change(
                &mut transaction,
                origin,
                "agency",
                &id.to_string(),
                "AGENCY_ACCOUNT_MIRRORED",
                serde_json::json!({ "account_email": account_email, "account_version": version }),
            )
            .await?;
        }
        transaction.commit().await?;
        Ok(u32::try_from(changed.len()).unwrap_or(u32::MAX))
    }
}
