//! Agency profiles: an agency reads and writes its own; the other services read any agency's
//! contact.

use astro_shared::{AppError, activity::ActivityLog, auth::Caller};
use uuid::Uuid;

use super::{agency_id, origin};
use crate::{
    domain::profile::{AgencyProfile, notification_email},
    store::{Store, agencies::AgencyRow},
};

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
    activity: ActivityLog,
}

impl Profiles {
    pub fn new(store: Store, activity: ActivityLog) -> Self {
        Self { store, activity }
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
            .put_agency_profile(agency_id(caller)?, profile, &origin(caller))
            .await?;
        self.activity.info(
            "agency.profile_updated",
            Some(&caller.user_id),
            "agency profile updated",
            &[],
        );
        Ok(row)
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
