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

/// An account whose profile OperationsDB has still to receive, up to `version` at least. The
/// relay sends the account as it is when it delivers (never an older copy), so several changes
/// waiting together reach OperationsDB as one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfilePush {
    pub user_id: String,
    /// The newest profile version waiting.
    pub version: i64,
    /// W3C `traceparent` of the request that made the newest change.
    pub traceparent: String,
    /// Delivery attempts so far, this one included once claimed.
    pub attempts: i32,
}
