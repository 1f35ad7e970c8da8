//! Who receives an event, as DOMAIN.md's notification table says, looked up from the services
//! that own the people: SystemAPI (accounts, IT employees), AgencyAPI (agency contacts,
//! launches) and BookingAPI (travelers booked on a launch, VIP travelers).
//!
//! A person or launch that no longer exists is skipped, not retried; any other failure is an
//! error, so the whole event is resolved again later (queuing is idempotent per recipient).

use astro_proto::astrobookings::{
    agency::v1::{
        GetAgencyContactRequest, GetLaunchRequest, Launch,
        agency_internal_service_client::AgencyInternalServiceClient,
    },
    booking::v1::{
        ListLaunchTravelersRequest, ListVipTravelersRequest,
        booking_internal_service_client::BookingInternalServiceClient,
    },
    common::v1::{Contact, Role},
    notify::v1::NotificationEventType,
    system::v1::{
        GetUserRequest, ListUsersByRoleRequest,
        system_internal_service_client::SystemInternalServiceClient,
    },
};
use astro_shared::{AppError, grpc_client::TracedChannel};
use tonic::Code;

use crate::store::notifications::{ContactDocument, SubjectDocument};

/// One recipient and what they are to the event (which selects the wording).
#[derive(Debug, Clone)]
pub struct Recipient {
    pub contact: ContactDocument,
    pub role: Role,
}

/// Page size of the directory listings: their maximum.
const PAGE_SIZE: i32 = 1_000;

#[derive(Clone)]
pub struct Directory {
    pub system: SystemInternalServiceClient<TracedChannel>,
    pub agency: AgencyInternalServiceClient<TracedChannel>,
    pub booking: BookingInternalServiceClient<TracedChannel>,
}

impl Directory {
    pub async fn resolve(
        &self,
        event_type: NotificationEventType,
        subject: &SubjectDocument,
    ) -> Result<Vec<Recipient>, AppError> {
        use NotificationEventType as E;
        let mut recipients = Vec::new();
        match event_type {
            E::UserRegistered => recipients.extend(self.user(&subject.user_id, None).await?),
            E::LaunchScheduled => recipients.extend(self.vip_travelers().await?),
            E::LaunchDelayed | E::LaunchAborted | E::LaunchSuccessful | E::LaunchFailed => {
                recipients.extend(self.agency(subject).await?);
                recipients.extend(self.launch_travelers(&subject.launch_id).await?);
            }
            E::BookingConfirmed | E::BookingCancelled => {
                recipients.extend(self.user(&subject.user_id, Some(Role::Traveler)).await?);
                recipients.extend(self.agency(subject).await?);
            }
            E::InvoiceIssued | E::InvoiceOverdue => {
                recipients.extend(self.agency(subject).await?);
            }
            E::SyncJobFailed => recipients.extend(self.users_with_role(Role::It).await?),
            E::Unspecified => {}
        }
        Ok(recipients)
    }

    /// A launch, whatever its agency; `None` if it does not exist.
    pub async fn launch(&self, launch_id: &str) -> Result<Option<Launch>, AppError> {
        match self
            .agency
            .clone()
            .get_launch(GetLaunchRequest {
                launch_id: launch_id.to_owned(),
            })
            .await
        {
            Ok(response) => Ok(response.into_inner().launch),
            Err(status) if gone(&status) => Ok(None),
            Err(status) => Err(AppError::upstream("AgencyAPI", status)),
        }
    }

    /// An account's contact; `role` overrides the account's role as the recipient's role.
    async fn user(&self, user_id: &str, role: Option<Role>) -> Result<Option<Recipient>, AppError> {
        let user = match self
            .system
            .clone()
            .get_user(GetUserRequest {
                user_id: user_id.to_owned(),
            })
            .await
        {
            Ok(response) => response.into_inner().user,
            Err(status) if gone(&status) => None,
            Err(status) => return Err(AppError::upstream("SystemAPI", status)),
        };
        Ok(user.filter(|user| !user.disabled).map(|user| Recipient {
            role: role.unwrap_or_else(|| Role::try_from(user.role).unwrap_or(Role::Unspecified)),
            contact: ContactDocument {
                user_id: user.id,
                name: user.name,
                email: user.email,
            },
        }))
    }

