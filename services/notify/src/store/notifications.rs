//! The `notifications` collection: one document per (event, recipient). A unique index on
//! (event_id, recipient_key) makes intake idempotent in the database itself, so two
//! concurrent deliveries of one event still queue a single e-mail.
//!
//! Every state change is one conditional update: a worker's outcome only lands while it still
//! holds the claim (`lease_token`) and the notification is PENDING, so IT cancelling or
//! marking one sent while it is being sent is never overwritten.

use std::{collections::BTreeMap, time::Duration};

use astro_proto::astrobookings::{
    common::v1::{AuditInfo, Contact, Origin, Role},
    notify::v1::{
        Notification, NotificationEventType, NotificationPriority, NotificationStatus,
        NotificationSubject,
    },
};
use astro_shared::{
    AppError,
    convert::{bson_after, bson_timestamp},
};
use futures::TryStreamExt as _;
use mongodb::{
    Collection, IndexModel,
    bson::{DateTime, Document, doc},
    options::{IndexOptions, ReturnDocument},
};
use serde::{Deserialize, Serialize};

pub const COLLECTION: &str = "notifications";

/// Attempts allowed before FAILED.
pub const MAX_ATTEMPTS: i32 = 5;

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
    /// `TRAVELER`, `AGENCY`, `IT`, ...: what the recipient is to the event.
    #[serde(default)]
    pub recipient_role: String,
    pub subject: SubjectDocument,
    pub data: BTreeMap<String, String>,
    /// `PENDING`, `SENT`, `FAILED`, `CANCELLED`.
    pub status: String,
    /// `NORMAL` or `HIGH`.
    pub priority: String,
    /// The rendered e-mail, fixed when queued.
    pub email_subject: String,
    #[serde(default)]
    pub email_text: String,
    #[serde(default)]
    pub email_html: String,
    /// Attempts started; a claim counts as one, so a message that crashes its worker cannot
    /// be retried for ever.
    pub attempts: i32,
    pub max_attempts: i32,
    /// PENDING: when it may be claimed (while claimed: when the claim lapses).
    pub next_attempt_at: Option<DateTime>,
    /// The claim of the worker sending it now.
    #[serde(default)]
    pub lease_token: Option<String>,
    pub last_error: Option<String>,
    /// `last_error` without its variable parts, for counting failures by reason.
    #[serde(default)]
    pub failure_reason: Option<String>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    pub sent_at: Option<DateTime>,
    #[serde(default)]
    pub failed_at: Option<DateTime>,
    /// W3C `traceparent` of the causing request, so sending joins its trace.
    pub trace_context: String,
    pub trace_id: String,
    pub origin: OriginDocument,
    /// Who changed it last by hand (IT); `None` while only the platform touched it.
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

impl SubjectDocument {
    pub fn from_proto(subject: &NotificationSubject) -> Self {
        Self {
            user_id: subject.user_id.clone(),
            agency_id: subject.agency_id.clone(),
            launch_id: subject.launch_id.clone(),
            booking_id: subject.booking_id.clone(),
            invoice_id: subject.invoice_id.clone(),
            sync_job_id: subject.sync_job_id.clone(),
        }
    }

    fn to_proto(&self) -> NotificationSubject {
        NotificationSubject {
            user_id: self.user_id.clone(),
            agency_id: self.agency_id.clone(),
            launch_id: self.launch_id.clone(),
            booking_id: self.booking_id.clone(),
            invoice_id: self.invoice_id.clone(),
            sync_job_id: self.sync_job_id.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OriginDocument {
    pub service: String,
    pub user_id: String,
    pub trace_id: String,
    pub time: Option<DateTime>,
}

impl OriginDocument {
    fn to_proto(&self) -> Origin {
        Origin {
            service: self.service.clone(),
            user_id: self.user_id.clone(),
            trace_id: self.trace_id.clone(),
            time: self.time.map(bson_timestamp),
        }
    }
}

/// `NOTIFICATION_STATUS_PENDING` -> `PENDING`.
pub fn short_name<'a>(name: &'a str, prefix: &str) -> &'a str {
    name.strip_prefix(prefix).unwrap_or(name)
}

pub fn status_name(status: NotificationStatus) -> &'static str {
    short_name(status.as_str_name(), "NOTIFICATION_STATUS_")
}

