//! The contract's messages to domain input and domain values back to messages. Decoding
//! checks what the wire may carry (ids, lengths, enum values, timestamps) and parses each
//! payload strictly into its typed form; the contract's enums convert here, for the adapters
//! that speak the contract (this one and the directory's clients).

use astro_proto::astrobookings::{
    common::v1::{self as common, AuditInfo, NotificationServiceHealth, SortOrder},
    notify::v1::{
        self as notify, EnqueueNotificationRequest, EventTypeCount, FailureReasonCount,
        GetQueueStatusRequest, GetQueueStatusResponse, ListMyNotificationsRequest,
        ListNotificationsRequest, NotificationEventType, NotificationPriority,
        NotificationSortField, NotificationStatus, NotificationSubject, PublishEventRequest,
        StatusCount,
    },
};
use astro_shared::{
    AppError,
    convert::timestamp,
    paging::{page_size, sort_descending},
    validate::{bounded_text, looks_like_email, required_text},
};
use chrono::{DateTime, Utc};

use crate::{
    app::operations::{OwnQuery, QueueQuery},
    domain::{
        Contact, Event, EventData, EventType, Notification, Origin, Outgoing, Priority, Role,
        Status, Subject,
        figures::{Health, QueueStatus, StatusCounts},
        notification::{
            ManualAction, ManualChange, QueueFilter, QueueOrder, RecipientMatch, SortField,
        },
    },
};

const MAX_ID_CHARS: usize = 100;
const MAX_NAME_CHARS: usize = 200;
const MAX_TRACE_CONTEXT_CHARS: usize = 512;
const MAX_REASON_CHARS: usize = 500;

impl From<EventType> for NotificationEventType {
    fn from(event_type: EventType) -> Self {
        use EventType as E;
        match event_type {
            E::UserRegistered => Self::UserRegistered,
            E::LaunchScheduled => Self::LaunchScheduled,
            E::LaunchDelayed => Self::LaunchDelayed,
            E::LaunchAborted => Self::LaunchAborted,
            E::LaunchSuccessful => Self::LaunchSuccessful,
            E::LaunchFailed => Self::LaunchFailed,
            E::BookingConfirmed => Self::BookingConfirmed,
            E::BookingCancelled => Self::BookingCancelled,
            E::InvoiceIssued => Self::InvoiceIssued,
            E::InvoiceOverdue => Self::InvoiceOverdue,
            E::SyncJobFailed => Self::SyncJobFailed,
        }
    }
}

/// `Err(())` for UNSPECIFIED, which is no event type.
impl TryFrom<NotificationEventType> for EventType {
    type Error = ();

    fn try_from(event_type: NotificationEventType) -> Result<Self, ()> {
        use NotificationEventType as E;
        Ok(match event_type {
            E::Unspecified => return Err(()),
            E::UserRegistered => Self::UserRegistered,
            E::LaunchScheduled => Self::LaunchScheduled,
            E::LaunchDelayed => Self::LaunchDelayed,
            E::LaunchAborted => Self::LaunchAborted,
            E::LaunchSuccessful => Self::LaunchSuccessful,
            E::LaunchFailed => Self::LaunchFailed,
            E::BookingConfirmed => Self::BookingConfirmed,
            E::BookingCancelled => Self::BookingCancelled,
            E::InvoiceIssued => Self::InvoiceIssued,
            E::InvoiceOverdue => Self::InvoiceOverdue,
            E::SyncJobFailed => Self::SyncJobFailed,
        })
    }
}

impl From<Role> for common::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::Traveler => Self::Traveler,
            Role::Agency => Self::Agency,
            Role::Finance => Self::Finance,
            Role::It => Self::It,
            Role::Admin => Self::Admin,
        }
    }
}

/// `Err(())` for UNSPECIFIED, which is no role.
impl TryFrom<common::Role> for Role {
    type Error = ();

    fn try_from(role: common::Role) -> Result<Self, ()> {
        Ok(match role {
            common::Role::Unspecified => return Err(()),
            common::Role::Traveler => Self::Traveler,
            common::Role::Agency => Self::Agency,
            common::Role::Finance => Self::Finance,
            common::Role::It => Self::It,
            common::Role::Admin => Self::Admin,
        })
    }
}

