//! The `users` collection: one document per account.

use astro_shared::{
    AppError,
    auth::{role_claim, role_from_claim},
};
use futures::TryStreamExt as _;
use mongodb::{
    Collection,
    bson::{DateTime, Document, doc},
    options::{FindOptions, ReturnDocument},
};
use serde::{Deserialize, Serialize};

use astro_proto::astrobookings::common::v1::Role;

use super::{bson_time, domain_time};
use crate::domain::accounts::{Account, UserFilter, email_taken};

pub const COLLECTION: &str = "users";

/// An account as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct UserDocument {
    #[serde(rename = "_id")]
    id: String,
    /// Lower-cased; the unique index makes e-mails unique case-insensitively.
    email: String,
    name: String,
    /// `TRAVELER`, `AGENCY`, `FINANCE`, `IT` or `ADMIN`.
    role: String,
    /// argon2id PHC string.
    password_hash: String,
    email_confirmed: bool,
    /// SHA-256 of the e-mail confirmation token, until confirmed.
    confirmation_token_hash: Option<String>,
    disabled: bool,
    created_at: DateTime,
    last_login_at: Option<DateTime>,
    disabled_at: Option<DateTime>,
    /// The idempotency key of the CreateAccount call that made the account; absent for
    /// self-registrations, employees and the first ADMIN. Left out of the document when
    /// absent, so the partial unique index covers only accounts that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    registration_key: Option<String>,
    /// Absent in accounts written before versions were kept: read as 0, below every snapshot
    /// version sent (at least 1).
    #[serde(default)]
    profile_version: i64,
}

impl From<&Account> for UserDocument {
    fn from(account: &Account) -> Self {
        Self {
            id: account.id.clone(),
            email: account.email.clone(),
            name: account.name.clone(),
            role: role_claim(account.role).to_owned(),
            password_hash: account.password_hash.clone(),
            email_confirmed: account.email_confirmed,
            confirmation_token_hash: account.confirmation_token_hash.clone(),
            disabled: account.disabled,
            created_at: bson_time(account.created_at),
            last_login_at: account.last_login_at.map(bson_time),
            disabled_at: account.disabled_at.map(bson_time),
            registration_key: account.registration_key.clone(),
            profile_version: account.profile_version,
        }
    }
}

impl From<UserDocument> for Account {
    fn from(document: UserDocument) -> Self {
        Self {
            role: role_from_claim(&document.role).unwrap_or(Role::Unspecified),
            id: document.id,
            email: document.email,
            name: document.name,
            password_hash: document.password_hash,
            email_confirmed: document.email_confirmed,
            confirmation_token_hash: document.confirmation_token_hash,
            disabled: document.disabled,
            created_at: domain_time(document.created_at),
            last_login_at: document.last_login_at.map(domain_time),
            disabled_at: document.disabled_at.map(domain_time),
            registration_key: document.registration_key,
            profile_version: document.profile_version,
        }
    }
}

/// Reads and writes accounts.
#[derive(Clone)]
pub struct UserStore {
    users: Collection<UserDocument>,
}

impl UserStore {
    pub fn new(database: &mongodb::Database) -> Self {
        Self {
            users: database.collection(COLLECTION),
        }
    }

    pub async fn by_email(&self, email: &str) -> Result<Option<Account>, AppError> {
        let found = self.users.find_one(doc! { "email": email }).await?;
        Ok(found.map(Account::from))
    }

    pub async fn by_id(&self, id: &str) -> Result<Option<Account>, AppError> {
        let found = self.users.find_one(doc! { "_id": id }).await?;
        Ok(found.map(Account::from))
    }

    /// Inserts an account; ALREADY_EXISTS if the e-mail is taken (unique index, not a prior
    /// read).
    pub async fn insert(&self, account: &Account) -> Result<(), AppError> {
        match self.users.insert_one(UserDocument::from(account)).await {
            Ok(_) => Ok(()),
            Err(error) if super::is_duplicate_key(&error) => Err(email_taken()),
            Err(error) => Err(error.into()),
        }
    }

    /// The account a CreateAccount call with this idempotency key made, if it still exists.
    pub async fn by_registration_key(&self, key: &str) -> Result<Option<Account>, AppError> {
        let found = self
            .users
            .find_one(doc! { "registration_key": key })
            .await?;
        Ok(found.map(Account::from))
    }

    /// The accounts among `ids` that exist, in no particular order.
    pub async fn by_ids(&self, ids: &[String]) -> Result<Vec<Account>, AppError> {
        Ok(self
            .users
            .find(doc! { "_id": { "$in": ids } })
            .await?
            .map_ok(Account::from)
            .try_collect()
            .await?)
    }

