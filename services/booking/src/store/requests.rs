//! CreateBooking's idempotency records: one per (traveler, key), claimed by one request at a
//! time and then holding the answer every retry gets.

use std::time::Duration;

use astro_shared::AppError;
use uuid::Uuid;

use super::Store;

/// The answer kept for retries.
#[derive(Debug, Clone)]
pub enum StoredAnswer {
    /// An encoded `CreateBookingResponse`.
    Response(Vec<u8>),
    /// A client error: gRPC code, message, and (for FAILED_PRECONDITION) reason and metadata.
    Error {
        code: i32,
        message: String,
        reason: Option<String>,
        metadata: serde_json::Value,
    },
}

/// What claiming a key found.
#[derive(Debug, Clone)]
pub enum Claim {
    /// This request owns the key now; `booking_id` is set if an earlier owner crashed after
    /// holding the seats.
    Owned { booking_id: Option<Uuid> },
    /// The key was used with another request.
    Mismatch,
    /// Another request owns the key and is still working.
    Busy,
    /// The first request finished: this is its answer.
    Done(StoredAnswer),
}

#[derive(sqlx::FromRow)]
struct RequestRow {
    request_hash: Vec<u8>,
    state: String,
    owned_elsewhere: bool,
    response: Option<Vec<u8>>,
    error_code: Option<i32>,
    error_message: Option<String>,
    error_reason: Option<String>,
    error_metadata: Option<serde_json::Value>,
}

impl Store {
    /// Claims `key` for this request for `lease`. A new key is inserted (the primary key makes
    /// concurrent first requests race safely); an abandoned one (its owner's lease passed) is
    /// taken over by a conditional update.
    pub async fn claim_request(
        &self,
        traveler_id: Uuid,
        key: &str,
        fingerprint: &[u8],
        lease: Duration,
    ) -> Result<Claim, AppError> {
        let lease_seconds = lease.as_secs_f64();
        let inserted = sqlx::query(
            "INSERT INTO booking_requests (traveler_id, idempotency_key, request_hash, state, \
                 locked_until) \
             VALUES ($1, $2, $3, 'IN_PROGRESS', now() + make_interval(secs => $4)) \
             ON CONFLICT DO NOTHING",
        )
        .bind(traveler_id)
        .bind(key)
        .bind(fingerprint)
        .bind(lease_seconds)
        .execute(self.pool())
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(Claim::Owned { booking_id: None });
        }
        let Some(row) = sqlx::query_as::<_, RequestRow>(
            "SELECT request_hash, state, locked_until > now() AS owned_elsewhere, \
                 response, error_code, error_message, error_reason, error_metadata \
             FROM booking_requests WHERE traveler_id = $1 AND idempotency_key = $2",
        )
        .bind(traveler_id)
        .bind(key)
        .fetch_optional(self.pool())
        .await?
        else {
            // Released between our insert and read (a transient failure): try again afresh.
            return Ok(Claim::Busy);
        };
        if row.request_hash != fingerprint {
            return Ok(Claim::Mismatch);
        }
        if row.state == "DONE" {
            let answer = match (row.response, row.error_code) {
                (Some(response), _) => StoredAnswer::Response(response),
                (None, Some(code)) => StoredAnswer::Error {
                    code,
                    message: row.error_message.unwrap_or_default(),
                    reason: row.error_reason,
                    metadata: row.error_metadata.unwrap_or_default(),
                },
                (None, None) => {
                    return Err(AppError::internal(anyhow::anyhow!(
                        "idempotency record DONE without an answer"
                    )));
                }
            };
            return Ok(Claim::Done(answer));
        }
        if row.owned_elsewhere {
            return Ok(Claim::Busy);
        }
        let taken: Option<Option<Uuid>> = sqlx::query_scalar(
            "UPDATE booking_requests SET locked_until = now() + make_interval(secs => $3) \
             WHERE traveler_id = $1 AND idempotency_key = $2 AND state = 'IN_PROGRESS' \
               AND locked_until <= now() \
             RETURNING booking_id",
        )
        .bind(traveler_id)
        .bind(key)
        .bind(lease_seconds)
        .fetch_optional(self.pool())
        .await?;
        Ok(match taken {
            Some(booking_id) => Claim::Owned { booking_id },
            None => Claim::Busy,
        })
    }

    /// Stores the final answer; from now on every retry gets it.
    pub async fn finish_request(
        &self,
        traveler_id: Uuid,
        key: &str,
        answer: &StoredAnswer,
    ) -> Result<(), AppError> {
        let (response, code, message, reason, metadata) = match answer {
            StoredAnswer::Response(bytes) => (Some(bytes.as_slice()), None, None, None, None),
            StoredAnswer::Error {
                code,
                message,
                reason,
                metadata,
            } => (
                None,
                Some(*code),
                Some(message.as_str()),
                reason.as_deref(),
                Some(metadata),
            ),
        };
        sqlx::query(
            "UPDATE booking_requests SET state = 'DONE', response = $3, error_code = $4, \
                 error_message = $5, error_reason = $6, error_metadata = $7 \
             WHERE traveler_id = $1 AND idempotency_key = $2",
        )
        .bind(traveler_id)
        .bind(key)
        .bind(response)
        .bind(code)
        .bind(message)
        .bind(reason)
        .bind(metadata)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Lets go of a key whose request failed transiently. A key that held no seats is
    /// forgotten, so a retry runs anew; a key with a booking keeps it (its charge may exist)
    /// and only its lease ends, so a retry resumes that booking at once.
    pub async fn release_request(&self, traveler_id: Uuid, key: &str) -> Result<(), AppError> {
        let mut transaction = self.pool().begin().await?;
        sqlx::query(
            "DELETE FROM booking_requests WHERE traveler_id = $1 AND idempotency_key = $2 \
               AND state = 'IN_PROGRESS' AND booking_id IS NULL",
        )
        .bind(traveler_id)
        .bind(key)
        .execute(&mut *transaction)
        .await?;
        sqlx::query(
            "UPDATE booking_requests SET locked_until = now() \
             WHERE traveler_id = $1 AND idempotency_key = $2 AND state = 'IN_PROGRESS'",
        )
        .bind(traveler_id)
        .bind(key)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Forgets a key whose booking was discarded because nothing was charged (the booking row
    /// is gone), so a retry holds and charges afresh.
    pub async fn forget_request(&self, traveler_id: Uuid, key: &str) -> Result<(), AppError> {
        sqlx::query(
            "DELETE FROM booking_requests WHERE traveler_id = $1 AND idempotency_key = $2 \
               AND state = 'IN_PROGRESS'",
        )
        .bind(traveler_id)
        .bind(key)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