fn priority_value(priority: Priority) -> NotificationPriority {
    match priority {
        Priority::Normal => NotificationPriority::Normal,
        Priority::High => NotificationPriority::High,
    }
}

fn status_value(status: Status) -> NotificationStatus {
    match status {
        Status::Pending => NotificationStatus::Pending,
        Status::Sent => NotificationStatus::Sent,
        Status::Failed => NotificationStatus::Failed,
        Status::Cancelled => NotificationStatus::Cancelled,
    }
}

/// EnqueueNotification's request as one e-mail to queue.
pub fn outgoing(request: EnqueueNotificationRequest) -> Result<Outgoing, AppError> {
    let event_id = event_id(&request.event_id)?;
    let event_type = required_event_type(request.event_type)?;
    let priority = priority(request.priority)?;
    let role = match common::Role::try_from(request.recipient_role) {
        Ok(role) => Role::try_from(role).ok(),
        Err(_) => return Err(AppError::invalid("recipient_role", "is not a role")),
    };
    let recipient = request
        .recipient
        .ok_or_else(|| AppError::invalid("recipient", "is required"))?;
    let email = recipient.email.trim().to_owned();
    if !looks_like_email(&email) {
        return Err(AppError::invalid(
            "recipient.email",
            "must be an e-mail address",
        ));
    }
    Ok(Outgoing {
        event_id,
        recipient: Contact {
            user_id: bounded_text("recipient.user_id", &recipient.user_id, MAX_ID_CHARS)?,
            name: bounded_text("recipient.name", &recipient.name, MAX_NAME_CHARS)?,
            email,
        },
        role,
        subject: subject(request.subject.unwrap_or_default())?,
        data: EventData::from_wire(event_type, request.data)?,
        priority,
        trace_context: trace_context(&request.trace_context)?,
        origin: origin(request.origin.unwrap_or_default())?,
    })
}

/// PublishEvent's request as an event whose recipients NotifyAPI finds.
pub fn event(request: PublishEventRequest) -> Result<Event, AppError> {
    let event_id = event_id(&request.event_id)?;
    let event_type = required_event_type(request.event_type)?;
    let priority = priority(request.priority)?;
    let subject = subject(
        request
            .subject
            .ok_or_else(|| AppError::invalid("subject", "is required"))?,
    )?;
    subject.require_for(event_type)?;
    let occurred_at = match request.occurred_at {
        Some(time) => instant("occurred_at", &time)?,
        None => return Err(AppError::invalid("occurred_at", "is required")),
    };
    Ok(Event {
        event_id,
        occurred_at,
        subject,
        data: EventData::from_wire(event_type, request.data)?,
        priority,
        trace_context: trace_context(&request.trace_context)?,
        origin: origin(request.origin.unwrap_or_default())?,
    })
}

/// ListNotifications' request: filters, order and page.
pub fn queue_query(request: &ListNotificationsRequest) -> Result<QueueQuery, AppError> {
    let limit = page_size(request.page_size, 50, 200)?;
    let statuses = statuses(&request.statuses)?;
    let event_types = event_types(&request.event_types, "event_types")?;
    let created_after = request
        .created_after
        .as_ref()
        .map(|time| instant("created_after", time))
        .transpose()?;
    let created_before = request
        .created_before
        .as_ref()
        .map(|time| instant("created_before", time))
        .transpose()?;
    let priority = match NotificationPriority::try_from(request.priority) {
        Ok(NotificationPriority::Unspecified) => None,
        Ok(NotificationPriority::Normal) => Some(Priority::Normal),
        Ok(NotificationPriority::High) => Some(Priority::High),
        Err(_) => return Err(AppError::invalid("priority", "is not a priority")),
    };
    let event_id = Some(request.event_id.trim().to_owned()).filter(|id| !id.is_empty());
    let recipient = RecipientMatch::parse(&request.recipient)?;
    let field = match NotificationSortField::try_from(request.sort_by) {
        Ok(NotificationSortField::Unspecified | NotificationSortField::CreatedAt) => {
            SortField::CreatedAt
        }
        Ok(NotificationSortField::UpdatedAt) => SortField::UpdatedAt,
        Ok(NotificationSortField::NextAttemptAt) => SortField::NextAttemptAt,
        Ok(NotificationSortField::Attempts) => SortField::Attempts,
        Err(_) => return Err(AppError::invalid("sort_by", "is not a sort field")),
    };
    let descending = sort_descending(request.order, SortOrder::Descending)?;
    Ok(QueueQuery {
        filter: QueueFilter {
            statuses,
            event_types,
            recipient,
            created_after,
            created_before,
            priority,
            event_id,
        },
        order: QueueOrder { field, descending },
        limit,
        page_token: request.page_token.clone(),
    })
}

