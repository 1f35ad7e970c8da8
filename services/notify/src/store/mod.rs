//! SystemDB access (MongoDB protocol) for NotifyAPI: the notification queue, the published
//! events, and delivery bookkeeping. Every query and BSON document of the service lives here;
//! documents are converted to and from domain values at this boundary, so what is stored keeps
//! its shape (payloads stay maps, enums their names) whatever the domain types become.

pub mod delivery;
pub mod events;
pub mod notifications;

use chrono::{DateTime, Utc};

pub use delivery::DeliveryStore;
pub use events::{ClaimedEvent, EventStore};
pub use notifications::NotificationStore;

pub use astro_shared::db::is_duplicate_key;

/// Every index the service reads by.
pub async fn ensure_indexes(database: &mongodb::Database) -> Result<(), mongodb::error::Error> {
    notifications::ensure_indexes(database).await?;
    events::ensure_indexes(database).await?;
    delivery::ensure_indexes(database).await
}

/// A time on SystemDB's millisecond clock.
fn bson_time(time: DateTime<Utc>) -> mongodb::bson::DateTime {
    mongodb::bson::DateTime::from_millis(time.timestamp_millis())
}

/// A SystemDB time; one beyond what chrono represents (never written by this service) reads
/// as the epoch.
fn utc(time: mongodb::bson::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or_default()
}
