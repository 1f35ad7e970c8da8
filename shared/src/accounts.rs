//! SystemAPI's account RPCs as the services that register users use them: one-step
//! registration (the account in SystemAPI, then the profile in the caller's own database, with
//! the account deleted again if the profile cannot be stored), and an account's name and
//! e-mail.

use std::{future::Future, time::Duration};

use astro_proto::astrobookings::{
    common::v1::{Role, UserProfileSnapshot},
    system::v1::{
        CreateAccountRequest, DeleteAccountRequest, GetUserRequest,
        system_internal_service_client::SystemInternalServiceClient,
    },
};
use uuid::Uuid;

use crate::{AppError, grpc_client::TracedChannel, telemetry::error_chain};

/// SystemAPI as a dependency, in errors and logs.
pub const SYSTEM: &str = "SystemAPI";

/// How long a client is asked to wait when SystemAPI is out of capacity without saying how long.
const ACCOUNT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// An account as the registering services need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub email: String,
}

/// An account to create. No `Debug`: it holds the password.
pub struct NewAccount {
    /// The client's key: empty, the call is not deduplicated.
    pub idempotency_key: String,
    pub email: String,
    pub password: String,
    pub name: String,
}

/// SystemAPI's accounts of one role.
#[derive(Clone)]
pub struct Accounts {
    client: SystemInternalServiceClient<TracedChannel>,
    role: Role,
    /// Prefix of the keys sent to CreateAccount, so one client key used for a traveler and for
    /// an agency registration names two different accounts.
    key_scope: &'static str,
}

impl Accounts {
    pub fn new(
        client: SystemInternalServiceClient<TracedChannel>,
        role: Role,
        key_scope: &'static str,
    ) -> Self {
        Self {
            client,
            role,
            key_scope,
        }
    }

    /// Creates the account, then lets `store_profile` write its profile; if that fails the
    /// account is deleted again, so no account is left without its profile and the e-mail is
    /// free for the next try. Idempotent on the request's key as long as `store_profile` is
    /// (SystemAPI's CreateAccount answers the same account again).
    pub async fn register<T, Fut>(
        &self,
        account: NewAccount,
        store_profile: impl FnOnce(Account) -> Fut,
    ) -> Result<T, AppError>
    where
        Fut: Future<Output = Result<T, AppError>>,
    {
        let created = self.create(account).await.map_err(registration_error)?;
        let user_id = created.id.clone();
        match store_profile(created).await {
            Ok(profile) => Ok(profile),
            Err(error) => {
                // If this fails too, the account is left without a profile, which every
                // service reads as an incomplete profile the user can still fill in.
                if let Err(failure) = self
                    .delete(&user_id, "the profile could not be stored")
                    .await
                {
                    tracing::error!(user_id = %user_id, error = %error_chain(&failure), "could not delete the account of a failed registration");
                }
                Err(error)
            }
        }
    }

    /// The account's name and e-mail (empty if SystemAPI answers no user).
    pub async fn account(&self, user_id: &str) -> Result<Account, AppError> {
        let user = self
            .client
            .clone()
            .get_user(GetUserRequest {
                user_id: user_id.to_owned(),
            })
            .await
            .map_err(|status| AppError::upstream(SYSTEM, status))?
            .into_inner()
            .user
            .unwrap_or_default();
        Ok(Account {
            id: user.id,
            name: user.name,
            email: user.email,
        })
    }

    async fn create(&self, account: NewAccount) -> Result<Account, AppError> {
        let idempotency_key = if account.idempotency_key.is_empty() {
            // No key: the call is not deduplicated, but SystemAPI needs one per account.
            Uuid::new_v4().to_string()
        } else {
            format!("{}:{}", self.key_scope, account.idempotency_key)
        };
        let created = self
            .client
            .clone()
            .create_account(CreateAccountRequest {
                idempotency_key,
                email: account.email,
                password: account.password,
                name: account.name,
                role: self.role.into(),
            })
            .await
            .map_err(AppError::from)?
            .into_inner();
        let user = created
            .user
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("CreateAccount answered no user")))?;
        Ok(Account {
            id: user.id,
            name: user.name,
            email: user.email,
        })
    }

    async fn delete(&self, user_id: &str, reason: &str) -> Result<(), AppError> {
        self.client
            .clone()
            .delete_account(DeleteAccountRequest {
                user_id: user_id.to_owned(),
                reason: reason.to_owned(),
            })
            .await
            .map_err(AppError::from)?;
        Ok(())
    }
}

/// The most snapshots one ApplyUserProfiles takes.
pub const MAX_PROFILE_SNAPSHOTS: usize = 500;

/// An account's data as a service mirrors it into its own records (ApplyUserProfiles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileMirror {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    /// SystemDB's version of the account: a mirror only ever moves to a greater one.
    pub version: i64,
}