pub fn event_type_name(event_type: NotificationEventType) -> &'static str {
    short_name(event_type.as_str_name(), "NOTIFICATION_EVENT_TYPE_")
}

pub fn priority_name(priority: NotificationPriority) -> &'static str {
    short_name(priority.as_str_name(), "NOTIFICATION_PRIORITY_")
}

pub fn parse_status(name: &str) -> NotificationStatus {
    NotificationStatus::from_str_name(&format!("NOTIFICATION_STATUS_{name}"))
        .unwrap_or(NotificationStatus::Unspecified)
}

pub fn parse_event_type(name: &str) -> NotificationEventType {
    NotificationEventType::from_str_name(&format!("NOTIFICATION_EVENT_TYPE_{name}"))
        .unwrap_or(NotificationEventType::Unspecified)
}

impl NotificationDocument {
    pub fn event_type(&self) -> NotificationEventType {
        parse_event_type(&self.event_type)
    }

    pub fn status(&self) -> NotificationStatus {
        parse_status(&self.status)
    }

    pub fn to_proto(&self) -> Notification {
        let priority = NotificationPriority::from_str_name(&format!(
            "NOTIFICATION_PRIORITY_{}",
            self.priority
        ))
        .unwrap_or(NotificationPriority::Unspecified);
        let role = Role::from_str_name(&format!("ROLE_{}", self.recipient_role))
            .unwrap_or(Role::Unspecified);
        let created = self.origin.to_proto();
        let updated = self
            .updated_by
            .as_ref()
            .map_or_else(|| created.clone(), OriginDocument::to_proto);
        Notification {
            id: self.id.clone(),
            event_id: self.event_id.clone(),
            event_type: self.event_type().into(),
            status: self.status().into(),
            priority: priority.into(),
            recipient: Some(Contact {
                user_id: self.recipient.user_id.clone(),
                name: self.recipient.name.clone(),
                email: self.recipient.email.clone(),
                phone: String::new(),
            }),
            subject: Some(self.subject.to_proto()),
            email_subject: self.email_subject.clone(),
            attempts: self.attempts,
            max_attempts: self.max_attempts,
            next_attempt_at: (self.status == "PENDING")
                .then_some(self.next_attempt_at)
                .flatten()
                .map(bson_timestamp),
            last_error: self.last_error.clone().unwrap_or_default(),
            created_at: Some(bson_timestamp(self.created_at)),
            updated_at: Some(bson_timestamp(self.updated_at)),
            sent_at: self.sent_at.map(bson_timestamp),
            trace_id: self.trace_id.clone(),
            audit: Some(AuditInfo {
                created: Some(created),
                updated: Some(updated),
            }),
            recipient_role: role.into(),
        }
    }
}

/// Filters of the IT queue listing; empty vectors and `None` mean "any".
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub statuses: Vec<&'static str>,
    pub event_types: Vec<&'static str>,
    /// An exact user id.
    pub recipient_user_id: Option<String>,
    /// A case-insensitive substring of the e-mail address.
    pub recipient_email_contains: Option<String>,
    pub created_after: Option<DateTime>,
    pub created_before: Option<DateTime>,
    pub priority: Option<&'static str>,
    pub event_id: Option<String>,
}

