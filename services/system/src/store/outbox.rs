//! The `outbox` collection: events for NotifyAPI, written in the same transaction as the change
//! they announce (`AccountWrites`) and relayed at least once (NotifyAPI deduplicates on the
//! event id).

use std::{collections::BTreeMap, time::Duration};

use astro_shared::{AppError, convert::bson_after};
use chrono::{DateTime as UtcTime, Utc};
use mongodb::{
    Collection,
    bson::{DateTime, doc},
    options::ReturnDocument,
};
use serde::{Deserialize, Serialize};

use super::{bson_time, domain_time};
use crate::domain::outbox::OutboxEvent;

pub const COLLECTION: &str = "outbox";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct OutboxEntry {
    /// The event id, also NotifyAPI's idempotency key.
    #[serde(rename = "_id")]
    event_id: String,
    /// `NotificationEventType` name, e.g. `NOTIFICATION_EVENT_TYPE_USER_REGISTERED`.
    event_type: String,
    recipient_user_id: String,
    recipient_name: String,
    recipient_email: String,
    /// Template data.
    data: BTreeMap<String, String>,
    /// W3C `traceparent` of the request that caused the event.
    traceparent: String,
    created_at: DateTime,
    delivered: bool,
    delivered_at: Option<DateTime>,
    attempts: i32,
    /// Also the lease: a claimed entry is pushed into the future while it is being sent.
    next_attempt_at: DateTime,
    last_error: Option<String>,
    /// Set when the event must no longer be sent (DeleteAccount undid the account it
    /// announces); the relay never claims a cancelled entry. Absent in older entries.
    #[serde(default)]
    cancelled_at: Option<DateTime>,
}

impl OutboxEntry {
    /// A new, undelivered entry for `event`, first sent at `first_attempt_at`.
    pub(super) fn pending(event: &OutboxEvent, first_attempt_at: UtcTime<Utc>) -> Self {
        Self {
            event_id: event.event_id.clone(),
            event_type: event.event_type.clone(),
            recipient_user_id: event.recipient_user_id.clone(),
            recipient_name: event.recipient_name.clone(),
            recipient_email: event.recipient_email.clone(),
            data: event.data.clone(),
            traceparent: event.traceparent.clone(),
            created_at: bson_time(event.created_at),
            delivered: false,
            delivered_at: None,
            attempts: event.attempts,
            next_attempt_at: bson_time(first_attempt_at),
            last_error: None,
            cancelled_at: None,
        }
    }
}

impl From<OutboxEntry> for OutboxEvent {
    fn from(entry: OutboxEntry) -> Self {
        Self {
            event_id: entry.event_id,
            event_type: entry.event_type,
            recipient_user_id: entry.recipient_user_id,
            recipient_name: entry.recipient_name,
            recipient_email: entry.recipient_email,
            data: entry.data,
            traceparent: entry.traceparent,
            created_at: domain_time(entry.created_at),
            attempts: entry.attempts,
        }
    }
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

    /// Claims the oldest due entry for `lease` (so another relay leaves it alone meanwhile),
    /// counting the attempt.
    pub async fn claim_due(&self, lease: Duration) -> Result<Option<OutboxEvent>, AppError> {
        let now = DateTime::now();
        let lease_end = bson_after(now, lease);
        let claimed = self
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
            .await?;
        Ok(claimed.map(OutboxEvent::from))
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
        super::retry_later(&self.entries, event_id, delay, error).await
    }
}
