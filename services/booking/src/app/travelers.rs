//! Travelers: one-step registration (the account in SystemAPI, the profile here, with no
//! half-made traveler left if either fails), the traveler's own profile, and the contact lists
//! other services page through (a launch's travelers, the VIPs).

use std::time::Duration;

use astro_shared::{
    AppError,
    activity::ActivityLog,
    changes::Origin,
    paging::{Page, read_limit},
};
use uuid::Uuid;

use super::{PageRequest, SERVICE_NAME, bookings::launch_exists};
use crate::{
    clients::system::{NewAccount, SYSTEM, System},
    domain::traveler::TravelerDetails,
    store::{
        Store,
        travelers::{TravelerContactRow, TravelerRow},
    },
};

/// How long a client is asked to wait when SystemAPI is out of capacity without saying how long.
const ACCOUNT_RETRY_AFTER: Duration = Duration::from_secs(60);

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
    system: System,
    activity: ActivityLog,
}

impl Travelers {
    pub fn new(store: Store, system: System, activity: ActivityLog) -> Self {
        Self {
            store,
            system,
            activity,
        }
    }

    /// Creates the TRAVELER account, then its profile; if the profile cannot be stored the
    /// account is deleted again. Idempotent on the request's key (SystemAPI's CreateAccount
    /// is, and the profile write is an upsert of the same values).
    pub async fn register(&self, registration: Registration) -> Result<TravelerRow, AppError> {
        let key = if registration.idempotency_key.is_empty() {
            // No key: the call is not deduplicated, but SystemAPI needs one per account.
            Uuid::new_v4().to_string()
        } else {
            format!("register-traveler:{}", registration.idempotency_key)
        };
        let user = self
            .system
            .create_traveler_account(NewAccount {
                idempotency_key: key,
                email: registration.email,
                password: registration.password,
                name: registration.name,
            })
            .await
            .map_err(account_error)?;
        let id = Uuid::parse_str(&user.id).map_err(AppError::internal)?;
        let origin = Origin::user(SERVICE_NAME, &user.id);
        match self
            .store
            .save_traveler(id, &user.name, &user.email, &registration.details, &origin)
            .await
        {
            Ok(traveler) => {
                self.activity.info(
                    "traveler.registered",
                    Some(&user.id),
                    "traveler registered",
                    &[],
                );
                Ok(traveler)
            }
            Err(error) => {
                // Compensate: no account without its profile. If this fails too, the account
                // is left profile-less, which GetTravelerProfile handles (an incomplete
                // profile).
                let deleted = self
                    .system
                    .delete_account(&user.id, "the traveler profile could not be stored")
                    .await;
                if let Err(failure) = deleted {
                    tracing::error!(user_id = %user.id, error = %astro_shared::telemetry::error_chain(&failure), "could not delete the account of a failed registration");
                }
                Err(error)
            }
        }
    }

    /// The caller's traveler record; an account registered through /v1/auth/register gets one
    /// now (name and e-mail from SystemAPI, profile incomplete).
    pub async fn own_profile(&self, traveler_id: Uuid) -> Result<TravelerRow, AppError> {
        if let Some(traveler) = self.store.traveler(traveler_id).await? {
            return Ok(traveler);
        }
        let user_id = traveler_id.to_string();
        let account = self
            .system
            .account(&user_id)
            .await
            .map_err(|error| AppError::upstream(SYSTEM, error))?;
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

/// SystemAPI's answer to CreateAccount as RegisterTraveler's error: its validation errors are
/// the client's (same fields, same words), a key used for another e-mail is this request's
/// `idempotency_key`, and anything else is a dependency failure.
fn account_error(error: AppError) -> AppError {
    match error {
        error @ (AppError::InvalidArgument { .. } | AppError::AlreadyExists(_)) => error,
        AppError::FailedPrecondition(_) | AppError::Refused { .. } => AppError::invalid(
            "idempotency_key",
            "was already used to register another e-mail",
        ),
        AppError::ResourceExhausted {
            message,
            retry_after,
        } => AppError::ResourceExhausted {
            message,
            retry_after: if retry_after.is_zero() {
                ACCOUNT_RETRY_AFTER
            } else {
                retry_after
            },
        },
        other => AppError::upstream(SYSTEM, other),
    }
}

#[cfg(test)]
mod tests {
    use tonic::{Code, Status};
    use tonic_types::StatusExt as _;

    use super::*;

    fn answer(status: Status) -> Status {
        Status::from(account_error(AppError::from(status)))
    }

    #[test]
    fn account_errors_keep_the_fields_of_system_api_and_name_our_own() {
        let invalid = answer(Status::from(AppError::invalid(
            "email",
            "must be an e-mail address",
        )));
        assert_eq!(invalid.code(), Code::InvalidArgument);
        assert_eq!(invalid.message(), "email: must be an e-mail address");
        let details = invalid.get_error_details();
        let violation = &details.bad_request().expect("bad request").field_violations[0];
        assert_eq!(violation.field, "email");

        let taken = answer(Status::from(AppError::AlreadyExists(
            "the e-mail is taken".into(),
        )));
        assert_eq!(
            (taken.code(), taken.message()),
            (Code::AlreadyExists, "the e-mail is taken")
        );

        let reused = answer(Status::failed_precondition("key used for another e-mail"));
        let details = reused.get_error_details();
        let violation = &details.bad_request().expect("bad request").field_violations[0];
        assert_eq!(violation.field, "idempotency_key");

        let busy = answer(Status::resource_exhausted("too many registrations"));
        assert_eq!(
            busy.get_error_details()
                .retry_info()
                .and_then(|info| info.retry_delay),
            Some(ACCOUNT_RETRY_AFTER)
        );
        let paced = answer(Status::from(AppError::ResourceExhausted {
            message: "hashing queue full".into(),
            retry_after: Duration::from_secs(2),
        }));
        assert_eq!(
            paced
                .get_error_details()
                .retry_info()
                .and_then(|info| info.retry_delay),
            Some(Duration::from_secs(2))
        );

        assert_eq!(
            answer(Status::unavailable("down")).code(),
            Code::Unavailable
        );
        assert_eq!(answer(Status::not_found("no")).code(), Code::Internal);
    }
}
