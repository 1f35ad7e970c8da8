//! Intake: `NotifyInternalService.EnqueueNotification`. Validates the request, queues one
//! PENDING notification per (event, recipient) — a redelivery gets the existing one back —
//! and records `notification.enqueued`. Sending is a later issue.

use std::collections::BTreeMap;

use astro_proto::astrobookings::notify::v1::{
    EnqueueNotificationRequest, EnqueueNotificationResponse, NotificationEventType,
    NotificationPriority,
};
use astro_shared::{AppError, activity::ActivityLog};
use mongodb::bson::DateTime;

use crate::store::{
    NotificationStore,
    notifications::{
        ContactDocument, MAX_ATTEMPTS, NotificationDocument, OriginDocument, SubjectDocument,
        short_name,
    },
};

const MAX_ID_CHARS: usize = 100;
const MAX_NAME_CHARS: usize = 200;
const MAX_EMAIL_CHARS: usize = 254;
const MAX_DATA_ENTRIES: usize = 32;
const MAX_DATA_VALUE_CHARS: usize = 2_000;
const MAX_TRACE_CONTEXT_CHARS: usize = 512;

pub async fn enqueue_notification(
    store: &NotificationStore,
    activity: &ActivityLog,
    request: EnqueueNotificationRequest,
) -> Result<EnqueueNotificationResponse, AppError> {
    let notification = parse(request)?;
    let (notification, created) = store.insert_once(notification).await?;
    if created {
        let user_id = Some(notification.recipient.user_id.as_str()).filter(|id| !id.is_empty());
        activity.info(
            "notification.enqueued",
            user_id,
            format!("{} notification queued", notification.event_type),
            &[
                ("notification_id", &notification.id),
                ("event_id", &notification.event_id),
                ("event_type", &notification.event_type),
                ("priority", &notification.priority),
            ],
        );
    }
    Ok(EnqueueNotificationResponse {
        notification: Some(notification.to_proto()),
        created,
    })
}

fn parse(request: EnqueueNotificationRequest) -> Result<NotificationDocument, AppError> {
    let event_id = uuid::Uuid::parse_str(request.event_id.trim())
        .map_err(|_| AppError::invalid("event_id", "must be a UUID"))?
        .to_string();
    let event_type = match NotificationEventType::try_from(request.event_type) {
        Ok(NotificationEventType::Unspecified) | Err(_) => {
            return Err(AppError::invalid(
                "event_type",
                "must be a notification event type",
            ));
        }
        Ok(event_type) => event_type,
    };
    let priority = match NotificationPriority::try_from(request.priority) {
        Ok(NotificationPriority::Unspecified) => default_priority(event_type),
        Ok(priority) => priority,
        Err(_) => return Err(AppError::invalid("priority", "is not a priority")),
    };
    let recipient = request
        .recipient
        .ok_or_else(|| AppError::invalid("recipient", "is required"))?;
    let email = recipient.email.trim().to_owned();
    if !is_email(&email) {
        return Err(AppError::invalid(
            "recipient.email",
            "must be an e-mail address",
        ));
    }
    let user_id = bounded("recipient.user_id", recipient.user_id.trim(), MAX_ID_CHARS)?;
    let name = bounded("recipient.name", recipient.name.trim(), MAX_NAME_CHARS)?;
    let recipient_key = if user_id.is_empty() {
        format!("email:{}", email.to_lowercase())
    } else {
        format!("user:{user_id}")
    };
    let subject = request.subject.unwrap_or_default();
    let subject = SubjectDocument {
        user_id: bounded("subject.user_id", &subject.user_id, MAX_ID_CHARS)?,
        agency_id: bounded("subject.agency_id", &subject.agency_id, MAX_ID_CHARS)?,
        launch_id: bounded("subject.launch_id", &subject.launch_id, MAX_ID_CHARS)?,
        booking_id: bounded("subject.booking_id", &subject.booking_id, MAX_ID_CHARS)?,
        invoice_id: bounded("subject.invoice_id", &subject.invoice_id, MAX_ID_CHARS)?,
        sync_job_id: bounded("subject.sync_job_id", &subject.sync_job_id, MAX_ID_CHARS)?,
    };
    if request.data.len() > MAX_DATA_ENTRIES {
        return Err(AppError::invalid("data", "must hold at most 32 entries"));
    }
    let mut data = BTreeMap::new();
    for (key, value) in request.data {
        if key.is_empty() || key.chars().count() > MAX_ID_CHARS {
            return Err(AppError::invalid(
                "data",
                "keys must be 1 to 100 characters",
            ));
        }
        if value.chars().count() > MAX_DATA_VALUE_CHARS {
            return Err(AppError::invalid(
                format!("data[{key}]"),
                "must be at most 2,000 characters",
            ));
        }
        data.insert(key, value);
    }
    let trace_context = bounded(
        "trace_context",
        request.trace_context.trim(),
        MAX_TRACE_CONTEXT_CHARS,
    )?;
    let origin = request.origin.unwrap_or_default();
    let origin = OriginDocument {
        service: bounded("origin.service", &origin.service, MAX_ID_CHARS)?,
        user_id: bounded("origin.user_id", &origin.user_id, MAX_ID_CHARS)?,
        trace_id: bounded("origin.trace_id", &origin.trace_id, MAX_ID_CHARS)?,
        time: origin
            .time
            .map(|time| {
                if (0..1_000_000_000).contains(&time.nanos) {
                    Ok(DateTime::from_millis(
                        time.seconds.saturating_mul(1000) + i64::from(time.nanos / 1_000_000),
                    ))
                } else {
                    Err(AppError::invalid("origin.time", "is not a valid timestamp"))
                }
            })
            .transpose()?,
    };
    // The causing request's trace: from its traceparent, else what the origin says.
    let trace_id = trace_id_of(&trace_context)
        .map(str::to_owned)
        .unwrap_or_else(|| origin.trace_id.clone());
    let now = DateTime::now();
    Ok(NotificationDocument {
        id: uuid::Uuid::now_v7().to_string(),
        event_id,
        event_type: short_name(event_type.as_str_name(), "NOTIFICATION_EVENT_TYPE_").to_owned(),
        recipient_key,
        recipient: ContactDocument {
            user_id,
            name,
            email,
        },
        subject,
        data,
        status: "PENDING".to_owned(),
        priority: short_name(priority.as_str_name(), "NOTIFICATION_PRIORITY_").to_owned(),
        email_subject: String::new(),
        attempts: 0,
        max_attempts: MAX_ATTEMPTS,
        next_attempt_at: Some(now),
        last_error: None,
        created_at: now,
        updated_at: now,
        sent_at: None,
        trace_context,
        trace_id,
        origin,
    })
}

