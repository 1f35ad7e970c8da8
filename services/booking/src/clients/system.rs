//! SystemAPI's account RPCs as BookingAPI uses them: a TRAVELER account for a registration
//! (and its deletion when the registration cannot finish), and an account's name and e-mail.

use astro_proto::astrobookings::{
    common::v1::Role,
    system::v1::{
        CreateAccountRequest, DeleteAccountRequest, GetUserRequest,
        system_internal_service_client::SystemInternalServiceClient,
    },
};
use astro_shared::{AppError, grpc_client::TracedChannel};

/// SystemAPI as a dependency, in errors and logs.
pub const SYSTEM: &str = "SystemAPI";

/// An account as BookingAPI needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub email: String,
}

/// A TRAVELER account to create. No `Debug`: it holds the password.
pub struct NewAccount {
    /// SystemAPI deduplicates CreateAccount on it.
    pub idempotency_key: String,
    pub email: String,
    pub password: String,
    pub name: String,
}

#[derive(Clone)]
pub struct System {
    client: SystemInternalServiceClient<TracedChannel>,
}

impl System {
    pub fn new(client: SystemInternalServiceClient<TracedChannel>) -> Self {
        Self { client }
    }

    /// Creates a TRAVELER account (idempotent on the request's key).
    pub async fn create_traveler_account(&self, account: NewAccount) -> Result<Account, AppError> {
        let created = self
            .client
            .clone()
            .create_account(CreateAccountRequest {
                idempotency_key: account.idempotency_key,
                email: account.email,
                password: account.password,
                name: account.name,
                role: Role::Traveler.into(),
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

    pub async fn delete_account(&self, user_id: &str, reason: &str) -> Result<(), AppError> {
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

    /// The account's name and e-mail (empty if SystemAPI answers no user).
    pub async fn account(&self, user_id: &str) -> Result<Account, AppError> {
        let user = self
            .client
            .clone()
            .get_user(GetUserRequest {
                user_id: user_id.to_owned(),
            })
            .await
            .map_err(AppError::from)?
            .into_inner()
            .user
            .unwrap_or_default();
        Ok(Account {
            id: user.id,
            name: user.name,
            email: user.email,
        })
    }
}
