//! Queuing one notification: render its e-mail, store it once per (event, recipient), wake
//! the workers of its queue. Both intake paths end here: EnqueueNotification (the caller names
//! the recipient) and published events (NotifyAPI resolves the recipients).

use std::sync::Arc;

use astro_shared::{AppError, activity::ActivityLog};
use tokio::sync::Notify;

use crate::{
    domain::{Notification, Outgoing, Priority, templates::Links},
    store::NotificationStore,
};

#[derive(Clone)]
pub struct Queue {
    pub notifications: NotificationStore,
    pub links: Links,
    pub wake: Arc<Wake>,
    pub activity: ActivityLog,
}

impl Queue {
    /// Queues `outgoing` unless its (event, recipient) is queued already; returns the stored
    /// notification and whether this call created it.
    pub async fn enqueue(&self, outgoing: Outgoing) -> Result<(Notification, bool), AppError> {
        let notification = Notification::queued(outgoing, &self.links);
        let (notification, created) = self.notifications.insert_once(notification).await?;
        if created {
            self.wake.notify(notification.priority);
            let event_type = notification.event_type().name();
            self.activity.info(
                "notification.enqueued",
                notification.user_id(),
                format!("{event_type} notification queued"),
                &[
                    ("notification_id", &notification.id),
                    ("event_id", &notification.event_id),
                    ("event_type", event_type),
                    ("priority", notification.priority.name()),
                ],
            );
        }
        Ok((notification, created))
    }
}

/// Wakes a queue's loop when something is queued in this process, so a new notification
/// does not wait for the next poll.
#[derive(Default)]
pub struct Wake {
    high: Notify,
    normal: Notify,
}

impl Wake {
    pub fn notify(&self, queue: Priority) {
        self.of(queue).notify_one();
    }

    pub fn of(&self, queue: Priority) -> &Notify {
        match queue {
            Priority::High => &self.high,
            Priority::Normal => &self.normal,
        }
    }
}
