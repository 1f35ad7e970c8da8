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