/// ListMyNotifications' request.
pub fn own_query(request: &ListMyNotificationsRequest) -> Result<OwnQuery, AppError> {
    Ok(OwnQuery {
        limit: page_size(request.page_size, 20, 100)?,
        event_types: event_types(&request.event_types, "event_types")?,
        page_token: request.page_token.clone(),
    })
}

/// GetQueueStatus's `since`.
pub fn since(request: &GetQueueStatusRequest) -> Result<Option<DateTime<Utc>>, AppError> {
    request
        .since
        .as_ref()
        .map(|time| instant("since", time))
        .transpose()
}

/// Mark sent, retry or cancel the notification `id`, for `reason`.
pub fn manual_change(
    action: ManualAction,
    id: &str,
    reason: &str,
) -> Result<ManualChange, AppError> {
    Ok(ManualChange {
        action,
        id: required_text("id", id, MAX_ID_CHARS)?,
        reason: bounded_text("reason", reason, MAX_REASON_CHARS)?,
    })
}

pub fn notification(notification: &Notification) -> notify::Notification {
    let created = origin_message(&notification.origin);
    let updated = notification
        .updated_by
        .as_ref()
        .map_or_else(|| created.clone(), origin_message);
    notify::Notification {
        id: notification.id.clone(),
        event_id: notification.event_id.clone(),
        event_type: NotificationEventType::from(notification.event_type()).into(),
        status: status_value(notification.status).into(),
        priority: priority_value(notification.priority).into(),
        recipient: Some(common::Contact {
            user_id: notification.recipient.user_id.clone(),
            name: notification.recipient.name.clone(),
            email: notification.recipient.email.clone(),
            phone: String::new(),
        }),
        subject: Some(subject_message(&notification.subject)),
        email_subject: notification.email.subject.clone(),
        attempts: notification.attempts,
        max_attempts: notification.max_attempts,
        next_attempt_at: (notification.status == Status::Pending)
            .then_some(notification.next_attempt_at)
            .flatten()
            .map(timestamp),
        last_error: notification.last_error.clone().unwrap_or_default(),
        created_at: Some(timestamp(notification.created_at)),
        updated_at: Some(timestamp(notification.updated_at)),
        sent_at: notification.sent_at.map(timestamp),
        trace_id: notification.trace_id.clone(),
        audit: Some(AuditInfo {
            created: Some(created),
            updated: Some(updated),
        }),
        recipient_role: notification
            .recipient_role
            .map_or(common::Role::Unspecified, common::Role::from)
            .into(),
    }
}

pub fn queue_status(status: QueueStatus) -> GetQueueStatusResponse {
    GetQueueStatusResponse {
        by_status: status_counts(status.by_status),
        by_event_type: status
            .by_event_type
            .into_iter()
            .map(|(event_type, counts)| EventTypeCount {
                event_type: event_type
                    .map_or(NotificationEventType::Unspecified, Into::into)
                    .into(),
                counts: status_counts(counts),
            })
            .collect(),
        failure_reasons: status
            .failure_reasons
            .into_iter()
            .map(|reason| FailureReasonCount {
                reason: reason.reason,
                count: reason.count,
                last_seen_at: reason.last_seen_at.map(timestamp),
            })
            .collect(),
        queue_depth: status.figures.queue_depth,
        oldest_pending_age_seconds: status.figures.oldest_pending_age_seconds,
        measured_at: Some(timestamp(status.measured_at)),
        sent_last_hour: status.figures.sent_last_hour,
        failed_last_hour: status.figures.failed_last_hour,
    }
}

