//! SystemDB access (MongoDB protocol): accounts, refresh tokens and the outbox of events for
//! NotifyAPI. Invariants are enforced by the database: a unique index on the normalised
//! e-mail and on CreateAccount's idempotency key, and conditional updates and deletes for
//! token rotation, outbox claims and the undoing of fresh accounts.

pub mod accounts;
pub mod logs;
pub mod outbox;
pub mod refresh_tokens;
pub mod users;

use mongodb::{IndexModel, bson::doc, options::IndexOptions};

pub use accounts::AccountWrites;
pub use outbox::{OutboxEntry, OutboxStore};
pub use refresh_tokens::RefreshTokenStore;
pub use users::{UserDocument, UserStore};

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

pub use astro_shared::db::is_duplicate_key;
