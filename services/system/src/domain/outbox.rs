//! An event for NotifyAPI as the outbox keeps it: written with the change it announces, relayed
//! at least once (NotifyAPI deduplicates on the event id).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// The `NotificationEventType` of a new account's confirmation e-mail.
pub const USER_REGISTERED: &str = "NOTIFICATION_EVENT_TYPE_USER_REGISTERED";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Also NotifyAPI's idempotency key.
    pub event_id: String,
    /// A `NotificationEventType` name, e.g. [`USER_REGISTERED`].
    pub event_type: String,
    pub recipient_user_id: String,
    pub recipient_name: String,
    pub recipient_email: String,
    /// Template data; `role` is the recipient's own role.
    pub data: BTreeMap<String, String>,
    /// W3C `traceparent` of the request that caused the event.
    pub traceparent: String,
    pub created_at: DateTime<Utc>,
    /// Delivery attempts so far, this one included once claimed.
    pub attempts: i32,
}
