//! The `users` collection: one document per account.

use astro_proto::astrobookings::{
    common::v1::{Contact, Role},
    system::v1::User,
};
use astro_shared::{AppError, auth::role_claim, convert::bson_timestamp};
use futures::TryStreamExt as _;
use mongodb::{
    Collection,
    bson::{DateTime, doc},
    options::FindOptions,
};
use serde::{Deserialize, Serialize};

pub const COLLECTION: &str = "users";

/// An account as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserDocument {
    #[serde(rename = "_id")]
    pub id: String,
    /// Lower-cased; the unique index makes e-mails unique case-insensitively.
    pub email: String,
    pub name: String,
    /// `TRAVELER`, `AGENCY`, `FINANCE`, `IT` or `ADMIN`.
    pub role: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub email_confirmed: bool,
    /// SHA-256 of the e-mail confirmation token, until confirmed.
    pub confirmation_token_hash: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime,
    pub last_login_at: Option<DateTime>,
    pub disabled_at: Option<DateTime>,
    /// The idempotency key of the CreateAccount call that made the account; absent for
    /// self-registrations, employees and the first ADMIN. Left out of the document when
    /// absent, so the partial unique index covers only accounts that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_key: Option<String>,
}

impl UserDocument {
    pub fn role(&self) -> Role {
        astro_shared::auth::role_from_claim(&self.role).unwrap_or(Role::Unspecified)
    }

    /// The contract's view: never the password hash or the confirmation token.
    pub fn to_proto(&self) -> User {
        User {
            id: self.id.clone(),
            email: self.email.clone(),
            name: self.name.clone(),
            role: self.role().into(),
            email_confirmed: self.email_confirmed,
            disabled: self.disabled,
            created_at: Some(bson_timestamp(self.created_at)),
            last_login_at: self.last_login_at.map(bson_timestamp),
            disabled_at: self.disabled_at.map(bson_timestamp),
        }
    }

    /// The account as a notification contact (accounts carry no phone number).
    pub fn to_contact(&self) -> Contact {
        Contact {
            user_id: self.id.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            phone: String::new(),
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

    pub fn collection(&self) -> &Collection<UserDocument> {
        &self.users
    }

    pub async fn by_email(&self, email: &str) -> Result<Option<UserDocument>, AppError> {
        Ok(self.users.find_one(doc! { "email": email }).await?)
    }

    pub async fn by_id(&self, id: &str) -> Result<Option<UserDocument>, AppError> {
        Ok(self.users.find_one(doc! { "_id": id }).await?)
    }

    /// Inserts a user; ALREADY_EXISTS if the e-mail is taken (unique index, not a prior read).
    pub async fn insert(&self, user: &UserDocument) -> Result<(), AppError> {
        match self.users.insert_one(user).await {
            Ok(_) => Ok(()),
            Err(error) if super::is_duplicate_key(&error) => Err(email_taken()),
            Err(error) => Err(error.into()),
        }
    }

    /// The account a CreateAccount call with this idempotency key made, if it still exists.
    pub async fn by_registration_key(&self, key: &str) -> Result<Option<UserDocument>, AppError> {
        Ok(self
            .users
            .find_one(doc! { "registration_key": key })
            .await?)
    }

    /// The accounts among `ids` that exist, in no particular order.
    pub async fn by_ids(&self, ids: &[String]) -> Result<Vec<UserDocument>, AppError> {
        Ok(self
            .users
            .find(doc! { "_id": { "$in": ids } })
            .await?
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

    /// A page of the enabled accounts of `role`, ordered by e-mail, after `after_email`.
    pub async fn enabled_by_role_page(
        &self,
        role: Role,
        after_email: Option<&str>,
        limit: u32,
    ) -> Result<Vec<UserDocument>, AppError> {
        let mut filter = doc! { "role": role_claim(role), "disabled": false };
        if let Some(after) = after_email {
            filter.insert("email", doc! { "$gt": after });
        }
        let options = FindOptions::builder()
            .sort(doc! { "email": 1 })
            .limit(i64::from(limit))
            .build();
        Ok(self
            .users
            .find(filter)
            .with_options(options)
            .await?
            .try_collect()
            .await?)
    }

    /// Sets the display name; returns the updated user.
    pub async fn set_name(&self, id: &str, name: &str) -> Result<Option<UserDocument>, AppError> {
        Ok(self
            .users
            .find_one_and_update(doc! { "_id": id }, doc! { "$set": { "name": name } })
            .return_document(mongodb::options::ReturnDocument::After)
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

    /// Disables or enables an account; returns it, or `None` if there is no such account.
    pub async fn set_disabled(
        &self,
        id: &str,
        disabled: bool,
    ) -> Result<Option<UserDocument>, AppError> {
        let disabled_at = disabled.then(DateTime::now);
        Ok(self
            .users
            .find_one_and_update(
                doc! { "_id": id },
                doc! { "$set": { "disabled": disabled, "disabled_at": disabled_at } },
            )
            .return_document(mongodb::options::ReturnDocument::After)
            .await?)
    }

    /// Confirms the e-mail of the account holding this confirmation token hash.
    pub async fn confirm_email(&self, token_hash: &str) -> Result<Option<UserDocument>, AppError> {
        Ok(self
            .users
            .find_one_and_update(
                doc! { "confirmation_token_hash": token_hash },
                doc! { "$set": { "email_confirmed": true, "confirmation_token_hash": null } },
            )
            .return_document(mongodb::options::ReturnDocument::After)
            .await?)
    }

    /// A page of accounts matching `filter`, newest first; `after` is the last id of the
    /// previous page (ids are UUIDv7, so they sort by creation time).
    pub async fn page(
        &self,
        filter: &UserFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<UserDocument>, u64), AppError> {
        let mut query = filter.to_document();
        let total = self.users.count_documents(query.clone()).await?;
        if let Some(after) = after {
            query.insert("_id", doc! { "$lt": after });
        }
        let options = FindOptions::builder()
            .sort(doc! { "_id": -1 })
            .limit(i64::from(limit))
            .build();
        let users = self
            .users
            .find(query)
            .with_options(options)
            .await?
            .try_collect()
            .await?;
        Ok((users, total))
    }
}

/// Which accounts a listing returns.
#[derive(Debug, Default)]
pub struct UserFilter {
    /// Empty: every role.
    pub roles: Vec<Role>,
    pub disabled: Option<bool>,
    /// Case-insensitive substring of the e-mail or the name.
    pub text: Option<String>,
}

impl UserFilter {
    fn to_document(&self) -> mongodb::bson::Document {
        let mut filter = doc! {};
        if !self.roles.is_empty() {
            let names: Vec<&str> = self.roles.iter().map(|role| role_claim(*role)).collect();
            filter.insert("role", doc! { "$in": names });
        }
        if let Some(disabled) = self.disabled {
            filter.insert("disabled", disabled);
        }
        if let Some(text) = &self.text {
            // Escaped: the client's text is matched literally, never as a pattern.
            let pattern = regex_escape(text);
            filter.insert(
                "$or",
                vec![
                    doc! { "email": { "$regex": &pattern, "$options": "i" } },
                    doc! { "name": { "$regex": &pattern, "$options": "i" } },
                ],
            );
        }
        filter
    }
}

/// `text` as a regular expression that matches it literally.
pub(crate) fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if "\\.+*?()|[]{}^$-/#".contains(character) {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

pub fn email_taken() -> AppError {
    AppError::AlreadyExists("an account with this e-mail already exists".into())
}
