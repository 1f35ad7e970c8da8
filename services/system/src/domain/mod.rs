//! SystemAPI's rules as plain types and functions: accounts, tokens, login budgets and activity
//! logs. No tonic, no mongodb, no fred: input is parsed here once into clean values, and each
//! rule is unit-tested on its own.

pub mod accounts;
pub mod login_limits;
pub mod logs;
pub mod monitoring;
pub mod outbox;
pub mod sync_jobs;
pub mod tokens;

use std::time::Duration;

use chrono::{DateTime, Utc};

/// This service's name in activity logs and origins (`common.v1.Origin.service`).
pub const SERVICE_NAME: &str = "system-api";

/// Now, to the millisecond: SystemDB keeps dates to the millisecond, so a time made here (and
/// answered at once) equals what a later read of it returns.
pub fn now() -> DateTime<Utc> {
    to_millis(Utc::now())
}

/// `time` cut to the millisecond.
pub fn to_millis(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or(time)
}

/// `time` plus `duration`, saturating at the end of time.
pub fn after(time: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|duration| time.checked_add_signed(duration))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `time` minus `duration`, saturating at the start of time.
pub fn before(time: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|duration| time.checked_sub_signed(duration))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
