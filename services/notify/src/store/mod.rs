//! SystemDB access (MongoDB protocol) for NotifyAPI: the notification queue, the published
//! events, and delivery bookkeeping. Every query of the service lives here.

pub mod delivery;
pub mod events;
pub mod notifications;

pub use delivery::DeliveryStore;
pub use events::{EventDocument, EventStore, PublishedEvent};
pub use notifications::{NotificationDocument, NotificationStore};

pub use astro_shared::db::is_duplicate_key;

/// Every index the service reads by.
pub async fn ensure_indexes(database: &mongodb::Database) -> Result<(), mongodb::error::Error> {
    notifications::ensure_indexes(database).await?;
    events::ensure_indexes(database).await?;
    delivery::ensure_indexes(database).await
}
