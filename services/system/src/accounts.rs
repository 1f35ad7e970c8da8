//! Accounts and sessions: registration (by a visitor, or by another service's registration
//! flow through CreateAccount, and its undoing), login, token rotation, logout, the caller's
//! own account, what an ADMIN does with employees and users, and account look-ups for the
//! other services.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use astro_proto::astrobookings::{
    common::v1::{Contact, Role},
    system::v1::{TokenPair, User},
};
use astro_shared::{
    AppError,
    activity::ActivityLog,
    auth::{
        ACCESS_TOKEN_USE, AccessClaims, Caller, Denylist, TOKEN_AUDIENCE, TOKEN_ISSUER, role_claim,
        unix_now, unix_now_ms,
    },
    convert::{bson_after, bson_before},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use mongodb::bson::DateTime;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use astro_shared::paging::page_size;

use crate::{
    domain,
    keys::SigningKey,
    login_limits::LoginLimiter,
    passwords,
    store::{
        AccountWrites, OutboxEntry, OutboxStore, RefreshTokenStore, UserDocument, UserStore,
        accounts::{DeleteIf, Insert},
        refresh_tokens::{RefreshTokenDocument, Rotation},
        users::{UserFilter, email_taken},
    },
};

/// How long tokens live.
#[derive(Debug, Clone, Copy)]
pub struct TokenLifetimes {
    pub access: Duration,
    pub refresh: Duration,
}

/// Everything the account RPCs need.
#[derive(Clone)]
pub struct Accounts {
    pub users: UserStore,
    refresh_tokens: RefreshTokenStore,
    outbox: OutboxStore,
    /// Account and outbox changes made together, in one transaction.
    writes: AccountWrites,
    signing_key: SigningKey,
    pub denylist: Denylist,
    limiter: LoginLimiter,
    lifetimes: TokenLifetimes,
    /// A real argon2id hash of a random password: an unknown e-mail is checked against it so
    /// that it costs as much time as a wrong password.
    decoy_hash: Arc<String>,
    /// Significant account actions, for IT (never e-mails or secrets: ids and addresses).
    pub activity: ActivityLog,
}

/// A login or refresh result.
pub struct Session {
    pub tokens: TokenPair,
    pub user: UserDocument,
}

/// A page of [`Accounts::list_users`].
pub struct UsersPage {
    pub users: Vec<User>,
    pub next_page_token: String,
    /// Every account matching the filter, across pages.
    pub total: u64,
}

/// The result of CreateAccount.
pub struct CreatedAccount {
    pub user: UserDocument,
    /// False when a retry found the account made by the first call with its key.
    pub created: bool,
}

/// The result of BatchGetUsers.
pub struct UserBatch {
    pub users: Vec<User>,
    /// Requested ids without an account, in the order asked.
    pub missing_user_ids: Vec<String>,
}

/// A page of ListUsersByRole.
pub struct ContactsPage {
    pub contacts: Vec<Contact>,
    pub next_page_token: String,
}

/// Who asks for a new account, which decides how it starts.
#[derive(Clone, Copy)]
enum Requester<'a> {
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

/// Where a request came from, for rate limits and logs.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub address: String,
    pub traceparent: String,
}

impl Accounts {
    pub async fn new(
        database: mongodb::Database,
        signing_key: SigningKey,
        denylist: Denylist,
        limiter: LoginLimiter,
        lifetimes: TokenLifetimes,
        activity: ActivityLog,
    ) -> Result<Self, AppError> {
        let decoy_hash = passwords::hash(random_token()).await?;
        Ok(Self {
            users: UserStore::new(&database),
            refresh_tokens: RefreshTokenStore::new(&database),
            outbox: OutboxStore::new(&database),
            writes: AccountWrites::new(&database),
            signing_key,
            denylist,
            limiter,
            lifetimes,
            decoy_hash: Arc::new(decoy_hash),
            activity,
        })
    }

    pub fn outbox(&self) -> &OutboxStore {
        &self.outbox
    }

    /// Self-registration as TRAVELER or AGENCY. The account and its confirmation e-mail event
    /// are written in one transaction, so neither exists without the other.
    pub async fn register(
        &self,
        email: &str,
        password: String,
        name: &str,
        role: i32,
        client: &ClientInfo,
    ) -> Result<UserDocument, AppError> {
        let account = domain::NewAccount::parse(email, &password, name)?;
        let role = domain::self_registration_role(role)?;
        let created = self
            .create_account(Requester::Visitor, account, password, role, client)
            .await?;
        Ok(created.user)
    }

