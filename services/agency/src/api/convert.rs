//! Rows to contract messages and contract values to domain values, in one place.

use astro_proto::astrobookings::{
    agency::v1::{Agency, Launch, Occupancy, Rocket, Viability},
    common::v1::{self as common},
};
use astro_shared::AppError;

use crate::{
    domain::{launch::LaunchStatus, rocket::RocketRange},
    store::{agencies::AgencyRow, launches::LaunchRow, rockets::RocketRow},
};

pub use astro_shared::convert::{from_timestamp, timestamp};

pub use astro_shared::convert::audit;

pub fn range_to_proto(name: &str) -> common::RocketRange {
    match RocketRange::parse(name) {
        Some(RocketRange::Suborbital) => common::RocketRange::Suborbital,
        Some(RocketRange::LowEarthOrbit) => common::RocketRange::LowEarthOrbit,
        Some(RocketRange::Interplanetary) => common::RocketRange::Interplanetary,
        None => common::RocketRange::Unspecified,
    }
}

/// `None` for UNSPECIFIED and unknown values.
pub fn range_from_proto(value: i32) -> Option<RocketRange> {
    match common::RocketRange::try_from(value).ok()? {
        common::RocketRange::Suborbital => Some(RocketRange::Suborbital),
        common::RocketRange::LowEarthOrbit => Some(RocketRange::LowEarthOrbit),
        common::RocketRange::Interplanetary => Some(RocketRange::Interplanetary),
        common::RocketRange::Unspecified => None,
    }
}

pub fn status_to_proto(name: &str) -> common::LaunchStatus {
    match LaunchStatus::parse(name) {
        Some(LaunchStatus::Scheduled) => common::LaunchStatus::Scheduled,
        Some(LaunchStatus::Delayed) => common::LaunchStatus::Delayed,
        Some(LaunchStatus::Aborted) => common::LaunchStatus::Aborted,
        Some(LaunchStatus::Successful) => common::LaunchStatus::Successful,
        Some(LaunchStatus::Failed) => common::LaunchStatus::Failed,
        None => common::LaunchStatus::Unspecified,
    }
}

/// A status filter from a request: UNSPECIFIED entries are ignored, unknown values are
/// INVALID_ARGUMENT naming `field`.
pub fn statuses_from_proto(field: &str, values: &[i32]) -> Result<Vec<LaunchStatus>, AppError> {
    values
        .iter()
        .filter(|value| **value != 0)
        .map(|value| {
            status_from_proto(*value)
                .ok_or_else(|| AppError::invalid(field, "unknown launch status"))
        })
        .collect()
}

/// `None` for UNSPECIFIED and unknown values.
pub fn status_from_proto(value: i32) -> Option<LaunchStatus> {
    match common::LaunchStatus::try_from(value).ok()? {
        common::LaunchStatus::Scheduled => Some(LaunchStatus::Scheduled),
        common::LaunchStatus::Delayed => Some(LaunchStatus::Delayed),
        common::LaunchStatus::Aborted => Some(LaunchStatus::Aborted),
        common::LaunchStatus::Successful => Some(LaunchStatus::Successful),
        common::LaunchStatus::Failed => Some(LaunchStatus::Failed),
        common::LaunchStatus::Unspecified => None,
    }
}

pub fn agency(row: &AgencyRow) -> Agency {
    Agency {
        id: row.id.to_string(),
        name: row.name.clone(),
        description: row.description.clone(),
        contact_email: row.contact_email.clone(),
        contact_phone: row.contact_phone.clone(),
        tax_id: row.tax_id.clone(),
        legal_address: Some(common::Address {
            line1: row.address_line1.clone(),
            line2: row.address_line2.clone(),
            city: row.address_city.clone(),
            region: row.address_region.clone(),
            postal_code: row.address_postal_code.clone(),
            country_code: row.address_country_code.clone(),
        }),
        account_email: row.account_email.clone(),
        profile_complete: row.profile_complete,
        reliable: row.successful_launch_count >= 2,
        successful_launch_count: row.successful_launch_count,
        audit: Some(audit(&row.audit)),
    }
}

pub fn rocket(row: &RocketRow) -> Rocket {
    Rocket {
        id: row.id.to_string(),
        agency_id: row.agency_id.to_string(),
        name: row.name.clone(),
        passenger_capacity: row.passenger_capacity,
        range: range_to_proto(&row.rocket_range).into(),
        retired: row.retired_at.is_some(),
        retired_at: row.retired_at.map(timestamp),
        upcoming_launch_count: row.upcoming_launch_count,
        audit: Some(audit(&row.audit)),
    }
}

pub fn launch(row: &LaunchRow) -> Launch {
    Launch {
        id: row.id.to_string(),
        slug: row.slug.clone(),
        agency_id: row.agency_id.to_string(),
        agency_name: row.agency_name.clone(),
        rocket_id: row.rocket_id.to_string(),
        rocket_name: row.rocket_name.clone(),
        range: range_to_proto(&row.rocket_range).into(),
        capacity: row.capacity,
        spaceport: row.spaceport.clone(),
        destination: row.destination.clone(),
        scheduled_at: Some(timestamp(row.scheduled_at)),
        original_scheduled_at: Some(timestamp(row.original_scheduled_at)),
        price_per_seat: Some(money(row.price_minor, &row.currency)),
        minimum_occupancy: row.minimum_occupancy,
        status: status_to_proto(&row.status).into(),
        status_reason: row.status_reason.clone(),
        status_changed_at: Some(timestamp(row.status_changed_at)),
        audit: Some(audit(&row.audit)),
    }
}

pub fn occupancy(row: &LaunchRow) -> Occupancy {
    let viable = row.seats_booked >= row.minimum_occupancy;
    Occupancy {
        capacity: row.capacity,
        seats_booked: row.seats_booked,
        seats_available: (row.capacity - row.seats_booked).max(0),
        minimum_occupancy: row.minimum_occupancy,
        viability: if viable {
            Viability::Viable
        } else {
            Viability::NotViable
        }
        .into(),
        occupancy_percent: if row.capacity > 0 {
            100.0 * f64::from(row.seats_booked) / f64::from(row.capacity)
        } else {
            0.0
        },
    }
}

pub use astro_shared::convert::money;