    /// Stamps a successful login; false if the account no longer exists (DeleteAccount removed
    /// it after the password check), so the login must fail rather than issue tokens for it.
    pub async fn record_login(&self, id: &str) -> Result<bool, AppError> {
        let result = self
            .users
            .update_one(
                doc! { "_id": id },
                doc! { "$set": { "last_login_at": DateTime::now() } },
            )
            .await?;
        Ok(result.matched_count == 1)
    }

    /// Up to `limit` enabled accounts of `role`, ordered by e-mail, after `after_email`.
    pub async fn enabled_by_role_page(
        &self,
        role: Role,
        after_email: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Account>, AppError> {
        let mut filter = doc! { "role": role_claim(role), "disabled": false };
        if let Some(after) = after_email {
            filter.insert("email", doc! { "$gt": after });
        }
        let options = FindOptions::builder()
            .sort(doc! { "email": 1 })
            .limit(limit)
            .build();
        Ok(self
            .users
            .find(filter)
            .with_options(options)
            .await?
            .map_ok(Account::from)
            .try_collect()
            .await?)
    }

    /// Replaces the password hash only if it is still `expected_hash` (no lost update between
    /// the old-password check and the write).
    pub async fn replace_password_hash(
        &self,
        id: &str,
        expected_hash: &str,
        new_hash: &str,
    ) -> Result<bool, AppError> {
        let result = self
            .users
            .update_one(
                doc! { "_id": id, "password_hash": expected_hash },
                doc! { "$set": { "password_hash": new_hash } },
            )
            .await?;
        Ok(result.modified_count == 1)
    }

    /// Confirms the e-mail of the account holding this confirmation token hash.
    pub async fn confirm_email(&self, token_hash: &str) -> Result<Option<Account>, AppError> {
        let updated = self
            .users
            .find_one_and_update(
                doc! { "confirmation_token_hash": token_hash },
                doc! { "$set": { "email_confirmed": true, "confirmation_token_hash": null } },
            )
            .return_document(ReturnDocument::After)
            .await?;
        Ok(updated.map(Account::from))
    }

    /// Up to `limit` accounts in id order after `after` (the USER_PROFILES sync job's walk),
    /// and, for the first page, how many accounts there are.
    pub async fn walk(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<Account>, Option<u64>), AppError> {
        let (query, total) = match after {
            Some(after) => (doc! { "_id": { "$gt": after } }, None),
            None => (doc! {}, Some(self.users.count_documents(doc! {}).await?)),
        };
        let options = FindOptions::builder()
            .sort(doc! { "_id": 1 })
            .limit(limit)
            .build();
        let users = self
            .users
            .find(query)
            .with_options(options)
            .await?
            .map_ok(Account::from)
            .try_collect()
            .await?;
        Ok((users, total))
    }

    /// Up to `limit` accounts matching `filter`, newest first, and how many match in all;
    /// `after` is the last id of the previous page (ids are UUIDv7, so they sort by creation
    /// time).
    pub async fn page(
        &self,
        filter: &UserFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<Account>, u64), AppError> {
        let mut query = filter_document(filter);
        let total = self.users.count_documents(query.clone()).await?;
        if let Some(after) = after {
            query.insert("_id", doc! { "$lt": after });
        }
        let options = FindOptions::builder()
            .sort(doc! { "_id": -1 })
            .limit(limit)
            .build();
        let users = self
            .users
            .find(query)
            .with_options(options)
            .await?
            .map_ok(Account::from)
            .try_collect()
            .await?;
        Ok((users, total))
    }
}

fn filter_document(filter: &UserFilter) -> Document {
    let mut query = doc! {};
    if !filter.roles.is_empty() {
        let names: Vec<&str> = filter.roles.iter().map(|role| role_claim(*role)).collect();
        query.insert("role", doc! { "$in": names });
    }
    if let Some(disabled) = filter.disabled {
        query.insert("disabled", disabled);
    }
    if let Some(text) = &filter.text {
        // Escaped: the client's text is matched literally, never as a pattern.
        let pattern = regex_escape(text);
        query.insert(
            "$or",
            vec![
                doc! { "email": { "$regex": &pattern, "$options": "i" } },
                doc! { "name": { "$regex": &pattern, "$options": "i" } },
            ],
        );
    }
    query
}

/// `text` as a regular expression that matches it literally.
pub(super) fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if "\\.+*?()|[]{}^$-/#".contains(character) {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}
