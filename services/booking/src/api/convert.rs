//! Rows to contract messages, in one place.

use astro_proto::astrobookings::{
    booking::v1::{
        Booking, BookingStatus, CancellationReason, Passenger, RefundState, RefundTier, Traveler,
    },
    common::v1::{self as common, LaunchStatus, LaunchStatusChange, LaunchSummary, RocketRange},
};
use astro_shared::convert::{money, timestamp};

use crate::{
    domain::seat_limit,
    store::{
        bookings::{BookingRow, PassengerRow},
        launches::{LaunchSummaryRow, StatusChangeRow},
        travelers::TravelerRow,
    },
};

pub use astro_shared::convert::audit;
use astro_shared::convert::recorded_origin as origin;

pub fn launch_status(text: &str) -> LaunchStatus {
    LaunchStatus::from_str_name(&format!("LAUNCH_STATUS_{text}")).unwrap_or_default()
}

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
        status: launch_status(&row.status).into(),
        price_per_seat: Some(money(row.price_minor, &row.currency)),
    }
}

pub fn status_change(row: &StatusChangeRow) -> LaunchStatusChange {
    LaunchStatusChange {
        status: launch_status(&row.status).into(),
        previous_status: row
            .previous_status
            .as_deref()
            .map(launch_status)
            .unwrap_or_default()
            .into(),
        scheduled_at: Some(timestamp(row.scheduled_at)),
        previous_scheduled_at: row.previous_scheduled_at.map(timestamp),
        reason: row.reason.clone(),
        origin: Some(origin(
            &row.origin_service,
            row.origin_user_id.as_deref(),
            row.origin_trace_id.as_deref(),
            row.changed_at,
        )),
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
