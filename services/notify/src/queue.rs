//! Queuing one notification: render its e-mail, store it once per (event, recipient), wake
//! the workers of its queue. Both intake paths end here: EnqueueNotification (the caller names
//! the recipient) and published events (NotifyAPI resolves the recipients).

use std::collections::BTreeMap;

use astro_proto::astrobookings::{
    common::v1::Role,
    notify::v1::{NotificationEventType, NotificationPriority},
};
use astro_shared::{AppError, changes::trace_id_of};
use mongodb::bson::DateTime;

use crate::{
    State,
    store::notifications::{
        ContactDocument, MAX_ATTEMPTS, NotificationDocument, OriginDocument, SubjectDocument,
        event_type_name, priority_name, short_name,
    },
    templates,
};

/// One e-mail to queue.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub event_id: String,
    pub event_type: NotificationEventType,
    pub recipient: ContactDocument,
    pub role: Role,
    pub subject: SubjectDocument,
    pub data: BTreeMap<String, String>,
    /// `Unspecified`: the event type's default.
    pub priority: NotificationPriority,
    pub trace_context: String,
    pub origin: OriginDocument,
}

/// VIP early notices of a new launch have their own queue; everything else is normal.
pub fn default_priority(event_type: NotificationEventType) -> NotificationPriority {
    if event_type == NotificationEventType::LaunchScheduled {
        NotificationPriority::High
    } else {
        NotificationPriority::Normal
    }
}

/// Queues `outgoing` unless its (event, recipient) is queued already; returns the stored
/// notification and whether this call created it.
pub async fn enqueue(
    state: &State,
    outgoing: Outgoing,
) -> Result<(NotificationDocument, bool), AppError> {
    let notification = document(&state.links, outgoing);
    let (notification, created) = state.notifications.insert_once(notification).await?;
    if created {
        state.wake.notify(&notification.priority);
        let user_id = Some(notification.recipient.user_id.as_str()).filter(|id| !id.is_empty());
        state.activity.info(
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
    Ok((notification, created))
}

fn document(links: &templates::Links, outgoing: Outgoing) -> NotificationDocument {
    let recipient_key = if outgoing.recipient.user_id.is_empty() {
        format!("email:{}", outgoing.recipient.email.to_lowercase())
    } else {
        format!("user:{}", outgoing.recipient.user_id)
    };
    let role = match outgoing.role {
        Role::Unspecified => templates::default_role(outgoing.event_type),
        role => role,
    };
    let priority = match outgoing.priority {
        NotificationPriority::Unspecified => default_priority(outgoing.event_type),
        priority => priority,
    };
    let email = templates::render(
        outgoing.event_type,
        role,
        &outgoing.recipient.name,
        &outgoing.data,
        links,
    );
    // The causing request's trace: from its traceparent, else what the origin says.
    let trace_id = trace_id_of(&outgoing.trace_context)
        .map(str::to_owned)
        .unwrap_or_else(|| outgoing.origin.trace_id.clone());
    let now = DateTime::now();
    NotificationDocument {
        id: uuid::Uuid::now_v7().to_string(),
        event_id: outgoing.event_id,
        event_type: event_type_name(outgoing.event_type).to_owned(),
        recipient_key,
        recipient: outgoing.recipient,
        recipient_role: short_name(role.as_str_name(), "ROLE_").to_owned(),
        subject: outgoing.subject,
        data: outgoing.data,
        status: "PENDING".to_owned(),
        priority: priority_name(priority).to_owned(),
        email_subject: email.subject,
        email_text: email.text,
        email_html: email.html,
        attempts: 0,
        max_attempts: MAX_ATTEMPTS,
        next_attempt_at: Some(now),
        lease_token: None,
        last_error: None,
        failure_reason: None,
        created_at: now,
        updated_at: now,
        sent_at: None,
        failed_at: None,
        trace_context: outgoing.trace_context,
        trace_id,
        origin: outgoing.origin,
        updated_by: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing() -> Outgoing {
        Outgoing {
            event_id: uuid::Uuid::now_v7().to_string(),
            event_type: NotificationEventType::UserRegistered,
            recipient: ContactDocument {
                user_id: String::new(),
                name: "Ada".into(),
                email: "Ada@Example.com".into(),
            },
            role: Role::Unspecified,
            subject: SubjectDocument::default(),
            data: BTreeMap::new(),
            priority: NotificationPriority::Unspecified,
            trace_context: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            origin: OriginDocument::default(),
        }
    }

    fn links() -> templates::Links {
        templates::Links::new("https://astrobookings.example")
    }

    #[test]
    fn a_recipient_without_account_is_keyed_by_lower_cased_email() {
        let notification = document(&links(), outgoing());
        assert_eq!(notification.recipient_key, "email:ada@example.com");
        assert_eq!(notification.status, "PENDING");
        assert_eq!(notification.priority, "NORMAL");
        assert_eq!(notification.event_type, "USER_REGISTERED");
        assert_eq!(notification.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(notification.max_attempts, 5);
        assert!(!notification.email_subject.is_empty());
    }

    #[test]
    fn launch_scheduled_defaults_to_the_priority_queue_and_travelers() {
        let notification = document(
            &links(),
            Outgoing {
                event_type: NotificationEventType::LaunchScheduled,
                ..outgoing()
            },
        );
        assert_eq!(notification.priority, "HIGH");
        assert_eq!(notification.recipient_role, "TRAVELER");
    }
}
