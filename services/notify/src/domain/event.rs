//! What a notification is about: the event types of DOMAIN.md's notification table, the
//! business objects an event relates to, the queues (priorities), and the people involved.
//! Names (`BOOKING_CONFIRMED`, `HIGH`, `TRAVELER`) are the contract's enum names without their
//! prefix: the words stored in SystemDB and written in activity logs.

use astro_shared::AppError;
use chrono::{DateTime, Utc};

/// The business event a notification is about (the contract's `NotificationEventType`
/// without UNSPECIFIED, which is never valid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    UserRegistered,
    LaunchScheduled,
    LaunchDelayed,
    LaunchAborted,
    LaunchSuccessful,
    LaunchFailed,
    BookingConfirmed,
    BookingCancelled,
    InvoiceIssued,
    InvoiceOverdue,
    SyncJobFailed,
}

impl EventType {
    pub const ALL: [Self; 11] = [
        Self::UserRegistered,
        Self::LaunchScheduled,
        Self::LaunchDelayed,
        Self::LaunchAborted,
        Self::LaunchSuccessful,
        Self::LaunchFailed,
        Self::BookingConfirmed,
        Self::BookingCancelled,
        Self::InvoiceIssued,
        Self::InvoiceOverdue,
        Self::SyncJobFailed,
    ];

    /// `BOOKING_CONFIRMED`, ...
    pub fn name(self) -> &'static str {
        match self {
            Self::UserRegistered => "USER_REGISTERED",
            Self::LaunchScheduled => "LAUNCH_SCHEDULED",
            Self::LaunchDelayed => "LAUNCH_DELAYED",
            Self::LaunchAborted => "LAUNCH_ABORTED",
            Self::LaunchSuccessful => "LAUNCH_SUCCESSFUL",
            Self::LaunchFailed => "LAUNCH_FAILED",
            Self::BookingConfirmed => "BOOKING_CONFIRMED",
            Self::BookingCancelled => "BOOKING_CANCELLED",
            Self::InvoiceIssued => "INVOICE_ISSUED",
            Self::InvoiceOverdue => "INVOICE_OVERDUE",
            Self::SyncJobFailed => "SYNC_JOB_FAILED",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|event_type| event_type.name() == name)
    }

    /// The subject ids this event type needs to find its recipients.
    pub fn required_subject(self) -> &'static [SubjectField] {
        use SubjectField as F;
        match self {
            Self::UserRegistered => &[F::UserId],
            Self::LaunchScheduled
            | Self::LaunchDelayed
            | Self::LaunchAborted
            | Self::LaunchSuccessful
            | Self::LaunchFailed => &[F::LaunchId],
            Self::BookingConfirmed | Self::BookingCancelled => {
                &[F::BookingId, F::LaunchId, F::UserId]
            }
            Self::InvoiceIssued | Self::InvoiceOverdue => &[F::InvoiceId, F::AgencyId],
            Self::SyncJobFailed => &[F::SyncJobId],
        }
    }

    /// VIP early notices of a new launch have their own queue; everything else is normal.
    pub fn default_priority(self) -> Priority {
        if self == Self::LaunchScheduled {
            Priority::High
        } else {
            Priority::Normal
        }
    }

    /// The role an event's recipient has when the sender does not say (EnqueueNotification);
    /// `None` for USER_REGISTERED, whose recipient may be anyone.
    pub fn default_role(self) -> Option<Role> {
        match self {
            Self::LaunchScheduled | Self::BookingConfirmed | Self::BookingCancelled => {
                Some(Role::Traveler)
            }
            Self::LaunchDelayed
            | Self::LaunchAborted
            | Self::LaunchSuccessful
            | Self::LaunchFailed
            | Self::InvoiceIssued
            | Self::InvoiceOverdue => Some(Role::Agency),
            Self::SyncJobFailed => Some(Role::It),
            Self::UserRegistered => None,
        }
    }
}

