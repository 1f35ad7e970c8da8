//! A notification: one e-mail to one recipient about one event, and its life in the queue
//! (PENDING until sent, FAILED when retries run out, CANCELLED by IT), IT's manual actions,
//! and the filters and orders of the IT listing.

use astro_shared::{AppError, changes::trace_id_of};
use chrono::{DateTime, SubsecRound as _, Utc};

use super::{
    event::{Contact, EventType, Origin, Priority, Role, Subject},
    payload::EventData,
    templates::{self, Email, Links},
};

/// Attempts allowed before FAILED.
pub const MAX_ATTEMPTS: i32 = 5;

/// Where a notification is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Queued; (re)tried at its next attempt time.
    Pending,
    /// Delivered to the e-mail server, or marked sent by IT.
    Sent,
    /// Retries exhausted or a permanent failure; IT may retry or cancel it.
    Failed,
    /// Deleted by IT; never sent.
    Cancelled,
}

impl Status {
    pub const ALL: [Self; 4] = [Self::Pending, Self::Sent, Self::Failed, Self::Cancelled];

    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Sent => "SENT",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.name() == name)
    }
}

/// One e-mail to queue: what either intake path hands over.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub event_id: String,
    pub recipient: Contact,
    /// `None`: the event type's usual recipient.
    pub role: Option<Role>,
    pub subject: Subject,
    pub data: EventData,
    /// `None`: the event type's default queue.
    pub priority: Option<Priority>,
    pub trace_context: String,
    pub origin: Origin,
}

/// A notification as queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub event_id: String,
    /// `user:<id>`, or `email:<lower-cased e-mail>` for a recipient without an account: with
    /// `event_id`, the idempotency key.
    pub recipient_key: String,
    pub recipient: Contact,
    /// What the recipient is to the event; `None` when nobody said (USER_REGISTERED).
    pub recipient_role: Option<Role>,
    pub subject: Subject,
    /// The payload the e-mail was rendered from; its variant is the event type.
    pub data: EventData,
    pub status: Status,
    pub priority: Priority,
    /// The rendered e-mail, fixed when queued.
    pub email: Email,
    /// Attempts started; a claim counts as one, so a message that crashes its worker cannot
    /// be retried for ever.
    pub attempts: i32,
    pub max_attempts: i32,
    /// PENDING: when it may be claimed (while claimed: when the claim lapses).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The claim of the worker sending it now.
    pub lease_token: Option<String>,
    pub last_error: Option<String>,
    /// `last_error` without its variable parts, for counting failures by reason.
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    /// W3C `traceparent` of the causing request, so sending joins its trace.
    pub trace_context: String,
    pub trace_id: String,
    pub origin: Origin,
    /// Who changed it last by hand (IT); `None` while only the platform touched it.
    pub updated_by: Option<Origin>,
}

impl Notification {
    pub fn event_type(&self) -> EventType {
        self.data.event_type()
    }

    /// `outgoing` as a new PENDING notification due now, its e-mail rendered with `links`.
    pub fn queued(outgoing: Outgoing, links: &Links) -> Self {
        let event_type = outgoing.data.event_type();
        let role = outgoing.role.or_else(|| event_type.default_role());
        let priority = outgoing
            .priority
            .unwrap_or_else(|| event_type.default_priority());
        let email = templates::render(&outgoing.data, role, &outgoing.recipient.name, links);
        // The causing request's trace: from its traceparent, else what the origin says.
        let trace_id = trace_id_of(&outgoing.trace_context)
            .map(str::to_owned)
            .unwrap_or_else(|| outgoing.origin.trace_id.clone());
        // SystemDB keeps milliseconds: the answer to the first intake equals every later read.
        let now = Utc::now().trunc_subsecs(3);
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            event_id: outgoing.event_id,
            recipient_key: recipient_key(&outgoing.recipient),
            recipient: outgoing.recipient,
            recipient_role: role,
            subject: outgoing.subject,
            data: outgoing.data,
            status: Status::Pending,
            priority,
            email,
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

    /// The recipient's user id, if they have an account.
    pub fn user_id(&self) -> Option<&str> {
        Some(self.recipient.user_id.as_str()).filter(|id| !id.is_empty())
    }
}

/// One recipient gets one e-mail per event: by account when they have one, else by address.
pub fn recipient_key(recipient: &Contact) -> String {
    if recipient.user_id.is_empty() {
        format!("email:{}", recipient.email.to_lowercase())
    } else {
        format!("user:{}", recipient.user_id)
    }
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
    pub fn transition(self) -> (&'static [Status], Status) {
        match self {
            Self::MarkSent => (&[Status::Pending], Status::Sent),
            Self::Retry => (&[Status::Failed], Status::Pending),
            Self::Cancel => (&[Status::Pending, Status::Failed], Status::Cancelled),
        }
    }

    /// The answer when the notification, now in `status`, was not changed: asking again for
    /// what is already so succeeds; anything else is refused, naming the status.
    pub fn unchanged(self, status: Status) -> Result<(), AppError> {
        let already = matches!(
            (self, status),
            (Self::MarkSent, Status::Sent) | (Self::Cancel, Status::Cancelled)
        );
        if already {
            return Ok(());
        }
        let allowed = match self {
            Self::MarkSent => "PENDING",
            Self::Retry => "FAILED",
            Self::Cancel => "PENDING or FAILED",
        };
        Err(AppError::refused(
            "NOTIFICATION_STATUS",
            format!(
                "the notification is {}; only a {allowed} one can be changed so",
                status.name()
            ),
        )
        .with_metadata("status", status.name()))
    }
}

/// A manual action as IT asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualChange {
    pub action: ManualAction,
    pub id: String,
    /// Why, for the activity log; may be empty.
    pub reason: String,
}

