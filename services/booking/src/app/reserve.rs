//! CreateBooking: claim the idempotency key, hold the seats (one transaction), charge through
//! FinanceAPI (no transaction open), then confirm or release (one transaction each). The first
//! answer, success or client error, is kept for every retry with the same key; a retry that
//! arrives while the first request still works waits for it without polling (the first
//! request's answer or release wakes it, see `store::request_events`).

use std::time::Duration;

use astro_shared::{AppError, activity::ActivityLog, changes::Origin};
use chrono::{DateTime, Utc};
use tokio::time::Instant;
use uuid::Uuid;

use super::{
    SERVICE_NAME,
    bookings::{BookingView, Bookings},
    payments::{Charge, Payments},
};
use crate::{
    domain::{
        booking::{BookingRequest, BookingStatus, CancellationReason},
        reasons, seat_limit,
    },
    store::{
        Store,
        bookings::{BookingRow, HoldRefusal, NewHold},
        requests::{Claim, StoredAnswer},
    },
};

/// How long one request owns its idempotency key before a retry may take over (longer than a
/// payment call may take).
const KEY_LEASE: Duration = Duration::from_secs(60);
/// How long a retry waits for the first request with its key to finish.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(25);
/// While this process hears no wake-ups (its listening connection is down), how often a
/// waiting retry reads the claim instead.
const POLL_WHILE_DEAF: Duration = Duration::from_millis(200);
/// The shortest wait between two reads of a busy key: a claim read while it changed hands is
/// read again shortly, not in a tight loop.
const MIN_WAIT: Duration = Duration::from_millis(20);

/// A booking made (or resumed) by CreateBooking.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub booking: BookingView,
    /// Set when the gateway needs the customer (3-D Secure): the client confirms with it.
    pub payment_client_secret: String,
}

/// CreateBooking's answer.
#[derive(Debug)]
pub enum Booked {
    /// This request made the booking.
    New(Box<Reservation>),
    /// A retry: the first request's answer as it was kept (see [`Reservations::create`]).
    Replay(Vec<u8>),
}

/// A failed attempt, and whether its key may be forgotten: only when the booking it held was
/// discarded because nothing was charged. Otherwise the key keeps its booking (if seats were
/// held), so a retry resumes that booking and its charge instead of charging a new one.
struct Failure {
    error: AppError,
    forget_key: bool,
}

impl From<AppError> for Failure {
    fn from(error: AppError) -> Self {
        Self {
            error,
            forget_key: false,
        }
    }
}

/// What claiming a request's key came to.
enum Claimed {
    /// This request owns the key; `booking_id` is the booking an earlier owner held.
    Owned { booking_id: Option<Uuid> },
    /// The key already has its answer (or cannot be used): return it.
    Answered(Result<Booked, AppError>),
}

/// Whether a failed attempt's error is its key's final answer: client errors are, transient
/// ones (unavailable, aborted, internal, ...) are not, so a retry gets another chance.
fn is_final(error: &AppError) -> bool {
    matches!(
        error,
        AppError::Refused { .. }
            | AppError::InvalidArgument { .. }
            | AppError::NotFound(_)
            | AppError::FailedPrecondition(_)
    )
}

#[derive(Clone)]
pub struct Reservations {
    store: Store,
    payments: Payments,
    bookings: Bookings,
    activity: ActivityLog,
    /// How long seats are held for a payment.
    payment_hold: Duration,
}

impl Reservations {
    pub fn new(
        store: Store,
        payments: Payments,
        bookings: Bookings,
        activity: ActivityLog,
        payment_hold: Duration,
    ) -> Self {
        Self {
            store,
            payments,
            bookings,
            activity,
            payment_hold,
        }
    }

