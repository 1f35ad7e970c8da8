//! Intake of NotifyInternalService: validation of EnqueueNotification (one named recipient)
//! and PublishEvent (NotifyAPI finds the recipients). Both are idempotent: on (event,
//! recipient) for the first, on the event id for the second.

use std::collections::BTreeMap;

use astro_proto::astrobookings::{
    common::v1::{Origin, Role},
    notify::v1::{
        EnqueueNotificationRequest, EnqueueNotificationResponse, NotificationEventType,
        NotificationPriority, NotificationSubject, PublishEventRequest, PublishEventResponse,
    },
};
use astro_shared::{
    AppError,
    convert::bson_from_timestamp,
    validate::{bounded_text, looks_like_email},
};

use crate::{
    State, events,
    queue::{self, Outgoing},
    store::{
        PublishedEvent,
        notifications::{ContactDocument, OriginDocument, SubjectDocument, event_type_name},
    },
};

const MAX_ID_CHARS: usize = 100;
const MAX_NAME_CHARS: usize = 200;
const MAX_DATA_ENTRIES: usize = 32;
const MAX_DATA_VALUE_CHARS: usize = 2_000;
const MAX_TRACE_CONTEXT_CHARS: usize = 512;

pub async fn enqueue_notification(
    state: &State,
    request: EnqueueNotificationRequest,
) -> Result<EnqueueNotificationResponse, AppError> {
    let outgoing = parse_enqueue(request)?;
    let (notification, created) = queue::enqueue(state, outgoing).await?;
    Ok(EnqueueNotificationResponse {
        notification: Some(notification.to_proto()),
        created,
    })
}

pub async fn publish_event(
    state: &State,
    request: PublishEventRequest,
) -> Result<PublishEventResponse, AppError> {
    let event = parse_publish(request)?;
    let duplicate = !events::publish(state, event).await?;
    Ok(PublishEventResponse { duplicate })
}

fn parse_enqueue(request: EnqueueNotificationRequest) -> Result<Outgoing, AppError> {
    let event_id = parse_event_id(&request.event_id)?;
    let event_type = required_event_type(request.event_type)?;
    let priority = parse_priority(request.priority)?;
    let role = match Role::try_from(request.recipient_role) {
        Ok(role) => role,
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
        event_type,
        recipient: ContactDocument {
            user_id: bounded_text("recipient.user_id", &recipient.user_id, MAX_ID_CHARS)?,
            name: bounded_text("recipient.name", &recipient.name, MAX_NAME_CHARS)?,
            email,
        },
        role,
        subject: parse_subject(request.subject.unwrap_or_default())?,
        data: parse_data(request.data)?,
        priority,
        trace_context: parse_trace_context(&request.trace_context)?,
        origin: parse_origin(request.origin.unwrap_or_default())?,
    })
}

fn parse_publish(request: PublishEventRequest) -> Result<PublishedEvent, AppError> {
    let event_id = parse_event_id(&request.event_id)?;
    let event_type = required_event_type(request.event_type)?;
    let priority = parse_priority(request.priority)?;
    let subject = parse_subject(
        request
            .subject
            .ok_or_else(|| AppError::invalid("subject", "is required"))?,
    )?;
    for field in events::required_subject(event_type) {
        let value = match *field {
            "user_id" => &subject.user_id,
            "launch_id" => &subject.launch_id,
            "booking_id" => &subject.booking_id,
            "invoice_id" => &subject.invoice_id,
            "sync_job_id" => &subject.sync_job_id,
            _ => &subject.agency_id,
        };
        if value.is_empty() {
            return Err(AppError::invalid(
                format!("subject.{field}"),
                format!("is required for {}", event_type_name(event_type)),
            ));
        }
    }
    let occurred_at = match request.occurred_at {
        Some(time) => bson_from_timestamp("occurred_at", &time)?,
        None => return Err(AppError::invalid("occurred_at", "is required")),
    };
    Ok(PublishedEvent {
        event_id,
        event_type: event_type_name(event_type).to_owned(),
        occurred_at,
        subject,
        data: parse_data(request.data)?,
        priority: match priority {
            NotificationPriority::Unspecified => String::new(),
            priority => crate::store::notifications::priority_name(priority).to_owned(),
        },
        trace_context: parse_trace_context(&request.trace_context)?,
        origin: parse_origin(request.origin.unwrap_or_default())?,
    })
}

fn parse_event_id(event_id: &str) -> Result<String, AppError> {
    Ok(uuid::Uuid::parse_str(event_id.trim())
        .map_err(|_| AppError::invalid("event_id", "must be a UUID"))?
        .to_string())
}

fn required_event_type(event_type: i32) -> Result<NotificationEventType, AppError> {
    match NotificationEventType::try_from(event_type) {
        Ok(NotificationEventType::Unspecified) | Err(_) => Err(AppError::invalid(
            "event_type",
            "must be a notification event type",
        )),
        Ok(event_type) => Ok(event_type),
    }
}

fn parse_priority(priority: i32) -> Result<NotificationPriority, AppError> {
    NotificationPriority::try_from(priority)
        .map_err(|_| AppError::invalid("priority", "is not a priority"))
}

fn parse_subject(subject: NotificationSubject) -> Result<SubjectDocument, AppError> {
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
    Ok(SubjectDocument::from_proto(&subject))
}

fn parse_data(
    data: impl IntoIterator<Item = (String, String)>,
) -> Result<BTreeMap<String, String>, AppError> {
    let mut parsed = BTreeMap::new();
    for (key, value) in data {
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
        parsed.insert(key, value);
        if parsed.len() > MAX_DATA_ENTRIES {
            return Err(AppError::invalid("data", "must hold at most 32 entries"));
        }
    }
    Ok(parsed)
}

fn parse_trace_context(trace_context: &str) -> Result<String, AppError> {
    bounded_text("trace_context", trace_context, MAX_TRACE_CONTEXT_CHARS)
}

fn parse_origin(origin: Origin) -> Result<OriginDocument, AppError> {
    Ok(OriginDocument {
        service: bounded_text("origin.service", &origin.service, MAX_ID_CHARS)?,
        user_id: bounded_text("origin.user_id", &origin.user_id, MAX_ID_CHARS)?,
        trace_id: bounded_text("origin.trace_id", &origin.trace_id, MAX_ID_CHARS)?,
        time: origin
            .time
            .map(|time| bson_from_timestamp("origin.time", &time))
            .transpose()?,
    })
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
            (
                EnqueueNotificationRequest {
                    recipient_role: 42,
                    ..request()
                },
                "recipient_role",
            ),
        ];
        for (request, field) in cases {
            assert_eq!(field_of(parse_enqueue(request).expect_err(field)), field);
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
            ..PublishEventRequest::default()
        };
        assert_eq!(
            field_of(parse_publish(request.clone()).expect_err("no booking id")),
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
            parse_publish(complete.clone()).expect("valid").event_type,
            "BOOKING_CONFIRMED"
        );
        assert_eq!(
            field_of(
                parse_publish(PublishEventRequest {
                    occurred_at: None,
                    ..complete
                })
                .expect_err("no time")
            ),
            "occurred_at"
        );
    }
}
