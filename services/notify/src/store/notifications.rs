//! The `notifications` collection: one document per (event, recipient). A unique index on
//! (event_id, recipient_key) makes intake idempotent in the database itself, so two
//! concurrent deliveries of one event still queue a single e-mail.
//!
//! Every state change is one conditional update: a worker's outcome only lands while it still
//! holds the claim (`lease_token`) and the notification is PENDING, so IT cancelling or
//! marking one sent while it is being sent is never overwritten.

use std::{collections::BTreeMap, time::Duration};

use astro_shared::{AppError, convert::bson_after};
use chrono::Utc;
use futures::TryStreamExt as _;
use mongodb::{
    Collection, IndexModel,
    bson::{DateTime, Document, doc},
    options::{IndexOptions, ReturnDocument},
};
use serde::{Deserialize, Serialize};

use super::{bson_time, utc};
use crate::domain::{
    Contact, EventData, EventType, Notification, Origin, Priority, Role, Status, Subject,
    figures::{GroupCount, ReasonCount},
    notification::{ManualAction, QueueFilter, QueueOrder, RecipientMatch, SortField},
    templates::Email,
};

pub const COLLECTION: &str = "notifications";

/// How a notification without a recipient role is stored, as it always was.
const NO_ROLE: &str = "UNSPECIFIED";

/// A notification as stored. Enums are stored by their short names (`PENDING`), like roles;
/// the payload as the contract's map.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotificationDocument {
    #[serde(rename = "_id")]
    pub id: String,
    pub event_id: String,
    /// `USER_REGISTERED`, ...
    pub event_type: String,
    pub recipient_key: String,
    pub recipient: ContactDocument,
    /// `TRAVELER`, `AGENCY`, `IT`, ... or `UNSPECIFIED`.
    #[serde(default)]
    pub recipient_role: String,
    pub subject: SubjectDocument,
    pub data: BTreeMap<String, String>,
    /// `PENDING`, `SENT`, `FAILED`, `CANCELLED`.
    pub status: String,
    /// `NORMAL` or `HIGH`.
    pub priority: String,
    pub email_subject: String,
    #[serde(default)]
    pub email_text: String,
    #[serde(default)]
    pub email_html: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_attempt_at: Option<DateTime>,
    #[serde(default)]
    pub lease_token: Option<String>,
    pub last_error: Option<String>,
    #[serde(default)]
    pub failure_reason: Option<String>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    pub sent_at: Option<DateTime>,
    #[serde(default)]
    pub failed_at: Option<DateTime>,
    pub trace_context: String,
    pub trace_id: String,
    pub origin: OriginDocument,
    #[serde(default)]
    pub updated_by: Option<OriginDocument>,
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

impl From<&Contact> for ContactDocument {
    fn from(contact: &Contact) -> Self {
        Self {
            user_id: contact.user_id.clone(),
            name: contact.name.clone(),
            email: contact.email.clone(),
        }
    }
}

impl From<ContactDocument> for Contact {
    fn from(contact: ContactDocument) -> Self {
        Self {
            user_id: contact.user_id,
            name: contact.name,
            email: contact.email,
        }
    }
}

impl From<&Subject> for SubjectDocument {
    fn from(subject: &Subject) -> Self {
        Self {
            user_id: subject.user_id.clone(),
            agency_id: subject.agency_id.clone(),
            launch_id: subject.launch_id.clone(),
            booking_id: subject.booking_id.clone(),
            invoice_id: subject.invoice_id.clone(),
            sync_job_id: subject.sync_job_id.clone(),
        }
    }
}

impl From<SubjectDocument> for Subject {
    fn from(subject: SubjectDocument) -> Self {
        Self {
            user_id: subject.user_id,
            agency_id: subject.agency_id,
            launch_id: subject.launch_id,
            booking_id: subject.booking_id,
            invoice_id: subject.invoice_id,
            sync_job_id: subject.sync_job_id,
        }
    }
}