    /// Books `request` for the traveler, once per idempotency key. A success is kept for the
    /// key's retries as `keep` encodes it (the contract's response, made by the adapter, so a
    /// retry gets exactly the first answer); a final error is kept as the status it answers.
    pub async fn create(
        &self,
        traveler_id: Uuid,
        request: BookingRequest,
        keep: impl Fn(&Reservation) -> Vec<u8> + Send + Sync,
    ) -> Result<Booked, AppError> {
        let key = request.idempotency_key.clone();
        let resumed_booking = match self.claim(traveler_id, &request).await? {
            Claimed::Owned { booking_id } => booking_id,
            Claimed::Answered(answer) => return answer,
        };
        let origin = Origin::user(SERVICE_NAME, &traveler_id.to_string());
        match self
            .attempt(traveler_id, &request, resumed_booking, &origin)
            .await
        {
            Ok(reservation) => {
                let answer = StoredAnswer::Response(keep(&reservation));
                self.store
                    .finish_request(traveler_id, &key, &answer)
                    .await?;
                Ok(Booked::New(Box::new(reservation)))
            }
            Err(Failure { error, forget_key }) => {
                if is_final(&error) {
                    let (answer, error) = StoredAnswer::error(error);
                    self.store
                        .finish_request(traveler_id, &key, &answer)
                        .await?;
                    return Err(error);
                }
                if forget_key {
                    self.store.forget_request(traveler_id, &key).await?;
                } else {
                    self.store.release_request(traveler_id, &key).await?;
                }
                Err(error)
            }
        }
    }

    /// Claims the request's key, waiting up to [`WAIT_FOR_FIRST`] while another request owns it.
    /// The wait costs no queries: the claim is read again when its owner answers or lets go
    /// (a wake-up), when its lease ends (a crashed owner's key is taken over then), or, while
    /// this process hears no wake-ups, every [`POLL_WHILE_DEAF`].
    async fn claim(
        &self,
        traveler_id: Uuid,
        request: &BookingRequest,
    ) -> Result<Claimed, AppError> {
        let key = &request.idempotency_key;
        let fingerprint = request.fingerprint();
        let deadline = Instant::now() + WAIT_FOR_FIRST;
        let mut watch = self.store.watch_request(traveler_id, key);
        loop {
            watch.mark_seen();
            let lease_left = match self
                .store
                .claim_request(traveler_id, key, &fingerprint, KEY_LEASE)
                .await?
            {
                Claim::Owned { booking_id } => return Ok(Claimed::Owned { booking_id }),
                Claim::Mismatch => {
                    return Ok(Claimed::Answered(Err(AppError::invalid(
                        "idempotency_key",
                        "was already used with a different request; use a new key for a new booking",
                    ))));
                }
                Claim::Done(Ok(response)) => {
                    return Ok(Claimed::Answered(Ok(Booked::Replay(response))));
                }
                Claim::Done(Err(error)) => return Ok(Claimed::Answered(Err(error))),
                Claim::Busy { lease_left } => lease_left,
            };
            let now = Instant::now();
            if now >= deadline {
                return Ok(Claimed::Answered(Err(AppError::Aborted(
                    "a request with this idempotency key is still being processed; retry later"
                        .into(),
                ))));
            }
            let mut wait = lease_left.min(deadline - now);
            if !watch.is_listening() {
                wait = wait.min(POLL_WHILE_DEAF);
            }
            watch.woken_within(wait.max(MIN_WAIT)).await;
        }
    }

    async fn attempt(
        &self,
        traveler_id: Uuid,
        request: &BookingRequest,
        resumed_booking: Option<Uuid>,
        origin: &Origin,
    ) -> Result<Reservation, Failure> {
        let traveler = self
            .store
            .traveler(traveler_id)
            .await?
            .filter(|traveler| traveler.profile_complete)
            .ok_or_else(|| {
                AppError::refused(
                    reasons::PROFILE_INCOMPLETE,
                    "complete your traveler profile (phone, tax id, billing address) before booking",
                )
            })?;
        let launch = self
            .store
            .launch_summary(request.launch_id)
            .await?
            .ok_or_else(|| AppError::NotFound("launch".into()))?;
        let booking = match resumed_booking {
            Some(id) => {
                let booking =
                    self.store.booking(id).await?.ok_or_else(|| {
                        AppError::internal(anyhow::anyhow!("booking {id} vanished"))
                    })?;
                match BookingStatus::parse(&booking.status) {
                    Some(BookingStatus::PendingPayment) => booking,
                    Some(BookingStatus::Cancelled) => return Err(declined(&booking, None).into()),
                    _ => return Ok(self.reservation(booking, String::new()).await?),
                }
            }
            None => {
                self.hold(
                    traveler_id,
                    traveler.vip,
                    request,
                    launch.scheduled_at,
                    origin,
                )
                .await?
            }
        };
        let charge = self
            .payments
            .charge(
                &booking,
                &request.payment_method_id,
                &traveler.email,
                &launch.slug,
            )
            .await;
        match charge {
            Charge::Succeeded { payment_id } => {
                let (row, late) = self
                    .payments
                    .accept_payment(booking.id, &payment_id, origin)
                    .await?;
                if late {
                    // The hold was given up while the payment ran: the money goes back in full.
                    return Err(declined(
                        &row,
                        Some("the seat hold expired before the payment completed; the amount is refunded"),
                    )
                    .into());
                }
                self.activity.info(
                    "booking.confirmed",
                    Some(&traveler_id.to_string()),
                    format!(
                        "booking of {} seats on {} confirmed",
                        row.seats, launch.slug
                    ),
                    &[("booking_id", &row.id.to_string())],
                );
                Ok(self.reservation(row, String::new()).await?)
            }
            Charge::Declined { message } => {
                let row = self
                    .store
                    .release_hold(
                        booking.id,
                        CancellationReason::PaymentFailed,
                        &message,
                        false,
                        origin,
                    )
                    .await?
                    .unwrap_or(booking);
                Err(declined(&row, Some(&message)).into())
            }
            Charge::AwaitingCustomer {
                payment_id,
                client_secret,
            } => {
                self.store.set_payment_id(booking.id, &payment_id).await?;
                Ok(self.reservation(booking, client_secret).await?)
            }
            Charge::NotCharged(error) => {
                // Nothing was submitted: no booking is kept and a retry may try again afresh.
                self.store
                    .release_hold(
                        booking.id,
                        CancellationReason::PaymentFailed,
                        "",
                        true,
                        origin,
                    )
                    .await?;
                Err(Failure {
                    error,
                    forget_key: true,
                })
            }
            Charge::Unknown(error) => Err(error.into()),
        }
    }

