//! The `outbox` collection: events for NotifyAPI, written in the same transaction as the change
//! they announce and relayed at least once (NotifyAPI deduplicates on the event id).

use std::time::Duration;

use astro_shared::{AppError, convert::bson_after};
use mongodb::{
    Collection,
    bson::{DateTime, doc},
    options::ReturnDocument,
};
use serde::{Deserialize, Serialize};

pub const COLLECTION: &str = "outbox";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The event id, also NotifyAPI's idempotency key.
    #[serde(rename = "_id")]
    pub event_id: String,
    /// `NotificationEventType` name, e.g. `NOTIFICATION_EVENT_TYPE_USER_REGISTERED`.
    pub event_type: String,
    pub recipient_user_id: String,
    pub recipient_name: String,
    pub recipient_email: String,
    /// Template data.
    pub data: std::collections::BTreeMap<String, String>,
    /// W3C `traceparent` of the request that caused the event.
    pub traceparent: String,
    pub created_at: DateTime,
    pub delivered: bool,
    pub delivered_at: Option<DateTime>,
    pub attempts: i32,
    /// Also the lease: a claimed entry is pushed into the future while it is being sent.
    pub next_attempt_at: DateTime,
    pub last_error: Option<String>,
    /// Set when the event must no longer be sent (DeleteAccount undid the account it
    /// announces); the relay never claims a cancelled entry. Absent in older entries.
    #[serde(default)]
    pub cancelled_at: Option<DateTime>,
}

#[derive(Clone)]
pub struct OutboxStore {
    entries: Collection<OutboxEntry>,
}

impl OutboxStore {
    pub fn new(database: &mongodb::Database) -> Self {
        Self {
            entries: database.collection(COLLECTION),
        }
    }

    /// Claims the oldest due entry for `lease` (so another relay leaves it alone meanwhile).
    /// Entries are added with the change they announce, by [`super::accounts::AccountWrites`].
    pub async fn claim_due(&self, lease: Duration) -> Result<Option<OutboxEntry>, AppError> {
        let now = DateTime::now();
        let lease_end = bson_after(now, lease);
        Ok(self
            .entries
            .find_one_and_update(
                doc! {
                    "delivered": false,
                    "cancelled_at": null,
                    "next_attempt_at": { "$lte": now },
                },
                doc! { "$set": { "next_attempt_at": lease_end }, "$inc": { "attempts": 1 } },
            )
            .sort(doc! { "next_attempt_at": 1 })
            .return_document(ReturnDocument::After)
            .await?)
    }

    pub async fn mark_delivered(&self, event_id: &str) -> Result<(), AppError> {
        self.entries
            .update_one(
                doc! { "_id": event_id },
                doc! { "$set": { "delivered": true, "delivered_at": DateTime::now(), "last_error": null } },
            )
            .await?;
        Ok(())
    }

    /// Schedules another attempt after `delay`, keeping the error for operators.
    pub async fn retry_later(
        &self,
        event_id: &str,
        delay: Duration,
        error: &str,
    ) -> Result<(), AppError> {
        let next = bson_after(DateTime::now(), delay);
        self.entries
            .update_one(
                doc! { "_id": event_id },
                doc! { "$set": { "next_attempt_at": next, "last_error": error } },
            )
            .await?;
        Ok(())
    }

    pub async fn by_id(&self, event_id: &str) -> Result<Option<OutboxEntry>, AppError> {
        Ok(self.entries.find_one(doc! { "_id": event_id }).await?)
    }
}