    /// CreateAccount: a TRAVELER or AGENCY account made by another service's registration flow,
    /// exactly as a self-registration (same checks, hashing and confirmation e-mail), and
    /// idempotent on `idempotency_key`: a retry returns the account the first call made.
    pub async fn create_for_registration_flow(
        &self,
        idempotency_key: &str,
        email: &str,
        password: String,
        name: &str,
        role: i32,
        client: &ClientInfo,
    ) -> Result<CreatedAccount, AppError> {
        let key = domain::parse_idempotency_key(idempotency_key)?;
        let account = domain::NewAccount::parse(email, &password, name)?;
        let role = domain::self_registration_role(role)?;
        self.create_account(
            Requester::RegistrationFlow { key: &key },
            account,
            password,
            role,
            client,
        )
        .await
    }

    /// An employee (FINANCE or IT), created by an ADMIN; its e-mail counts as confirmed.
    pub async fn create_employee(
        &self,
        admin: &Caller,
        email: &str,
        password: String,
        name: &str,
        role: i32,
        client: &ClientInfo,
    ) -> Result<UserDocument, AppError> {
        let account = domain::NewAccount::parse(email, &password, name)?;
        let role = domain::employee_role(role)?;
        let created = self
            .create_account(Requester::Admin(admin), account, password, role, client)
            .await?;
        Ok(created.user)
    }

