//! The `booking_refunds` table. A refund's amount is reserved on its charge in the transaction
//! that inserts it, and given back in the transaction that records a refusal, so what is
//! reserved or paid back never exceeds what was charged.

use std::time::Duration;

use astro_shared::AppError;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{AuditRow, Origin, Store, payments::PaymentRow, record_change, seconds};
use crate::domain::refund::{NewRefund, RefundReason, RefundStatus};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefundRow {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub booking_id: Uuid,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: String,
    pub status: String,
    pub gateway_refund_id: Option<String>,
    pub failure_message: Option<String>,
    pub attempts: i32,
    pub settled_at: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    pub audit: AuditRow,
}

impl RefundRow {
    /// The status; the CHECK constraint keeps unknown names out, PENDING is the safe reading.
    pub fn status(&self) -> RefundStatus {
        RefundStatus::parse(&self.status).unwrap_or(RefundStatus::Pending)
    }

    pub fn reason(&self) -> Option<RefundReason> {
        RefundReason::parse(&self.reason)
    }
}

const COLUMNS: &str = "id, payment_id, booking_id, amount_minor, currency, reason, status, \
     gateway_refund_id, failure_message, attempts, settled_at, created_at, created_service, \
     created_user_id, created_trace_id, updated_at, updated_service, updated_user_id, \
     updated_trace_id";

fn payload(row: &RefundRow) -> serde_json::Value {
    serde_json::json!({
        "booking_id": row.booking_id,
        "payment_id": row.payment_id,
        "amount": { "amount_minor": row.amount_minor, "currency": row.currency },
        "reason": row.reason,
        "status": row.status,
        "gateway_refund_id": row.gateway_refund_id,
        "failure_message": row.failure_message,
    })
}

fn reservation_payload(row: &RefundRow, refunded_minor: i64, change: &str) -> serde_json::Value {
    serde_json::json!({
        "booking_id": row.booking_id,
        "refund_id": row.id,
        "change": change,
        "amount": { "amount_minor": row.amount_minor, "currency": row.currency },
        "refunded": { "amount_minor": refunded_minor, "currency": row.currency },
    })
}

/// What asking for a refund came to.
#[derive(Debug)]
pub enum Reservation {
    /// Recorded now, its amount reserved on the charge.
    Created(RefundRow),
    /// A refund with this id was recorded before (a retry); nothing changed.
    Existing(RefundRow),
    /// The charge is not SUCCEEDED, or less than the amount is left to refund; nothing changed.
    NotRefundable,
}

impl Store {
    /// Records a refund of `payment` and reserves its amount, in one transaction, or finds the
    /// refund recorded before under the same id.
    pub async fn reserve_refund(
        &self,
        payment: &PaymentRow,
        refund: &NewRefund,
        origin: &Origin,
    ) -> Result<Reservation, AppError> {
        let mut transaction = self.pool.begin().await?;
        // The insert comes first: a concurrent retry of the same refund waits on the primary
        // key until this commits, then finds the row instead of reserving the amount twice.
        let inserted = sqlx::query_as::<_, RefundRow>(&format!(
            "INSERT INTO booking_refunds (id, payment_id, booking_id, amount_minor, currency, \
             reason, created_service, created_user_id, created_trace_id, updated_service, \
             updated_user_id, updated_trace_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $7, $8, $9) \
             ON CONFLICT (id) DO NOTHING RETURNING {COLUMNS}"
        ))
        .bind(refund.refund_id)
        .bind(payment.id)
        .bind(refund.booking_id)
        .bind(refund.amount_minor)
        .bind(&refund.currency)
        .bind(refund.reason.as_str())
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(row) = inserted else {
            transaction.rollback().await?;
            return Ok(Reservation::Existing(self.refund(refund.refund_id).await?));
        };
        // The one statement that guards the charge: refunds only of a SUCCEEDED charge, and
        // never more than what is left of it.
        let refunded_minor: Option<i64> = sqlx::query_scalar(
            "UPDATE payments SET refunded_minor = refunded_minor + $2, updated_at = now(), \
                 updated_service = $3, updated_user_id = $4, updated_trace_id = $5 \
             WHERE id = $1 AND status = 'SUCCEEDED' AND refunded_minor + $2 <= amount_minor \
             RETURNING refunded_minor",
        )
        .bind(payment.id)
        .bind(refund.amount_minor)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(refunded_minor) = refunded_minor else {
            transaction.rollback().await?;
            return Ok(Reservation::NotRefundable);
        };
        record_change(
            &mut transaction,
            origin,
            "refund",
            &row.id.to_string(),
            "REFUND_REQUESTED",
            payload(&row),
        )
        .await?;
        record_change(
            &mut transaction,
            origin,
            "payment",
            &payment.id.to_string(),
            "PAYMENT_REFUND_RESERVED",
            reservation_payload(&row, refunded_minor, "reserved"),
        )
        .await?;
        transaction.commit().await?;
        Ok(Reservation::Created(row))
    }