pub fn health(health: Health) -> NotificationServiceHealth {
    NotificationServiceHealth {
        queue_depth: health.figures.queue_depth,
        high_priority_queue_depth: health.high_priority_queue_depth,
        oldest_pending_age_seconds: health.figures.oldest_pending_age_seconds,
        send_rate_per_minute: health.send_rate_per_minute,
        failure_rate_per_minute: health.failure_rate_per_minute,
        failure_ratio_last_hour: health.failure_ratio_last_hour,
        sent_last_hour: health.figures.sent_last_hour,
        failed_last_hour: health.figures.failed_last_hour,
        email_server_reachable: health.probe.reachable,
        email_server_checked_at: health.probe.checked_at.map(timestamp),
        last_sent_at: health.last_sent_at.map(timestamp),
        measured_at: Some(timestamp(health.measured_at)),
        workers_alive: health.workers_alive,
        priority_workers_alive: health.priority_workers_alive,
    }
}

fn status_counts(counts: StatusCounts) -> Vec<StatusCount> {
    counts
        .into_iter()
        .map(|(status, count)| StatusCount {
            status: status_value(status).into(),
            count,
        })
        .collect()
}

fn subject_message(subject: &Subject) -> NotificationSubject {
    NotificationSubject {
        user_id: subject.user_id.clone(),
        agency_id: subject.agency_id.clone(),
        launch_id: subject.launch_id.clone(),
        booking_id: subject.booking_id.clone(),
        invoice_id: subject.invoice_id.clone(),
        sync_job_id: subject.sync_job_id.clone(),
    }
}

fn origin_message(origin: &Origin) -> common::Origin {
    common::Origin {
        service: origin.service.clone(),
        user_id: origin.user_id.clone(),
        trace_id: origin.trace_id.clone(),
        time: origin.time.map(timestamp),
    }
}

fn event_id(event_id: &str) -> Result<String, AppError> {
    Ok(uuid::Uuid::parse_str(event_id.trim())
        .map_err(|_| AppError::invalid("event_id", "must be a UUID"))?
        .to_string())
}

fn required_event_type(event_type: i32) -> Result<EventType, AppError> {
    NotificationEventType::try_from(event_type)
        .ok()
        .and_then(|event_type| EventType::try_from(event_type).ok())
        .ok_or_else(|| AppError::invalid("event_type", "must be a notification event type"))
}

/// A queue override; UNSPECIFIED is the event type's default.
fn priority(priority: i32) -> Result<Option<Priority>, AppError> {
    match NotificationPriority::try_from(priority) {
        Ok(NotificationPriority::Unspecified) => Ok(None),
        Ok(NotificationPriority::Normal) => Ok(Some(Priority::Normal)),
        Ok(NotificationPriority::High) => Ok(Some(Priority::High)),
        Err(_) => Err(AppError::invalid("priority", "is not a priority")),
    }
}

/// Every id bounded; kept as sent (the ids are the publishers').
fn subject(subject: NotificationSubject) -> Result<Subject, AppError> {
    for (field, value) in [
        ("subject.user_id", &subject.user_id),
        ("subject.agency_id", &subject.agency_id),
        ("subject.launch_id", &subject.launch_id),
        ("subject.booking_id", &subject.booking_id),
        ("subject.invoice_id", &subject.invoice_id),
        ("subject.sync_job_id", &subject.sync_job_id),
    ] {
        bounded_text(field, value, MAX_ID_CHARS)?;
    }
    Ok(Subject {
        user_id: subject.user_id,
        agency_id: subject.agency_id,
        launch_id: subject.launch_id,
        booking_id: subject.booking_id,
        invoice_id: subject.invoice_id,
        sync_job_id: subject.sync_job_id,
    })
}

fn trace_context(trace_context: &str) -> Result<String, AppError> {
    bounded_text("trace_context", trace_context, MAX_TRACE_CONTEXT_CHARS)
}

fn origin(origin: common::Origin) -> Result<Origin, AppError> {
    Ok(Origin {
        service: bounded_text("origin.service", &origin.service, MAX_ID_CHARS)?,
        user_id: bounded_text("origin.user_id", &origin.user_id, MAX_ID_CHARS)?,
        trace_id: bounded_text("origin.trace_id", &origin.trace_id, MAX_ID_CHARS)?,
        time: origin
            .time
            .map(|time| instant("origin.time", &time))
            .transpose()?,
    })
}