    /// Creates an account for `requester`. The account and its confirmation e-mail event (for
    /// accounts that must confirm) are written in one transaction, so neither exists without
    /// the other; the unique indexes on the e-mail and the registration key decide races.
    async fn create_account(
        &self,
        requester: Requester<'_>,
        account: domain::NewAccount,
        password: String,
        role: Role,
        client: &ClientInfo,
    ) -> Result<CreatedAccount, AppError> {
        let registration_key = requester.registration_key();
        // A retry of a registration that already succeeded answers from what is stored,
        // without the cost of hashing again. Only a shortcut: the unique index decides.
        if let Some(key) = &registration_key
            && let Some(existing) = self.replay(key, &account, role).await?
        {
            return Ok(existing);
        }
        let confirmed = matches!(requester, Requester::Admin(_));
        let confirmation_token = (!confirmed).then(random_token);
        let user = UserDocument {
            id: uuid::Uuid::now_v7().to_string(),
            email: account.email.clone(),
            name: account.name.clone(),
            role: role_claim(role).to_owned(),
            password_hash: passwords::hash(password).await?,
            email_confirmed: confirmed,
            confirmation_token_hash: confirmation_token.as_deref().map(sha256_hex),
            disabled: false,
            created_at: DateTime::now(),
            last_login_at: None,
            disabled_at: None,
            registration_key: registration_key.clone(),
        };
        let mut data = BTreeMap::from([("role".to_owned(), user.role.clone())]);
        if let Some(token) = confirmation_token {
            data.insert("confirmation_token".to_owned(), token);
        }
        // An account a registration flow may still undo keeps its e-mail back briefly, so that
        // the undo cancels the e-mail instead of racing the relay.
        let hold = match requester {
            Requester::RegistrationFlow { .. } => domain::COMPENSATION_GRACE,
            Requester::Visitor | Requester::Admin(_) => Duration::ZERO,
        };
        let event = OutboxEntry {
            event_id: uuid::Uuid::now_v7().to_string(),
            event_type: "NOTIFICATION_EVENT_TYPE_USER_REGISTERED".to_owned(),
            recipient_user_id: user.id.clone(),
            recipient_name: user.name.clone(),
            recipient_email: user.email.clone(),
            data,
            traceparent: client.traceparent.clone(),
            created_at: DateTime::now(),
            delivered: false,
            delivered_at: None,
            attempts: 0,
            next_attempt_at: bson_after(DateTime::now(), hold),
            last_error: None,
            cancelled_at: None,
        };

        // A duplicate whose holder is not visible was deleted between the insert and the read
        // (DeleteAccount): the insert is tried again, a bounded number of times.
        for _ in 0..3 {
            if self.writes.insert_with_event(&user, &event).await? == Insert::Inserted {
                self.record_created(requester, &user, client);
                return Ok(CreatedAccount {
                    user,
                    created: true,
                });
            }
            let Some(key) = &registration_key else {
                return Err(email_taken());
            };
            if let Some(existing) = self.replay(key, &account, role).await? {
                return Ok(existing);
            }
            if self.users.by_email(&user.email).await?.is_some() {
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
        account: &domain::NewAccount,
        role: Role,
    ) -> Result<Option<CreatedAccount>, AppError> {
        let Some(existing) = self.users.by_registration_key(key).await? else {
            return Ok(None);
        };
        domain::check_replay(&existing.email, existing.role(), account, role)?;
        tracing::info!(user_id = %existing.id, "account creation replayed");
        Ok(Some(CreatedAccount {
            user: existing,
            created: false,
        }))
    }

    fn record_created(&self, requester: Requester<'_>, user: &UserDocument, client: &ClientInfo) {
        tracing::info!(user_id = %user.id, role = %user.role, "account created");
        match requester {
            Requester::Visitor => self.activity.info(
                "auth.registered",
                Some(&user.id),
                format!("{} account registered", user.role),
                &[("role", &user.role), ("client", &client.address)],
            ),
            Requester::Admin(admin) => self.activity.info(
                "admin.employee_created",
                Some(&admin.user_id),
                format!("{} employee created", user.role),
                &[("employee_id", &user.id), ("role", &user.role)],
            ),
            Requester::RegistrationFlow { .. } => self.activity.info(
                "auth.account_created",
                Some(&user.id),
                format!("{} account created by a registration flow", user.role),
                &[("role", &user.role), ("client", &client.address)],
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
        let user_id = domain::parse_user_id("user_id", user_id)?;
        let now = DateTime::now();
        let rule = DeleteIf {
            user_id: &user_id,
            registration_flow_only: true,
            created_after: bson_before(now, domain::COMPENSATION_WINDOW),
            never_logged_in: true,
        };
        let reason = reason.trim();
        if let Some(deleted) = self.writes.delete_if(&rule).await? {
            tracing::info!(user_id = %deleted.id, role = %deleted.role, "account deleted");
            self.activity.info(
                "auth.account_deleted",
                Some(&deleted.id),
                format!(
                    "{} account deleted: its registration flow did not finish",
                    deleted.role
                ),
                &[
                    ("role", &deleted.role),
                    ("reason", reason),
                    ("client", &client.address),
                ],
            );
            return Ok(true);
        }
        let Some(user) = self.users.by_id(&user_id).await? else {
            return Ok(false);
        };
        let age_millis = now.timestamp_millis() - user.created_at.timestamp_millis();
        let refusal = domain::deletion_refusal(
            user.registration_key.is_some(),
            user.last_login_at.is_some(),
            Duration::from_millis(u64::try_from(age_millis).unwrap_or(0)),
        );
        self.activity.warn(
            "auth.account_delete_refused",
            Some(&user.id),
            "account deletion refused: the account is in use or too old",
            &[
                ("role", &user.role),
                ("reason", reason),
                ("client", &client.address),
            ],
        );
        Err(refusal)
    }

    /// GetUser: one account, for another service.
    pub async fn get_user(&self, user_id: &str) -> Result<User, AppError> {
        let user_id = domain::parse_user_id("user_id", user_id)?;
        self.users
            .by_id(&user_id)
            .await?
            .map(|user| user.to_proto())
            .ok_or_else(|| AppError::NotFound("user".into()))
    }

    /// BatchGetUsers: up to 500 accounts at once; unknown ids are listed, not an error.
    pub async fn batch_get_users(&self, user_ids: &[String]) -> Result<UserBatch, AppError> {
        let ids = domain::parse_user_ids(user_ids)?;
        let found = self.users.by_ids(&ids).await?;
        let known: std::collections::HashSet<&str> =
            found.iter().map(|user| user.id.as_str()).collect();
        let missing_user_ids = ids
            .iter()
            .filter(|id| !known.contains(id.as_str()))
            .cloned()
            .collect();
        Ok(UserBatch {
            users: found.iter().map(UserDocument::to_proto).collect(),
            missing_user_ids,
        })
    }

    /// ListUsersByRole: the enabled accounts of one role as contacts, by e-mail. One row more
    /// than a page is read so the last page says there is no next one.
    pub async fn list_contacts(
        &self,
        role: i32,
        page_token: &str,
        requested_size: i32,
    ) -> Result<ContactsPage, AppError> {
        const PAGE_DEFAULT: u32 = 100;
        const PAGE_MAX: u32 = 500;
        let role = domain::contact_listing_role(role)?;
        let size = page_size(requested_size, PAGE_DEFAULT, PAGE_MAX)?;
        let after = domain::parse_email_page_token(page_token)?;
        let mut users = self
            .users
            .enabled_by_role_page(role, after.as_deref(), size + 1)
            .await?;
        let more = users.len() > size as usize;
        users.truncate(size as usize);
        let next_page_token = match users.last() {
            Some(last) if more => domain::email_page_token(&last.email),
            _ => String::new(),
        };
        Ok(ContactsPage {
            contacts: users.iter().map(UserDocument::to_contact).collect(),
            next_page_token,
        })
    }

    /// Creates the first ADMIN from configuration if no account has that e-mail.
    pub async fn ensure_admin(&self, email: &str, password: String) -> Result<(), AppError> {
        let email = domain::parse_email("ASTRO_SYSTEM_ADMIN_EMAIL", email)?;
        if self.users.by_email(&email).await?.is_some() {
            return Ok(());
        }
        let admin = UserDocument {
            id: uuid::Uuid::now_v7().to_string(),
            email,
            name: "Administrator".to_owned(),
            role: role_claim(Role::Admin).to_owned(),
            password_hash: passwords::hash(password).await?,
            email_confirmed: true,
            confirmation_token_hash: None,
            disabled: false,
            created_at: DateTime::now(),
            last_login_at: None,
            disabled_at: None,
            registration_key: None,
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

    /// E-mail and password for tokens. Every failure (unknown e-mail, wrong password, disabled
    /// account) is the same UNAUTHENTICATED after the same argon2 work.
    pub async fn login(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<Session, AppError> {
        let email = email.trim().to_lowercase();
        let slowdown = match self.limiter.check(&email, &client.address).await {
            Ok(slowdown) => slowdown,
            Err(error) => {
                if matches!(error, AppError::ResourceExhausted { .. }) {
                    self.activity.warn(
                        "auth.login_rate_limited",
                        None,
                        "login refused: too many recent failures",
                        &[("client", &client.address)],
                    );
                }
                return Err(error);
            }
        };
        if !slowdown.is_zero() {
            tracing::info!(
                slowdown_ms = u64::try_from(slowdown.as_millis()).unwrap_or(u64::MAX),
                "login slowed: many recent failures for this e-mail"
            );
            tokio::time::sleep(slowdown).await;
        }
        let user = self.users.by_email(&email).await?;
        let stored_hash = user.as_ref().map_or_else(
            || self.decoy_hash.as_ref().clone(),
            |user| user.password_hash.clone(),
        );
        let password_matches = passwords::verify(password, stored_hash).await?;
        let user = match user {
            Some(user) if password_matches && !user.disabled => user,
            known => {
                self.limiter.record_failure(&email, &client.address).await?;
                tracing::info!(client = %client.address, "login failed");
                // Why it failed is for IT only; the e-mail is never logged, the account id is
                // when there is one.
                let reason = match &known {
                    None => "unknown_email",
                    Some(user) if user.disabled => "account_disabled",
                    Some(_) => "wrong_password",
                };
                self.activity.warn(
                    "auth.login_failed",
                    known.as_ref().map(|user| user.id.as_str()),
                    "login failed",
                    &[("client", &client.address), ("reason", reason)],
                );
                return Err(invalid_credentials());
            }
        };
        self.limiter.clear(&email, &client.address).await?;
        if !self.users.record_login(&user.id).await? {
            // DeleteAccount removed the account after the password check.
            return Err(invalid_credentials());
        }
        let family_id = uuid::Uuid::new_v4().to_string();
        let tokens = self.issue_tokens(&user, &family_id).await?;
        tracing::info!(user_id = %user.id, "login succeeded");
        self.activity.info(
            "auth.login_succeeded",
            Some(&user.id),
            "login succeeded",
            &[("client", &client.address), ("session_family", &family_id)],
        );
        Ok(Session { tokens, user })
    }

    /// Spends a refresh token for a new pair. A token presented twice revokes its family.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Session, AppError> {
        let invalid = || AppError::Unauthenticated("invalid refresh token".into());
        if refresh_token.is_empty() || refresh_token.len() > 512 {
            return Err(invalid());
        }
        let token_hash = sha256_hex(refresh_token);
        let spent = match self.refresh_tokens.rotate(&token_hash).await? {
            Rotation::Rotated(spent) => spent,
            Rotation::Reused(replayed) => {
                tracing::warn!(
                    user_id = %replayed.user_id,
                    family_id = %replayed.family_id,
                    "refresh token reused: revoking its family"
                );
                self.refresh_tokens
                    .revoke_family(&replayed.family_id)
                    .await?;
                // The thief may hold an access token of the family too.
                self.denylist
                    .revoke_session(&replayed.family_id, self.lifetimes.access)
                    .await?;
                self.activity.warn(
                    "auth.refresh_reused",
                    Some(&replayed.user_id),
                    "a rotated refresh token was presented again: its session family is revoked",
                    &[("session_family", &replayed.family_id)],
                );
                return Err(invalid());
            }
            Rotation::Invalid => return Err(invalid()),
        };
        let user = self
            .users
            .by_id(&spent.user_id)
            .await?
            .filter(|user| !user.disabled)
            .ok_or_else(invalid)?;
        let tokens = self.issue_tokens(&user, &spent.family_id).await?;
        // A reuse detected while this rotation ran revoked the family after our conditional
        // update; our new token must not escape that revocation.
        if self.refresh_tokens.family_revoked(&spent.family_id).await? {
            self.refresh_tokens.revoke_family(&spent.family_id).await?;
            return Err(invalid());
        }
        Ok(Session { tokens, user })
    }

    /// Ends a session: the refresh family (when given) and the calling access token.
    pub async fn logout(&self, caller: &Caller, refresh_token: &str) -> Result<(), AppError> {
        if !refresh_token.is_empty()
            && let Some((family_id, user_id)) = self
                .refresh_tokens
                .family_of(&sha256_hex(refresh_token))
                .await?
            && user_id == caller.user_id
        {
            self.refresh_tokens.revoke_family(&family_id).await?;
            self.denylist
                .revoke_session(&family_id, self.lifetimes.access)
                .await?;
        }
        self.denylist
            .revoke_token(&caller.token_id, caller.expires_at)
            .await?;
        tracing::info!(user_id = %caller.user_id, "logged out");
        self.activity
            .info("auth.logout", Some(&caller.user_id), "logged out", &[]);
        Ok(())
    }

    pub async fn me(&self, caller: &Caller) -> Result<UserDocument, AppError> {
        self.users
            .by_id(&caller.user_id)
            .await?
            .ok_or_else(|| AppError::NotFound("account".into()))
    }

    pub async fn rename(&self, caller: &Caller, name: &str) -> Result<UserDocument, AppError> {
        let name = domain::parse_name("name", name)?;
        self.users
            .set_name(&caller.user_id, &name)
            .await?
            .ok_or_else(|| AppError::NotFound("account".into()))
    }

    /// Changes the caller's password after checking the current one, and ends every session
    /// of the account: all refresh families, and every access token issued before now, at
    /// every service. The caller signs in again with the new password.
    pub async fn change_password(
        &self,
        caller: &Caller,
        current_password: String,
        new_password: String,
    ) -> Result<(), AppError> {
        domain::check_password("new_password", &new_password)?;
        let user = self.me(caller).await?;
        if !passwords::verify(current_password, user.password_hash.clone()).await? {
            return Err(AppError::invalid("current_password", "does not match"));
        }
        let new_hash = passwords::hash(new_password).await?;
        if !self
            .users
            .replace_password_hash(&user.id, &user.password_hash, &new_hash)
            .await?
        {
            return Err(AppError::Aborted(
                "the password changed meanwhile; try again".into(),
            ));
        }
        // Access tokens first: a refresh racing this finds its family revoked below (the
        // rotation re-checks its family after issuing), and issues nothing that survives.
        self.denylist
            .revoke_user_tokens_before(&user.id, unix_now_ms(), self.lifetimes.access)
            .await?;
        self.refresh_tokens.revoke_user_families(&user.id).await?;
        tracing::info!(user_id = %user.id, "password changed: every session revoked");
        self.activity.info(
            "auth.password_changed",
            Some(&caller.user_id),
            "password changed",
            &[],
        );
        Ok(())
    }

    /// Disables (or enables) an account. A disabled account can neither log in, refresh, nor use
    /// a token it already holds.
    /// One page of accounts, newest first. The page token is the last id of the previous page;
    /// one row more than a page is read so the last page says there is no next one.
    pub async fn list_users(
        &self,
        filter: &UserFilter,
        page_token: &str,
        requested_size: i32,
    ) -> Result<UsersPage, AppError> {
        const PAGE_DEFAULT: u32 = 20;
        const PAGE_MAX: u32 = 100;
        let size = page_size(requested_size, PAGE_DEFAULT, PAGE_MAX)?;
        let after = if page_token.is_empty() {
            None
        } else {
            uuid::Uuid::parse_str(page_token).map_err(|_| {
                AppError::invalid("page_token", "is not a token from a previous page")
            })?;
            Some(page_token)
        };
        let (mut users, total) = self.users.page(filter, after, size + 1).await?;
        let more = users.len() > size as usize;
        users.truncate(size as usize);
        let next_page_token = match users.last() {
            Some(last) if more => last.id.clone(),
            _ => String::new(),
        };
        Ok(UsersPage {
            users: users.iter().map(UserDocument::to_proto).collect(),
            next_page_token,
            total,
        })
    }

    pub async fn set_disabled(
        &self,
        admin: &Caller,
        user_id: &str,
        disabled: bool,
    ) -> Result<User, AppError> {
        if disabled && admin.user_id == user_id {
            return Err(AppError::FailedPrecondition(
                "an ADMIN cannot disable itself".into(),
            ));
        }
        let user = self
            .users
            .set_disabled(user_id, disabled)
            .await?
            .ok_or_else(|| AppError::NotFound("user".into()))?;
        if disabled {
            self.denylist
                .mark_user_disabled(user_id, self.lifetimes.access)
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
            &[("target_user_id", user_id), ("role", &user.role)],
        );
        Ok(user.to_proto())
    }

    pub async fn confirm_email(&self, token: &str) -> Result<UserDocument, AppError> {
        if token.is_empty() || token.len() > 512 {
            return Err(AppError::invalid("token", "is malformed"));
        }
        let user = self
            .users
            .confirm_email(&sha256_hex(token))
            .await?
            .ok_or_else(|| AppError::NotFound("confirmation token".into()))?;
        self.activity.info(
            "auth.email_confirmed",
            Some(&user.id),
            "e-mail address confirmed",
            &[],
        );
        Ok(user)
    }

    async fn issue_tokens(
        &self,
        user: &UserDocument,
        family_id: &str,
    ) -> Result<TokenPair, AppError> {
        let now = unix_now();
        let access_ttl = self.lifetimes.access.as_secs();
        let claims = AccessClaims {
            sub: user.id.clone(),
            role: user.role.clone(),
            iss: TOKEN_ISSUER.to_owned(),
            aud: TOKEN_AUDIENCE.to_owned(),
            exp: now + access_ttl,
            iat: now,
            nbf: now,
            jti: uuid::Uuid::new_v4().to_string(),
            token_use: ACCESS_TOKEN_USE.to_owned(),
            sid: family_id.to_owned(),
            iat_ms: unix_now_ms(),
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(self.signing_key.key_id.clone());
        let access_token = jsonwebtoken::encode(&header, &claims, &self.signing_key.encoding)
            .map_err(AppError::internal)?;

        let refresh_token = random_token();
        let refresh_expires_at = bson_after(DateTime::now(), self.lifetimes.refresh);
        self.refresh_tokens
            .insert(&RefreshTokenDocument {
                token_hash: sha256_hex(&refresh_token),
                family_id: family_id.to_owned(),
                user_id: user.id.clone(),
                created_at: DateTime::now(),
                expires_at: refresh_expires_at,
                rotated_at: None,
                revoked_at: None,
            })
            .await?;
        Ok(TokenPair {
            access_token,
            token_type: "Bearer".to_owned(),
            expires_in_seconds: i32::try_from(access_ttl).unwrap_or(i32::MAX),
            access_token_expires_at: Some(prost_types::Timestamp {
                seconds: i64::try_from(claims.exp).unwrap_or(i64::MAX),
                nanos: 0,
            }),
            refresh_token,
            refresh_token_expires_at: Some(astro_shared::convert::bson_timestamp(
                refresh_expires_at,
            )),
        })
    }
}

fn invalid_credentials() -> AppError {
    AppError::Unauthenticated("invalid e-mail or password".into())
}

/// 32 random bytes, base64url: refresh and confirmation tokens.
pub fn random_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Tokens are stored only as their SHA-256 (they are random, so no salt is needed).
pub fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