/// The queue a notification is sent from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    /// The normal queue.
    Normal,
    /// Drained by its own workers (VIP early notices), so bulk e-mail never delays it.
    High,
}

impl Priority {
    pub fn name(self) -> &'static str {
        match self {
            Self::Normal => "NORMAL",
            Self::High => "HIGH",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Normal, Self::High]
            .into_iter()
            .find(|priority| priority.name() == name)
    }
}

/// What a recipient is to the platform, which selects an e-mail's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Traveler,
    Agency,
    Finance,
    It,
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Self::Traveler => "TRAVELER",
            Self::Agency => "AGENCY",
            Self::Finance => "FINANCE",
            Self::It => "IT",
            Self::Admin => "ADMIN",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Traveler,
            Self::Agency,
            Self::Finance,
            Self::It,
            Self::Admin,
        ]
        .into_iter()
        .find(|role| role.name() == name)
    }
}

/// The business objects an event or notification is about; which ids are set depends on the
/// event type (empty: not set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    pub user_id: String,
    pub agency_id: String,
    pub launch_id: String,
    pub booking_id: String,
    pub invoice_id: String,
    pub sync_job_id: String,
}

/// One id of a [`Subject`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectField {
    UserId,
    AgencyId,
    LaunchId,
    BookingId,
    InvoiceId,
    SyncJobId,
}

impl SubjectField {
    /// The field's name in the contract (`subject.<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Self::UserId => "user_id",
            Self::AgencyId => "agency_id",
            Self::LaunchId => "launch_id",
            Self::BookingId => "booking_id",
            Self::InvoiceId => "invoice_id",
            Self::SyncJobId => "sync_job_id",
        }
    }
}

impl Subject {
    pub fn get(&self, field: SubjectField) -> &str {
        match field {
            SubjectField::UserId => &self.user_id,
            SubjectField::AgencyId => &self.agency_id,
            SubjectField::LaunchId => &self.launch_id,
            SubjectField::BookingId => &self.booking_id,
            SubjectField::InvoiceId => &self.invoice_id,
            SubjectField::SyncJobId => &self.sync_job_id,
        }
    }

    /// INVALID_ARGUMENT naming the first id `event_type` needs that is not set: without it
    /// the recipients cannot be found.
    pub fn require_for(&self, event_type: EventType) -> Result<(), AppError> {
        match event_type
            .required_subject()
            .iter()
            .find(|field| self.get(**field).is_empty())
        {
            Some(field) => Err(AppError::invalid(
                format!("subject.{}", field.name()),
                format!("is required for {}", event_type.name()),
            )),
            None => Ok(()),
        }
    }
}

/// A recipient's address (`user_id` empty for someone without an account).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub user_id: String,
    pub name: String,
    pub email: String,
}

/// Who caused an event or a change, and in which trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub service: String,
    pub user_id: String,
    pub trace_id: String,
    pub time: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_none() {
        for event_type in EventType::ALL {
            assert_eq!(EventType::from_name(event_type.name()), Some(event_type));
        }
        assert_eq!(EventType::from_name("UNSPECIFIED"), None);
        assert_eq!(Priority::from_name("HIGH"), Some(Priority::High));
        assert_eq!(Role::from_name("IT"), Some(Role::It));
        assert_eq!(Role::from_name("UNSPECIFIED"), None);
    }

    #[test]
    fn an_event_type_names_the_first_missing_subject_id() {
        let subject = Subject {
            launch_id: "l".into(),
            user_id: "u".into(),
            ..Subject::default()
        };
        let Err(AppError::InvalidArgument { field, message }) =
            subject.require_for(EventType::BookingConfirmed)
        else {
            panic!("a booking event needs its booking id");
        };
        assert_eq!(field, "subject.booking_id");
        assert_eq!(message, "is required for BOOKING_CONFIRMED");
        assert!(subject.require_for(EventType::LaunchDelayed).is_ok());
    }
}