/// A timestamp of request field `field`, to the millisecond (as stored); INVALID_ARGUMENT
/// outside what google.protobuf.Timestamp allows (years 1 to 9999).
fn instant(field: &str, time: &prost_types::Timestamp) -> Result<DateTime<Utc>, AppError> {
    const MIN_SECONDS: i64 = -62_135_596_800;
    const MAX_SECONDS: i64 = 253_402_300_799;
    let invalid = || AppError::invalid(field, "is not a valid timestamp");
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&time.seconds)
        || !(0..1_000_000_000).contains(&time.nanos)
    {
        return Err(invalid());
    }
    DateTime::from_timestamp_millis(time.seconds * 1000 + i64::from(time.nanos / 1_000_000))
        .ok_or_else(invalid)
}

fn statuses(values: &[i32]) -> Result<Vec<Status>, AppError> {
    values
        .iter()
        .filter(|&&value| value != 0)
        .map(|&value| {
            let status = match NotificationStatus::try_from(value) {
                Ok(NotificationStatus::Pending) => Status::Pending,
                Ok(NotificationStatus::Sent) => Status::Sent,
                Ok(NotificationStatus::Failed) => Status::Failed,
                Ok(NotificationStatus::Cancelled) => Status::Cancelled,
                Ok(NotificationStatus::Unspecified) | Err(_) => {
                    return Err(AppError::invalid(
                        "statuses",
                        format!("{value} is not a status"),
                    ));
                }
            };
            Ok(status)
        })
        .collect()
}

