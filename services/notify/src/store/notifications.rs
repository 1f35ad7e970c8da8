//! The `notifications` collection: one document per (event, recipient). A unique index on
//! (event_id, recipient_key) makes intake idempotent in the database itself, so two
//! concurrent deliveries of one event still queue a single e-mail.

use std::collections::BTreeMap;

use astro_proto::astrobookings::{
    common::v1::{AuditInfo, Contact, Origin},
    notify::v1::{
        Notification, NotificationEventType, NotificationPriority, NotificationStatus,
        NotificationSubject,
    },
};
use astro_shared::AppError;
use mongodb::{
    Collection, IndexModel,
    bson::{DateTime, doc},
    options::IndexOptions,
};
use serde::{Deserialize, Serialize};

pub const COLLECTION: &str = "notifications";

/// Attempts allowed before FAILED, as the contract says.
pub const MAX_ATTEMPTS: i32 = 8;

/// A notification as stored. Enums are stored by their short names (`PENDING`), like roles.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotificationDocument {
    #[serde(rename = "_id")]
    pub id: String,
    pub event_id: String,
    /// `USER_REGISTERED`, ...
    pub event_type: String,
    /// `user:<id>`, or `email:<lower-cased e-mail>` for recipients without an account: with
    /// `event_id`, the idempotency key.
    pub recipient_key: String,
    pub recipient: ContactDocument,
    pub subject: SubjectDocument,
    pub data: BTreeMap<String, String>,
    /// `PENDING`, `SENT`, `FAILED`, `CANCELLED`.
    pub status: String,
    /// `NORMAL` or `HIGH`.
    pub priority: String,
    /// Rendered by the sender (a later issue); empty until then.
    pub email_subject: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_attempt_at: Option<DateTime>,
    pub last_error: Option<String>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    pub sent_at: Option<DateTime>,
    /// W3C `traceparent` of the causing request, so sending joins its trace.
    pub trace_context: String,
    pub trace_id: String,
    pub origin: OriginDocument,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContactDocument {
    pub user_id: String,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SubjectDocument {
    pub user_id: String,
    pub agency_id: String,
    pub launch_id: String,
    pub booking_id: String,
    pub invoice_id: String,
    pub sync_job_id: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OriginDocument {
    pub service: String,
    pub user_id: String,
    pub trace_id: String,
    pub time: Option<DateTime>,
}

/// `NOTIFICATION_STATUS_PENDING` -> `PENDING`.
pub fn short_name<'a>(name: &'a str, prefix: &str) -> &'a str {
    name.strip_prefix(prefix).unwrap_or(name)
}

fn timestamp(time: DateTime) -> prost_types::Timestamp {
    let millis = time.timestamp_millis();
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: i32::try_from(millis.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

impl NotificationDocument {
    pub fn to_proto(&self) -> Notification {
        let event_type = NotificationEventType::from_str_name(&format!(
            "NOTIFICATION_EVENT_TYPE_{}",
            self.event_type
        ))
        .unwrap_or(NotificationEventType::Unspecified);
        let status =
            NotificationStatus::from_str_name(&format!("NOTIFICATION_STATUS_{}", self.status))
                .unwrap_or(NotificationStatus::Unspecified);
        let priority = NotificationPriority::from_str_name(&format!(
            "NOTIFICATION_PRIORITY_{}",
            self.priority
        ))
        .unwrap_or(NotificationPriority::Unspecified);
        let origin = Origin {
            service: self.origin.service.clone(),
            user_id: self.origin.user_id.clone(),
            trace_id: self.origin.trace_id.clone(),
            time: self.origin.time.map(timestamp),
        };
        Notification {
            id: self.id.clone(),
            event_id: self.event_id.clone(),
            event_type: event_type.into(),
            status: status.into(),
            priority: priority.into(),
            recipient: Some(Contact {
                user_id: self.recipient.user_id.clone(),
                name: self.recipient.name.clone(),
                email: self.recipient.email.clone(),
                phone: String::new(),
            }),
            subject: Some(NotificationSubject {
                user_id: self.subject.user_id.clone(),
                agency_id: self.subject.agency_id.clone(),
                launch_id: self.subject.launch_id.clone(),
                booking_id: self.subject.booking_id.clone(),
                invoice_id: self.subject.invoice_id.clone(),
                sync_job_id: self.subject.sync_job_id.clone(),
            }),
            email_subject: self.email_subject.clone(),
            attempts: self.attempts,
            max_attempts: self.max_attempts,
            next_attempt_at: self.next_attempt_at.map(timestamp),
            last_error: self.last_error.clone().unwrap_or_default(),
            created_at: Some(timestamp(self.created_at)),
            updated_at: Some(timestamp(self.updated_at)),
            sent_at: self.sent_at.map(timestamp),
            trace_id: self.trace_id.clone(),
            audit: Some(AuditInfo {
                created: Some(origin.clone()),
                updated: Some(origin),
            }),
        }
    }
}

#[derive(Clone)]
pub struct NotificationStore {
    notifications: Collection<NotificationDocument>,
}

impl NotificationStore {
    pub fn new(database: &mongodb::Database) -> Self {
        Self {
            notifications: database.collection(COLLECTION),
        }
    }

    /// Queues `notification` unless one exists for its (event, recipient); returns the stored
    /// one and whether this call created it.
    pub async fn insert_once(
        &self,
        notification: NotificationDocument,
    ) -> Result<(NotificationDocument, bool), AppError> {
        match self.notifications.insert_one(&notification).await {
            Ok(_) => Ok((notification, true)),
            Err(error) if super::is_duplicate_key(&error) => {
                let existing = self
                    .notifications
                    .find_one(doc! {
                        "event_id": &notification.event_id,
                        "recipient_key": &notification.recipient_key,
                    })
                    .await?
                    .ok_or_else(|| {
                        AppError::internal(anyhow::anyhow!(
                            "duplicate notification {} not found",
                            notification.event_id
                        ))
                    })?;
                Ok((existing, false))
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// The idempotency key and the indexes the sender and the listings will read by.
pub async fn ensure_indexes(database: &mongodb::Database) -> Result<(), mongodb::error::Error> {
    let notifications = database.collection::<NotificationDocument>(COLLECTION);
    notifications
        .create_index(
            IndexModel::builder()
                .keys(doc! { "event_id": 1, "recipient_key": 1 })
                .options(IndexOptions::builder().unique(true).build())
                .build(),
        )
        .await?;
    for keys in [
        doc! { "status": 1, "priority": 1, "next_attempt_at": 1 },
        doc! { "recipient.user_id": 1, "created_at": -1 },
    ] {
        notifications
            .create_index(IndexModel::builder().keys(keys).build())
            .await?;
    }
    Ok(())
}
