//! The `refresh_tokens` collection. Only SHA-256 hashes are stored. A token is used once:
//! rotation is a conditional update (`rotated_at` still unset), so two concurrent uses of the
//! same token cannot both succeed, and the loser is treated as reuse.

use astro_shared::AppError;
use chrono::{DateTime as UtcTime, Utc};
use mongodb::{
    Collection,
    bson::{DateTime, Document, doc},
};
use serde::{Deserialize, Serialize};

use super::bson_time;
use crate::domain::tokens::TokenFamily;

pub const COLLECTION: &str = "refresh_tokens";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RefreshTokenDocument {
    /// SHA-256 (hex) of the opaque token.
    #[serde(rename = "_id")]
    token_hash: String,
    /// Every token descended from one login shares the family id.
    family_id: String,
    user_id: String,
    created_at: DateTime,
    expires_at: DateTime,
    rotated_at: Option<DateTime>,
    revoked_at: Option<DateTime>,
}

impl RefreshTokenDocument {
    fn family(self) -> TokenFamily {
        TokenFamily {
            family_id: self.family_id,
            user_id: self.user_id,
        }
    }
}

/// What presenting a refresh token found.
#[derive(Debug)]
pub enum Rotation {
    /// The token was live and is now spent.
    Rotated(TokenFamily),
    /// The token was already spent: someone replayed it. Its family must be revoked.
    Reused(TokenFamily),
    /// Unknown, expired or revoked.
    Invalid,
}

#[derive(Clone)]
pub struct RefreshTokenStore {
    tokens: Collection<RefreshTokenDocument>,
}

impl RefreshTokenStore {
    pub fn new(database: &mongodb::Database) -> Self {
        Self {
            tokens: database.collection(COLLECTION),
        }
    }

    /// Stores a new live token of `family` (by its hash), valid until `expires_at`.
    pub async fn insert(
        &self,
        token_hash: &str,
        family: &TokenFamily,
        expires_at: UtcTime<Utc>,
    ) -> Result<(), AppError> {
        let token = RefreshTokenDocument {
            token_hash: token_hash.to_owned(),
            family_id: family.family_id.clone(),
            user_id: family.user_id.clone(),
            created_at: DateTime::now(),
            expires_at: bson_time(expires_at),
            rotated_at: None,
            revoked_at: None,
        };
        match self.tokens.insert_one(token).await {
            Ok(_) => Ok(()),
            // The hash is of 256 random bits: a duplicate is this very insert, sent again by
            // the driver's retryable write after the first attempt landed but its answer was
            // lost (seen under load). Ours if the stored one is of this family.
            Err(error) if super::is_duplicate_key(&error) => {
                let ours = doc! { "_id": token_hash, "family_id": &family.family_id };
                match self.tokens.find_one(ours).await? {
                    Some(_) => Ok(()),
                    None => Err(error.into()),
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Spends the token with this hash if it is live.
    pub async fn rotate(&self, token_hash: &str) -> Result<Rotation, AppError> {
        let now = DateTime::now();
        let spent = self
            .tokens
            .find_one_and_update(
                doc! {
                    "_id": token_hash,
                    "rotated_at": null,
                    "revoked_at": null,
                    "expires_at": { "$gt": now },
                },
                doc! { "$set": { "rotated_at": now } },
            )
            .await?;
        if let Some(token) = spent {
            return Ok(Rotation::Rotated(token.family()));
        }
        Ok(
            match self.tokens.find_one(doc! { "_id": token_hash }).await? {
                Some(token) if token.rotated_at.is_some() => Rotation::Reused(token.family()),
                Some(_) | None => Rotation::Invalid,
            },
        )
    }

    /// Revokes every token of a family.
    pub async fn revoke_family(&self, family_id: &str) -> Result<(), AppError> {
        self.tokens
            .update_many(
                doc! { "family_id": family_id, "revoked_at": null },
                doc! { "$set": { "revoked_at": DateTime::now() } },
            )
            .await?;
        Ok(())
    }

    /// Revokes every token of every family of a user (a password change ends all sessions).
    pub async fn revoke_user_families(&self, user_id: &str) -> Result<(), AppError> {
        self.tokens
            .update_many(
                doc! { "user_id": user_id, "revoked_at": null },
                doc! { "$set": { "revoked_at": DateTime::now() } },
            )
            .await?;
        Ok(())
    }

    /// Whether any token of the family was revoked (a rotation racing a reuse detection checks
    /// this after inserting its new token).
    pub async fn family_revoked(&self, family_id: &str) -> Result<bool, AppError> {
        let filter: Document = doc! { "family_id": family_id, "revoked_at": { "$ne": null } };
        Ok(self.tokens.find_one(filter).await?.is_some())
    }

    /// The family of a token (live or not), for logout.
    pub async fn family_of(&self, token_hash: &str) -> Result<Option<TokenFamily>, AppError> {
        Ok(self
            .tokens
            .find_one(doc! { "_id": token_hash })
            .await?
            .map(RefreshTokenDocument::family))
    }
}
