//! Agency profiles: one-step registration (the account in SystemAPI, the profile here, with
//! no half-made agency left if either fails), an agency reads and writes its own, and the other
//! services read any agency's contact.

use astro_shared::{
    AppError,
    accounts::{Accounts, NewAccount, ProfileMirror},
    activity::ActivityLog,
    auth::Caller,
    changes::Origin,
};
use uuid::Uuid;

use super::{agency_id, origin};
use crate::{
    SERVICE_NAME,
    domain::profile::{AgencyProfile, notification_email},
    store::{Store, agencies::AgencyRow},
};

/// A RegisterAgency request, validated as far as this service checks it (SystemAPI checks
/// the account's fields). No `Debug`: the account holds the password.
pub struct Registration {
    pub account: NewAccount,
    pub profile: AgencyProfile,
}

/// An agency and where the other services write to it.
#[derive(Debug, Clone)]
pub struct AgencyContact {
    pub agency: AgencyRow,
    pub email: String,
}

/// Agency profiles.
#[derive(Clone)]
pub struct Profiles {
    store: Store,
    accounts: Accounts,
    activity: ActivityLog,
}

impl Profiles {
    pub fn new(store: Store, accounts: Accounts, activity: ActivityLog) -> Self {
        Self {
            store,
            accounts,
            activity,
        }
    }

    /// Creates the AGENCY account, then its complete profile; if the profile cannot be stored
    /// the account is deleted again. Idempotent on the request's key (SystemAPI's
    /// CreateAccount is, and the profile write is an upsert of the same values).
    pub async fn register(&self, registration: Registration) -> Result<AgencyRow, AppError> {
        let Registration { account, profile } = registration;
        let agency = self
            .accounts
            .register(account, |user| async move {
                let id = Uuid::parse_str(&user.id).map_err(AppError::internal)?;
                let origin = Origin::user(SERVICE_NAME, &user.id);
                self.store
                    .put_agency_profile(id, &profile, Some(&user.email), &origin)
                    .await
            })
            .await?;
        self.activity.info(
            "agency.registered",
            Some(&agency.id.to_string()),
            "agency registered",
            &[],
        );
        Ok(agency)
    }

    /// The caller's profile; `None` for an AGENCY account registered through SystemAPI that
    /// has not written one yet.
    pub async fn own(&self, caller: &Caller) -> Result<Option<AgencyRow>, AppError> {
        self.store.agency(agency_id(caller)?).await
    }

    /// Creates or replaces the caller's profile.
    pub async fn update(
        &self,
        caller: &Caller,
        profile: &AgencyProfile,
    ) -> Result<AgencyRow, AppError> {
        let row = self
            .store
            .put_agency_profile(agency_id(caller)?, profile, None, &origin(caller))
            .await?;
        self.activity.info(
            "agency.profile_updated",
            Some(&caller.user_id),
            "agency profile updated",
            &[],
        );
        Ok(row)
    }

    /// ApplyUserProfiles: mirrors SystemDB's accounts into their agencies; answers how many
    /// changed.
    pub async fn mirror_accounts(&self, mirrors: &[ProfileMirror]) -> Result<u32, AppError> {
        self.store
            .mirror_agency_accounts(mirrors, &Origin::platform(SERVICE_NAME))
            .await
    }

    /// Any agency's profile and contact e-mail, for the other services; NOT_FOUND for an agency
    /// without a profile.
    pub async fn contact(&self, agency_id: Uuid) -> Result<AgencyContact, AppError> {
        let agency = self
            .store
            .agency(agency_id)
            .await?
            .ok_or_else(|| AppError::NotFound("agency".into()))?;
        let email = notification_email(&agency.contact_email, &agency.account_email).to_owned();
        Ok(AgencyContact { agency, email })
    }
}
