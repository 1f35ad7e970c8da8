//! Rows to contract messages and contract values to domain values, in one place.

use astro_proto::astrobookings::{
    agency::v1::{
        Agency, AgencyLaunchSortField, Launch, LaunchWithOccupancy, Occupancy, Rocket, Viability,
    },
    common::v1::{self as common, LaunchStatusChange},
};
use astro_shared::AppError;
use chrono::{DateTime, Utc};

use crate::{
    domain::{
        launch::{self, LaunchSort, LaunchStatus},
        profile,
        rocket::RocketRange,
    },
    store::{
        agencies::AgencyRow,
        launches::{LaunchRow, StatusChangeRow},
        rockets::RocketRow,
    },
};

pub use astro_shared::convert::{audit, from_timestamp, money, timestamp};

/// An optional time filter: absent is `None`, an invalid timestamp INVALID_ARGUMENT naming
/// `field`.
pub fn optional_time(
    field: &'static str,
    value: Option<&prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, AppError> {
    match value {
        None => Ok(None),
        Some(time) => from_timestamp(Some(time))
            .map(Some)
            .ok_or_else(|| AppError::invalid(field, "is not a valid timestamp")),
    }
}

/// A viability filter: UNSPECIFIED is any, an unknown value INVALID_ARGUMENT.
pub fn viability_from_proto(value: i32) -> Result<Option<bool>, AppError> {
    match Viability::try_from(value) {
        Ok(Viability::Unspecified) => Ok(None),
        Ok(Viability::Viable) => Ok(Some(true)),
        Ok(Viability::NotViable) => Ok(Some(false)),
        Err(_) => Err(AppError::invalid("viability", "unknown viability")),
    }
}

/// A launch list's sort key: UNSPECIFIED is the launch date, an unknown value
/// INVALID_ARGUMENT.
pub fn sort_from_proto(value: i32) -> Result<LaunchSort, AppError> {
    match AgencyLaunchSortField::try_from(value) {
        Ok(AgencyLaunchSortField::Unspecified | AgencyLaunchSortField::ScheduledAt) => {
            Ok(LaunchSort::ScheduledAt)
        }
        Ok(AgencyLaunchSortField::OccupancyPercent) => Ok(LaunchSort::OccupancyPercent),
        Ok(AgencyLaunchSortField::SeatsBooked) => Ok(LaunchSort::SeatsBooked),
        Ok(AgencyLaunchSortField::SeatsAvailable) => Ok(LaunchSort::SeatsAvailable),
        Ok(AgencyLaunchSortField::CreatedAt) => Ok(LaunchSort::CreatedAt),
        Err(_) => Err(AppError::invalid("sort_by", "unknown sort field")),
    }
}

/// A list's `total_size` (saturated: the contract's field is 32 bits).
pub fn total_size(total: i64) -> i32 {
    i32::try_from(total).unwrap_or(i32::MAX)
}

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
        reliable: profile::is_reliable(row.successful_launch_count),
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
    let occupancy = launch::Occupancy::of(row.capacity, row.seats_booked, row.minimum_occupancy);
    Occupancy {
        capacity: row.capacity,
        seats_booked: row.seats_booked,
        seats_available: occupancy.seats_available,
        minimum_occupancy: row.minimum_occupancy,
        viability: if occupancy.viable {
            Viability::Viable
        } else {
            Viability::NotViable
        }
        .into(),
        occupancy_percent: occupancy.percent,
    }
}

pub fn with_occupancy(row: &LaunchRow) -> LaunchWithOccupancy {
    LaunchWithOccupancy {
        launch: Some(launch(row)),
        occupancy: Some(occupancy(row)),
    }
}

pub fn history(rows: &[StatusChangeRow]) -> Vec<LaunchStatusChange> {
    rows.iter().map(StatusChangeRow::to_proto).collect()
}

#[cfg(test)]
mod tests {
    use astro_proto::astrobookings::common::v1::SortOrder;
    use astro_shared::paging::sort_descending;

    use super::*;

    fn field_of(error: AppError) -> String {
        match error {
            AppError::InvalidArgument { field, .. } => field,
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn list_filters_default_when_unspecified_and_refuse_unknown_values() {
        assert_eq!(viability_from_proto(0).unwrap(), None);
        assert_eq!(
            viability_from_proto(Viability::NotViable.into()).unwrap(),
            Some(false)
        );
        assert_eq!(field_of(viability_from_proto(99).unwrap_err()), "viability");
        assert_eq!(sort_from_proto(0).unwrap(), LaunchSort::ScheduledAt);
        assert_eq!(field_of(sort_from_proto(99).unwrap_err()), "sort_by");
        // ListAgencyLaunches is ascending unless asked otherwise.
        assert!(!sort_descending(0, SortOrder::Ascending).unwrap());
        assert!(sort_descending(SortOrder::Descending.into(), SortOrder::Ascending).unwrap());
        assert_eq!(
            field_of(sort_descending(99, SortOrder::Ascending).unwrap_err()),
            "order"
        );
    }
}