/// What a receiver makes of one ApplyUserProfiles batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorBatch {
    /// One per account, its greatest version, ordered by id.
    pub mirrors: Vec<ProfileMirror>,
    /// Snapshots dropped before the store: other roles, malformed ids or versions, older
    /// duplicates.
    pub skipped: u32,
}

impl MirrorBatch {
    /// The answer's `(applied, skipped)` once the store wrote `applied` of the mirrors: the
    /// others held that version or a newer one already (or, for agencies, have no agency).
    pub fn counts(&self, applied: u32) -> (i32, i32) {
        let stale = u32::try_from(self.mirrors.len())
            .unwrap_or(u32::MAX)
            .saturating_sub(applied);
        let count = |value: u32| i32::try_from(value).unwrap_or(i32::MAX);
        (count(applied), count(self.skipped.saturating_add(stale)))
    }
}

/// The snapshots a receiver that mirrors accounts of `role` applies. Stale versions are the
/// store's to skip: only it knows the version it holds.
pub fn mirrors_of(role: Role, snapshots: &[UserProfileSnapshot]) -> Result<MirrorBatch, AppError> {
    if snapshots.is_empty() || snapshots.len() > MAX_PROFILE_SNAPSHOTS {
        return Err(AppError::invalid(
            "profiles",
            format!("must hold 1 to {MAX_PROFILE_SNAPSHOTS} snapshots"),
        ));
    }
    let mut newest: std::collections::HashMap<Uuid, ProfileMirror> =
        std::collections::HashMap::new();
    for snapshot in snapshots {
        let Ok(user_id) = Uuid::parse_str(snapshot.user_id.trim()) else {
            continue;
        };
        if snapshot.role() != role || snapshot.version <= 0 {
            continue;
        }
        let mirror = ProfileMirror {
            user_id,
            email: snapshot.email.trim().to_lowercase(),
            name: snapshot.name.trim().to_owned(),
            version: snapshot.version,
        };
        match newest.get(&user_id) {
            Some(held) if held.version >= mirror.version => {}
            _ => {
                newest.insert(user_id, mirror);
            }
        }
    }
    let mut mirrors: Vec<ProfileMirror> = newest.into_values().collect();
    // One order for every batch: concurrent batches lock rows alike and never deadlock.
    mirrors.sort_by_key(|mirror| mirror.user_id);
    let skipped = u32::try_from(snapshots.len() - mirrors.len()).unwrap_or(u32::MAX);
    Ok(MirrorBatch { mirrors, skipped })
}

/// SystemAPI's answer to CreateAccount as the registration's error: its validation errors are
/// the client's (same fields, same words), a key used for another e-mail is this request's
/// `idempotency_key`, and anything else is a dependency failure.
fn registration_error(error: AppError) -> AppError {
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

    fn snapshot(user_id: &str, role: Role, version: i64) -> UserProfileSnapshot {
        UserProfileSnapshot {
            user_id: user_id.to_owned(),
            email: " Ada@Example.COM ".into(),
            name: format!(" Ada v{version} "),
            role: role.into(),
            version,
            ..Default::default()
        }
    }

    #[test]
    fn a_receiver_mirrors_its_role_once_per_account_at_the_newest_version() {
        let ada = "01a249a7-00ae-74be-9db0-e73398913a7c";
        let bob = "01a249a7-00ae-74be-9db0-e73398913a7d";
        let batch = mirrors_of(
            Role::Agency,
            &[
                snapshot(ada, Role::Agency, 3),
                snapshot(ada, Role::Agency, 5),
                snapshot(ada, Role::Agency, 4),
                snapshot(bob, Role::Traveler, 9),
                snapshot("not-a-uuid", Role::Agency, 1),
                snapshot(bob, Role::Agency, 0),
            ],
        )
        .expect("a valid batch");
        assert_eq!(batch.skipped, 5);
        assert_eq!(batch.counts(0), (0, 6), "a stale mirror is skipped too");
        assert_eq!(batch.counts(1), (1, 5));
        assert_eq!(
            batch.mirrors,
            [ProfileMirror {
                user_id: Uuid::parse_str(ada).expect("uuid"),
                email: "ada@example.com".into(),
                name: "Ada v5".into(),
                version: 5,
            }]
        );
        for size in [0, MAX_PROFILE_SNAPSHOTS + 1] {
            let batch = vec![snapshot(ada, Role::Agency, 1); size];
            let refused = mirrors_of(Role::Agency, &batch).expect_err("out of bounds");
            assert_eq!(Status::from(refused).code(), Code::InvalidArgument);
        }
    }

    fn answer(status: Status) -> Status {
        Status::from(registration_error(AppError::from(status)))
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
