//! Conversions between protobuf well-known types and domain values, shared by the adapters.

use chrono::{DateTime, Utc};

pub fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// `None` for an absent or out-of-range timestamp (the caller names the field).
pub fn from_timestamp(time: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    time.and_then(|time| DateTime::from_timestamp(time.seconds, u32::try_from(time.nanos).ok()?))
}

/// A BSON date (SystemDB) as a protobuf timestamp.
pub fn bson_timestamp(time: mongodb::bson::DateTime) -> prost_types::Timestamp {
    let millis = time.timestamp_millis();
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: i32::try_from(millis.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

/// A protobuf timestamp of request field `field` as a BSON date (to the millisecond, as
/// stored); INVALID_ARGUMENT outside what google.protobuf.Timestamp allows (years 1 to 9999).
pub fn bson_from_timestamp(
    field: &str,
    time: &prost_types::Timestamp,
) -> Result<mongodb::bson::DateTime, crate::AppError> {
    const MIN_SECONDS: i64 = -62_135_596_800;
    const MAX_SECONDS: i64 = 253_402_300_799;
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&time.seconds)
        || !(0..1_000_000_000).contains(&time.nanos)
    {
        return Err(crate::AppError::invalid(field, "is not a valid timestamp"));
    }
    Ok(mongodb::bson::DateTime::from_millis(
        time.seconds * 1000 + i64::from(time.nanos / 1_000_000),
    ))
}

/// `time` plus `duration` on SystemDB's millisecond clock, saturating.
pub fn bson_after(
    time: mongodb::bson::DateTime,
    duration: std::time::Duration,
) -> mongodb::bson::DateTime {
    let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
    mongodb::bson::DateTime::from_millis(time.timestamp_millis().saturating_add(millis))
}

/// `time` minus `duration` on SystemDB's millisecond clock, saturating.
pub fn bson_before(
    time: mongodb::bson::DateTime,
    duration: std::time::Duration,
) -> mongodb::bson::DateTime {
    let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
    mongodb::bson::DateTime::from_millis(time.timestamp_millis().saturating_sub(millis))
}

/// A `common.v1.Money` of `amount_minor` minor units of `currency`.
pub fn money(amount_minor: i64, currency: &str) -> astro_proto::astrobookings::common::v1::Money {
    astro_proto::astrobookings::common::v1::Money {
        amount_minor,
        currency: currency.to_owned(),
    }
}

fn origin(
    service: &str,
    user_id: Option<&str>,
    trace_id: Option<&str>,
    time: DateTime<Utc>,
) -> astro_proto::astrobookings::common::v1::Origin {
    astro_proto::astrobookings::common::v1::Origin {
        service: service.to_owned(),
        user_id: user_id.unwrap_or_default().to_owned(),
        trace_id: trace_id.unwrap_or_default().to_owned(),
        time: Some(timestamp(time)),
    }
}

/// The creation and last-change origins of a row, as `common.v1.AuditInfo`.
pub fn audit(row: &crate::changes::AuditRow) -> astro_proto::astrobookings::common::v1::AuditInfo {
    astro_proto::astrobookings::common::v1::AuditInfo {
        created: Some(origin(
            &row.created_service,
            row.created_user_id.as_deref(),
            row.created_trace_id.as_deref(),
            row.created_at,
        )),
        updated: Some(origin(
            &row.updated_service,
            row.updated_user_id.as_deref(),
            row.updated_trace_id.as_deref(),
            row.updated_at,
        )),
    }
}

/// An origin recorded with a row (status history entries and the like).
pub fn recorded_origin(
    service: &str,
    user_id: Option<&str>,
    trace_id: Option<&str>,
    time: DateTime<Utc>,
) -> astro_proto::astrobookings::common::v1::Origin {
    origin(service, user_id, trace_id, time)
}
