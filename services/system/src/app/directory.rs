//! Account look-ups for the other services of the mesh (GetUser, BatchGetUsers,
//! ListUsersByRole): who an id is, and whom of a role to notify.

use std::collections::HashSet;

use astro_proto::astrobookings::common::v1::Role;
use astro_shared::{
    AppError,
    paging::{Page, page_size, read_limit},
};

use crate::{
    domain::accounts::{Account, contacts_position, contacts_query},
    store::UserStore,
};

/// Page sizes of ListUsersByRole.
const CONTACTS_PAGE_DEFAULT: u32 = 100;
const CONTACTS_PAGE_MAX: u32 = 500;

#[derive(Clone)]
pub struct Directory {
    users: UserStore,
}

/// The result of BatchGetUsers.
pub struct AccountBatch {
    pub accounts: Vec<Account>,
    /// Requested ids without an account, in the order asked.
    pub missing_user_ids: Vec<String>,
}

impl Directory {
    pub fn new(users: UserStore) -> Self {
        Self { users }
    }

    /// GetUser: one account (`user_id` already checked).
    pub async fn get(&self, user_id: &str) -> Result<Account, AppError> {
        self.users
            .by_id(user_id)
            .await?
            .ok_or_else(|| AppError::NotFound("user".into()))
    }

    /// BatchGetUsers: the accounts of `ids` (checked and deduplicated); unknown ids are
    /// listed, not an error.
    pub async fn batch_get(&self, ids: &[String]) -> Result<AccountBatch, AppError> {
        let accounts = self.users.by_ids(ids).await?;
        let known: HashSet<&str> = accounts.iter().map(|account| account.id.as_str()).collect();
        let missing_user_ids = ids
            .iter()
            .filter(|id| !known.contains(id.as_str()))
            .cloned()
            .collect();
        Ok(AccountBatch {
            accounts,
            missing_user_ids,
        })
    }

    /// ListUsersByRole: the enabled accounts of `role`, by e-mail; a page token continues
    /// only a listing of the same role.
    pub async fn list_by_role(
        &self,
        role: Role,
        page_token: &str,
        requested_size: i32,
    ) -> Result<Page<Account>, AppError> {
        let size = page_size(requested_size, CONTACTS_PAGE_DEFAULT, CONTACTS_PAGE_MAX)?;
        let query = contacts_query(role);
        let after = contacts_position(query, page_token)?;
        let accounts = self
            .users
            .enabled_by_role_page(role, after.as_deref(), read_limit(size))
            .await?;
        Ok(Page::from_rows(accounts, size, query, |last| {
            last.email.clone()
        }))
    }
}