/// Filters of the IT queue listing; empty vectors and `None` mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFilter {
    pub statuses: Vec<Status>,
    pub event_types: Vec<EventType>,
    pub recipient: Option<RecipientMatch>,
    /// At or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Before.
    pub created_before: Option<DateTime<Utc>>,
    pub priority: Option<Priority>,
    pub event_id: Option<String>,
}

/// Which recipient the listing is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientMatch {
    /// An exact user id.
    UserId(String),
    /// A case-insensitive substring of the e-mail address.
    EmailContains(String),
}

/// Longest recipient filter: an e-mail address at most.
const MAX_RECIPIENT_CHARS: usize = 254;

impl RecipientMatch {
    /// The listing's `recipient` text: a user id (a UUID) exactly, anything else as e-mail
    /// text; empty means any recipient.
    pub fn parse(text: &str) -> Result<Option<Self>, AppError> {
        let text = text.trim();
        if text.chars().count() > MAX_RECIPIENT_CHARS {
            return Err(AppError::invalid(
                "recipient",
                "must be at most 254 characters",
            ));
        }
        Ok(if uuid::Uuid::parse_str(text).is_ok() {
            Some(Self::UserId(text.to_owned()))
        } else if text.is_empty() {
            None
        } else {
            Some(Self::EmailContains(text.to_owned()))
        })
    }
}

/// What the IT listing is sorted by; ties are broken by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    CreatedAt,
    UpdatedAt,
    NextAttemptAt,
    Attempts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueOrder {
    pub field: SortField,
    pub descending: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::payload::{SyncJobFailed, UserRegistered};

    fn outgoing() -> Outgoing {
        Outgoing {
            event_id: uuid::Uuid::now_v7().to_string(),
            recipient: Contact {
                user_id: String::new(),
                name: "Ada".into(),
                email: "Ada@Example.com".into(),
            },
            role: None,
            subject: Subject::default(),
            data: EventData::UserRegistered(UserRegistered::default()),
            priority: None,
            trace_context: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            origin: Origin::default(),
        }
    }

    fn links() -> Links {
        Links::new("https://astrobookings.example")
    }

    #[test]
    fn a_recipient_without_account_is_keyed_by_lower_cased_email() {
        let notification = Notification::queued(outgoing(), &links());
        assert_eq!(notification.recipient_key, "email:ada@example.com");
        assert_eq!(notification.status.name(), "PENDING");
        assert_eq!(notification.priority.name(), "NORMAL");
        assert_eq!(notification.event_type().name(), "USER_REGISTERED");
        assert_eq!(notification.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(notification.max_attempts, 5);
        assert!(!notification.email.subject.is_empty());
    }

    #[test]
    fn launch_scheduled_defaults_to_the_priority_queue_and_travelers() {
        let notification = Notification::queued(
            Outgoing {
                data: EventData::empty(EventType::LaunchScheduled),
                ..outgoing()
            },
            &links(),
        );
        assert_eq!(notification.priority.name(), "HIGH");
        assert_eq!(
            notification.recipient_role.map(Role::name),
            Some("TRAVELER")
        );
    }

    #[test]
    fn an_explicit_role_and_queue_win_over_the_defaults() {
        let notification = Notification::queued(
            Outgoing {
                data: EventData::SyncJobFailed(SyncJobFailed::default()),
                role: Some(Role::Admin),
                priority: Some(Priority::High),
                recipient: Contact {
                    user_id: "u1".into(),
                    ..Contact::default()
                },
                ..outgoing()
            },
            &links(),
        );
        assert_eq!(notification.recipient_role, Some(Role::Admin));
        assert_eq!(notification.priority, Priority::High);
        assert_eq!(notification.recipient_key, "user:u1");
    }

    #[test]
    fn asking_again_for_what_is_so_succeeds_and_anything_else_is_refused() {
        assert!(ManualAction::MarkSent.unchanged(Status::Sent).is_ok());
        assert!(ManualAction::Cancel.unchanged(Status::Cancelled).is_ok());
        let Err(AppError::Refused {
            reason, metadata, ..
        }) = ManualAction::Retry.unchanged(Status::Sent)
        else {
            panic!("a sent notification cannot be retried");
        };
        assert_eq!(reason, "NOTIFICATION_STATUS");
        assert_eq!(metadata.get("status").map(String::as_str), Some("SENT"));
    }

    #[test]
    fn a_recipient_filter_is_a_user_id_or_email_text() {
        let id = uuid::Uuid::now_v7().to_string();
        assert_eq!(
            RecipientMatch::parse(&format!(" {id} ")).expect("valid"),
            Some(RecipientMatch::UserId(id))
        );
        assert_eq!(
            RecipientMatch::parse("ADA@").expect("valid"),
            Some(RecipientMatch::EmailContains("ADA@".into()))
        );
        assert_eq!(RecipientMatch::parse("  ").expect("valid"), None);
        assert!(RecipientMatch::parse(&"a".repeat(255)).is_err());
    }
}
