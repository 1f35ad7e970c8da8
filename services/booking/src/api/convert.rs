//! Records and use-case answers to contract messages (and the few contract values read back),
//! in one place.

use astro_proto::astrobookings::{
    booking::v1::{
        Booking, BookingStatus as BookingStatusMessage, CancellationReason, CreateBookingResponse,
        GetCancellationQuoteResponse, LaunchTraveler, Passenger, RefundState as RefundStateMessage,
        RefundTier, Traveler,
    },
    common::v1::{self as common, Contact, LaunchSummary, RocketRange},
};
use astro_shared::{
    AppError, AppResult,
    convert::{money, timestamp},
};
use prost::Message as _;

use crate::{
    app::{
        bookings::{BookingView, CancellationQuote},
        reserve::Reservation,
    },
    domain::{booking::BookingStatus, refund::RefundState, seat_limit},
    store::{
        launches::LaunchSummaryRow,
        travelers::{TravelerContactRow, TravelerRow},
    },
};

pub use astro_shared::convert::audit;

pub fn launch_summary(row: &LaunchSummaryRow) -> LaunchSummary {
    LaunchSummary {
        id: row.id.to_string(),
        slug: row.slug.clone(),
        agency_id: row.agency_id.to_string(),
        agency_name: row.agency_name.clone(),
        rocket_name: row.rocket_name.clone(),
        range: RocketRange::from_str_name(&format!("ROCKET_RANGE_{}", row.rocket_range))
            .unwrap_or_default()
            .into(),
        spaceport: row.spaceport.clone(),
        destination: row.destination.clone(),
        scheduled_at: Some(timestamp(row.scheduled_at)),
        status: astro_shared::launch_history::status(&row.status).into(),
        price_per_seat: Some(money(row.price_minor, &row.currency)),
    }
}

/// A booking with its passengers and its launch.
pub fn booking(view: &BookingView) -> Booking {
    let row = &view.booking;
    let enum_of = |prefix: &str, value: Option<&str>| -> String {
        value
            .map(|value| format!("{prefix}_{value}"))
            .unwrap_or_default()
    };
    Booking {
        id: row.id.to_string(),
        traveler_id: row.traveler_id.to_string(),
        launch: view.launch.as_ref().map(launch_summary),
        status: BookingStatusMessage::from_str_name(&format!("BOOKING_STATUS_{}", row.status))
            .unwrap_or_default()
            .into(),
        seats: row.seats,
        passengers: view
            .passengers
            .iter()
            .filter(|passenger| passenger.booking_id == row.id)
            .map(|passenger| Passenger {
                full_name: passenger.full_name.clone(),
                date_of_birth: passenger.date_of_birth.to_string(),
                email: passenger.email.clone(),
                phone: passenger.phone.clone(),
            })
            .collect(),
        price_per_seat: Some(money(row.price_minor, &row.currency)),
        total_amount: Some(money(row.total_minor, &row.currency)),
        refunded_amount: Some(money(row.refund_minor, &row.currency)),
        refund_state: RefundStateMessage::from_str_name(&enum_of(
            "REFUND_STATE",
            row.refund_state.as_deref(),
        ))
        .unwrap_or_default()
        .into(),
        cancellation_reason: CancellationReason::from_str_name(&enum_of(
            "CANCELLATION_REASON",
            row.cancellation_reason.as_deref(),
        ))
        .unwrap_or_default()
        .into(),
        refund_tier: RefundTier::from_str_name(&enum_of("REFUND_TIER", row.refund_tier.as_deref()))
            .unwrap_or_default()
            .into(),
        seats_released: row.seats_released,
        hold_expires_at: row.hold_expires_at.map(timestamp),
        created_at: Some(timestamp(row.audit.created_at)),
        confirmed_at: row.confirmed_at.map(timestamp),
        cancelled_at: row.cancelled_at.map(timestamp),
        completed_at: row.completed_at.map(timestamp),
        audit: Some(audit(&row.audit)),
    }
}

/// CreateBooking's answer to the request that made the booking.
pub fn create_booking(reservation: &Reservation) -> CreateBookingResponse {
    CreateBookingResponse {
        booking: Some(booking(&reservation.booking)),
        payment_client_secret: reservation.payment_client_secret.clone(),
        idempotent_replay: false,
    }
}