impl QueueFilter {
    fn to_document(&self) -> Document {
        let mut filter = Document::new();
        if !self.statuses.is_empty() {
            filter.insert("status", doc! { "$in": &self.statuses });
        }
        if !self.event_types.is_empty() {
            filter.insert("event_type", doc! { "$in": &self.event_types });
        }
        if let Some(user_id) = &self.recipient_user_id {
            filter.insert("recipient.user_id", user_id);
        }
        if let Some(text) = &self.recipient_email_contains {
            filter.insert(
                "recipient.email",
                doc! { "$regex": escape_regex(text), "$options": "i" },
            );
        }
        let mut created = Document::new();
        if let Some(after) = self.created_after {
            created.insert("$gte", after);
        }
        if let Some(before) = self.created_before {
            created.insert("$lt", before);
        }
        if !created.is_empty() {
            filter.insert("created_at", created);
        }
        if let Some(priority) = self.priority {
            filter.insert("priority", priority);
        }
        if let Some(event_id) = &self.event_id {
            filter.insert("event_id", event_id);
        }
        filter
    }
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

/// How the queue listing is ordered: a stored field, then `_id` to break ties.
#[derive(Debug, Clone, Copy)]
pub struct QueueOrder {
    pub field: &'static str,
    pub ascending: bool,
}

/// What IT may do to a notification by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManualAction {
    /// PENDING -> SENT without sending.
    MarkSent,
    /// FAILED -> PENDING with a fresh set of attempts.
    Retry,
    /// PENDING or FAILED -> CANCELLED.
    Cancel,
}

impl ManualAction {
    /// The statuses it applies to, and the one it leads to.
    fn transition(self) -> (&'static [&'static str], &'static str) {
        match self {
            Self::MarkSent => (&["PENDING"], "SENT"),
            Self::Retry => (&["FAILED"], "PENDING"),
            Self::Cancel => (&["PENDING", "FAILED"], "CANCELLED"),
        }
    }
}

/// Counts of one (event type, status) pair.
#[derive(Debug, Clone)]
pub struct GroupCount {
    pub event_type: String,
    pub status: String,
    pub count: i64,
}

#[derive(Debug, Clone)]
pub struct ReasonCount {
    pub reason: String,
    pub count: i64,
    pub last_seen_at: Option<DateTime>,
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

    pub async fn get(&self, id: &str) -> Result<Option<NotificationDocument>, AppError> {
        Ok(self.notifications.find_one(doc! { "_id": id }).await?)
    }

