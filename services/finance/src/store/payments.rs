//! The `payments` table: one charge per booking, recorded before the gateway is called and
//! moved along by what the gateway answers.

use std::time::Duration;

use astro_shared::AppError;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{AuditRow, Origin, Store, record_change, seconds};
use crate::domain::charge::{IntentState, NewCharge, PaymentStatus};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: Uuid,
    pub booking_id: Uuid,
    pub traveler_id: Uuid,
    pub launch_id: Uuid,
    pub agency_id: Uuid,
    pub amount_minor: i64,
    pub currency: String,
    pub payment_method_id: String,
    pub receipt_email: String,
    pub description: String,
    pub status: String,
    pub gateway_payment_id: Option<String>,
    pub client_secret: Option<String>,
    pub failure_message: Option<String>,
    pub refunded_minor: i64,
    pub succeeded_at: Option<DateTime<Utc>>,
    pub gateway_attempts: i32,
    #[sqlx(flatten)]
    pub audit: AuditRow,
}

impl PaymentRow {
    /// The status; the CHECK constraint keeps unknown names out, PENDING is the safe reading.
    pub fn status(&self) -> PaymentStatus {
        PaymentStatus::parse(&self.status).unwrap_or(PaymentStatus::Pending)
    }
}

const COLUMNS: &str = "id, booking_id, traveler_id, launch_id, agency_id, amount_minor, currency, \
     payment_method_id, receipt_email, description, status, gateway_payment_id, client_secret, \
     failure_message, refunded_minor, succeeded_at, gateway_attempts, created_at, \
     created_service, created_user_id, created_trace_id, updated_at, updated_service, \
     updated_user_id, updated_trace_id";

/// What the change log says about a charge (never the client secret).
fn payload(row: &PaymentRow) -> serde_json::Value {
    serde_json::json!({
        "booking_id": row.booking_id,
        "traveler_id": row.traveler_id,
        "launch_id": row.launch_id,
        "agency_id": row.agency_id,
        "amount": { "amount_minor": row.amount_minor, "currency": row.currency },
        "refunded": { "amount_minor": row.refunded_minor, "currency": row.currency },
        "status": row.status,
        "gateway_payment_id": row.gateway_payment_id,
        "failure_message": row.failure_message,
    })
}

impl Store {
    /// Records the charge of a booking, or finds the one already recorded (`true` if this call
    /// created it). Committed before anything is sent to the gateway.
    pub async fn insert_or_get_payment(
        &self,
        charge: &NewCharge,
        origin: &Origin,
    ) -> Result<(PaymentRow, bool), AppError> {
        let mut transaction = self.pool.begin().await?;
        // A concurrent insert of the same booking waits for the first to commit, then does
        // nothing: exactly one row per booking, whatever the concurrency.
        let inserted = sqlx::query_as::<_, PaymentRow>(&format!(
            "INSERT INTO payments (booking_id, traveler_id, launch_id, agency_id, amount_minor, \
             currency, payment_method_id, receipt_email, description, created_service, \
             created_user_id, created_trace_id, updated_service, updated_user_id, \
             updated_trace_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $10, $11, $12) \
             ON CONFLICT (booking_id) DO NOTHING RETURNING {COLUMNS}"
        ))
        .bind(charge.booking_id)
        .bind(charge.traveler_id)
        .bind(charge.launch_id)
        .bind(charge.agency_id)
        .bind(charge.amount_minor)
        .bind(&charge.currency)
        .bind(&charge.payment_method_id)
        .bind(&charge.receipt_email)
        .bind(&charge.description)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(row) = inserted else {
            transaction.rollback().await?;
            let existing = self
                .payment_by_booking(charge.booking_id)
                .await?
                .ok_or_else(|| {
                    AppError::internal(anyhow::anyhow!(
                        "payment of booking {} conflicted but is gone",
                        charge.booking_id
                    ))
                })?;
            return Ok((existing, false));
        };
        record_change(
            &mut transaction,
            origin,
            "payment",
            &row.id.to_string(),
            "PAYMENT_CREATED",
            payload(&row),
        )
        .await?;
        transaction.commit().await?;
        Ok((row, true))
    }

    pub async fn payment(&self, id: Uuid) -> Result<PaymentRow, AppError> {
        sqlx::query_as::<_, PaymentRow>(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| AppError::NotFound("charge".into()))
    }

