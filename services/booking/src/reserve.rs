//! CreateBooking: claim the idempotency key, hold the seats (one transaction), charge through
//! FinanceAPI (no transaction open), then confirm or release (one transaction each). The first
//! answer, success or client error, is kept for every retry with the same key.

use std::time::Duration;

use astro_proto::astrobookings::booking::v1::CreateBookingResponse;
use astro_shared::{AppError, changes::Origin};
use prost::Message as _;
use tonic::Code;
use uuid::Uuid;

use crate::{
    SERVICE_NAME, State,
    domain::{
        booking::{BookingRequest, BookingStatus, CancellationReason},
        reasons, seat_limit,
    },
    payments::{self, Charge},
    store::{
        bookings::{BookingRow, HoldRefusal, NewHold},
        requests::{Claim, StoredAnswer},
    },
};

/// How long one request owns its idempotency key before a retry may take over (longer than a
/// payment call may take).
const KEY_LEASE: Duration = Duration::from_secs(60);
/// How long a retry waits for the first request with its key to finish.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(25);

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

pub async fn create_booking(
    state: &State,
    traveler_id: Uuid,
    request: BookingRequest,
) -> Result<CreateBookingResponse, AppError> {
    let key = request.idempotency_key.clone();
    let fingerprint = request.fingerprint();
    let started = tokio::time::Instant::now();
    let resumed_booking = loop {
        match state
            .store
            .claim_request(traveler_id, &key, &fingerprint, KEY_LEASE)
            .await?
        {
            Claim::Owned { booking_id } => break booking_id,
            Claim::Mismatch => {
                return Err(AppError::invalid(
                    "idempotency_key",
                    "was already used with a different request; use a new key for a new booking",
                ));
            }
            Claim::Done(answer) => return replay(answer),
            Claim::Busy if started.elapsed() < WAIT_FOR_FIRST => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Claim::Busy => {
                return Err(AppError::Aborted(
                    "a request with this idempotency key is still being processed; retry later"
                        .into(),
                ));
            }
        }
    };
    let origin = Origin::user(SERVICE_NAME, &traveler_id.to_string());
    match attempt(state, traveler_id, &request, resumed_booking, &origin).await {
        Ok(response) => {
            let answer = StoredAnswer::Response(response.encode_to_vec());
            state
                .store
                .finish_request(traveler_id, &key, &answer)
                .await?;
            Ok(response)
        }
        Err(Failure { error, forget_key }) => {
            if let Some(answer) = final_answer(&error) {
                state
                    .store
                    .finish_request(traveler_id, &key, &answer)
                    .await?;
            } else if forget_key {
                state.store.forget_request(traveler_id, &key).await?;
            } else {
                state.store.release_request(traveler_id, &key).await?;
            }
            Err(error)
        }
    }
}

