//! SystemDB access (MongoDB protocol): accounts, refresh tokens, the outbox of events for
//! NotifyAPI, the profile outbox for OperationsDB and activity logs, as BSON documents that
//! never leave this module (it answers in domain values); and CacheDB's login failure
//! counters. Invariants are enforced by the
//! database: a unique index on the normalised e-mail and on CreateAccount's idempotency key,
//! and conditional updates and deletes for token rotation, outbox claims and the undoing of
//! fresh accounts.

pub mod accounts;
pub mod login_failures;
pub mod logs;
pub mod monitoring;
pub mod outbox;
pub mod profile_outbox;
pub mod refresh_tokens;
pub mod sync_jobs;
pub mod users;

use chrono::{DateTime, Utc};
use mongodb::{IndexModel, bson::doc, options::IndexOptions};

pub use accounts::AccountWrites;
pub use login_failures::LoginFailures;
pub use logs::LogStore;
pub use outbox::OutboxStore;
pub use profile_outbox::ProfileOutboxStore;
pub use refresh_tokens::RefreshTokenStore;
pub use sync_jobs::SyncJobStore;
pub use users::UserStore;

use outbox::OutboxEntry;
use users::UserDocument;

/// Creates the indexes the invariants rely on (idempotent; run at start-up).
pub async fn ensure_indexes(database: &mongodb::Database) -> Result<(), mongodb::error::Error> {
    let unique = || IndexOptions::builder().unique(true).build();
    database
        .collection::<UserDocument>(users::COLLECTION)
        .create_index(
            IndexModel::builder()
                .keys(doc! { "email": 1 })
                .options(unique())
                .build(),
        )
        .await?;
    database
        .collection::<UserDocument>(users::COLLECTION)
        .create_index(
            IndexModel::builder()
                .keys(doc! { "role": 1, "created_at": -1 })
                .build(),
        )
        .await?;
    // CreateAccount's idempotency: one account per key, enforced by the database so that
    // concurrent retries cannot both insert. Partial: only accounts that have a key.
    database
        .collection::<UserDocument>(users::COLLECTION)
        .create_index(
            IndexModel::builder()
                .keys(doc! { "registration_key": 1 })
                .options(
                    IndexOptions::builder()
                        .name("registration_key_unique".to_owned())
                        .unique(true)
                        .partial_filter_expression(
                            doc! { "registration_key": { "$type": "string" } },
                        )
                        .build(),
                )
                .build(),
        )
        .await?;
    // ListUsersByRole: one role's accounts in e-mail order.
    database
        .collection::<UserDocument>(users::COLLECTION)
        .create_index(
            IndexModel::builder()
                .keys(doc! { "role": 1, "email": 1 })
                .build(),
        )
        .await?;
    database
        .collection::<mongodb::bson::Document>(refresh_tokens::COLLECTION)
        .create_index(IndexModel::builder().keys(doc! { "family_id": 1 }).build())
        .await?;
    database
        .collection::<OutboxEntry>(outbox::COLLECTION)
        .create_index(
            IndexModel::builder()
                .keys(doc! { "delivered": 1, "next_attempt_at": 1 })
                .build(),
        )
        .await?;
    // DeleteAccount cancels the pending entries of one account.
    database
        .collection::<OutboxEntry>(outbox::COLLECTION)
        .create_index(
            IndexModel::builder()
                .keys(doc! { "recipient_user_id": 1 })
                .build(),
        )
        .await?;
    Ok(())
}

use astro_shared::db::is_duplicate_key;

/// A domain time as a BSON date (SystemDB keeps milliseconds).
fn bson_time(time: DateTime<Utc>) -> mongodb::bson::DateTime {
    mongodb::bson::DateTime::from_millis(time.timestamp_millis())
}

/// A BSON date as a domain time (a date beyond chrono's range of ±262,000 years is no date of
/// ours: it reads as the epoch).
fn domain_time(time: mongodb::bson::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or_default()
}

/// Moves an outbox entry's next attempt `delay` ahead (ending its lease), keeping `error` for
/// operators.
async fn retry_later<T: Send + Sync>(
    entries: &mongodb::Collection<T>,
    id: &str,
    delay: std::time::Duration,
    error: &str,
) -> Result<(), astro_shared::AppError> {
    let next = astro_shared::convert::bson_after(mongodb::bson::DateTime::now(), delay);
    entries
        .update_one(
            doc! { "_id": id },
            doc! { "$set": { "next_attempt_at": next, "last_error": error } },
        )
        .await?;
    Ok(())
}
