//! NotifyAPI's rules as plain types and functions: event types and their typed payloads, the
//! e-mail templates, priorities, the notification's life (statuses, IT's manual actions),
//! retry rules, who receives what, and the queue's figures. No tonic, no MongoDB, no SMTP
//! here, so every rule is unit-tested on its own.

pub mod delivery;
pub mod event;
pub mod figures;
pub mod money;
pub mod notification;
pub mod payload;
pub mod recipients;
pub mod templates;

/// This service's name in activity logs and origins (`common.v1.Origin.service`).
pub const SERVICE_NAME: &str = "notify-api";

pub use event::{Contact, EventType, Origin, Priority, Role, Subject};
pub use notification::{Notification, Outgoing, Status};
pub use payload::{Event, EventData};