async fn attempt(
    state: &State,
    traveler_id: Uuid,
    request: &BookingRequest,
    resumed_booking: Option<Uuid>,
    origin: &Origin,
) -> Result<CreateBookingResponse, Failure> {
    let traveler = state
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
    let launch = state
        .store
        .launch_summary(request.launch_id)
        .await?
        .ok_or_else(|| AppError::NotFound("launch".into()))?;
    let booking = match resumed_booking {
        Some(id) => {
            let booking = state
                .store
                .booking(id)
                .await?
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("booking {id} vanished")))?;
            match BookingStatus::parse(&booking.status) {
                Some(BookingStatus::PendingPayment) => booking,
                Some(BookingStatus::Cancelled) => return Err(declined(&booking, None).into()),
                _ => return Ok(respond(state, &booking, String::new()).await?),
            }
        }
        None => {
            hold(
                state,
                traveler_id,
                traveler.vip,
                request,
                &launch.scheduled_at,
                origin,
            )
            .await?
        }
    };
    let charge = payments::charge(
        state,
        &booking,
        &request.payment_method_id,
        &traveler.email,
        &launch.slug,
    )
    .await;
    match charge {
        Charge::Succeeded { payment_id } => {
            let (row, late) =
                payments::accept_payment(state, booking.id, &payment_id, origin).await?;
            if late {
                // The hold was given up while the payment ran: the money goes back in full.
                return Err(declined(
                    &row,
                    Some("the seat hold expired before the payment completed; the amount is refunded"),
                )
                .into());
            }
            state.activity.info(
                "booking.confirmed",
                Some(&traveler_id.to_string()),
                format!(
                    "booking of {} seats on {} confirmed",
                    row.seats, launch.slug
                ),
                &[("booking_id", &row.id.to_string())],
            );
            Ok(respond(state, &row, String::new()).await?)
        }
        Charge::Declined { message } => {
            let row = state
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
            state.store.set_payment_id(booking.id, &payment_id).await?;
            Ok(respond(state, &booking, client_secret).await?)
        }
        Charge::NotCharged(error) => {
            // Nothing was submitted: no booking is kept and a retry may try again afresh.
            state
                .store
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
    state: &State,
    traveler_id: Uuid,
    vip: bool,
    request: &BookingRequest,
    launch_at: &chrono::DateTime<chrono::Utc>,
    origin: &Origin,
) -> Result<BookingRow, AppError> {
    request.check_ages(*launch_at)?;
    let limit = seat_limit(vip);
    let new = NewHold {
        id: Uuid::now_v7(),
        traveler_id,
        request,
        seat_limit: limit,
        hold: state.payment_hold,
    };
    match state
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

fn declined(booking: &BookingRow, message: Option<&str>) -> AppError {
    let message = message
        .filter(|message| !message.is_empty())
        .unwrap_or("the payment was declined");
    AppError::refused(reasons::PAYMENT_DECLINED, message.to_owned())
        .with_metadata("bookingId", booking.id.to_string())
}

async fn respond(
    state: &State,
    booking: &BookingRow,
    payment_client_secret: String,
) -> Result<CreateBookingResponse, AppError> {
    Ok(CreateBookingResponse {
        booking: Some(crate::bookings::booking_message(state, booking).await?),
        payment_client_secret,
        idempotent_replay: false,
    })
}

/// The answer to keep for retries if `error` is final: client errors are, transient ones
/// (unavailable, aborted, internal) are not, so a retry gets another chance.
fn final_answer(error: &AppError) -> Option<StoredAnswer> {
    let (reason, metadata) = match error {
        AppError::Refused {
            reason, metadata, ..
        } => (Some(reason.to_string()), serde_json::json!(metadata)),
        AppError::InvalidArgument { field, .. } => (None, serde_json::json!({ "field": field })),
        AppError::NotFound(_) | AppError::FailedPrecondition(_) => (None, serde_json::json!({})),
        _ => return None,
    };
    let message = match error {
        AppError::InvalidArgument { message, .. } => message.clone(),
        other => other.to_string(),
    };
    Some(StoredAnswer::Error {
        code: error.code() as i32,
        message,
        reason,
        metadata,
    })
}

fn replay(answer: StoredAnswer) -> Result<CreateBookingResponse, AppError> {
    match answer {
        StoredAnswer::Response(bytes) => {
            let mut response =
                CreateBookingResponse::decode(bytes.as_slice()).map_err(AppError::internal)?;
            response.idempotent_replay = true;
            Ok(response)
        }
        StoredAnswer::Error {
            code,
            message,
            reason,
            metadata,
        } => Err(match Code::from_i32(code) {
            Code::InvalidArgument => AppError::invalid(
                metadata["field"].as_str().unwrap_or_default().to_owned(),
                message,
            ),
            Code::NotFound => AppError::NotFound(message.trim_end_matches(" not found").to_owned()),
            Code::FailedPrecondition => match reason {
                Some(reason) => {
                    let mut error = AppError::refused(reasons::known(&reason), message);
                    if let Some(entries) = metadata.as_object() {
                        for (key, value) in entries {
                            error = error.with_metadata(key, value.as_str().unwrap_or_default());
                        }
                    }
                    error
                }
                None => AppError::FailedPrecondition(message),
            },
            _ => AppError::internal(anyhow::anyhow!("stored answer with code {code}")),
        }),
    }
}
