//! Registration: a visitor's own (Register), another service's registration flow's
//! (CreateAccount, idempotent on its key) and its undoing (DeleteAccount), the e-mail
//! confirmation, and the first ADMIN at start-up. An ADMIN's employees are made here too, for
//! `Admin`. Every account that must confirm its e-mail is written with its confirmation event
//! in one transaction, so neither exists without the other.

use std::{collections::BTreeMap, time::Duration};

use astro_proto::astrobookings::common::v1::Role;
use astro_shared::{AppError, activity::ActivityLog, auth::Caller};

use super::{ClientInfo, passwords};
use crate::{
    domain::{
        self,
        accounts::{self as rules, Account, NewAccount, email_taken},
        outbox::{OutboxEvent, USER_REGISTERED},
        tokens::{is_opaque_token, random_token, sha256_hex},
    },
    store::{
        AccountWrites, UserStore,
        accounts::{DeleteIf, Insert},
    },
};

/// Everything account creation needs.
#[derive(Clone)]
pub struct Registration {
    users: UserStore,
    /// Account and outbox changes made together, in one transaction.
    writes: AccountWrites,
    /// Significant account actions, for IT (never e-mails or secrets: ids and addresses).
    activity: ActivityLog,
}

/// The result of CreateAccount.
pub struct CreatedAccount {
    pub account: Account,
    /// False when a retry found the account made by the first call with its key.
    pub created: bool,
}

/// Who asks for a new account, which decides how it starts.
#[derive(Clone, Copy)]
pub(crate) enum Requester<'a> {
    /// A visitor registering itself: its e-mail must be confirmed.
    Visitor,
    /// An ADMIN creating an employee: its e-mail counts as confirmed.
    Admin(&'a Caller),
    /// Another service's registration flow (CreateAccount): like a visitor, but idempotent on
    /// the flow's key and undoable for a while (DeleteAccount).
    RegistrationFlow { key: &'a str },
}

impl Requester<'_> {
    fn registration_key(self) -> Option<String> {
        match self {
            Requester::RegistrationFlow { key } => Some(key.to_owned()),
            Requester::Visitor | Requester::Admin(_) => None,
        }
    }
}

impl Registration {
    pub fn new(users: UserStore, writes: AccountWrites, activity: ActivityLog) -> Self {
        Self {
            users,
            writes,
            activity,
        }
    }

    /// Self-registration as TRAVELER or AGENCY (`role` already checked to be one of them).
    pub async fn register(
        &self,
        account: NewAccount,
        password: String,
        role: Role,
        client: &ClientInfo,
    ) -> Result<Account, AppError> {
        let created = self
            .create(Requester::Visitor, account, password, role, client)
            .await?;
        Ok(created.account)
    }

    /// CreateAccount: a TRAVELER or AGENCY account made by another service's registration flow,
    /// exactly as a self-registration (same checks, hashing and confirmation e-mail), and
    /// idempotent on `idempotency_key`: a retry returns the account the first call made.
    pub async fn create_for_registration_flow(
        &self,
        idempotency_key: &str,
        account: NewAccount,
        password: String,
        role: Role,
        client: &ClientInfo,
    ) -> Result<CreatedAccount, AppError> {
        self.create(
            Requester::RegistrationFlow {
                key: idempotency_key,
            },
            account,
            password,
            role,
            client,
        )
        .await
    }

    /// Creates an account for `requester`. The account and its confirmation e-mail event (for
    /// accounts that must confirm) are written in one transaction, so neither exists without
    /// the other; the unique indexes on the e-mail and the registration key decide races.
    pub(crate) async fn create(
        &self,
        requester: Requester<'_>,
        new: NewAccount,
        password: String,
        role: Role,
        client: &ClientInfo,
    ) -> Result<CreatedAccount, AppError> {
        let registration_key = requester.registration_key();
        // A retry of a registration that already succeeded answers from what is stored,
        // without the cost of hashing again. Only a shortcut: the unique index decides.
        if let Some(key) = &registration_key
            && let Some(existing) = self.replay(key, &new, role).await?
        {
            return Ok(existing);
        }
        let confirmed = matches!(requester, Requester::Admin(_));
        let confirmation_token = (!confirmed).then(random_token);
        let now = domain::now();
        let account = Account {
            id: uuid::Uuid::now_v7().to_string(),
            email: new.email.clone(),
            name: new.name.clone(),
            role,
            password_hash: passwords::hash(password).await?,
            email_confirmed: confirmed,
            confirmation_token_hash: confirmation_token.as_deref().map(sha256_hex),
            disabled: false,
            created_at: now,
            last_login_at: None,
            disabled_at: None,
            registration_key: registration_key.clone(),
            profile_version: 1,
        };
        let mut data = BTreeMap::from([("role".to_owned(), account.role_name().to_owned())]);
        if let Some(token) = confirmation_token {
            data.insert("confirmation_token".to_owned(), token);
        }
        // An account a registration flow may still undo keeps its e-mail back briefly, so that
        // the undo cancels the e-mail instead of racing the relay.
        let hold = match requester {
            Requester::RegistrationFlow { .. } => rules::COMPENSATION_GRACE,
            Requester::Visitor | Requester::Admin(_) => Duration::ZERO,
        };
        let event = OutboxEvent {
            event_id: uuid::Uuid::now_v7().to_string(),
            event_type: USER_REGISTERED.to_owned(),
            recipient_user_id: account.id.clone(),
            recipient_name: account.name.clone(),
            recipient_email: account.email.clone(),
            data,
            traceparent: client.traceparent.clone(),
            created_at: now,
            attempts: 0,
        };

        // A duplicate whose holder is not visible was deleted between the insert and the read
        // (DeleteAccount): the insert is tried again, a bounded number of times.
        let first_attempt_at = domain::after(now, hold);
        for _ in 0..3 {
            if self
                .writes
                .insert_with_event(&account, &event, first_attempt_at)
                .await?
                == Insert::Inserted
            {
                self.record_created(requester, &account, client);
                return Ok(CreatedAccount {
                    account,
                    created: true,
                });
            }
            let Some(key) = &registration_key else {
                return Err(email_taken());
            };
            if let Some(existing) = self.replay(key, &new, role).await? {
                return Ok(existing);
            }
            if self.users.by_email(&account.email).await?.is_some() {
                return Err(email_taken());
            }
        }
        Err(AppError::Aborted(
            "the registration is being changed concurrently; try again".into(),
        ))
    }

