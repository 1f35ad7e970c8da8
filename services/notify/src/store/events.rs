//! The `notification_events` collection: each published event, stored before its recipients
//! are looked up, so an event whose recipients could not be resolved yet (a dependency down,
//! the process killed) is resolved later instead of lost. `_id` is the event id: publishing
//! twice stores it once.

use std::collections::BTreeMap;
use std::time::Duration;

use astro_shared::{AppError, convert::bson_after};
use chrono::Utc;
use mongodb::{
    Collection, IndexModel,
    bson::{DateTime, doc},
    options::ReturnDocument,
};
use serde::{Deserialize, Serialize};

use super::{
    bson_time,
    notifications::{OriginDocument, SubjectDocument, stored_event_type},
    utc,
};
use crate::domain::{Event, EventData, Priority};

const COLLECTION: &str = "notification_events";

/// An event as published: what happened, to whom it relates, and the trace it belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishedEvent {
    pub event_id: String,
    /// `BOOKING_CONFIRMED`, ...
    pub event_type: String,
    pub occurred_at: DateTime,
    pub subject: SubjectDocument,
    /// The payload as the contract's map.
    pub data: BTreeMap<String, String>,
    /// Queue override (`NORMAL`/`HIGH`), or empty for the event type's default.
    pub priority: String,
    pub trace_context: String,
    pub origin: OriginDocument,
}

impl From<&Event> for PublishedEvent {
    fn from(event: &Event) -> Self {
        Self {
            event_id: event.event_id.clone(),
            event_type: event.event_type().name().to_owned(),
            occurred_at: bson_time(event.occurred_at),
            subject: (&event.subject).into(),
            data: event.data.to_map(),
            priority: event
                .priority
                .map(Priority::name)
                .unwrap_or_default()
                .to_owned(),
            trace_context: event.trace_context.clone(),
            origin: (&event.origin).into(),
        }
    }
}

impl TryFrom<PublishedEvent> for Event {
    type Error = AppError;

    /// Events stored before payloads were typed keep their map, read leniently, so they
    /// still resolve.
    fn try_from(event: PublishedEvent) -> Result<Self, AppError> {
        let event_type =
            stored_event_type(&event.event_type, &format!("event {}", event.event_id))?;
        Ok(Self {
            data: EventData::from_stored(event_type, event.data),
            priority: Priority::from_name(&event.priority),
            event_id: event.event_id,
            occurred_at: utc(event.occurred_at),
            subject: event.subject.into(),
            trace_context: event.trace_context,
            origin: event.origin.into(),
        })
    }
}

/// A stored event claimed for resolution, and how many tries this one makes.
#[derive(Debug, Clone)]
pub struct ClaimedEvent {
    pub event: Event,
    pub attempts: i32,
}

/// A stored event and how far its resolution got.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventDocument {
    /// The event id.
    #[serde(rename = "_id")]
    pub id: String,
    pub event: PublishedEvent,
    /// `PENDING` until every recipient has a notification, then `RESOLVED`.
    pub status: String,
    pub recipients: i32,
    pub attempts: i32,
    /// While PENDING: when it may be (re)claimed for resolution.
    pub next_attempt_at: DateTime,
    pub last_error: Option<String>,
    pub created_at: DateTime,
    pub resolved_at: Option<DateTime>,
}

#[derive(Clone)]
pub struct EventStore {
    events: Collection<EventDocument>,
}

impl EventStore {
    pub fn new(database: &mongodb::Database) -> Self {
        Self {
            events: database.collection(COLLECTION),
        }
    }

    /// Stores `event`, claimed by the caller for `lease`. False if it was stored before.
    pub async fn insert_claimed(&self, event: &Event, lease: Duration) -> Result<bool, AppError> {
        let now = DateTime::now();
        let document = EventDocument {
            id: event.event_id.clone(),
            event: event.into(),
            status: "PENDING".to_owned(),
            recipients: 0,
            attempts: 1,
            next_attempt_at: bson_after(now, lease),
            last_error: None,
            created_at: now,
            resolved_at: None,
        };
        match self.events.insert_one(&document).await {
            Ok(_) => Ok(true),
            Err(error) if super::is_duplicate_key(&error) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Claims the PENDING event due longest ago for `lease`.
    pub async fn claim_due(&self, lease: Duration) -> Result<Option<ClaimedEvent>, AppError> {
        let now = DateTime::now();
        let claimed = self
            .events
            .find_one_and_update(
                doc! { "status": "PENDING", "next_attempt_at": { "$lte": now } },
                doc! { "$set": { "next_attempt_at": bson_after(now, lease) }, "$inc": { "attempts": 1 } },
            )
            .sort(doc! { "next_attempt_at": 1 })
            .return_document(ReturnDocument::After)
            .await?;
        claimed
            .map(|document| {
                Ok(ClaimedEvent {
                    attempts: document.attempts,
                    event: document.event.try_into()?,
                })
            })
            .transpose()
    }

    pub async fn mark_resolved(&self, event_id: &str, recipients: i32) -> Result<(), AppError> {
        self.events
            .update_one(
                doc! { "_id": event_id },
                doc! { "$set": {
                    "status": "RESOLVED", "recipients": recipients,
                    "resolved_at": DateTime::now(), "last_error": null,
                } },
            )
            .await?;
        Ok(())
    }

    pub async fn retry_later(
        &self,
        event_id: &str,
        at: chrono::DateTime<Utc>,
        error: &str,
    ) -> Result<(), AppError> {
        self.events
            .update_one(
                doc! { "_id": event_id, "status": "PENDING" },
                doc! { "$set": { "next_attempt_at": bson_time(at), "last_error": error } },
            )
            .await?;
        Ok(())
    }
}

pub async fn ensure_indexes(database: &mongodb::Database) -> Result<(), mongodb::error::Error> {
    database
        .collection::<EventDocument>(COLLECTION)
        .create_index(
            IndexModel::builder()
                .keys(doc! { "status": 1, "next_attempt_at": 1 })
                .build(),
        )
        .await?;
    Ok(())
}