fn event_types(values: &[i32], field: &str) -> Result<Vec<EventType>, AppError> {
    values
        .iter()
        .filter(|&&value| value != 0)
        .map(|&value| {
            NotificationEventType::try_from(value)
                .ok()
                .and_then(|event_type| EventType::try_from(event_type).ok())
                .ok_or_else(|| AppError::invalid(field, format!("{value} is not an event type")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn request() -> EnqueueNotificationRequest {
        EnqueueNotificationRequest {
            event_id: uuid::Uuid::now_v7().to_string(),
            event_type: NotificationEventType::UserRegistered.into(),
            recipient: Some(common::Contact {
                user_id: String::new(),
                name: "Ada".into(),
                email: "Ada@Example.com".into(),
                phone: String::new(),
            }),
            ..EnqueueNotificationRequest::default()
        }
    }

    fn field_of(error: AppError) -> String {
        match error {
            AppError::InvalidArgument { field, .. } => field,
            other => panic!("not INVALID_ARGUMENT: {other:?}"),
        }
    }

    #[test]
    fn bad_enqueue_requests_name_the_field() {
        let cases = [
            (
                EnqueueNotificationRequest {
                    event_id: "nope".into(),
                    ..request()
                },
                "event_id",
            ),
            (
                EnqueueNotificationRequest {
                    event_type: 0,
                    ..request()
                },
                "event_type",
            ),
            (
                EnqueueNotificationRequest {
                    recipient: None,
                    ..request()
                },
                "recipient",
            ),
            (
                EnqueueNotificationRequest {
                    recipient: Some(common::Contact::default()),
                    ..request()
                },
                "recipient.email",
            ),
            (
                EnqueueNotificationRequest {
                    priority: 42,
                    ..request()
                },
                "priority",
            ),
            (
                EnqueueNotificationRequest {
                    recipient_role: 42,
                    ..request()
                },
                "recipient_role",
            ),
        ];
        for (request, field) in cases {
            assert_eq!(field_of(outgoing(request).expect_err(field)), field);
        }
    }

    #[test]
    fn a_published_event_needs_the_subject_ids_of_its_type() {
        let request = PublishEventRequest {
            event_id: uuid::Uuid::now_v7().to_string(),
            event_type: NotificationEventType::BookingConfirmed.into(),
            occurred_at: Some(prost_types::Timestamp::default()),
            subject: Some(NotificationSubject {
                launch_id: "l".into(),
                user_id: "u".into(),
                ..NotificationSubject::default()
            }),
            // The keys a booking confirmation requires since payloads are typed.
            data: HashMap::from([
                ("seats".to_owned(), "2".to_owned()),
                ("total_amount".to_owned(), "USD 5,000.00".to_owned()),
            ]),
            ..PublishEventRequest::default()
        };
        assert_eq!(
            field_of(event(request.clone()).expect_err("no booking id")),
            "subject.booking_id"
        );
        let complete = PublishEventRequest {
            subject: Some(NotificationSubject {
                booking_id: "b".into(),
                ..request.subject.clone().unwrap_or_default()
            }),
            ..request.clone()
        };
        assert_eq!(
            event(complete.clone()).expect("valid").event_type().name(),
            "BOOKING_CONFIRMED"
        );
        assert_eq!(
            field_of(
                event(PublishEventRequest {
                    occurred_at: None,
                    ..complete.clone()
                })
                .expect_err("no time")
            ),
            "occurred_at"
        );
        assert_eq!(
            field_of(
                event(PublishEventRequest {
                    data: HashMap::from([("seats".to_owned(), "2".to_owned())]),
                    ..complete
                })
                .expect_err("no total")
            ),
            "data.total_amount"
        );
    }

    #[test]
    fn what_system_api_enqueues_is_accepted() {
        let registered = outgoing(EnqueueNotificationRequest {
            data: HashMap::from([
                ("role".to_owned(), "AGENCY".to_owned()),
                ("confirmation_token".to_owned(), "t0k3n".to_owned()),
            ]),
            recipient_role: common::Role::Agency.into(),
            ..request()
        })
        .expect("accepted");
        assert_eq!(registered.role, Some(Role::Agency));
        let EventData::UserRegistered(data) = registered.data else {
            panic!("a registration");
        };
        assert_eq!(data.confirmation_token, "t0k3n");
    }

    #[test]
    fn unknown_filter_values_are_refused_and_unspecified_ones_ignored() {
        assert_eq!(
            statuses(&[0, 3])
                .expect("valid")
                .into_iter()
                .map(Status::name)
                .collect::<Vec<_>>(),
            vec!["FAILED"]
        );
        assert!(statuses(&[99]).is_err());
        assert_eq!(
            event_types(&[7], "event_types")
                .expect("valid")
                .into_iter()
                .map(EventType::name)
                .collect::<Vec<_>>(),
            vec!["BOOKING_CONFIRMED"]
        );
        assert!(event_types(&[-1], "event_types").is_err());
        assert_eq!(Status::from_name("SENT"), Some(Status::Sent));
    }

    #[test]
    fn every_event_type_and_role_converts_both_ways() {
        for event_type in EventType::ALL {
            assert_eq!(
                EventType::try_from(NotificationEventType::from(event_type)),
                Ok(event_type)
            );
            // The domain's names are the contract's without their prefix.
            assert_eq!(
                NotificationEventType::from(event_type)
                    .as_str_name()
                    .strip_prefix("NOTIFICATION_EVENT_TYPE_"),
                Some(event_type.name())
            );
        }
        for role in [
            Role::Traveler,
            Role::Agency,
            Role::Finance,
            Role::It,
            Role::Admin,
        ] {
            assert_eq!(Role::try_from(common::Role::from(role)), Ok(role));
            assert_eq!(
                common::Role::from(role).as_str_name().strip_prefix("ROLE_"),
                Some(role.name())
            );
        }
    }

    #[test]
    fn a_page_token_replayed_with_other_filters_is_refused() {
        let first = queue_query(&ListNotificationsRequest {
            statuses: vec![NotificationStatus::Pending.into()],
            ..ListNotificationsRequest::default()
        })
        .expect("valid");
        let token = first.key().token(&50_u64);
        let other = queue_query(&ListNotificationsRequest {
            statuses: vec![NotificationStatus::Failed.into()],
            ..ListNotificationsRequest::default()
        })
        .expect("valid");
        assert_eq!(first.key().offset(&token).expect("same query"), 50);
        assert_eq!(
            field_of(other.key().offset(&token).expect_err("other filters")),
            "page_token"
        );
        // Newest first unless asked otherwise.
        assert_eq!(
            first.order,
            QueueOrder {
                field: SortField::CreatedAt,
                descending: true
            }
        );
        assert!(
            queue_query(&ListNotificationsRequest {
                order: 9,
                ..ListNotificationsRequest::default()
            })
            .is_err()
        );
    }
}
