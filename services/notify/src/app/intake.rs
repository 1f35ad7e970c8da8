//! Intake of NotifyInternalService: EnqueueNotification (one named recipient) and PublishEvent
//! (NotifyAPI finds the recipients). Both are idempotent: on (event, recipient) for the first,
//! on the event id for the second. The callers are services, authorized by the auth layer from
//! the contract before these run; what they send arrives parsed (typed payload included).

use astro_shared::AppError;

use super::{Events, Queue};
use crate::domain::{Event, Notification, Outgoing};

#[derive(Clone)]
pub struct Intake {
    pub queue: Queue,
    pub events: Events,
}

impl Intake {
    /// Queues one e-mail to the recipient the caller names; returns the notification (the
    /// existing one on a repeat) and whether this call queued it.
    pub async fn enqueue_notification(
        &self,
        outgoing: Outgoing,
    ) -> Result<(Notification, bool), AppError> {
        self.queue.enqueue(outgoing).await
    }

    /// Stores and resolves a published event; true if it had been published before.
    pub async fn publish_event(&self, event: Event) -> Result<bool, AppError> {
        Ok(!self.events.publish(event).await?)
    }
}