/// VIP early notices of a new launch have their own queue; everything else is normal.
fn default_priority(event_type: NotificationEventType) -> NotificationPriority {
    if event_type == NotificationEventType::LaunchScheduled {
        NotificationPriority::High
    } else {
        NotificationPriority::Normal
    }
}

fn bounded(field: &str, value: &str, max: usize) -> Result<String, AppError> {
    if value.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// A plausible address: one `@` with something on each side, no spaces, at most 254 characters.
/// Deliverability is the mail server's call.
fn is_email(email: &str) -> bool {
    email.chars().count() <= MAX_EMAIL_CHARS
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
}

/// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), if well formed.
fn trace_id_of(traceparent: &str) -> Option<&str> {
    let trace_id = traceparent.split('-').nth(1)?;
    (trace_id.len() == 32
        && trace_id
            .bytes()
            .all(|digit| matches!(digit, b'0'..=b'9' | b'a'..=b'f'))
        && trace_id.bytes().any(|digit| digit != b'0'))
    .then_some(trace_id)
}

#[cfg(test)]
mod tests {
    use astro_proto::astrobookings::common::v1::Contact;

    use super::*;

    fn request() -> EnqueueNotificationRequest {
        EnqueueNotificationRequest {
            event_id: uuid::Uuid::now_v7().to_string(),
            event_type: NotificationEventType::UserRegistered.into(),
            recipient: Some(Contact {
                user_id: String::new(),
                name: "Ada".into(),
                email: "Ada@Example.com".into(),
                phone: String::new(),
            }),
            trace_context: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
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
    fn a_recipient_without_account_is_keyed_by_lower_cased_email() {
        let notification = parse(request()).expect("valid");
        assert_eq!(notification.recipient_key, "email:ada@example.com");
        assert_eq!(notification.status, "PENDING");
        assert_eq!(notification.priority, "NORMAL");
        assert_eq!(notification.event_type, "USER_REGISTERED");
        assert_eq!(notification.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn launch_scheduled_defaults_to_the_priority_queue() {
        let notification = parse(EnqueueNotificationRequest {
            event_type: NotificationEventType::LaunchScheduled.into(),
            ..request()
        })
        .expect("valid");
        assert_eq!(notification.priority, "HIGH");
    }

    #[test]
    fn bad_requests_name_the_field() {
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
                    recipient: Some(Contact::default()),
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
        ];
        for (request, field) in cases {
            assert_eq!(field_of(parse(request).expect_err(field)), field);
        }
    }
}
