//! Bookings: holding seats, confirming, releasing, cancelling with refunds, and the launch
//! outcomes (abort, completion). Each state change is one conditional UPDATE on the booking's
//! current status, so two paths racing on one booking (the payment answer and the hold
//! sweeper, a retry and its original) cannot both apply.

use std::time::Duration;

use astro_shared::{
    AppError,
    changes::{AuditRow, Origin, record_change},
};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::Store;
use crate::domain::{
    booking::{BookingRequest, BookingStatus, CancellationReason},
    refund::{self, RefundState, RefundTier},
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BookingRow {
    pub id: Uuid,
    pub traveler_id: Uuid,
    pub launch_id: Uuid,
    pub agency_id: Uuid,
    pub status: String,
    pub seats: i32,
    pub price_minor: i64,
    pub currency: String,
    pub total_minor: i64,
    pub paid: bool,
    pub payment_id: Option<String>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub cancellation_reason: Option<String>,
    pub cancellation_note: String,
    pub refund_tier: Option<String>,
    pub refund_minor: i64,
    pub refund_id: Option<Uuid>,
    pub refund_state: Option<String>,
    pub seats_released: bool,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    pub audit: AuditRow,
}

impl BookingRow {
    /// What a change-log row about this booking carries: enough for notifications and for the
    /// catalogue (which reads `launch_id`) without another query.
    fn event_payload(&self) -> serde_json::Value {
        serde_json::json!({
            "launch_id": self.launch_id,
            "traveler_id": self.traveler_id,
            "agency_id": self.agency_id,
            "status": self.status,
            "seats": self.seats,
            "total_minor": self.total_minor,
            "currency": self.currency,
            "cancellation_reason": self.cancellation_reason,
            "refund_minor": self.refund_minor,
            "refund_tier": self.refund_tier,
            "seats_released": self.seats_released,
        })
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PassengerRow {
    pub booking_id: Uuid,
    pub seat: i32,
    pub full_name: String,
    pub date_of_birth: NaiveDate,
    pub email: String,
    pub phone: String,
}

const BOOKING_COLUMNS: &str = "id, traveler_id, launch_id, agency_id, status, seats, price_minor, \
    currency, total_minor, paid, payment_id, hold_expires_at, cancellation_reason, \
    cancellation_note, refund_tier, refund_minor, refund_id, refund_state, seats_released, \
    confirmed_at, cancelled_at, completed_at, created_at, created_service, created_user_id, \
    created_trace_id, updated_at, updated_service, updated_user_id, updated_trace_id";

/// The `updated_*` assignments of every write, with the origin bound at `$first..$first+2`.
fn touch(first: usize) -> String {
    format!(
        "updated_at = now(), updated_service = ${first}, updated_user_id = ${}, \
         updated_trace_id = ${}",
        first + 1,
        first + 2
    )
}

/// Why seats could not be held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldRefusal {
    LaunchNotFound,
    /// Not SCHEDULED or DELAYED, or its date has passed.
    NotBookable {
        status: String,
    },
    SeatsUnavailable {
        left: i32,
    },
    SeatLimit {
        held: i32,
        limit: i32,
    },
}

/// A booking to hold seats for.
pub struct NewHold<'a> {
    pub id: Uuid,
    pub traveler_id: Uuid,
    pub request: &'a BookingRequest,
    /// The traveler's per-launch seat limit (4, or 6 for a VIP).
    pub seat_limit: i32,
    pub hold: Duration,
}

/// What a payment confirmation did.
#[derive(Debug, Clone)]
pub enum Confirmation {
    /// PENDING_PAYMENT became CONFIRMED now.
    Confirmed(BookingRow),
    /// It was already CONFIRMED (or later): nothing changed.
    AlreadyConfirmed(BookingRow),
    /// The booking had been cancelled unpaid (hold expired, payment failed): the seats are gone,
    /// so the money goes back in full (refund now due).
    RefundLatePayment(BookingRow),
}

impl Store {
    /// Takes the seats and inserts a PENDING_PAYMENT booking with its passengers, in one
    /// transaction: the launch's seat count and the traveler's per-launch count are raised by
    /// conditional updates, so neither can pass its limit whatever runs concurrently.
    pub async fn hold_seats(
        &self,
        new: NewHold<'_>,
        origin: &Origin,
        idempotency: (Uuid, &str),
    ) -> Result<Result<BookingRow, HoldRefusal>, AppError> {
        let seats = new.request.seats();
        let launch_id = new.request.launch_id;
        let mut transaction = self.pool().begin().await?;
        let taken: Option<(Uuid, i64, String)> = sqlx::query_as(
            "UPDATE launches SET seats_booked = seats_booked + $2 \
             WHERE id = $1 AND status IN ('SCHEDULED', 'DELAYED') AND scheduled_at > now() \
               AND seats_booked + $2 <= capacity \
             RETURNING agency_id, price_minor, currency",
        )
        .bind(launch_id)
        .bind(seats)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some((agency_id, price_minor, currency)) = taken else {
            transaction.rollback().await?;
            return Ok(Err(self.why_not_bookable(launch_id).await?));
        };
        let held: Option<i32> = sqlx::query_scalar(
            "INSERT INTO traveler_launch_seats AS t (traveler_id, launch_id, seats) \
             SELECT $1, $2, $3 WHERE $3 <= $4 \
             ON CONFLICT (traveler_id, launch_id) DO UPDATE SET seats = t.seats + EXCLUDED.seats \
             WHERE t.seats + EXCLUDED.seats <= $4 \
             RETURNING seats",
        )
        .bind(new.traveler_id)
        .bind(launch_id)
        .bind(seats)
        .bind(new.seat_limit)
        .fetch_optional(&mut *transaction)
        .await?;
        if held.is_none() {
            let current: Option<i32> = sqlx::query_scalar(
                "SELECT seats FROM traveler_launch_seats WHERE traveler_id = $1 AND launch_id = $2",
            )
            .bind(new.traveler_id)
            .bind(launch_id)
            .fetch_optional(&mut *transaction)
            .await?;
            transaction.rollback().await?;
            return Ok(Err(HoldRefusal::SeatLimit {
                held: current.unwrap_or(0),
                limit: new.seat_limit,
            }));
        }
        // Prices are capped when launches are scheduled; a launch stored before the cap could
        // still overflow, and that is the request's amount, not our bug.
        let total_minor = price_minor.checked_mul(i64::from(seats)).ok_or_else(|| {
            AppError::invalid("passengers", "the booking's total is too large to charge")
        })?;
        let booking = sqlx::query_as::<_, BookingRow>(&format!(
            "INSERT INTO bookings (id, traveler_id, launch_id, agency_id, status, seats, \
                 price_minor, currency, total_minor, hold_expires_at, \
                 created_service, created_user_id, created_trace_id, \
                 updated_service, updated_user_id, updated_trace_id) \
             VALUES ($1, $2, $3, $4, 'PENDING_PAYMENT', $5, $6, $7, $8, \
                 now() + make_interval(secs => $9), $10, $11, $12, $10, $11, $12) \
             RETURNING {BOOKING_COLUMNS}"
        ))
        .bind(new.id)
        .bind(new.traveler_id)
        .bind(launch_id)
        .bind(agency_id)
        .bind(seats)
        .bind(price_minor)
        .bind(&currency)
        .bind(total_minor)
        .bind(new.hold.as_secs_f64())
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_one(&mut *transaction)
        .await?;
        let passengers = &new.request.passengers;
        sqlx::query(
            "INSERT INTO booking_passengers (booking_id, seat, full_name, date_of_birth, email, \
                 phone) \
             SELECT $1, seat, full_name, date_of_birth, email, phone \
             FROM unnest($2::int[], $3::text[], $4::date[], $5::text[], $6::text[]) \
                 AS p(seat, full_name, date_of_birth, email, phone)",
        )
        .bind(new.id)
        .bind((1..=seats).collect::<Vec<i32>>())
        .bind(
            passengers
                .iter()
                .map(|p| p.full_name.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            passengers
                .iter()
                .map(|p| p.date_of_birth)
                .collect::<Vec<_>>(),
        )
        .bind(
            passengers
                .iter()
                .map(|p| p.email.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            passengers
                .iter()
                .map(|p| p.phone.clone())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *transaction)
        .await?;
        // The idempotency record learns its booking in the same transaction, so a retry that
        // takes over after a crash finds the booking instead of holding seats twice. Only one
        // booking per key: an attempt that lost its lease while holding rolls back.
        let claimed = sqlx::query(
            "UPDATE booking_requests SET booking_id = $3 \
             WHERE traveler_id = $1 AND idempotency_key = $2 AND booking_id IS NULL",
        )
        .bind(idempotency.0)
        .bind(idempotency.1)
        .bind(new.id)
        .execute(&mut *transaction)
        .await?;
        if claimed.rows_affected() != 1 {
            return Err(AppError::Aborted(
                "another attempt with this idempotency key holds the seats; retry".into(),
            ));
        }
        record_change(
            &mut transaction,
            origin,
            "booking",
            &booking.id.to_string(),
            "BOOKING_HELD",
            booking.event_payload(),
        )
        .await?;
        transaction.commit().await?;
        Ok(Ok(booking))
    }

    async fn why_not_bookable(&self, launch_id: Uuid) -> Result<HoldRefusal, AppError> {
        let launch: Option<(String, bool, i32)> = sqlx::query_as(
            "SELECT status, scheduled_at > now(), capacity - seats_booked FROM launches \
             WHERE id = $1",
        )
        .bind(launch_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(match launch {
            None => HoldRefusal::LaunchNotFound,
            Some((status, in_future, _))
                if !in_future || !matches!(status.as_str(), "SCHEDULED" | "DELAYED") =>
            {
                HoldRefusal::NotBookable { status }
            }
            Some((_, _, left)) => HoldRefusal::SeatsUnavailable { left },
        })
    }

    pub async fn booking(&self, id: Uuid) -> Result<Option<BookingRow>, AppError> {
        Ok(sqlx::query_as::<_, BookingRow>(&format!(
            "SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The traveler's booking; another traveler's is as missing as a missing one.
    pub async fn traveler_booking(
        &self,
        id: Uuid,
        traveler_id: Uuid,
    ) -> Result<Option<BookingRow>, AppError> {
        Ok(self
            .booking(id)
            .await?
            .filter(|booking| booking.traveler_id == traveler_id))
    }

    /// A page of the traveler's bookings, newest first, after `after` (created_at, id).
    pub async fn traveler_bookings(
        &self,
        traveler_id: Uuid,
        statuses: &[BookingStatus],
        launch_id: Option<Uuid>,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<BookingRow>, AppError> {
        let statuses = status_names(statuses);
        Ok(sqlx::query_as::<_, BookingRow>(&format!(
            "SELECT {BOOKING_COLUMNS} FROM bookings \
             WHERE traveler_id = $1 \
               AND (cardinality($2::text[]) = 0 OR status = ANY($2)) \
               AND ($3::uuid IS NULL OR launch_id = $3) \
               AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5)) \
             ORDER BY created_at DESC, id DESC LIMIT $6"
        ))
        .bind(traveler_id)
        .bind(&statuses)
        .bind(launch_id)
        .bind(after.map(|(at, _)| at))
        .bind(after.map(|(_, id)| id))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// A page of a launch's bookings in creation order, after `offset`.
    pub async fn launch_bookings(
        &self,
        launch_id: Uuid,
        statuses: &[BookingStatus],
        offset: i64,
        limit: i64,
    ) -> Result<Vec<BookingRow>, AppError> {
        let statuses = status_names(statuses);
        Ok(sqlx::query_as::<_, BookingRow>(&format!(
            "SELECT {BOOKING_COLUMNS} FROM bookings \
             WHERE launch_id = $1 AND (cardinality($2::text[]) = 0 OR status = ANY($2)) \
             ORDER BY created_at, id OFFSET $3 LIMIT $4"
        ))
        .bind(launch_id)
        .bind(&statuses)
        .bind(offset)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// The passengers of `booking_ids`, by booking then seat.
    pub async fn passengers(&self, booking_ids: &[Uuid]) -> Result<Vec<PassengerRow>, AppError> {
        Ok(sqlx::query_as::<_, PassengerRow>(
            "SELECT booking_id, seat, full_name, date_of_birth, email, phone \
             FROM booking_passengers WHERE booking_id = ANY($1) ORDER BY booking_id, seat",
        )
        .bind(booking_ids)
        .fetch_all(self.pool())
        .await?)
    }

    /// Records FinanceAPI's payment id while the payment is still open.
    pub async fn set_payment_id(&self, id: Uuid, payment_id: &str) -> Result<(), AppError> {
        sqlx::query("UPDATE bookings SET payment_id = $2 WHERE id = $1 AND payment_id IS NULL")
            .bind(id)
            .bind(payment_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The payment succeeded: PENDING_PAYMENT becomes CONFIRMED. See [`Confirmation`] for a
    /// payment that arrives after its hold was given up.
    pub async fn confirm(
        &self,
        id: Uuid,
        payment_id: &str,
        origin: &Origin,
    ) -> Result<Option<Confirmation>, AppError> {
        let mut transaction = self.pool().begin().await?;
        let confirmed = sqlx::query_as::<_, BookingRow>(&format!(
            "UPDATE bookings SET status = 'CONFIRMED', paid = true, payment_id = $2, \
                 confirmed_at = now(), hold_expires_at = NULL, {} \
             WHERE id = $1 AND status = 'PENDING_PAYMENT' RETURNING {BOOKING_COLUMNS}",
            touch(3)
        ))
        .bind(id)
        .bind(payment_id)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_optional(&mut *transaction)
        .await?;
        if let Some(booking) = confirmed {
            record_change(
                &mut transaction,
                origin,
                "booking",
                &id.to_string(),
                "BOOKING_CONFIRMED",
                booking.event_payload(),
            )
            .await?;
            transaction.commit().await?;
            return Ok(Some(Confirmation::Confirmed(booking)));
        }
        let late = sqlx::query_as::<_, BookingRow>(&format!(
            "UPDATE bookings SET paid = true, payment_id = $2, refund_minor = total_minor, \
                 refund_id = gen_random_uuid(), refund_state = 'PENDING', {} \
             WHERE id = $1 AND status = 'CANCELLED' AND NOT paid RETURNING {BOOKING_COLUMNS}",
            touch(3)
        ))
        .bind(id)
        .bind(payment_id)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_optional(&mut *transaction)
        .await?;
        if let Some(booking) = late {
            record_change(
                &mut transaction,
                origin,
                "booking",
                &id.to_string(),
                "BOOKING_LATE_PAYMENT_REFUNDED",
                booking.event_payload(),
            )
            .await?;
            transaction.commit().await?;
            return Ok(Some(Confirmation::RefundLatePayment(booking)));
        }
        transaction.rollback().await?;
        Ok(self.booking(id).await?.map(Confirmation::AlreadyConfirmed))
    }

    /// Cancels an unpaid (PENDING_PAYMENT) booking and gives its seats back. With `discard`
    /// the booking is deleted instead (the payment gateway was unreachable: no booking is
    /// kept). `None` if the booking was no longer PENDING_PAYMENT.
    pub async fn release_hold(
        &self,
        id: Uuid,
        reason: CancellationReason,
        note: &str,
        discard: bool,
        origin: &Origin,
    ) -> Result<Option<BookingRow>, AppError> {
        let mut transaction = self.pool().begin().await?;
        let released = sqlx::query_as::<_, BookingRow>(&format!(
            "UPDATE bookings SET status = 'CANCELLED', cancellation_reason = $2, \
                 cancellation_note = $3, refund_tier = 'NOT_PAID', seats_released = true, \
                 cancelled_at = now(), hold_expires_at = NULL, {} \
             WHERE id = $1 AND status = 'PENDING_PAYMENT' RETURNING {BOOKING_COLUMNS}",
            touch(4)
        ))
        .bind(id)
        .bind(reason.as_str())
        .bind(note)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(booking) = released else {
            transaction.rollback().await?;
            return Ok(None);
        };
        give_back_seats(&mut transaction, &booking, true).await?;
        let event = if discard {
            sqlx::query("DELETE FROM bookings WHERE id = $1")
                .bind(id)
                .execute(&mut *transaction)
                .await?;
            "BOOKING_DISCARDED"
        } else {
            "BOOKING_CANCELLED"
        };
        record_change(
            &mut transaction,
            origin,
            "booking",
            &id.to_string(),
            event,
            booking.event_payload(),
        )
        .await?;
        transaction.commit().await?;
        Ok(Some(booking))
    }

    /// The traveler cancels a CONFIRMED booking: the refund policy is decided on the launch's
    /// current date with the booking row locked, the refund (if any) becomes due with its own
    /// id, and the seats go back on sale if the tier says so. `None` if the booking is not the
    /// traveler's CONFIRMED booking of a launch that is still open.
    pub async fn cancel_confirmed(
        &self,
        id: Uuid,
        traveler_id: Uuid,
        note: &str,
        origin: &Origin,
    ) -> Result<Option<BookingRow>, AppError> {
        let mut transaction = self.pool().begin().await?;
        let locked: Option<(i64, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT b.total_minor, l.scheduled_at, now() FROM bookings b \
             JOIN launches l ON l.id = b.launch_id \
             WHERE b.id = $1 AND b.traveler_id = $2 AND b.status = 'CONFIRMED' \
               AND l.status IN ('SCHEDULED', 'DELAYED') \
             FOR UPDATE OF b",
        )
        .bind(id)
        .bind(traveler_id)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some((total_minor, launch_at, now)) = locked else {
            transaction.rollback().await?;
            return Ok(None);
        };
        let quote = refund::traveler_cancellation(now, launch_at, total_minor);
        let booking = cancel_paid(
            &mut transaction,
            id,
            CancellationReason::TravelerRequest,
            note,
            quote.tier,
            total_minor,
            origin,
        )
        .await?;
        give_back_seats(&mut transaction, &booking, quote.tier.releases_seats()).await?;
        record_change(
            &mut transaction,
            origin,
            "booking",
            &id.to_string(),
            "BOOKING_CANCELLED",
            booking.event_payload(),
        )
        .await?;
        transaction.commit().await?;
        Ok(Some(booking))
    }

    /// The launch was ABORTED: every CONFIRMED booking is cancelled with a 100% refund due.
    /// Returns the bookings cancelled by this call (none on a repeat).
    pub async fn cancel_for_abort(
        &self,
        launch_id: Uuid,
        reason: &str,
        origin: &Origin,
    ) -> Result<Vec<BookingRow>, AppError> {
        let mut transaction = self.pool().begin().await?;
        let confirmed: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT id, total_minor FROM bookings WHERE launch_id = $1 AND status = 'CONFIRMED' \
             ORDER BY id FOR UPDATE",
        )
        .bind(launch_id)
        .fetch_all(&mut *transaction)
        .await?;
        let mut cancelled = Vec::with_capacity(confirmed.len());
        for (id, total_minor) in confirmed {
            let booking = cancel_paid(
                &mut transaction,
                id,
                CancellationReason::LaunchAborted,
                reason,
                RefundTier::LaunchAborted,
                total_minor,
                origin,
            )
            .await?;
            give_back_seats(&mut transaction, &booking, false).await?;
            record_change(
                &mut transaction,
                origin,
                "booking",
                &id.to_string(),
                "BOOKING_CANCELLED",
                booking.event_payload(),
            )
            .await?;
            cancelled.push(booking);
        }
        transaction.commit().await?;
        Ok(cancelled)
    }

    /// The launch flew (SUCCESSFUL or FAILED): CONFIRMED bookings become COMPLETED.
    pub async fn complete_launch(
        &self,
        launch_id: Uuid,
        origin: &Origin,
    ) -> Result<Vec<BookingRow>, AppError> {
        let mut transaction = self.pool().begin().await?;
        let completed = sqlx::query_as::<_, BookingRow>(&format!(
            "UPDATE bookings SET status = 'COMPLETED', completed_at = now(), {} \
             WHERE launch_id = $1 AND status = 'CONFIRMED' RETURNING {BOOKING_COLUMNS}",
            touch(2)
        ))
        .bind(launch_id)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_all(&mut *transaction)
        .await?;
        for booking in &completed {
            record_change(
                &mut transaction,
                origin,
                "booking",
                &booking.id.to_string(),
                "BOOKING_COMPLETED",
                booking.event_payload(),
            )
            .await?;
        }
        transaction.commit().await?;
        Ok(completed)
    }

    /// PENDING_PAYMENT bookings whose hold has expired, or every one of `launch_id`.
    pub async fn open_holds(
        &self,
        launch_id: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<BookingRow>, AppError> {
        Ok(sqlx::query_as::<_, BookingRow>(&format!(
            "SELECT {BOOKING_COLUMNS} FROM bookings WHERE status = 'PENDING_PAYMENT' \
               AND (CASE WHEN $1::uuid IS NULL THEN hold_expires_at < now() \
                         ELSE launch_id = $1 END) \
             ORDER BY hold_expires_at LIMIT $2"
        ))
        .bind(launch_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Bookings whose refund is due and not settled, untouched for `idle` (so the request that
    /// started a refund finishes it before the sweeper tries), or all of `launch_id`'s now.
    pub async fn refunds_due(
        &self,
        launch_id: Option<Uuid>,
        idle: Duration,
        limit: i64,
    ) -> Result<Vec<BookingRow>, AppError> {
        Ok(sqlx::query_as::<_, BookingRow>(&format!(
            "SELECT {BOOKING_COLUMNS} FROM bookings WHERE refund_state = 'PENDING' \
               AND (CASE WHEN $1::uuid IS NULL \
                         THEN updated_at < now() - make_interval(secs => $2) \
                         ELSE launch_id = $1 END) \
             ORDER BY cancelled_at LIMIT $3"
        ))
        .bind(launch_id)
        .bind(idle.as_secs_f64())
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Records what the payment gateway said of a refund. A settled state (SUCCEEDED, FAILED)
    /// never goes back; PENDING only counts the attempt.
    pub async fn record_refund_outcome(
        &self,
        id: Uuid,
        refund_id: Uuid,
        state: RefundState,
        error: Option<&str>,
        origin: &Origin,
    ) -> Result<Option<BookingRow>, AppError> {
        let mut transaction = self.pool().begin().await?;
        let updated = sqlx::query_as::<_, BookingRow>(&format!(
            "UPDATE bookings SET refund_state = $3, refund_attempts = refund_attempts + 1, \
                 refund_last_error = $4, {} \
             WHERE id = $1 AND refund_id = $2 AND refund_state = 'PENDING' \
             RETURNING {BOOKING_COLUMNS}",
            touch(5)
        ))
        .bind(id)
        .bind(refund_id)
        .bind(state.as_str())
        .bind(error)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_optional(&mut *transaction)
        .await?;
        if let Some(booking) = &updated
            && state != RefundState::Pending
        {
            record_change(
                &mut transaction,
                origin,
                "booking",
                &id.to_string(),
                &format!("BOOKING_REFUND_{}", state.as_str()),
                booking.event_payload(),
            )
            .await?;
        }
        transaction.commit().await?;
        Ok(updated)
    }
}

/// Stored status names, for `status = ANY($n)`.
fn status_names(statuses: &[BookingStatus]) -> Vec<&'static str> {
    statuses.iter().map(|status| status.as_str()).collect()
}

/// Cancels a paid booking under `tier`; the caller holds the booking's row lock.
async fn cancel_paid(
    transaction: &mut Transaction<'static, Postgres>,
    id: Uuid,
    reason: CancellationReason,
    note: &str,
    tier: RefundTier,
    total_minor: i64,
    origin: &Origin,
) -> Result<BookingRow, AppError> {
    let refund_minor = refund::refund_amount(total_minor, tier.percent());
    Ok(sqlx::query_as::<_, BookingRow>(&format!(
        "UPDATE bookings SET status = 'CANCELLED', cancellation_reason = $2, \
             cancellation_note = $3, refund_tier = $4, refund_minor = $5, \
             refund_id = CASE WHEN $5 > 0 THEN gen_random_uuid() END, \
             refund_state = CASE WHEN $5 > 0 THEN 'PENDING' END, \
             seats_released = $6, cancelled_at = now(), {} \
         WHERE id = $1 RETURNING {BOOKING_COLUMNS}",
        touch(7)
    ))
    .bind(id)
    .bind(reason.as_str())
    .bind(note)
    .bind(tier.as_str())
    .bind(refund_minor)
    .bind(tier.releases_seats())
    .bind(origin.service)
    .bind(origin.user_id.as_deref())
    .bind(origin.trace_id())
    .fetch_one(&mut **transaction)
    .await?)
}

/// Lowers the traveler's per-launch count (the booking is no longer active) and, if
/// `to_sale`, the launch's booked seats (they go back on sale).
async fn give_back_seats(
    connection: &mut PgConnection,
    booking: &BookingRow,
    to_sale: bool,
) -> Result<(), AppError> {
    if to_sale {
        sqlx::query("UPDATE launches SET seats_booked = seats_booked - $2 WHERE id = $1")
            .bind(booking.launch_id)
            .bind(booking.seats)
            .execute(&mut *connection)
            .await?;
    }
    sqlx::query(
        "UPDATE traveler_launch_seats SET seats = seats - $3 \
         WHERE traveler_id = $1 AND launch_id = $2",
    )
    .bind(booking.traveler_id)
    .bind(booking.launch_id)
    .bind(booking.seats)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// One launch's revenue figures (BatchGetLaunchRevenue), in the launch's currency.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LaunchRevenueRow {
    pub launch_id: Uuid,
    /// Empty for an unknown launch (all figures zero).
    pub currency: String,
    pub gross_minor: i64,
    pub refunds_minor: i64,
    pub paid_bookings: i64,
    pub seats_sold: i64,
    pub passengers: i64,
}

impl Store {
    /// Revenue of each launch in `launch_ids`, one row per id, zero for launches without paid
    /// bookings. Paid bookings are those whose charge succeeded (CONFIRMED, COMPLETED and the
    /// CANCELLED ones that had been paid); their refunds count whether paid out yet or not.
    pub async fn launch_revenue(
        &self,
        launch_ids: &[Uuid],
    ) -> Result<Vec<LaunchRevenueRow>, AppError> {
        Ok(sqlx::query_as::<_, LaunchRevenueRow>(
            "SELECT ids.id AS launch_id, COALESCE(l.currency, '') AS currency, \
                    COALESCE(sum(b.total_minor) FILTER (WHERE b.paid), 0)::bigint AS gross_minor, \
                    COALESCE(sum(b.refund_minor) FILTER (WHERE b.paid), 0)::bigint AS refunds_minor, \
                    count(b.id) FILTER (WHERE b.paid) AS paid_bookings, \
                    COALESCE(sum(b.seats) FILTER (WHERE b.status IN ('CONFIRMED', 'COMPLETED') \
                        OR (b.status = 'CANCELLED' AND b.paid AND NOT b.seats_released)), 0)::bigint \
                        AS seats_sold, \
                    COALESCE(sum(passengers.count) \
                        FILTER (WHERE b.status IN ('CONFIRMED', 'COMPLETED')), 0)::bigint AS passengers \
             FROM unnest($1::uuid[]) AS ids(id) \
             LEFT JOIN launches l ON l.id = ids.id \
             LEFT JOIN bookings b ON b.launch_id = ids.id \
             LEFT JOIN LATERAL (SELECT count(*) AS count FROM booking_passengers p \
                                WHERE p.booking_id = b.id) passengers ON true \
             GROUP BY ids.id, l.currency",
        )
        .bind(launch_ids)
        .fetch_all(&self.pool)
        .await?)
    }
}
