//! The directory: the other services' internal APIs, as NotifyAPI reads people and launches
//! from them. SystemAPI knows accounts (and IT employees), AgencyAPI agency contacts and
//! launches, BookingAPI the travelers booked on a launch and the VIP travelers. Answers come
//! back as domain values; which of them receive an event is the recipients use case's.
//!
//! A person or launch that is not there answers `None` (or nobody), to be skipped rather than
//! retried; any other failure is an error, so the whole event is resolved again later.

use astro_proto::astrobookings::{
    agency::v1::{
        self as agency, GetAgencyContactRequest, GetLaunchRequest,
        agency_internal_service_client::AgencyInternalServiceClient,
    },
    booking::v1::{
        ListLaunchTravelersRequest, ListVipTravelersRequest,
        booking_internal_service_client::BookingInternalServiceClient,
    },
    common::v1 as common,
    system::v1::{
        GetUserRequest, ListUsersByRoleRequest,
        system_internal_service_client::SystemInternalServiceClient,
    },
};
use astro_shared::{AppError, grpc_client::TracedChannel};
use tonic::Status;

use crate::domain::{Contact, Role, money::Money, payload::Launch, recipients::Account};

const SYSTEM: &str = "SystemAPI";
const AGENCY: &str = "AgencyAPI";
const BOOKING: &str = "BookingAPI";

/// Page size of the directory listings: their maximum.
const PAGE_SIZE: i32 = 1_000;

#[derive(Clone)]
pub struct Directory {
    pub system: SystemInternalServiceClient<TracedChannel>,
    pub agency: AgencyInternalServiceClient<TracedChannel>,
    pub booking: BookingInternalServiceClient<TracedChannel>,
}

impl Directory {
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
            Ok(response) => Ok(response.into_inner().launch.map(launch)),
            Err(status) => unless_gone(AGENCY, status),
        }
    }

    /// An account, disabled or not; `None` if it does not exist.
    pub async fn account(&self, user_id: &str) -> Result<Option<Account>, AppError> {
        match self
            .system
            .clone()
            .get_user(GetUserRequest {
                user_id: user_id.to_owned(),
            })
            .await
        {
            Ok(response) => Ok(response.into_inner().user.map(|user| Account {
                // The contract's role enum converts in api/convert.rs.
                role: common::Role::try_from(user.role)
                    .ok()
                    .and_then(|role| Role::try_from(role).ok()),
                contact: Contact {
                    user_id: user.id,
                    name: user.name,
                    email: user.email,
                },
                disabled: user.disabled,
            })),
            Err(status) => unless_gone(SYSTEM, status),
        }
    }

    /// An agency's contact; `None` if the agency does not exist.
    pub async fn agency_contact(&self, agency_id: &str) -> Result<Option<Contact>, AppError> {
        match self
            .agency
            .clone()
            .get_agency_contact(GetAgencyContactRequest {
                agency_id: agency_id.to_owned(),
            })
            .await
        {
            Ok(response) => Ok(response.into_inner().contact.map(contact)),
            Err(status) => unless_gone(AGENCY, status),
        }
    }

    /// Every traveler booked on a launch; nobody if the launch does not exist.
    pub async fn launch_travelers(&self, launch_id: &str) -> Result<Vec<Contact>, AppError> {
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
                        .map(contact)
                        .collect();
                    Ok((travelers, page.next_page_token))
                }
                Err(status) => {
                    unless_gone::<()>(BOOKING, status)?;
                    Ok((Vec::new(), String::new()))
                }
            }
        })
        .await
    }

    /// Every VIP traveler.
    pub async fn vip_travelers(&self) -> Result<Vec<Contact>, AppError> {
        all_pages(|page_token| async move {
            let page = self
                .booking
                .clone()
                .list_vip_travelers(ListVipTravelersRequest {
                    page_size: PAGE_SIZE,
                    page_token,
                })
                .await
                .map_err(|status| AppError::upstream(BOOKING, status))?
                .into_inner();
            Ok((
                page.travelers.into_iter().map(contact).collect(),
                page.next_page_token,
            ))
        })
        .await
    }

    /// Every active account with `role`.
    pub async fn contacts_with_role(&self, role: Role) -> Result<Vec<Contact>, AppError> {
        all_pages(|page_token| async move {
            let page = self
                .system
                .clone()
                .list_users_by_role(ListUsersByRoleRequest {
                    role: common::Role::from(role).into(),
                    page_size: PAGE_SIZE,
                    page_token,
                })
                .await
                .map_err(|status| AppError::upstream(SYSTEM, status))?
                .into_inner();
            Ok((
                page.contacts.into_iter().map(contact).collect(),
                page.next_page_token,
            ))
        })
        .await
    }
}

/// What a callee's error means here: the thing asked about is not there, or its id is not even
/// well formed (NOT_FOUND, INVALID_ARGUMENT), so there is nobody to tell: `Ok(None)`. Anything
/// else fails the lookup as the shared upstream mapping names it.
fn unless_gone<T>(dependency: &'static str, status: Status) -> Result<Option<T>, AppError> {
    match AppError::from(status) {
        AppError::NotFound(_) | AppError::InvalidArgument { .. } => Ok(None),
        other => Err(AppError::upstream(dependency, other)),
    }
}

/// Every page of a listing: `page(token)` answers one page and the next token (empty on the
/// last page).
async fn all_pages<F, Fut>(mut page: F) -> Result<Vec<Contact>, AppError>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<Contact>, String), AppError>>,
{
    let mut contacts = Vec::new();
    let mut page_token = String::new();
    loop {
        let (found, next_page_token) = page(page_token).await?;
        contacts.extend(found);
        if next_page_token.is_empty() {
            return Ok(contacts);
        }
        page_token = next_page_token;
    }
}

fn contact(contact: common::Contact) -> Contact {
    Contact {
        user_id: contact.user_id,
        name: contact.name,
        email: contact.email,
    }
}

fn launch(launch: agency::Launch) -> Launch {
    Launch {
        agency_id: launch.agency_id,
        rocket_name: launch.rocket_name,
        agency_name: launch.agency_name,
        destination: launch.destination,
        spaceport: launch.spaceport,
        slug: launch.slug,
        // Whole seconds, as the e-mails show it.
        scheduled_at: launch
            .scheduled_at
            .and_then(|time| chrono::DateTime::from_timestamp(time.seconds, 0)),
        price_per_seat: launch.price_per_seat.map(|price| Money {
            amount_minor: price.amount_minor,
            currency: price.currency,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_malformed_subject_is_skipped_and_other_failures_are_errors() {
        assert!(matches!(
            unless_gone::<()>(SYSTEM, Status::not_found("user not found")),
            Ok(None)
        ));
        assert!(matches!(
            unless_gone::<()>(SYSTEM, Status::invalid_argument("user_id: must be a UUID")),
            Ok(None)
        ));
        assert!(matches!(
            unless_gone::<()>(AGENCY, Status::unavailable("down")),
            Err(AppError::Unavailable { ref dependency, .. }) if dependency == AGENCY
        ));
        assert!(matches!(
            unless_gone::<()>(AGENCY, Status::cancelled("Timeout expired")),
            Err(AppError::Unavailable { .. })
        ));
        assert!(matches!(
            unless_gone::<()>(BOOKING, Status::permission_denied("not a caller")),
            Err(AppError::Internal(_))
        ));
    }
}
