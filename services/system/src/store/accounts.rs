//! Writes that change an account and its outbox together, in one SystemDB transaction each:
//! creating an account with its confirmation e-mail event, deleting a fresh account with
//! the cancellation of its pending e-mails, and changing a profile with the push of its new
//! version to OperationsDB. A transaction that loses a write conflict to a
//! concurrent one (SystemDB labels it `TransientTransactionError`) is run again.

use std::{future::Future, time::Duration};

use astro_shared::AppError;
use chrono::{DateTime as UtcTime, Utc};
use mongodb::{
    ClientSession, Collection,
    bson::{DateTime, doc},
    error::{ErrorKind, TRANSIENT_TRANSACTION_ERROR, WriteFailure},
    options::ReturnDocument,
};
use rand::Rng as _;

use super::{
    OutboxEntry, UserDocument, bson_time, is_duplicate_key, outbox,
    profile_outbox::{self, ProfilePushEntry},
    users,
};
use crate::domain::{accounts::Account, outbox::OutboxEvent};

/// Attempts of one transaction before giving up with ABORTED. With the back-off below that is
/// about two seconds of contention, far more than a burst of retries of one request causes.
const MAX_ATTEMPTS: u32 = 10;

/// What an account insert found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    Inserted,
    /// A unique index refused it: the e-mail or the registration key is taken. The caller
    /// reads which (committed data only, so a concurrent insert is never mistaken for one).
    Duplicate,
}

/// A change of what OperationsDB mirrors of an account.
#[derive(Debug, Clone, Copy)]
pub enum ProfileChange<'a> {
    Name(&'a str),
    /// Disabled (true) or enabled again.
    Disabled(bool),
}

/// A conditional delete of an account: the conditions are part of the delete's filter.
pub struct DeleteIf<'a> {
    pub user_id: &'a str,
    /// Only an account made by CreateAccount (it carries a registration key).
    pub registration_flow_only: bool,
    /// Only an account created after this instant.
    pub created_after: UtcTime<Utc>,
    /// Only an account that never logged in.
    pub never_logged_in: bool,
}

#[derive(Clone)]
pub struct AccountWrites {
    client: mongodb::Client,
    users: Collection<UserDocument>,
    outbox: Collection<OutboxEntry>,
    profile_outbox: Collection<ProfilePushEntry>,
}

impl AccountWrites {
    pub fn new(database: &mongodb::Database) -> Self {
        Self {
            client: database.client().clone(),
            users: database.collection(users::COLLECTION),
            outbox: database.collection(outbox::COLLECTION),
            profile_outbox: database.collection(profile_outbox::COLLECTION),
        }
    }

    /// Inserts the account and its outbox event together: neither exists without the other.
    /// The event is first sent at `first_attempt_at`.
    pub async fn insert_with_event(
        &self,
        account: &Account,
        event: &OutboxEvent,
        first_attempt_at: UtcTime<Utc>,
    ) -> Result<Insert, AppError> {
        let user = UserDocument::from(account);
        let event = OutboxEntry::pending(event, first_attempt_at);
        retrying(|| async {
            match self.try_insert(&user, &event).await {
                Ok(()) => Ok(Insert::Inserted),
                Err(error) if is_duplicate_key(&error) => Ok(Insert::Duplicate),
                Err(error) => Err(error),
            }
        })
        .await
    }

    async fn try_insert(
        &self,
        user: &UserDocument,
        event: &OutboxEntry,
    ) -> mongodb::error::Result<()> {
        let mut session = self.client.start_session().await?;
        session.start_transaction().await?;
        let written = async {
            self.users.insert_one(user).session(&mut session).await?;
            self.outbox.insert_one(event).session(&mut session).await?;
            Ok(())
        }
        .await;
        finish(session, written).await
    }

    /// Deletes the account if it meets every condition of `rule` (one conditional delete, so
    /// a login or anything else racing it either happened before, and the delete does not
    /// match, or finds no account) and cancels its undelivered outbox entries in the same
    /// transaction. Returns the deleted account, or `None` if nothing matched: the account is
    /// missing or does not qualify.
    pub async fn delete_if(&self, rule: &DeleteIf<'_>) -> Result<Option<Account>, AppError> {
        let deleted = retrying(|| self.try_delete(rule)).await?;
        Ok(deleted.map(Account::from))
    }

    /// Applies `change` to the account, raising its profile version, and (for an account
    /// OperationsDB mirrors) records in the same transaction that the new version is to be
    /// pushed there. Returns the changed account, or `None` if there is no such account.
    pub async fn change_profile(
        &self,
        user_id: &str,
        change: ProfileChange<'_>,
        traceparent: &str,
    ) -> Result<Option<Account>, AppError> {
        retrying(|| self.try_change_profile(user_id, change, traceparent)).await
    }