    pub async fn refund(&self, id: Uuid) -> Result<RefundRow, AppError> {
        sqlx::query_as::<_, RefundRow>(&format!(
            "SELECT {COLUMNS} FROM booking_refunds WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| AppError::NotFound("refund".into()))
    }

    /// Takes the refund's gateway lease if it is still to be sent (PENDING without a gateway
    /// refund) and nobody holds the lease; counts the attempt.
    pub async fn claim_refund(
        &self,
        id: Uuid,
        lease: Duration,
    ) -> Result<Option<(RefundRow, Uuid)>, AppError> {
        let token = Uuid::new_v4();
        let row = sqlx::query_as::<_, RefundRow>(&format!(
            "UPDATE booking_refunds SET lease_token = $2, \
                 lease_expires_at = now() + make_interval(secs => $3), attempts = attempts + 1 \
             WHERE id = $1 AND status = 'PENDING' AND gateway_refund_id IS NULL \
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

    /// Records what the gateway said about a PENDING refund: its gateway id (once known) and
    /// status. A FAILED refund gives its reservation back to the charge in the same
    /// transaction. Returns the refund as it is now and whether this call changed it.
    pub async fn record_refund_outcome(
        &self,
        id: Uuid,
        gateway_refund_id: Option<&str>,
        status: RefundStatus,
        failure_message: Option<&str>,
        origin: &Origin,
    ) -> Result<(RefundRow, bool), AppError> {
        let mut transaction = self.pool.begin().await?;
        // Only a PENDING refund moves, and only to a different state: a replayed answer is a
        // no-op, and a settled refund is never reopened.
        let row = sqlx::query_as::<_, RefundRow>(&format!(
            "UPDATE booking_refunds SET \
                 gateway_refund_id = COALESCE(gateway_refund_id, $2), status = $3, \
                 failure_message = $4, \
                 settled_at = CASE WHEN $3 = 'PENDING' THEN NULL ELSE now() END, \
                 updated_at = now(), updated_service = $5, updated_user_id = $6, \
                 updated_trace_id = $7 \
             WHERE id = $1 AND status = 'PENDING' \
               AND (gateway_refund_id IS NULL OR $2::text IS NULL OR gateway_refund_id = $2) \
               AND ($3 <> 'PENDING' OR (gateway_refund_id IS NULL AND $2::text IS NOT NULL)) \
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(gateway_refund_id)
        .bind(status.as_str())
        .bind(failure_message)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(row) = row else {
            transaction.rollback().await?;
            return Ok((self.refund(id).await?, false));
        };
        let event_type = match status {
            RefundStatus::Pending => "REFUND_SUBMITTED",
            RefundStatus::Succeeded => "REFUND_SUCCEEDED",
            RefundStatus::Failed => "REFUND_FAILED",
        };
        record_change(
            &mut transaction,
            origin,
            "refund",
            &row.id.to_string(),
            event_type,
            payload(&row),
        )
        .await?;
        if status == RefundStatus::Failed {
            let refunded_minor: i64 = sqlx::query_scalar(
                "UPDATE payments SET refunded_minor = refunded_minor - $2, updated_at = now(), \
                     updated_service = $3, updated_user_id = $4, updated_trace_id = $5 \
                 WHERE id = $1 RETURNING refunded_minor",
            )
            .bind(row.payment_id)
            .bind(row.amount_minor)
            .bind(origin.service)
            .bind(origin.user_id.as_deref())
            .bind(origin.trace_id())
            .fetch_one(&mut *transaction)
            .await?;
            record_change(
                &mut transaction,
                origin,
                "payment",
                &row.payment_id.to_string(),
                "PAYMENT_REFUND_RELEASED",
                reservation_payload(&row, refunded_minor, "released"),
            )
            .await?;
        }
        transaction.commit().await?;
        Ok((row, true))
    }
}
