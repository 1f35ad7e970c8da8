//! What an ADMIN does with accounts: creates employees, lists employees and users, disables and
//! enables accounts (a disabled account loses its live tokens at once, at every service).

use std::time::Duration;

use astro_proto::astrobookings::common::v1::Role;
use astro_shared::{
    AppError,
    activity::ActivityLog,
    auth::{Caller, Denylist},
    paging::{Page, page_size, read_limit},
};

use super::{
    ClientInfo,
    registration::{Registration, Requester},
};
use crate::{
    domain::accounts::{Account, NewAccount, UserFilter},
    store::{AccountWrites, UserStore, accounts::ProfileChange},
};

/// Page sizes of ListUsers and ListEmployees.
const PAGE_DEFAULT: u32 = 20;
const PAGE_MAX: u32 = 100;

#[derive(Clone)]
pub struct Admin {
    registration: Registration,
    users: UserStore,
    writes: AccountWrites,
    denylist: Denylist,
    /// How long an access token lives: a disabled account's mark outlives its last token.
    access_lifetime: Duration,
    activity: ActivityLog,
}

/// A page of ListUsers.
pub struct UsersPage {
    pub page: Page<Account>,
    /// Every account matching the filter, across pages.
    pub total: u64,
}

impl Admin {
    pub fn new(
        registration: Registration,
        users: UserStore,
        writes: AccountWrites,
        denylist: Denylist,
        access_lifetime: Duration,
        activity: ActivityLog,
    ) -> Self {
        Self {
            registration,
            users,
            writes,
            denylist,
            access_lifetime,
            activity,
        }
    }

    /// An employee (FINANCE or IT, already checked), created by an ADMIN; its e-mail counts as
    /// confirmed.
    pub async fn create_employee(
        &self,
        admin: &Caller,
        account: NewAccount,
        password: String,
        role: Role,
        client: &ClientInfo,
    ) -> Result<Account, AppError> {
        let created = self
            .registration
            .create(Requester::Admin(admin), account, password, role, client)
            .await?;
        Ok(created.account)
    }

    /// ListEmployees: one page of employees, newest first.
    pub async fn list_employees(
        &self,
        filter: &UserFilter,
        page_token: &str,
        requested_size: i32,
    ) -> Result<Page<Account>, AppError> {
        let listed = self
            .list("ListEmployees", filter, page_token, requested_size)
            .await?;
        Ok(listed.page)
    }

    /// ListUsers: one page of accounts, newest first, and how many match in all.
    pub async fn list_users(
        &self,
        filter: &UserFilter,
        page_token: &str,
        requested_size: i32,
    ) -> Result<UsersPage, AppError> {
        self.list("ListUsers", filter, page_token, requested_size)
            .await
    }

    /// One page of `rpc`'s listing: its token continues after the last id of the previous page
    /// and only for the same filter.
    async fn list(
        &self,
        rpc: &str,
        filter: &UserFilter,
        page_token: &str,
        requested_size: i32,
    ) -> Result<UsersPage, AppError> {
        let size = page_size(requested_size, PAGE_DEFAULT, PAGE_MAX)?;
        let query = filter.query_key(rpc);
        let after = query.position::<String>(page_token)?;
        let (accounts, total) = self
            .users
            .page(filter, after.as_deref(), read_limit(size))
            .await?;
        Ok(UsersPage {
            page: Page::from_rows(accounts, size, query, |last| last.id.clone()),
            total,
        })
    }

    /// Disables (or enables) an account. A disabled account can neither log in, refresh, nor
    /// use a token it already holds; its OperationsDB profile follows from the outbox.
    pub async fn set_disabled(
        &self,
        admin: &Caller,
        user_id: &str,
        disabled: bool,
        traceparent: &str,
    ) -> Result<Account, AppError> {
        if disabled && admin.user_id == user_id {
            return Err(AppError::FailedPrecondition(
                "an ADMIN cannot disable itself".into(),
            ));
        }
        let account = self
            .writes
            .change_profile(user_id, ProfileChange::Disabled(disabled), traceparent)
            .await?
            .ok_or_else(|| AppError::NotFound("user".into()))?;
        if disabled {
            self.denylist
                .mark_user_disabled(user_id, self.access_lifetime)
                .await?;
        } else {
            self.denylist.clear_user_disabled(user_id).await?;
        }
        tracing::info!(admin = %admin.user_id, user_id, disabled, "account access changed");
        let (event_type, message) = if disabled {
            ("admin.user_disabled", "account disabled")
        } else {
            ("admin.user_enabled", "account enabled")
        };
        self.activity.info(
            event_type,
            Some(&admin.user_id),
            message,
            &[("target_user_id", user_id), ("role", account.role_name())],
        );
        Ok(account)
    }
}
