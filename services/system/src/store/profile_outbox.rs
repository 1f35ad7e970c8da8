//! The `profile_outbox` collection: the accounts whose profile OperationsDB has still to
//! receive. One entry per account, upserted in the same transaction as the change
//! (`AccountWrites::change_profile`) with the newest version waiting; the profile relay pushes
//! the account and removes the entry only if no newer change arrived meanwhile.

use std::time::Duration;

use astro_shared::{AppError, convert::bson_after};
use mongodb::{
    Collection,
    bson::{DateTime, Document, doc},
    options::ReturnDocument,
};
use serde::{Deserialize, Serialize};

use crate::domain::outbox::ProfilePush;

pub const COLLECTION: &str = "profile_outbox";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ProfilePushEntry {
    #[serde(rename = "_id")]
    user_id: String,
    /// The newest profile version waiting (`$max`: a late writer never lowers it).
    version: i64,
    /// W3C `traceparent` of the request that made the newest change.
    traceparent: String,
    /// When the first change still waiting was made.
    created_at: DateTime,
    attempts: i32,
    /// Also the lease: a claimed entry is pushed into the future while it is being sent.
    next_attempt_at: DateTime,
    last_error: Option<String>,
}

/// The upsert that records a change at `version`, due at once (a change made while an older
/// version is being sent is claimed again right after).
pub(super) fn waiting(version: i64, traceparent: &str) -> Document {
    let now = DateTime::now();
    doc! {
        "$max": { "version": version },
        "$set": { "traceparent": traceparent, "next_attempt_at": now },
        "$setOnInsert": { "created_at": now, "attempts": 0, "last_error": null },
    }
}

impl From<ProfilePushEntry> for ProfilePush {
    fn from(entry: ProfilePushEntry) -> Self {
        Self {
            user_id: entry.user_id,
            version: entry.version,
            traceparent: entry.traceparent,
            attempts: entry.attempts,
        }
    }
}

#[derive(Clone)]
pub struct ProfileOutboxStore {
    entries: Collection<ProfilePushEntry>,
}

impl ProfileOutboxStore {
    pub fn new(database: &mongodb::Database) -> Self {
        Self {
            entries: database.collection(COLLECTION),
        }
    }

    pub async fn ensure_indexes(&self) -> Result<(), AppError> {
        self.entries
            .create_index(
                mongodb::IndexModel::builder()
                    .keys(doc! { "next_attempt_at": 1 })
                    .build(),
            )
            .await?;
        Ok(())
    }

    /// Claims the oldest due entry for `lease` (another relay leaves it alone meanwhile),
    /// counting the attempt.
    pub async fn claim_due(&self, lease: Duration) -> Result<Option<ProfilePush>, AppError> {
        let now = DateTime::now();
        let claimed = self
            .entries
            .find_one_and_update(
                doc! { "next_attempt_at": { "$lte": now } },
                doc! {
                    "$set": { "next_attempt_at": bson_after(now, lease) },
                    "$inc": { "attempts": 1 },
                },
            )
            .sort(doc! { "next_attempt_at": 1 })
            .return_document(ReturnDocument::After)
            .await?;
        Ok(claimed.map(ProfilePush::from))
    }

    /// Removes the entry once OperationsDB has `version`, unless a newer change is waiting.
    pub async fn delivered(&self, user_id: &str, version: i64) -> Result<(), AppError> {
        self.entries
            .delete_one(doc! { "_id": user_id, "version": { "$lte": version } })
            .await?;
        Ok(())
    }

    /// Schedules another attempt after `delay`, keeping the error for operators.
    pub async fn retry_later(
        &self,
        user_id: &str,
        delay: Duration,
        error: &str,
    ) -> Result<(), AppError> {
        super::retry_later(&self.entries, user_id, delay, error).await
    }
}
