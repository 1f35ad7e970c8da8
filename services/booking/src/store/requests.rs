//! CreateBooking's idempotency records: one per (traveler, key), claimed by one request at a
//! time and then holding the answer every retry gets. Every write that ends a claim (the answer
//! stored, the key released or forgotten) notifies [`request_events::CHANNEL`] in the same
//! statement or transaction, so the requests waiting on that key wake when it commits.

use std::{borrow::Cow, time::Duration};

use astro_shared::{
    AppError,
    error::{decode_status, encode_status},
};
use tonic::{Code, Status};
use uuid::Uuid;

use super::{
    Store,
    request_events::{self, Watch},
};

/// An answer to keep for retries.
#[derive(Debug, Clone)]
pub enum StoredAnswer {
    /// The encoded response (made by the API adapter, opaque here).
    Response(Vec<u8>),
    /// A final error as its `google.rpc.Status` (code, message and details), encoded.
    Error(Vec<u8>),
}

impl StoredAnswer {
    /// A final error as it is kept, and the very error back for this request's own answer (the
    /// status is the exact image of the error, so both answers are the same).
    pub fn error(error: AppError) -> (Self, AppError) {
        let status = Status::from(error);
        (Self::Error(encode_status(&status)), AppError::from(status))
    }
}

/// What claiming a key found.
#[derive(Debug)]
pub enum Claim {
    /// This request owns the key now; `booking_id` is set if an earlier owner crashed after
    /// holding the seats.
    Owned { booking_id: Option<Uuid> },
    /// The key was used with another request.
    Mismatch,
    /// Another request owns the key and is still working; its lease ends in `lease_left` (zero
    /// when the claim changed hands while it was read: read it again).
    Busy { lease_left: Duration },
    /// The first request finished: its encoded response, or its final error.
    Done(Result<Vec<u8>, AppError>),
}

#[derive(sqlx::FromRow)]
struct RequestRow {
    request_hash: Vec<u8>,
    state: String,
    lease_left_seconds: f64,
    response: Option<Vec<u8>>,
    error_status: Option<Vec<u8>>,
    error_code: Option<i32>,
    error_message: Option<String>,
    error_reason: Option<String>,
    error_metadata: Option<serde_json::Value>,
}

impl RequestRow {
    /// The answer of a DONE record.
    fn answer(self) -> Result<Result<Vec<u8>, AppError>, AppError> {
        if let Some(response) = self.response {
            return Ok(Ok(response));
        }
        if let Some(status) = self.error_status {
            let status = decode_status(&status).map_err(AppError::internal)?;
            return Ok(Err(AppError::from(status)));
        }
        match self.error_code {
            Some(code) => Ok(Err(legacy_error(
                code,
                self.error_message.unwrap_or_default(),
                self.error_reason,
                self.error_metadata.unwrap_or_default(),
            ))),
            None => Err(AppError::internal(anyhow::anyhow!(
                "idempotency record DONE without an answer"
            ))),
        }
    }
}