    /// The account a registration key already made, if the request is the same registration.
    async fn replay(
        &self,
        key: &str,
        new: &NewAccount,
        role: Role,
    ) -> Result<Option<CreatedAccount>, AppError> {
        let Some(existing) = self.users.by_registration_key(key).await? else {
            return Ok(None);
        };
        rules::check_replay(&existing.email, existing.role, new, role)?;
        tracing::info!(user_id = %existing.id, "account creation replayed");
        Ok(Some(CreatedAccount {
            account: existing,
            created: false,
        }))
    }

    fn record_created(&self, requester: Requester<'_>, account: &Account, client: &ClientInfo) {
        let role = account.role_name();
        tracing::info!(user_id = %account.id, role = %role, "account created");
        match requester {
            Requester::Visitor => self.activity.info(
                "auth.registered",
                Some(&account.id),
                format!("{role} account registered"),
                &[("role", role), ("client", &client.address)],
            ),
            Requester::Admin(admin) => self.activity.info(
                "admin.employee_created",
                Some(&admin.user_id),
                format!("{role} employee created"),
                &[("employee_id", &account.id), ("role", role)],
            ),
            Requester::RegistrationFlow { .. } => self.activity.info(
                "auth.account_created",
                Some(&account.id),
                format!("{role} account created by a registration flow"),
                &[("role", role), ("client", &client.address)],
            ),
        }
    }

    /// DeleteAccount: undoes a CreateAccount whose caller could not finish its registration.
    /// Only an account CreateAccount made less than 24 hours ago that never logged in is
    /// deleted (one conditional delete), and its pending confirmation e-mail is cancelled with
    /// it. A missing account is not an error: the undo may be a retry.
    pub async fn delete_unused_registration(
        &self,
        user_id: &str,
        reason: &str,
        client: &ClientInfo,
    ) -> Result<bool, AppError> {
        let now = domain::now();
        let rule = DeleteIf {
            user_id,
            registration_flow_only: true,
            created_after: domain::before(now, rules::COMPENSATION_WINDOW),
            never_logged_in: true,
        };
        let reason = reason.trim();
        if let Some(deleted) = self.writes.delete_if(&rule).await? {
            let role = deleted.role_name();
            tracing::info!(user_id = %deleted.id, role = %role, "account deleted");
            self.activity.info(
                "auth.account_deleted",
                Some(&deleted.id),
                format!("{role} account deleted: its registration flow did not finish"),
                &[
                    ("role", role),
                    ("reason", reason),
                    ("client", &client.address),
                ],
            );
            return Ok(true);
        }
        let Some(account) = self.users.by_id(user_id).await? else {
            return Ok(false);
        };
        let age = (now - account.created_at)
            .to_std()
            .unwrap_or(Duration::ZERO);
        let refusal = rules::deletion_refusal(
            account.registration_key.is_some(),
            account.last_login_at.is_some(),
            age,
        );
        self.activity.warn(
            "auth.account_delete_refused",
            Some(&account.id),
            "account deletion refused: the account is in use or too old",
            &[
                ("role", account.role_name()),
                ("reason", reason),
                ("client", &client.address),
            ],
        );
        Err(refusal)
    }

    /// ConfirmEmail: the account holding this confirmation token has a confirmed e-mail.
    pub async fn confirm_email(&self, token: &str) -> Result<Account, AppError> {
        if !is_opaque_token(token) {
            return Err(AppError::invalid("token", "is malformed"));
        }
        let account = self
            .users
            .confirm_email(&sha256_hex(token))
            .await?
            .ok_or_else(|| AppError::NotFound("confirmation token".into()))?;
        self.activity.info(
            "auth.email_confirmed",
            Some(&account.id),
            "e-mail address confirmed",
            &[],
        );
        Ok(account)
    }

    /// Creates the first ADMIN from configuration if no account has that e-mail.
    pub async fn ensure_admin(&self, email: &str, password: String) -> Result<(), AppError> {
        let email = rules::parse_email("ASTRO_SYSTEM_ADMIN_EMAIL", email)?;
        if self.users.by_email(&email).await?.is_some() {
            return Ok(());
        }
        let admin = Account {
            id: uuid::Uuid::now_v7().to_string(),
            email,
            name: "Administrator".to_owned(),
            role: Role::Admin,
            password_hash: passwords::hash(password).await?,
            email_confirmed: true,
            confirmation_token_hash: None,
            disabled: false,
            created_at: domain::now(),
            last_login_at: None,
            disabled_at: None,
            registration_key: None,
            profile_version: 1,
        };
        match self.users.insert(&admin).await {
            // Another replica created it first: fine.
            Ok(()) | Err(AppError::AlreadyExists(_)) => {
                tracing::info!(email = %admin.email, "first ADMIN ensured");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}
