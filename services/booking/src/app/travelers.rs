//! Travelers: one-step registration (the account in SystemAPI, the profile here, with no
//! half-made traveler left if either fails), the traveler's own profile, and the contact lists
//! other services page through (a launch's travelers, the VIPs).

use astro_shared::{
    AppError,
    accounts::{Accounts, NewAccount, ProfileMirror},
    activity::ActivityLog,
    changes::Origin,
    paging::{Page, read_limit},
};
use uuid::Uuid;

use super::{PageRequest, SERVICE_NAME, bookings::launch_exists};
use crate::{
    domain::traveler::TravelerDetails,
    store::{
        Store,
        travelers::{TravelerContactRow, TravelerRow},
    },
};

/// A RegisterTraveler request, validated as far as this service checks it (SystemAPI checks
/// the account's fields). No `Debug`: it holds the password.
pub struct Registration {
    pub name: String,
    pub email: String,
    pub password: String,
    pub details: TravelerDetails,
    /// Empty: the call is not deduplicated.
    pub idempotency_key: String,
}

#[derive(Clone)]
pub struct Travelers {
    store: Store,
    accounts: Accounts,
    activity: ActivityLog,
}

impl Travelers {
    pub fn new(store: Store, accounts: Accounts, activity: ActivityLog) -> Self {
        Self {
            store,
            accounts,
            activity,
        }
    }

    /// Creates the TRAVELER account, then its profile; if the profile cannot be stored the
    /// account is deleted again. Idempotent on the request's key (SystemAPI's CreateAccount
    /// is, and the profile write is an upsert of the same values).
    pub async fn register(&self, registration: Registration) -> Result<TravelerRow, AppError> {
        let Registration {
            name,
            email,
            password,
            details,
            idempotency_key,
        } = registration;
        let account = NewAccount {
            idempotency_key,
            email,
            password,
            name,
        };
        let traveler = self
            .accounts
            .register(account, |user| async move {
                let id = Uuid::parse_str(&user.id).map_err(AppError::internal)?;
                let origin = Origin::user(SERVICE_NAME, &user.id);
                self.store
                    .save_traveler(id, &user.name, &user.email, &details, &origin)
                    .await
            })
            .await?;
        self.activity.info(
            "traveler.registered",
            Some(&traveler.id.to_string()),
            "traveler registered",
            &[],
        );
        Ok(traveler)
    }

    /// The caller's traveler record; an account registered through /v1/auth/register gets one
    /// now (name and e-mail from SystemAPI, profile incomplete).
    pub async fn own_profile(&self, traveler_id: Uuid) -> Result<TravelerRow, AppError> {
        if let Some(traveler) = self.store.traveler(traveler_id).await? {
            return Ok(traveler);
        }
        let user_id = traveler_id.to_string();
        let account = self.accounts.account(&user_id).await?;
        self.store
            .ensure_traveler(
                traveler_id,
                &account.name,
                &account.email,
                &Origin::user(SERVICE_NAME, &user_id),
            )
            .await
    }

    /// Replaces the caller's contact and tax information.
    pub async fn update_profile(
        &self,
        traveler_id: Uuid,
        details: &TravelerDetails,
    ) -> Result<TravelerRow, AppError> {
        let current = self.own_profile(traveler_id).await?;
        self.store
            .save_traveler(
                current.id,
                &current.name,
                &current.email,
                details,
                &Origin::user(SERVICE_NAME, &traveler_id.to_string()),
            )
            .await
    }

    /// ApplyUserProfiles: mirrors SystemDB's accounts into their traveler records; answers
    /// how many changed.
    pub async fn mirror_accounts(&self, mirrors: &[ProfileMirror]) -> Result<u32, AppError> {
        self.store
            .mirror_traveler_accounts(mirrors, &Origin::platform(SERVICE_NAME))
            .await
    }

    /// A page of the travelers booked on a launch, by traveler id (ListLaunchTravelers).
    pub async fn of_launch(
        &self,
        launch_id: Uuid,
        page: PageRequest<Uuid>,
    ) -> Result<Page<TravelerContactRow>, AppError> {
        launch_exists(&self.store, launch_id).await?;
        let rows = self
            .store
            .launch_travelers(launch_id, page.after, read_limit(page.limit))
            .await?;
        Ok(Page::from_rows(rows, page.limit, page.key, |last| last.id))
    }

    /// A page of the VIP travelers, by id (ListVipTravelers).
    pub async fn vips(
        &self,
        page: PageRequest<Uuid>,
    ) -> Result<Page<TravelerContactRow>, AppError> {
        let rows = self
            .store
            .vip_travelers(page.after, read_limit(page.limit))
            .await?;
        Ok(Page::from_rows(rows, page.limit, page.key, |last| last.id))
    }
}