    /// Holds the seats for a new booking, or says why not.
    async fn hold(
        &self,
        traveler_id: Uuid,
        vip: bool,
        request: &BookingRequest,
        launch_at: DateTime<Utc>,
        origin: &Origin,
    ) -> Result<BookingRow, AppError> {
        request.check_ages(launch_at)?;
        let limit = seat_limit(vip);
        let new = NewHold {
            id: Uuid::now_v7(),
            traveler_id,
            request,
            seat_limit: limit,
            hold: self.payment_hold,
        };
        match self
            .store
            .hold_seats(new, origin, (traveler_id, &request.idempotency_key))
            .await?
        {
            Ok(booking) => Ok(booking),
            Err(HoldRefusal::LaunchNotFound) => Err(AppError::NotFound("launch".into())),
            Err(HoldRefusal::NotBookable { status }) => Err(AppError::refused(
                reasons::LAUNCH_NOT_BOOKABLE,
                format!("the launch cannot be booked (it is {status} or already departed)"),
            )),
            Err(HoldRefusal::SeatsUnavailable { left }) => Err(AppError::refused(
                reasons::SEATS_UNAVAILABLE,
                format!("only {left} seats are left on this launch"),
            )
            .with_metadata("seatsAvailable", left.max(0).to_string())),
            Err(HoldRefusal::SeatLimit { held, limit }) => Err(AppError::refused(
                reasons::SEAT_LIMIT_EXCEEDED,
                format!(
                    "a traveler may hold at most {limit} seats on one launch; you already hold {held}"
                ),
            )
            .with_metadata("seatLimit", limit.to_string())
            .with_metadata("seatsHeld", held.to_string())),
        }
    }

    async fn reservation(
        &self,
        booking: BookingRow,
        payment_client_secret: String,
    ) -> Result<Reservation, AppError> {
        Ok(Reservation {
            booking: self.bookings.view(booking).await?,
            payment_client_secret,
        })
    }
}

fn declined(booking: &BookingRow, message: Option<&str>) -> AppError {
    let message = message
        .filter(|message| !message.is_empty())
        .unwrap_or("the payment was declined");
    AppError::refused(reasons::PAYMENT_DECLINED, message.to_owned())
        .with_metadata("bookingId", booking.id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_are_final_and_transient_ones_leave_the_key_for_a_retry() {
        for error in [
            AppError::refused(reasons::SEATS_UNAVAILABLE, "gone"),
            AppError::invalid("payment_method_id", "no such card"),
            AppError::NotFound("launch".into()),
            AppError::FailedPrecondition("no".into()),
        ] {
            assert!(is_final(&error), "{error}");
        }
        for error in [
            AppError::Aborted("retry".into()),
            AppError::unavailable("FinanceAPI", anyhow::anyhow!("down")),
            AppError::DeadlineExceeded,
            AppError::internal(anyhow::anyhow!("bug")),
        ] {
            assert!(!is_final(&error), "{error}");
        }
    }
}
