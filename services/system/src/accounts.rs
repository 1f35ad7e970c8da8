//! Accounts and sessions: registration, login, token rotation, logout, the caller's own
//! account, and what an ADMIN does with employees and users.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use astro_proto::astrobookings::{
    common::v1::Role,
    system::v1::{TokenPair, User},
};
use astro_shared::{
    AppError,
    activity::ActivityLog,
    auth::{
        ACCESS_TOKEN_USE, AccessClaims, Caller, Denylist, TOKEN_AUDIENCE, TOKEN_ISSUER, role_claim,
        unix_now,
    },
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
        OutboxEntry, OutboxStore, RefreshTokenStore, UserDocument, UserStore,
        refresh_tokens::{RefreshTokenDocument, Rotation},
        users::UserFilter,
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
    database: mongodb::Database,
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
            database,
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
        self.create_account(None, account, password, role, client)
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
        self.create_account(Some(admin), account, password, role, client)
            .await
    }

    /// A self-registration (`admin` is `None`: the e-mail must be confirmed) or an employee
    /// created by `admin`.
    async fn create_account(
        &self,
        admin: Option<&Caller>,
        domain::NewAccount { email, name }: domain::NewAccount,
        password: String,
        role: Role,
        client: &ClientInfo,
    ) -> Result<UserDocument, AppError> {
        let confirmed = admin.is_some();
        let confirmation_token = (!confirmed).then(random_token);
        let user = UserDocument {
            id: uuid::Uuid::now_v7().to_string(),
            email,
            name,
            role: role_claim(role).to_owned(),
            password_hash: passwords::hash(password).await?,
            email_confirmed: confirmed,
            confirmation_token_hash: confirmation_token.as_deref().map(sha256_hex),
            disabled: false,
            created_at: DateTime::now(),
            last_login_at: None,
            disabled_at: None,
        };
        let mut data = BTreeMap::from([("role".to_owned(), user.role.clone())]);
        if let Some(token) = confirmation_token {
            data.insert("confirmation_token".to_owned(), token);
        }
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
            next_attempt_at: DateTime::now(),
            last_error: None,
        };

        let mut session = self.database.client().start_session().await?;
        session.start_transaction().await?;
        let inserted = self
            .users
            .collection()
            .insert_one(&user)
            .session(&mut session)
            .await;
        match inserted {
            Ok(_) => {}
            Err(error) => {
                let _ = session.abort_transaction().await;
                return Err(if crate::store::is_duplicate_key(&error) {
                    crate::store::users::email_taken()
                } else {
                    error.into()
                });
            }
        }
        if let Err(error) = self.outbox.insert_in(&mut session, &event).await {
            let _ = session.abort_transaction().await;
            return Err(error);
        }
        session.commit_transaction().await?;
        tracing::info!(user_id = %user.id, role = %user.role, "account created");
        match admin {
            None => self.activity.info(
                "auth.registered",
                Some(&user.id),
                format!("{} account registered", user.role),
                &[("role", &user.role), ("client", &client.address)],
            ),
            Some(admin) => self.activity.info(
                "admin.employee_created",
                Some(&admin.user_id),
                format!("{} employee created", user.role),
                &[("employee_id", &user.id), ("role", &user.role)],
            ),
        }
        Ok(user)
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
        if let Err(error) = self.limiter.check(&email, &client.address).await {
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
        self.limiter.clear(&email).await?;
        self.users.record_login(&user.id).await?;
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

    /// Changes the caller's password after checking the current one.
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
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(self.signing_key.key_id.clone());
        let access_token = jsonwebtoken::encode(&header, &claims, &self.signing_key.encoding)
            .map_err(AppError::internal)?;

        let refresh_token = random_token();
        let refresh_expires_at = DateTime::from_millis(
            DateTime::now().timestamp_millis()
                + i64::try_from(self.lifetimes.refresh.as_millis()).unwrap_or(i64::MAX),
        );
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
            refresh_token_expires_at: Some(crate::store::users::timestamp(refresh_expires_at)),
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
