//! Who receives an event, as DOMAIN.md's notification table says: the audiences of each event
//! type, and which accounts make a recipient. The lookups themselves are the directory's
//! (the services that own the people).

use super::event::{Contact, EventType, Role};

/// One recipient and what they are to the event (which selects the wording); `role` is
/// `None` when the account's role is not one NotifyAPI knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub contact: Contact,
    pub role: Option<Role>,
}

/// A group of people an event is told to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The subject's user, as `role` when set (else as the account's own role).
    SubjectUser { role: Option<Role> },
    /// The subject's agency (its own id, else the launch's agency).
    Agency,
    /// Every traveler booked on the subject's launch.
    LaunchTravelers,
    /// Every VIP traveler (two bookings on two launches).
    VipTravelers,
    /// Every active account with this role.
    Everyone(Role),
}

impl Audience {
    /// The audiences of `event_type`, in the order their e-mails are queued.
    pub fn of(event_type: EventType) -> &'static [Self] {
        use EventType as E;
        match event_type {
            E::UserRegistered => &[Self::SubjectUser { role: None }],
            E::LaunchScheduled => &[Self::VipTravelers],
            E::LaunchDelayed | E::LaunchAborted | E::LaunchSuccessful | E::LaunchFailed => {
                &[Self::Agency, Self::LaunchTravelers]
            }
            E::BookingConfirmed | E::BookingCancelled => &[
                Self::SubjectUser {
                    role: Some(Role::Traveler),
                },
                Self::Agency,
            ],
            E::InvoiceIssued | E::InvoiceOverdue => &[Self::Agency],
            E::SyncJobFailed => &[Self::Everyone(Role::It)],
        }
    }
}

/// An account as the directory knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub contact: Contact,
    pub role: Option<Role>,
    pub disabled: bool,
}

impl Account {
    /// The account as a recipient, `role` overriding its own; a disabled account is told
    /// nothing.
    pub fn recipient(self, role: Option<Role>) -> Option<Recipient> {
        (!self.disabled).then(|| Recipient {
            role: role.or(self.role),
            contact: self.contact,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booking_events_reach_the_traveler_then_the_agency() {
        assert_eq!(
            Audience::of(EventType::BookingCancelled),
            &[
                Audience::SubjectUser {
                    role: Some(Role::Traveler)
                },
                Audience::Agency
            ]
        );
        assert_eq!(
            Audience::of(EventType::SyncJobFailed),
            &[Audience::Everyone(Role::It)]
        );
        assert_eq!(
            Audience::of(EventType::LaunchScheduled),
            &[Audience::VipTravelers]
        );
    }

    #[test]
    fn disabled_accounts_are_skipped_and_a_given_role_wins() {
        let account = Account {
            contact: Contact::default(),
            role: Some(Role::Agency),
            disabled: false,
        };
        assert_eq!(
            account
                .clone()
                .recipient(Some(Role::Traveler))
                .map(|r| r.role),
            Some(Some(Role::Traveler))
        );
        assert_eq!(
            account.clone().recipient(None).map(|r| r.role),
            Some(Some(Role::Agency))
        );
        let disabled = Account {
            disabled: true,
            ..account
        };
        assert_eq!(disabled.recipient(None), None);
    }
}
