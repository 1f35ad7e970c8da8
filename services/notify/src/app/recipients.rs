//! Who receives an event: each audience of its type ([`Audience::of`]) looked up in the
//! directory. A person or launch that no longer exists is skipped, not retried; any other
//! failure is an error, so the whole event is resolved again later (queuing is idempotent per
//! recipient).

use astro_shared::AppError;

use crate::{
    clients::Directory,
    domain::{
        Contact, EventType, Role, Subject,
        recipients::{Audience, Recipient},
    },
};

#[derive(Clone)]
pub struct Recipients {
    pub directory: Directory,
}

impl Recipients {
    /// The recipients of an event of `event_type` about `subject`, audience by audience.
    pub async fn resolve(
        &self,
        event_type: EventType,
        subject: &Subject,
    ) -> Result<Vec<Recipient>, AppError> {
        let mut recipients = Vec::new();
        for audience in Audience::of(event_type) {
            match *audience {
                Audience::SubjectUser { role } => recipients.extend(
                    self.directory
                        .account(&subject.user_id)
                        .await?
                        .and_then(|account| account.recipient(role)),
                ),
                Audience::Agency => recipients.extend(self.agency(subject).await?),
                Audience::LaunchTravelers => recipients.extend(as_role(
                    self.directory.launch_travelers(&subject.launch_id).await?,
                    Role::Traveler,
                )),
                Audience::VipTravelers => recipients.extend(as_role(
                    self.directory.vip_travelers().await?,
                    Role::Traveler,
                )),
                Audience::Everyone(role) => recipients.extend(as_role(
                    self.directory.contacts_with_role(role).await?,
                    role,
                )),
            }
        }
        Ok(recipients)
    }

    /// The agency of the subject (its own id, else the launch's agency).
    async fn agency(&self, subject: &Subject) -> Result<Option<Recipient>, AppError> {
        let agency_id = if subject.agency_id.is_empty() {
            match self.directory.launch(&subject.launch_id).await? {
                Some(launch) => launch.agency_id,
                None => return Ok(None),
            }
        } else {
            subject.agency_id.clone()
        };
        Ok(self
            .directory
            .agency_contact(&agency_id)
            .await?
            .map(|contact| Recipient {
                contact,
                role: Some(Role::Agency),
            }))
    }
}

/// Everyone of a listing, as `role`.
fn as_role(contacts: Vec<Contact>, role: Role) -> impl Iterator<Item = Recipient> {
    contacts.into_iter().map(move |contact| Recipient {
        contact,
        role: Some(role),
    })
}
