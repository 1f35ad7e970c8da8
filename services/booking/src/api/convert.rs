//! Rows to contract messages, in one place.

use astro_proto::astrobookings::{
    booking::v1::{
        Booking, BookingStatus, CancellationReason, Passenger, RefundState, RefundTier, Traveler,
    },
    common::v1::{self as common, LaunchSummary, RocketRange},
};
use astro_shared::convert::{money, timestamp};

use crate::{
    domain::seat_limit,
    store::{
        bookings::{BookingRow, PassengerRow},
        launches::LaunchSummaryRow,
        travelers::TravelerRow,
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

/// A booking with its passengers (rows of other bookings are ignored) and its launch.
pub fn booking(
    row: &BookingRow,
    passengers: &[PassengerRow],
    launch: Option<&LaunchSummaryRow>,
) -> Booking {
    let enum_of = |prefix: &str, value: Option<&str>| -> String {
        value
            .map(|value| format!("{prefix}_{value}"))
            .unwrap_or_default()
    };
    Booking {
        id: row.id.to_string(),
        traveler_id: row.traveler_id.to_string(),
        launch: launch.map(launch_summary),
        status: BookingStatus::from_str_name(&format!("BOOKING_STATUS_{}", row.status))
            .unwrap_or_default()
            .into(),
        seats: row.seats,
        passengers: passengers
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
        refund_state: RefundState::from_str_name(&enum_of(
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

/// A status filter of a request as stored status names; an unknown or UNSPECIFIED value is the
/// client's mistake.
pub fn booking_statuses(values: &[i32]) -> Result<Vec<String>, astro_shared::AppError> {
    values
        .iter()
        .map(|&value| match BookingStatus::try_from(value) {
            Ok(BookingStatus::Unspecified) | Err(_) => Err(astro_shared::AppError::invalid(
                "statuses",
                "must be booking statuses (PENDING_PAYMENT, CONFIRMED, COMPLETED, CANCELLED)",
            )),
            Ok(status) => Ok(status
                .as_str_name()
                .trim_start_matches("BOOKING_STATUS_")
                .to_owned()),
        })
        .collect()
}