/// How CreateBooking's first answer is kept for its retries: the very response, encoded.
pub fn kept_create_booking(reservation: &Reservation) -> Vec<u8> {
    create_booking(reservation).encode_to_vec()
}

/// A retry's answer: the kept first answer, marked as a replay.
pub fn replayed_create_booking(kept: &[u8]) -> AppResult<CreateBookingResponse> {
    let mut response = CreateBookingResponse::decode(kept).map_err(AppError::internal)?;
    response.idempotent_replay = true;
    Ok(response)
}

/// GetCancellationQuote's answer; `None` is a booking that cannot be cancelled.
pub fn cancellation_quote(quote: Option<&CancellationQuote>) -> GetCancellationQuoteResponse {
    let Some(CancellationQuote { quote, currency }) = quote else {
        return GetCancellationQuoteResponse::default();
    };
    GetCancellationQuoteResponse {
        cancellable: true,
        refund_tier: RefundTier::from_str_name(&format!("REFUND_TIER_{}", quote.tier.as_str()))
            .unwrap_or_default()
            .into(),
        refund_percent: i32::try_from(quote.tier.percent()).unwrap_or(0),
        refund_amount: Some(money(quote.refund_minor, currency)),
        seats_released: quote.tier.releases_seats(),
        valid_until: quote.valid_until.map(timestamp),
    }
}

pub fn traveler(row: &TravelerRow) -> Traveler {
    Traveler {
        id: row.id.to_string(),
        name: row.name.clone(),
        email: row.email.clone(),
        phone: row.phone.clone(),
        tax_id: row.tax_id.clone(),
        billing_address: Some(common::Address {
            line1: row.address_line1.clone(),
            line2: row.address_line2.clone(),
            city: row.address_city.clone(),
            region: row.address_region.clone(),
            postal_code: row.address_postal_code.clone(),
            country_code: row.address_country_code.clone(),
        }),
        profile_complete: row.profile_complete,
        vip: row.vip,
        max_seats_per_launch: seat_limit(row.vip),
        audit: Some(audit(&row.audit)),
    }
}

pub fn contact(row: &TravelerContactRow) -> Contact {
    Contact {
        user_id: row.id.to_string(),
        name: row.name.clone(),
        email: row.email.clone(),
        phone: row.phone.clone(),
    }
}

/// A traveler booked on a launch, with the seats and bookings they hold there.
pub fn launch_traveler(row: &TravelerContactRow) -> LaunchTraveler {
    LaunchTraveler {
        contact: Some(contact(row)),
        seats: i32::try_from(row.seats).unwrap_or(i32::MAX),
        booking_ids: row.booking_ids.iter().map(ToString::to_string).collect(),
    }
}

/// A status filter of a request; an unknown or UNSPECIFIED value is the client's mistake.
pub fn booking_statuses(values: &[i32]) -> AppResult<Vec<BookingStatus>> {
    values
        .iter()
        .map(|&value| {
            let status = match BookingStatusMessage::try_from(value) {
                Ok(BookingStatusMessage::PendingPayment) => Some(BookingStatus::PendingPayment),
                Ok(BookingStatusMessage::Confirmed) => Some(BookingStatus::Confirmed),
                Ok(BookingStatusMessage::Completed) => Some(BookingStatus::Completed),
                Ok(BookingStatusMessage::Cancelled) => Some(BookingStatus::Cancelled),
                Ok(BookingStatusMessage::Unspecified) | Err(_) => None,
            };
            status.ok_or_else(|| {
                AppError::invalid(
                    "statuses",
                    "must be booking statuses (PENDING_PAYMENT, CONFIRMED, COMPLETED, CANCELLED)",
                )
            })
        })
        .collect()
}

/// A refund state FinanceAPI reports (RecordRefundOutcome).
pub fn refund_state(value: i32) -> AppResult<RefundState> {
    match RefundStateMessage::try_from(value) {
        Ok(RefundStateMessage::Pending) => Ok(RefundState::Pending),
        Ok(RefundStateMessage::Succeeded) => Ok(RefundState::Succeeded),
        Ok(RefundStateMessage::Failed) => Ok(RefundState::Failed),
        _ => Err(AppError::invalid(
            "state",
            "must be PENDING, SUCCEEDED or FAILED",
        )),
    }
}