    pub async fn payment_by_booking(
        &self,
        booking_id: Uuid,
    ) -> Result<Option<PaymentRow>, AppError> {
        Ok(sqlx::query_as::<_, PaymentRow>(&format!(
            "SELECT {COLUMNS} FROM payments WHERE booking_id = $1"
        ))
        .bind(booking_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Takes the charge's gateway lease for `lease` if the charge is still open and nobody
    /// holds the lease (or a holder's ran out); returns the row and the token that proves it.
    pub async fn claim_payment(
        &self,
        id: Uuid,
        lease: Duration,
    ) -> Result<Option<(PaymentRow, Uuid)>, AppError> {
        let token = Uuid::new_v4();
        let row = sqlx::query_as::<_, PaymentRow>(&format!(
            "UPDATE payments SET lease_token = $2, \
                 lease_expires_at = now() + make_interval(secs => $3), \
                 gateway_attempts = gateway_attempts + 1 \
             WHERE id = $1 AND status IN ('PENDING', 'REQUIRES_ACTION') \
               AND (lease_expires_at IS NULL OR lease_expires_at <= now()) \
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(token)
        .bind(seconds(lease))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| (row, token)))
    }

    /// Records the gateway's payment intent on a charge that has none yet and is still
    /// PENDING; `None` if another attempt recorded its own first or the charge was settled
    /// meanwhile (the caller then cancels the intent it created: it must never be confirmed).
    pub async fn record_intent(
        &self,
        id: Uuid,
        gateway_payment_id: &str,
        client_secret: Option<&str>,
        origin: &Origin,
    ) -> Result<Option<PaymentRow>, AppError> {
        let mut transaction = self.pool.begin().await?;
        let row = sqlx::query_as::<_, PaymentRow>(&format!(
            "UPDATE payments SET gateway_payment_id = $2, client_secret = $3, \
                 updated_at = now(), updated_service = $4, updated_user_id = $5, \
                 updated_trace_id = $6 \
             WHERE id = $1 AND gateway_payment_id IS NULL AND status = 'PENDING' \
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(gateway_payment_id)
        .bind(client_secret)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(row) = row else {
            transaction.rollback().await?;
            return Ok(None);
        };
        record_change(
            &mut transaction,
            origin,
            "payment",
            &row.id.to_string(),
            "PAYMENT_SUBMITTED",
            payload(&row),
        )
        .await?;
        transaction.commit().await?;
        Ok(Some(row))
    }

    /// Moves a charge to the status the gateway's `state` means, if that is an allowed step
    /// from where it is. Returns the charge as it is now and whether this call changed it.
    pub async fn apply_intent_state(
        &self,
        id: Uuid,
        state: &IntentState,
        origin: &Origin,
    ) -> Result<(PaymentRow, bool), AppError> {
        let target = state.payment_status();
        let from: Vec<&str> = target
            .reachable_from()
            .iter()
            .map(|status| status.as_str())
            .collect();
        if from.is_empty() {
            return Ok((self.payment(id).await?, false));
        }
        let mut transaction = self.pool.begin().await?;
        let row = sqlx::query_as::<_, PaymentRow>(&format!(
            "UPDATE payments SET status = $2, failure_message = $3, \
                 succeeded_at = CASE WHEN $2 = 'SUCCEEDED' THEN now() ELSE succeeded_at END, \
                 updated_at = now(), updated_service = $5, updated_user_id = $6, \
                 updated_trace_id = $7 \
             WHERE id = $1 AND status = ANY($4) \
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(target.as_str())
        .bind(state.failure_message())
        .bind(&from)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(row) = row else {
            transaction.rollback().await?;
            return Ok((self.payment(id).await?, false));
        };
        record_change(
            &mut transaction,
            origin,
            "payment",
            &row.id.to_string(),
            &format!("PAYMENT_{}", target.as_str()),
            payload(&row),
        )
        .await?;
        transaction.commit().await?;
        Ok((row, true))
    }

    /// Cancels a charge that never reached the gateway (no intent recorded). Returns the charge
    /// as it is now and whether this call cancelled it.
    pub async fn cancel_unsubmitted(
        &self,
        id: Uuid,
        origin: &Origin,
    ) -> Result<(PaymentRow, bool), AppError> {
        let mut transaction = self.pool.begin().await?;
        let row = sqlx::query_as::<_, PaymentRow>(&format!(
            "UPDATE payments SET status = 'CANCELLED', updated_at = now(), \
                 updated_service = $2, updated_user_id = $3, updated_trace_id = $4 \
             WHERE id = $1 AND status = 'PENDING' AND gateway_payment_id IS NULL \
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(row) = row else {
            transaction.rollback().await?;
            return Ok((self.payment(id).await?, false));
        };
        record_change(
            &mut transaction,
            origin,
            "payment",
            &row.id.to_string(),
            "PAYMENT_CANCELLED",
            payload(&row),
        )
        .await?;
        transaction.commit().await?;
        Ok((row, true))
    }
}