/// A final error kept before `error_status` existed (migration 20261203000000), rebuilt from
/// its columns as the code of that time did: the field of an INVALID_ARGUMENT in the metadata,
/// the reason and metadata of a refusal.
fn legacy_error(
    code: i32,
    message: String,
    reason: Option<String>,
    metadata: serde_json::Value,
) -> AppError {
    match Code::from_i32(code) {
        Code::InvalidArgument => AppError::invalid(
            metadata["field"].as_str().unwrap_or_default().to_owned(),
            message,
        ),
        Code::NotFound => AppError::NotFound(message.trim_end_matches(" not found").to_owned()),
        Code::FailedPrecondition => match reason {
            Some(reason) => AppError::Refused {
                reason: Cow::Owned(reason),
                message,
                metadata: metadata
                    .as_object()
                    .map(|entries| {
                        entries
                            .iter()
                            .map(|(key, value)| {
                                (key.clone(), value.as_str().unwrap_or_default().to_owned())
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            None => AppError::FailedPrecondition(message),
        },
        _ => AppError::internal(anyhow::anyhow!("stored answer with code {code}")),
    }
}

impl Store {
    /// Watches `key` for the end of another request's claim: take it before reading the claim.
    pub fn watch_request(&self, traveler_id: Uuid, key: &str) -> Watch {
        self.request_events.watch(traveler_id, key)
    }

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
            "SELECT request_hash, state, \
                 GREATEST(EXTRACT(EPOCH FROM locked_until - now()), 0)::float8 \
                     AS lease_left_seconds, \
                 response, error_status, error_code, error_message, error_reason, error_metadata \
             FROM booking_requests WHERE traveler_id = $1 AND idempotency_key = $2",
        )
        .bind(traveler_id)
        .bind(key)
        .fetch_optional(self.pool())
        .await?
        else {
            // Released between our insert and read (a transient failure): try again afresh.
            return Ok(Claim::Busy {
                lease_left: Duration::ZERO,
            });
        };
        if row.request_hash != fingerprint {
            return Ok(Claim::Mismatch);
        }
        if row.state == "DONE" {
            return Ok(Claim::Done(row.answer()?));
        }
        if row.lease_left_seconds > 0.0 {
            return Ok(Claim::Busy {
                lease_left: Duration::try_from_secs_f64(row.lease_left_seconds)
                    .unwrap_or(Duration::ZERO),
            });
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
            // Another waiter took it over first.
            None => Claim::Busy {
                lease_left: Duration::ZERO,
            },
        })
    }

    /// Stores the final answer; from now on every retry gets it.
    pub async fn finish_request(
        &self,
        traveler_id: Uuid,
        key: &str,
        answer: &StoredAnswer,
    ) -> Result<(), AppError> {
        let (response, error_status) = match answer {
            StoredAnswer::Response(bytes) => (Some(bytes.as_slice()), None),
            StoredAnswer::Error(bytes) => (None, Some(bytes.as_slice())),
        };
        // One statement, one round trip: the notification goes out when the answer commits.
        sqlx::query(
            "WITH finished AS ( \
                 UPDATE booking_requests SET state = 'DONE', response = $3, error_status = $4 \
                 WHERE traveler_id = $1 AND idempotency_key = $2 RETURNING 1) \
             SELECT pg_notify($5, $6) FROM finished",
        )
        .bind(traveler_id)
        .bind(key)
        .bind(response)
        .bind(error_status)
        .bind(request_events::CHANNEL)
        .bind(request_events::channel_key(traveler_id, key))
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
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(request_events::CHANNEL)
            .bind(request_events::channel_key(traveler_id, key))
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Forgets a key whose booking was discarded because nothing was charged (the booking row
    /// is gone), so a retry holds and charges afresh.
    pub async fn forget_request(&self, traveler_id: Uuid, key: &str) -> Result<(), AppError> {
        sqlx::query(
            "WITH forgotten AS ( \
                 DELETE FROM booking_requests WHERE traveler_id = $1 AND idempotency_key = $2 \
                   AND state = 'IN_PROGRESS' RETURNING 1) \
             SELECT pg_notify($3, $4) FROM forgotten",
        )
        .bind(traveler_id)
        .bind(key)
        .bind(request_events::CHANNEL)
        .bind(request_events::channel_key(traveler_id, key))
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replayed(answer: StoredAnswer) -> Status {
        let StoredAnswer::Error(bytes) = answer else {
            panic!("not an error answer");
        };
        Status::from(AppError::from(decode_status(&bytes).expect("decodes")))
    }

    #[test]
    fn a_kept_error_replays_as_it_was_answered_details_included() {
        let refusal =
            AppError::refused("SEATS_UNAVAILABLE", "only 1 seats are left on this launch")
                .with_metadata("seatsAvailable", "1");
        let (kept, own) = StoredAnswer::error(refusal);
        assert_eq!(own.to_string(), "only 1 seats are left on this launch");
        let status = replayed(kept);
        assert_eq!(status.code(), Code::FailedPrecondition);
        let details = tonic_types::StatusExt::get_error_details(&status);
        let info = details.error_info().expect("error info");
        assert_eq!(info.reason, "SEATS_UNAVAILABLE");
        assert_eq!(info.metadata["seatsAvailable"], "1");

        let (kept, _) = StoredAnswer::error(AppError::invalid(
            "passengers[0].date_of_birth",
            "the passenger would be 17 on the launch date",
        ));
        let status = replayed(kept);
        let details = tonic_types::StatusExt::get_error_details(&status);
        let violation = &details.bad_request().expect("bad request").field_violations[0];
        assert_eq!(violation.field, "passengers[0].date_of_birth");
        assert_eq!(
            violation.description,
            "the passenger would be 17 on the launch date"
        );
    }

    #[test]
    fn legacy_errors_read_as_the_code_that_kept_them_answered() {
        let invalid = legacy_error(
            Code::InvalidArgument as i32,
            "must be a launch id (UUID)".into(),
            None,
            serde_json::json!({ "field": "launch_id" }),
        );
        assert!(matches!(
            invalid,
            AppError::InvalidArgument { ref field, ref message }
                if field == "launch_id" && message == "must be a launch id (UUID)"
        ));
        let missing = legacy_error(
            Code::NotFound as i32,
            "launch not found".into(),
            None,
            serde_json::json!({}),
        );
        assert_eq!(missing.to_string(), "launch not found");
        let declined = legacy_error(
            Code::FailedPrecondition as i32,
            "the card was declined".into(),
            Some("PAYMENT_DECLINED".into()),
            serde_json::json!({ "bookingId": "b-1" }),
        );
        assert!(matches!(
            declined,
            AppError::Refused { ref reason, ref metadata, .. }
                if reason == "PAYMENT_DECLINED" && metadata["bookingId"] == "b-1"
        ));
        let refused = legacy_error(
            Code::FailedPrecondition as i32,
            "the launch has departed".into(),
            None,
            serde_json::json!({}),
        );
        assert!(matches!(refused, AppError::FailedPrecondition(_)));
        assert_eq!(
            legacy_error(
                Code::Aborted as i32,
                String::new(),
                None,
                serde_json::json!({})
            )
            .code(),
            Code::Internal
        );
    }
}