impl From<&Origin> for OriginDocument {
    fn from(origin: &Origin) -> Self {
        Self {
            service: origin.service.clone(),
            user_id: origin.user_id.clone(),
            trace_id: origin.trace_id.clone(),
            time: origin.time.map(bson_time),
        }
    }
}

impl From<OriginDocument> for Origin {
    fn from(origin: OriginDocument) -> Self {
        Self {
            service: origin.service,
            user_id: origin.user_id,
            trace_id: origin.trace_id,
            time: origin.time.map(utc),
        }
    }
}

/// A stored event type name; every name this service wrote is one of its event types.
pub(super) fn stored_event_type(name: &str, of: &str) -> Result<EventType, AppError> {
    EventType::from_name(name).ok_or_else(|| {
        AppError::internal(anyhow::anyhow!("{of} has an unknown event type `{name}`"))
    })
}

impl From<&Notification> for NotificationDocument {
    fn from(notification: &Notification) -> Self {
        Self {
            id: notification.id.clone(),
            event_id: notification.event_id.clone(),
            event_type: notification.event_type().name().to_owned(),
            recipient_key: notification.recipient_key.clone(),
            recipient: (&notification.recipient).into(),
            recipient_role: notification
                .recipient_role
                .map_or(NO_ROLE, Role::name)
                .to_owned(),
            subject: (&notification.subject).into(),
            data: notification.data.to_map(),
            status: notification.status.name().to_owned(),
            priority: notification.priority.name().to_owned(),
            email_subject: notification.email.subject.clone(),
            email_text: notification.email.text.clone(),
            email_html: notification.email.html.clone(),
            attempts: notification.attempts,
            max_attempts: notification.max_attempts,
            next_attempt_at: notification.next_attempt_at.map(bson_time),
            lease_token: notification.lease_token.clone(),
            last_error: notification.last_error.clone(),
            failure_reason: notification.failure_reason.clone(),
            created_at: bson_time(notification.created_at),
            updated_at: bson_time(notification.updated_at),
            sent_at: notification.sent_at.map(bson_time),
            failed_at: notification.failed_at.map(bson_time),
            trace_context: notification.trace_context.clone(),
            trace_id: notification.trace_id.clone(),
            origin: (&notification.origin).into(),
            updated_by: notification.updated_by.as_ref().map(Into::into),
        }
    }
}

impl TryFrom<NotificationDocument> for Notification {
    type Error = AppError;

    /// Documents stored before payloads were typed keep their map, read leniently.
    fn try_from(document: NotificationDocument) -> Result<Self, AppError> {
        let of = || format!("notification {}", document.id);
        let event_type = stored_event_type(&document.event_type, &of())?;
        let status = Status::from_name(&document.status).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "{} has an unknown status `{}`",
                of(),
                document.status
            ))
        })?;
        Ok(Self {
            recipient_role: Role::from_name(&document.recipient_role),
            // Only NORMAL and HIGH were ever written.
            priority: Priority::from_name(&document.priority).unwrap_or(Priority::Normal),
            data: EventData::from_stored(event_type, document.data),
            status,
            id: document.id,
            event_id: document.event_id,
            recipient_key: document.recipient_key,
            recipient: document.recipient.into(),
            subject: document.subject.into(),
            email: Email {
                subject: document.email_subject,
                text: document.email_text,
                html: document.email_html,
            },
            attempts: document.attempts,
            max_attempts: document.max_attempts,
            next_attempt_at: document.next_attempt_at.map(utc),
            lease_token: document.lease_token,
            last_error: document.last_error,
            failure_reason: document.failure_reason,
            created_at: utc(document.created_at),
            updated_at: utc(document.updated_at),
            sent_at: document.sent_at.map(utc),
            failed_at: document.failed_at.map(utc),
            trace_context: document.trace_context,
            trace_id: document.trace_id,
            origin: document.origin.into(),
            updated_by: document.updated_by.map(Into::into),
        })
    }
}