    async fn try_change_profile(
        &self,
        user_id: &str,
        change: ProfileChange<'_>,
        traceparent: &str,
    ) -> mongodb::error::Result<Option<Account>> {
        let set = match change {
            ProfileChange::Name(name) => doc! { "name": name },
            ProfileChange::Disabled(disabled) => doc! {
                "disabled": disabled,
                "disabled_at": disabled.then(DateTime::now),
            },
        };
        let mut session = self.client.start_session().await?;
        session.start_transaction().await?;
        let written = async {
            let updated = self
                .users
                .find_one_and_update(
                    doc! { "_id": user_id },
                    doc! { "$set": set, "$inc": { "profile_version": 1 } },
                )
                .return_document(ReturnDocument::After)
                .session(&mut session)
                .await?
                .map(Account::from);
            if let Some(account) = updated.as_ref().filter(|account| account.is_mirrored()) {
                self.profile_outbox
                    .update_one(
                        doc! { "_id": &account.id },
                        profile_outbox::waiting(account.profile_version, traceparent),
                    )
                    .upsert(true)
                    .session(&mut session)
                    .await?;
            }
            Ok(updated)
        }
        .await;
        finish(session, written).await
    }

    async fn try_delete(
        &self,
        rule: &DeleteIf<'_>,
    ) -> mongodb::error::Result<Option<UserDocument>> {
        let mut filter = doc! {
            "_id": rule.user_id,
            "created_at": { "$gt": bson_time(rule.created_after) },
        };
        if rule.registration_flow_only {
            filter.insert("registration_key", doc! { "$type": "string" });
        }
        if rule.never_logged_in {
            filter.insert("last_login_at", mongodb::bson::Bson::Null);
        }
        let mut session = self.client.start_session().await?;
        session.start_transaction().await?;
        let written = async {
            let deleted = self
                .users
                .find_one_and_delete(filter)
                .session(&mut session)
                .await?;
            if deleted.is_some() {
                // Every e-mail still waiting for this account, i.e. its confirmation: the
                // relay claims only entries without `cancelled_at`.
                self.outbox
                    .update_many(
                        doc! {
                            "recipient_user_id": rule.user_id,
                            "delivered": false,
                            "cancelled_at": null,
                        },
                        doc! { "$set": { "cancelled_at": DateTime::now() } },
                    )
                    .session(&mut session)
                    .await?;
            }
            Ok(deleted)
        }
        .await;
        finish(session, written).await
    }
}

/// Runs one transaction until it does not lose a write conflict, a bounded number of times
/// (then ABORTED).
async fn retrying<T, F, Attempt>(mut transaction: F) -> Result<T, AppError>
where
    F: FnMut() -> Attempt,
    Attempt: Future<Output = mongodb::error::Result<T>>,
{
    let mut attempt = 1;
    loop {
        match transaction().await {
            Ok(value) => return Ok(value),
            Err(error) if is_transient(&error) && attempt < MAX_ATTEMPTS => {
                pause(attempt).await;
                attempt += 1;
            }
            Err(error) if is_transient(&error) => return Err(contended()),
            Err(error) => return Err(error.into()),
        }
    }
}

/// Commits after the statements succeeded, aborts otherwise.
async fn finish<T>(
    mut session: ClientSession,
    written: mongodb::error::Result<T>,
) -> mongodb::error::Result<T> {
    match written {
        Ok(value) => {
            session.commit_transaction().await?;
            Ok(value)
        }
        Err(error) => {
            // The statement's error is the one that matters; a failed abort changes nothing
            // (the server drops the transaction when it expires).
            let _ = session.abort_transaction().await;
            Err(error)
        }
    }
}

/// A write conflict with a concurrent transaction: worth running again.
fn is_transient(error: &mongodb::error::Error) -> bool {
    const WRITE_CONFLICT: i32 = 112;
    error.contains_label(TRANSIENT_TRANSACTION_ERROR)
        || match &*error.kind {
            ErrorKind::Command(command) => command.code == WRITE_CONFLICT,
            ErrorKind::Write(WriteFailure::WriteError(write)) => write.code == WRITE_CONFLICT,
            _ => false,
        }
}

/// 10, 20, 40, ... up to 320 ms, plus jitter so the losers do not collide again in step.
async fn pause(attempt: u32) {
    let base = 10_u64 << attempt.saturating_sub(1).min(5);
    let jitter = rand::rng().random_range(0..=base);
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
}

fn contended() -> AppError {
    AppError::Aborted("the account is being changed concurrently; try again".into())
}
