//! NotifyAPI, for the outbox relay: an outbox event as an `EnqueueNotification` call in the
//! trace of the request that caused it.

use astro_proto::astrobookings::{
    common::v1::{Contact, Origin, Role},
    notify::v1::{
        EnqueueNotificationRequest, NotificationEventType, NotificationSubject,
        PublishEventRequest, notify_internal_service_client::NotifyInternalServiceClient,
    },
};
use astro_shared::{
    AppError, auth::role_from_claim, changes::trace_id_of, convert::timestamp,
    grpc_client::TracedChannel,
};

use crate::domain::{SERVICE_NAME, outbox::OutboxEvent, sync_jobs::SyncJob};

#[derive(Clone)]
pub struct NotifyClient {
    client: NotifyInternalServiceClient<TracedChannel>,
}

impl NotifyClient {
    pub fn new(channel: TracedChannel) -> Self {
        Self {
            client: NotifyInternalServiceClient::new(channel),
        }
    }

    /// Hands `event` to NotifyAPI, which deduplicates on its id (a resend is harmless).
    /// NotifyAPI's refusal comes back as the `AppError` it answered with.
    pub async fn enqueue(&self, event: &OutboxEvent) -> Result<(), AppError> {
        self.client
            .clone()
            .enqueue_notification(request(event))
            .await
            .map(drop)
            .map_err(AppError::from)
    }

    /// Publishes SYNC_JOB_FAILED for a failed job, so that every IT employee is told. The
    /// job id is the event id: NotifyAPI takes a repeat as the same event.
    pub async fn publish_sync_job_failed(&self, job: &SyncJob) -> Result<(), AppError> {
        self.client
            .clone()
            .publish_event(sync_job_failed(job))
            .await
            .map(drop)
            .map_err(AppError::from)
    }
}

fn sync_job_failed(job: &SyncJob) -> PublishEventRequest {
    let occurred_at = job.finished_at.unwrap_or(job.requested_at);
    PublishEventRequest {
        event_id: job.id.clone(),
        event_type: NotificationEventType::SyncJobFailed.into(),
        occurred_at: Some(timestamp(occurred_at)),
        subject: Some(NotificationSubject {
            sync_job_id: job.id.clone(),
            ..NotificationSubject::default()
        }),
        data: [
            ("data_set".to_owned(), job.data_set.name().to_owned()),
            ("failure_message".to_owned(), job.failure_message.clone()),
        ]
        .into_iter()
        .collect(),
        priority: 0,
        trace_context: job.traceparent.clone(),
        origin: Some(Origin {
            service: SERVICE_NAME.to_owned(),
            user_id: job.requested_by.clone(),
            trace_id: trace_id_of(&job.traceparent).unwrap_or_default().to_owned(),
            time: Some(timestamp(occurred_at)),
        }),
    }
}

fn request(event: &OutboxEvent) -> EnqueueNotificationRequest {
    let event_type = NotificationEventType::from_str_name(&event.event_type)
        .unwrap_or(NotificationEventType::Unspecified);
    EnqueueNotificationRequest {
        event_id: event.event_id.clone(),
        event_type: event_type.into(),
        recipient: Some(Contact {
            user_id: event.recipient_user_id.clone(),
            name: event.recipient_name.clone(),
            email: event.recipient_email.clone(),
            phone: String::new(),
        }),
        subject: Some(NotificationSubject {
            user_id: event.recipient_user_id.clone(),
            ..NotificationSubject::default()
        }),
        data: event.data.clone().into_iter().collect(),
        priority: 0,
        // The account's own role: the welcome e-mail speaks to a traveler or an agency.
        recipient_role: event
            .data
            .get("role")
            .and_then(|role| role_from_claim(role))
            .unwrap_or(Role::Unspecified)
            .into(),
        trace_context: event.traceparent.clone(),
        origin: Some(Origin {
            service: SERVICE_NAME.to_owned(),
            user_id: event.recipient_user_id.clone(),
            trace_id: trace_id_of(&event.traceparent)
                .unwrap_or_default()
                .to_owned(),
            time: Some(timestamp(event.created_at)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn trace_id_is_read_from_traceparent() {
        assert_eq!(
            trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(trace_id_of(""), None);
    }

    #[test]
    fn an_event_is_sent_to_its_recipient_in_its_trace() {
        let event = OutboxEvent {
            event_id: "event-1".into(),
            event_type: crate::domain::outbox::USER_REGISTERED.into(),
            recipient_user_id: "user-1".into(),
            recipient_name: "Ada".into(),
            recipient_email: "ada@example.com".into(),
            data: BTreeMap::from([("role".to_owned(), "AGENCY".to_owned())]),
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            created_at: chrono::DateTime::from_timestamp_millis(1_700_000_000_123).expect("a time"),
            attempts: 1,
        };
        let request = request(&event);
        assert_eq!(
            request.event_type,
            i32::from(NotificationEventType::UserRegistered)
        );
        assert_eq!(request.recipient_role, i32::from(Role::Agency));
        let origin = request.origin.expect("an origin");
        assert_eq!(origin.service, "system-api");
        assert_eq!(origin.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            origin.time.map(|time| (time.seconds, time.nanos)),
            Some((1_700_000_000, 123_000_000))
        );
    }
}
