//! AgencyAPI and BookingAPI, for the sync jobs: account snapshots pushed to ApplyUserProfiles
//! and the catalogue rebuilt batch by batch through SyncCatalogue. Their refusals come back as
//! the `AppError` of the dependency that answered.

use astro_proto::astrobookings::{
    agency::v1::{
        ApplyUserProfilesRequest as AgencyApply,
        agency_internal_service_client::AgencyInternalServiceClient,
    },
    booking::v1::{
        ApplyUserProfilesRequest as BookingApply, SyncCatalogueRequest,
        booking_internal_service_client::BookingInternalServiceClient,
    },
    common::v1::{Role, UserProfileSnapshot},
};
use astro_shared::{AppError, accounts::MAX_PROFILE_SNAPSHOTS, grpc_client::TracedChannel};

use crate::domain::{
    accounts::Account,
    sync_jobs::{BatchOutcome, ItemError},
};

#[derive(Clone)]
pub struct SyncTargets {
    agency: AgencyInternalServiceClient<TracedChannel>,
    booking: BookingInternalServiceClient<TracedChannel>,
}

impl SyncTargets {
    pub fn new(agency: TracedChannel, booking: TracedChannel) -> Self {
        Self {
            agency: AgencyInternalServiceClient::new(agency),
            booking: BookingInternalServiceClient::new(booking),
        }
    }

    /// Pushes the accounts' snapshots to the records that mirror them: AGENCY accounts to
    /// AgencyAPI, TRAVELER accounts to BookingAPI (employees are mirrored nowhere). Answers how
    /// many records were out of step and changed.
    pub async fn mirror_profiles(&self, accounts: &[Account]) -> Result<i64, AppError> {
        let mut changed = 0;
        for role in [Role::Agency, Role::Traveler] {
            let snapshots: Vec<UserProfileSnapshot> = accounts
                .iter()
                .filter(|account| account.role == role)
                .map(snapshot)
                .collect();
            for profiles in snapshots.chunks(MAX_PROFILE_SNAPSHOTS) {
                let applied = if role == Role::Agency {
                    self.agency
                        .clone()
                        .apply_user_profiles(AgencyApply {
                            profiles: profiles.to_vec(),
                        })
                        .await
                        .map_err(|status| AppError::upstream("AgencyAPI", status))?
                        .into_inner()
                        .applied
                } else {
                    self.booking
                        .clone()
                        .apply_user_profiles(BookingApply {
                            profiles: profiles.to_vec(),
                        })
                        .await
                        .map_err(|status| AppError::upstream("BookingAPI", status))?
                        .into_inner()
                        .applied
                };
                changed += i64::from(applied);
            }
        }
        Ok(changed)
    }

    /// One batch of a CATALOGUE job, from `cursor` (BookingAPI's page token; empty at first).
    pub async fn sync_catalogue(
        &self,
        job_id: &str,
        cursor: &str,
        batch_size: u32,
    ) -> Result<BatchOutcome, AppError> {
        let batch = self
            .booking
            .clone()
            .sync_catalogue(SyncCatalogueRequest {
                job_id: job_id.to_owned(),
                page_token: cursor.to_owned(),
                batch_size: i32::try_from(batch_size).unwrap_or(i32::MAX),
            })
            .await
            .map_err(|status| AppError::upstream("BookingAPI", status))?
            .into_inner();
        Ok(BatchOutcome {
            items_total: Some(batch.items_total),
            processed: i64::from(batch.items_processed),
            changed: i64::from(batch.items_changed),
            failed: i64::from(batch.items_failed),
            errors: batch
                .errors
                .into_iter()
                .map(|error| ItemError {
                    item_id: error.launch_id,
                    message: error.message,
                    time: crate::domain::now(),
                })
                .collect(),
            next_cursor: Some(batch.next_page_token).filter(|token| !token.is_empty()),
        })
    }
}

/// What OperationsDB mirrors of an account, at its version (an account stored before versions
/// were kept reads as version 1).
pub fn snapshot(account: &Account) -> UserProfileSnapshot {
    UserProfileSnapshot {
        user_id: account.id.clone(),
        email: account.email.clone(),
        name: account.name.clone(),
        role: account.role.into(),
        disabled: account.disabled,
        version: account.profile_version.max(1),
        // SystemDB keeps no time of the last change; receivers order by version alone.
        updated_at: None,
    }
}