fn names<T: Copy>(values: &[T], name: impl Fn(T) -> &'static str) -> Vec<&'static str> {
    values.iter().map(|&value| name(value)).collect()
}

/// The query of the IT queue listing.
fn filter_document(filter: &QueueFilter) -> Document {
    let mut query = Document::new();
    if !filter.statuses.is_empty() {
        query.insert(
            "status",
            doc! { "$in": names(&filter.statuses, Status::name) },
        );
    }
    if !filter.event_types.is_empty() {
        query.insert(
            "event_type",
            doc! { "$in": names(&filter.event_types, EventType::name) },
        );
    }
    match &filter.recipient {
        Some(RecipientMatch::UserId(user_id)) => {
            query.insert("recipient.user_id", user_id);
        }
        Some(RecipientMatch::EmailContains(text)) => {
            query.insert(
                "recipient.email",
                doc! { "$regex": escape_regex(text), "$options": "i" },
            );
        }
        None => {}
    }
    let mut created = Document::new();
    if let Some(after) = filter.created_after {
        created.insert("$gte", bson_time(after));
    }
    if let Some(before) = filter.created_before {
        created.insert("$lt", bson_time(before));
    }
    if !created.is_empty() {
        query.insert("created_at", created);
    }
    if let Some(priority) = filter.priority {
        query.insert("priority", priority.name());
    }
    if let Some(event_id) = &filter.event_id {
        query.insert("event_id", event_id);
    }
    query
}

/// A user's text matched literally, not as a pattern.
fn escape_regex(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The stored field a listing is sorted by.
fn sort_field(field: SortField) -> &'static str {
    match field {
        SortField::CreatedAt => "created_at",
        SortField::UpdatedAt => "updated_at",
        SortField::NextAttemptAt => "next_attempt_at",
        SortField::Attempts => "attempts",
    }
}

fn all<T>(documents: Vec<NotificationDocument>) -> Result<Vec<T>, AppError>
where
    T: TryFrom<NotificationDocument, Error = AppError>,
{
    documents.into_iter().map(T::try_from).collect()
}

#[derive(Clone)]
pub struct NotificationStore {
    notifications: Collection<NotificationDocument>,
    raw: Collection<Document>,
}

impl NotificationStore {
    pub fn new(database: &mongodb::Database) -> Self {
        Self {
            notifications: database.collection(COLLECTION),
            raw: database.collection(COLLECTION),
        }
    }

    /// Queues `notification` unless one exists for its (event, recipient); returns the stored
    /// one and whether this call created it.
    pub async fn insert_once(
        &self,
        notification: Notification,
    ) -> Result<(Notification, bool), AppError> {
        match self
            .notifications
            .insert_one(NotificationDocument::from(&notification))
            .await
        {
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
                Ok((existing.try_into()?, false))
            }
            Err(error) => Err(error.into()),
        }
    }

    pub async fn get(&self, id: &str) -> Result<Option<Notification>, AppError> {
        self.notifications
            .find_one(doc! { "_id": id })
            .await?
            .map(Notification::try_from)
            .transpose()
    }

    /// Claims the due PENDING notification of `queue` that waited longest: its next attempt
    /// moves to the end of the lease (so a worker that dies gives it back then), the attempt
    /// is counted, and `token` marks the claim.
    pub async fn claim(
        &self,
        queue: Priority,
        lease: Duration,
        token: &str,
    ) -> Result<Option<Notification>, AppError> {
        let now = DateTime::now();
        self.notifications
            .find_one_and_update(
                doc! {
                    "status": "PENDING",
                    "priority": queue.name(),
                    "next_attempt_at": { "$lte": now },
                },
                doc! {
                    "$set": {
                        "next_attempt_at": bson_after(now, lease),
                        "lease_token": token,
                        "updated_at": now,
                    },
                    "$inc": { "attempts": 1 },
                },
            )
            .sort(doc! { "next_attempt_at": 1 })
            .return_document(ReturnDocument::After)
            .await?
            .map(Notification::try_from)
            .transpose()
    }

    /// The worker holding claim `token` sent it. False if the claim was lost meanwhile.
    pub async fn complete_sent(&self, id: &str, token: &str) -> Result<bool, AppError> {
        let now = DateTime::now();
        self.complete(
            id,
            token,
            doc! { "$set": {
                "status": "SENT", "sent_at": now, "updated_at": now, "next_attempt_at": null,
                "lease_token": null, "last_error": null, "failure_reason": null,
            } },
        )
        .await
    }

    /// The attempt failed transiently: try again at `next_attempt_at`.
    pub async fn complete_retry(
        &self,
        id: &str,
        token: &str,
        next_attempt_at: chrono::DateTime<Utc>,
        error: &str,
        reason: &str,
    ) -> Result<bool, AppError> {
        self.complete(
            id,
            token,
            doc! { "$set": {
                "next_attempt_at": bson_time(next_attempt_at), "updated_at": DateTime::now(),
                "lease_token": null, "last_error": error, "failure_reason": reason,
            } },
        )
        .await
    }

    /// Retries are exhausted or the failure is permanent: FAILED, keeping the error.
    pub async fn complete_failed(
        &self,
        id: &str,
        token: &str,
        error: &str,
        reason: &str,
    ) -> Result<bool, AppError> {
        let now = DateTime::now();
        self.complete(
            id,
            token,
            doc! { "$set": {
                "status": "FAILED", "failed_at": now, "updated_at": now,
                "next_attempt_at": null, "lease_token": null,
                "last_error": error, "failure_reason": reason,
            } },
        )
        .await
    }

    async fn complete(&self, id: &str, token: &str, update: Document) -> Result<bool, AppError> {
        let result = self
            .notifications
            .update_one(
                doc! { "_id": id, "status": "PENDING", "lease_token": token },
                update,
            )
            .await?;
        Ok(result.matched_count == 1)
    }

    /// Applies an IT action if the notification is in a status it applies to. `Ok(None)`: no
    /// such notification; `Ok(Some((notification, false)))`: it was not (the current one is
    /// returned).
    pub async fn apply_manual(
        &self,
        id: &str,
        action: ManualAction,
        by: &Origin,
    ) -> Result<Option<(Notification, bool)>, AppError> {
        let (from, to) = action.transition();
        let now = DateTime::now();
        let by = mongodb::bson::to_bson(&OriginDocument::from(by)).map_err(AppError::internal)?;
        let mut set =
            doc! { "status": to.name(), "updated_at": now, "updated_by": by, "lease_token": null };
        match action {
            ManualAction::MarkSent => {
                set.insert("sent_at", now);
                set.insert("next_attempt_at", mongodb::bson::Bson::Null);
            }
            ManualAction::Retry => {
                set.insert("attempts", 0);
                set.insert("next_attempt_at", now);
                set.insert("failed_at", mongodb::bson::Bson::Null);
            }
            ManualAction::Cancel => {
                set.insert("next_attempt_at", mongodb::bson::Bson::Null);
            }
        }
        let changed = self
            .notifications
            .find_one_and_update(
                doc! { "_id": id, "status": { "$in": names(from, Status::name) } },
                doc! { "$set": set },
            )
            .return_document(ReturnDocument::After)
            .await?;
        match changed {
            Some(notification) => Ok(Some((notification.try_into()?, true))),
            None => Ok(self.get(id).await?.map(|current| (current, false))),
        }
    }

    /// Up to `limit` notifications of the queue from `offset`, and how many match in all.
    pub async fn list(
        &self,
        filter: &QueueFilter,
        order: QueueOrder,
        offset: u64,
        limit: i64,
    ) -> Result<(Vec<Notification>, u64), AppError> {
        let filter = filter_document(filter);
        let direction = if order.descending { -1 } else { 1 };
        let page = self
            .notifications
            .find(filter.clone())
            .sort(doc! { sort_field(order.field): direction, "_id": direction })
            .skip(offset)
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        let total = self.notifications.count_documents(filter).await?;
        Ok((all(page)?, total))
    }

    /// A user's own notifications, newest first: up to `limit` from `offset`.
    pub async fn list_for_user(
        &self,
        user_id: &str,
        event_types: &[EventType],
        offset: u64,
        limit: i64,
    ) -> Result<Vec<Notification>, AppError> {
        let mut filter = doc! { "recipient.user_id": user_id };
        if !event_types.is_empty() {
            filter.insert(
                "event_type",
                doc! { "$in": names(event_types, EventType::name) },
            );
        }
        let page = self
            .notifications
            .find(filter)
            .sort(doc! { "created_at": -1, "_id": -1 })
            .skip(offset)
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        all(page)
    }

    /// Counts per (event type, status) of notifications queued since `since`.
    pub async fn count_by_type_and_status(
        &self,
        since: Option<chrono::DateTime<Utc>>,
    ) -> Result<Vec<GroupCount>, AppError> {
        let mut pipeline = Vec::new();
        if let Some(since) = since {
            pipeline.push(doc! { "$match": { "created_at": { "$gte": bson_time(since) } } });
        }
        pipeline.push(doc! { "$group": {
            "_id": { "event_type": "$event_type", "status": "$status" },
            "count": { "$sum": 1 },
        } });
        let groups: Vec<Document> = self.raw.aggregate(pipeline).await?.try_collect().await?;
        Ok(groups
            .into_iter()
            .filter_map(|group| {
                let key = group.get_document("_id").ok()?;
                Some(GroupCount {
                    event_type: EventType::from_name(key.get_str("event_type").ok()?),
                    status: Status::from_name(key.get_str("status").ok()?),
                    count: count_of(&group),
                })
            })
            .collect())
    }

    /// The most frequent failure reasons of FAILED notifications queued since `since`.
    pub async fn failure_reasons(
        &self,
        since: Option<chrono::DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<ReasonCount>, AppError> {
        let mut matching = doc! { "status": "FAILED" };
        if let Some(since) = since {
            matching.insert("created_at", doc! { "$gte": bson_time(since) });
        }
        let pipeline = vec![
            doc! { "$match": matching },
            doc! { "$group": {
                "_id": "$failure_reason",
                "count": { "$sum": 1 },
                "last_seen_at": { "$max": "$failed_at" },
            } },
            doc! { "$sort": { "count": -1, "_id": 1 } },
            doc! { "$limit": limit },
        ];
        let groups: Vec<Document> = self.raw.aggregate(pipeline).await?.try_collect().await?;
        Ok(groups
            .into_iter()
            .map(|group| ReasonCount {
                reason: group.get_str("_id").unwrap_or("unknown").to_owned(),
                count: count_of(&group),
                last_seen_at: group.get_datetime("last_seen_at").ok().copied().map(utc),
            })
            .collect())
    }

    /// PENDING notifications, of one queue or of both.
    pub async fn pending_count(&self, queue: Option<Priority>) -> Result<i64, AppError> {
        let mut filter = doc! { "status": "PENDING" };
        if let Some(queue) = queue {
            filter.insert("priority", queue.name());
        }
        self.count(filter).await
    }

    /// When the oldest PENDING notification was queued.
    pub async fn oldest_pending_at(&self) -> Result<Option<chrono::DateTime<Utc>>, AppError> {
        self.first_time(doc! { "status": "PENDING" }, "created_at", true)
            .await
    }

    /// Notifications SENT (or marked sent) since `since`.
    pub async fn sent_since(&self, since: chrono::DateTime<Utc>) -> Result<i64, AppError> {
        self.count(doc! { "status": "SENT", "sent_at": { "$gte": bson_time(since) } })
            .await
    }

    /// Notifications that became FAILED since `since`.
    pub async fn failed_since(&self, since: chrono::DateTime<Utc>) -> Result<i64, AppError> {
        self.count(doc! { "status": "FAILED", "failed_at": { "$gte": bson_time(since) } })
            .await
    }

    /// When the last e-mail was sent.
    pub async fn last_sent_at(&self) -> Result<Option<chrono::DateTime<Utc>>, AppError> {
        self.first_time(doc! { "status": "SENT" }, "sent_at", false)
            .await
    }

    async fn count(&self, filter: Document) -> Result<i64, AppError> {
        let count = self.notifications.count_documents(filter).await?;
        Ok(i64::try_from(count).unwrap_or(i64::MAX))
    }

    /// The `field` time of the first notification matching `filter` in that order.
    async fn first_time(
        &self,
        filter: Document,
        field: &str,
        ascending: bool,
    ) -> Result<Option<chrono::DateTime<Utc>>, AppError> {
        let first = self
            .raw
            .find_one(filter)
            .sort(doc! { field: if ascending { 1 } else { -1 } })
            .projection(doc! { field: 1 })
            .await?;
        Ok(first.and_then(|document| document.get_datetime(field).ok().copied().map(utc)))
    }
}

fn count_of(group: &Document) -> i64 {
    group
        .get_i64("count")
        .or_else(|_| group.get_i32("count").map(i64::from))
        .unwrap_or(0)
}

/// The idempotency key and the indexes the workers and the listings read by.
pub async fn ensure_indexes(database: &mongodb::Database) -> Result<(), mongodb::error::Error> {
    let notifications = database.collection::<Document>(COLLECTION);
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
        doc! { "status": 1, "created_at": 1 },
        doc! { "status": 1, "sent_at": -1 },
        doc! { "status": 1, "failed_at": -1 },
        doc! { "created_at": -1 },
    ] {
        notifications
            .create_index(IndexModel::builder().keys(keys).build())
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Outgoing, templates::Links};

    /// A document as an older version stored it: its map has a key the payload no longer
    /// knows and lacks one it now requires; it still reads, and writes back the same shape.
    #[test]
    fn stored_documents_round_trip_and_old_maps_still_read() {
        let outgoing = Outgoing {
            event_id: "e".into(),
            recipient: Contact {
                email: "ada@example.com".into(),
                ..Contact::default()
            },
            role: None,
            subject: Subject::default(),
            data: EventData::empty(EventType::UserRegistered),
            priority: None,
            trace_context: String::new(),
            origin: Origin::default(),
        };
        let queued = Notification::queued(outgoing, &Links::new("https://a.example"));
        let mut document = NotificationDocument::from(&queued);
        assert_eq!(document.recipient_role, "UNSPECIFIED");
        assert_eq!(document.status, "PENDING");
        let read = Notification::try_from(document.clone()).expect("readable");
        // Stored times are milliseconds.
        assert_eq!(
            read.created_at.timestamp_millis(),
            queued.created_at.timestamp_millis()
        );
        assert_eq!(read.data, queued.data);

        document.event_type = "SYNC_JOB_FAILED".into();
        document.data = BTreeMap::from([
            ("data_set".to_owned(), "catalogue".to_owned()),
            ("retired_key".to_owned(), "x".to_owned()),
        ]);
        let old = Notification::try_from(document).expect("an old map reads");
        let EventData::SyncJobFailed(failed) = &old.data else {
            panic!("a sync job failure");
        };
        assert_eq!(failed.data_set, "catalogue");
        assert!(failed.failure_message.is_empty());
    }

    #[test]
    fn listing_filters_become_one_query() {
        let filter = QueueFilter {
            statuses: vec![Status::Failed],
            recipient: Some(RecipientMatch::EmailContains("a.b".into())),
            priority: Some(Priority::High),
            ..QueueFilter::default()
        };
        let query = filter_document(&filter);
        assert_eq!(
            query.get_document("status").expect("status"),
            &doc! { "$in": ["FAILED"] }
        );
        assert_eq!(
            query
                .get_document("recipient.email")
                .expect("email")
                .get_str("$regex")
                .expect("regex"),
            "a\\.b"
        );
        assert_eq!(query.get_str("priority").expect("priority"), "HIGH");
    }
}