    /// Claims the due PENDING notification of `priority` that waited longest: its next
    /// attempt moves to the end of the lease (so a worker that dies gives it back then), the
    /// attempt is counted, and `token` marks the claim.
    pub async fn claim(
        &self,
        priority: &str,
        lease: Duration,
        token: &str,
    ) -> Result<Option<NotificationDocument>, AppError> {
        let now = DateTime::now();
        Ok(self
            .notifications
            .find_one_and_update(
                doc! {
                    "status": "PENDING",
                    "priority": priority,
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
            .await?)
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
        next_attempt_at: DateTime,
        error: &str,
        reason: &str,
    ) -> Result<bool, AppError> {
        self.complete(
            id,
            token,
            doc! { "$set": {
                "next_attempt_at": next_attempt_at, "updated_at": DateTime::now(),
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
    /// such notification; `Ok(Some((doc, false)))`: it was not (the current one is returned).
    pub async fn apply_manual(
        &self,
        id: &str,
        action: ManualAction,
        by: &OriginDocument,
    ) -> Result<Option<(NotificationDocument, bool)>, AppError> {
        let (from, to) = action.transition();
        let now = DateTime::now();
        let by = mongodb::bson::to_bson(by).map_err(AppError::internal)?;
        let mut set =
            doc! { "status": to, "updated_at": now, "updated_by": by, "lease_token": null };
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
                doc! { "_id": id, "status": { "$in": from } },
                doc! { "$set": set },
            )
            .return_document(ReturnDocument::After)
            .await?;
        match changed {
            Some(notification) => Ok(Some((notification, true))),
            None => Ok(self.get(id).await?.map(|current| (current, false))),
        }
    }

    /// One page of the queue, and how many match in all.
    pub async fn list(
        &self,
        filter: &QueueFilter,
        order: QueueOrder,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<NotificationDocument>, u64), AppError> {
        let filter = filter.to_document();
        let direction = if order.ascending { 1 } else { -1 };
        let page = self
            .notifications
            .find(filter.clone())
            .sort(doc! { order.field: direction, "_id": direction })
            .skip(offset)
            .limit(i64::from(limit))
            .await?
            .try_collect()
            .await?;
        let total = self.notifications.count_documents(filter).await?;
        Ok((page, total))
    }

    /// A user's own notifications, newest first.
    pub async fn list_for_user(
        &self,
        user_id: &str,
        event_types: &[&'static str],
        offset: u64,
        limit: u32,
    ) -> Result<Vec<NotificationDocument>, AppError> {
        let mut filter = doc! { "recipient.user_id": user_id };
        if !event_types.is_empty() {
            filter.insert("event_type", doc! { "$in": event_types });
        }
        Ok(self
            .notifications
            .find(filter)
            .sort(doc! { "created_at": -1, "_id": -1 })
            .skip(offset)
            .limit(i64::from(limit))
            .await?
            .try_collect()
            .await?)
    }

    /// Counts per (event type, status) of notifications queued since `since`.
    pub async fn count_by_type_and_status(
        &self,
        since: Option<DateTime>,
    ) -> Result<Vec<GroupCount>, AppError> {
        let mut pipeline = Vec::new();
        if let Some(since) = since {
            pipeline.push(doc! { "$match": { "created_at": { "$gte": since } } });
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
                    event_type: key.get_str("event_type").ok()?.to_owned(),
                    status: key.get_str("status").ok()?.to_owned(),
                    count: count_of(&group),
                })
            })
            .collect())
    }

    /// The most frequent failure reasons of FAILED notifications queued since `since`.
    pub async fn failure_reasons(
        &self,
        since: Option<DateTime>,
        limit: i64,
    ) -> Result<Vec<ReasonCount>, AppError> {
        let mut matching = doc! { "status": "FAILED" };
        if let Some(since) = since {
            matching.insert("created_at", doc! { "$gte": since });
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
                last_seen_at: group.get_datetime("last_seen_at").ok().copied(),
            })
            .collect())
    }

    /// PENDING notifications, of one queue (`HIGH`, `NORMAL`) or of both.
    pub async fn pending_count(&self, priority: Option<&str>) -> Result<i64, AppError> {
        let mut filter = doc! { "status": "PENDING" };
        if let Some(priority) = priority {
            filter.insert("priority", priority);
        }
        self.count(filter).await
    }

    /// When the oldest PENDING notification was queued.
    pub async fn oldest_pending_at(&self) -> Result<Option<DateTime>, AppError> {
        self.first_time(doc! { "status": "PENDING" }, "created_at", true)
            .await
    }

    /// Notifications SENT (or marked sent) since `since`.
    pub async fn sent_since(&self, since: DateTime) -> Result<i64, AppError> {
        self.count(doc! { "status": "SENT", "sent_at": { "$gte": since } })
            .await
    }

    /// Notifications that became FAILED since `since`.
    pub async fn failed_since(&self, since: DateTime) -> Result<i64, AppError> {
        self.count(doc! { "status": "FAILED", "failed_at": { "$gte": since } })
            .await
    }

    /// When the last e-mail was sent.
    pub async fn last_sent_at(&self) -> Result<Option<DateTime>, AppError> {
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
    ) -> Result<Option<DateTime>, AppError> {
        let first = self
            .raw
            .find_one(filter)
            .sort(doc! { field: if ascending { 1 } else { -1 } })
            .projection(doc! { field: 1 })
            .await?;
        Ok(first.and_then(|document| document.get_datetime(field).ok().copied()))
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