    /// The agency of the subject (its own id, else the launch's agency).
    async fn agency(&self, subject: &SubjectDocument) -> Result<Option<Recipient>, AppError> {
        let agency_id = if subject.agency_id.is_empty() {
            match self.launch(&subject.launch_id).await? {
                Some(launch) => launch.agency_id,
                None => return Ok(None),
            }
        } else {
            subject.agency_id.clone()
        };
        match self
            .agency
            .clone()
            .get_agency_contact(GetAgencyContactRequest { agency_id })
            .await
        {
            Ok(response) => Ok(response
                .into_inner()
                .contact
                .map(|contact| recipient(contact, Role::Agency))),
            Err(status) if gone(&status) => Ok(None),
            Err(status) => Err(AppError::upstream("AgencyAPI", status)),
        }
    }

    async fn launch_travelers(&self, launch_id: &str) -> Result<Vec<Recipient>, AppError> {
        all_pages(|page_token| async move {
            match self
                .booking
                .clone()
                .list_launch_travelers(ListLaunchTravelersRequest {
                    launch_id: launch_id.to_owned(),
                    page_size: PAGE_SIZE,
                    page_token,
                })
                .await
            {
                Ok(response) => {
                    let page = response.into_inner();
                    let travelers = page
                        .travelers
                        .into_iter()
                        .filter_map(|traveler| traveler.contact)
                        .map(|contact| recipient(contact, Role::Traveler))
                        .collect();
                    Ok((travelers, page.next_page_token))
                }
                Err(status) if gone(&status) => Ok((Vec::new(), String::new())),
                Err(status) => Err(AppError::upstream("BookingAPI", status)),
            }
        })
        .await
    }

    async fn vip_travelers(&self) -> Result<Vec<Recipient>, AppError> {
        all_pages(|page_token| async move {
            let page = self
                .booking
                .clone()
                .list_vip_travelers(ListVipTravelersRequest {
                    page_size: PAGE_SIZE,
                    page_token,
                })
                .await
                .map_err(|status| AppError::upstream("BookingAPI", status))?
                .into_inner();
            let travelers = page
                .travelers
                .into_iter()
                .map(|contact| recipient(contact, Role::Traveler))
                .collect();
            Ok((travelers, page.next_page_token))
        })
        .await
    }

    async fn users_with_role(&self, role: Role) -> Result<Vec<Recipient>, AppError> {
        all_pages(|page_token| async move {
            let page = self
                .system
                .clone()
                .list_users_by_role(ListUsersByRoleRequest {
                    role: role.into(),
                    page_size: PAGE_SIZE,
                    page_token,
                })
                .await
                .map_err(|status| AppError::upstream("SystemAPI", status))?
                .into_inner();
            let users = page
                .contacts
                .into_iter()
                .map(|contact| recipient(contact, role))
                .collect();
            Ok((users, page.next_page_token))
        })
        .await
    }
}

/// Every page of a listing: `page(token)` answers one page and the next token (empty on the
/// last page).
async fn all_pages<F, Fut>(mut page: F) -> Result<Vec<Recipient>, AppError>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<Recipient>, String), AppError>>,
{
    let mut recipients = Vec::new();
    let mut page_token = String::new();
    loop {
        let (found, next_page_token) = page(page_token).await?;
        recipients.extend(found);
        if next_page_token.is_empty() {
            return Ok(recipients);
        }
        page_token = next_page_token;
    }
}

fn recipient(contact: Contact, role: Role) -> Recipient {
    Recipient {
        contact: ContactDocument {
            user_id: contact.user_id,
            name: contact.name,
            email: contact.email,
        },
        role,
    }
}

/// The person or launch is not there (or the id is not even well formed): nobody to tell.
fn gone(status: &tonic::Status) -> bool {
    matches!(status.code(), Code::NotFound | Code::InvalidArgument)
}
