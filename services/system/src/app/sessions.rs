//! Sessions: login (under the failed-login budgets), refresh-token rotation with reuse
//! detection, logout, the signed-in caller's own account and its password change, and the
//! issuing of token pairs they share.

use std::{sync::Arc, time::Duration};

use astro_shared::{
    AppError,
    activity::ActivityLog,
    auth::{Caller, Denylist, unix_now, unix_now_ms},
};
use chrono::{DateTime, Utc};

use super::{ClientInfo, keys::SigningKey, passwords};
use crate::{
    domain::{
        self,
        accounts::{Account, check_password, invalid_credentials, parse_name},
        login_limits::{LoginLimits, too_many_failures},
        tokens::{
            IssuedTokens, TokenFamily, TokenLifetimes, access_claims, is_opaque_token,
            random_token, sha256_hex,
        },
    },
    store::{
        AccountWrites, LoginFailures, RefreshTokenStore, UserStore, accounts::ProfileChange,
        refresh_tokens::Rotation,
    },
};

/// Everything the session RPCs need.
#[derive(Clone)]
pub struct Sessions {
    users: UserStore,
    writes: AccountWrites,
    refresh_tokens: RefreshTokenStore,
    failures: LoginFailures,
    limits: LoginLimits,
    signing_key: SigningKey,
    denylist: Denylist,
    lifetimes: TokenLifetimes,
    /// A real argon2id hash of a random password: an unknown e-mail is checked against it so
    /// that it costs as much time as a wrong password.
    decoy_hash: Arc<String>,
    /// Significant account actions, for IT (never e-mails or secrets: ids and addresses).
    activity: ActivityLog,
}

/// The stores and services [`Sessions`] works with.
pub struct SessionParts {
    pub users: UserStore,
    pub writes: AccountWrites,
    pub refresh_tokens: RefreshTokenStore,
    pub failures: LoginFailures,
    pub limits: LoginLimits,
    pub signing_key: SigningKey,
    pub denylist: Denylist,
    pub lifetimes: TokenLifetimes,
    pub activity: ActivityLog,
}

/// A login or refresh result.
pub struct Session {
    pub tokens: IssuedTokens,
    pub account: Account,
}

impl Sessions {
    /// Hashes the decoy password first (once per process).
    pub async fn new(parts: SessionParts) -> Result<Self, AppError> {
        let decoy_hash = passwords::hash(random_token()).await?;
        Ok(Self {
            users: parts.users,
            writes: parts.writes,
            refresh_tokens: parts.refresh_tokens,
            failures: parts.failures,
            limits: parts.limits,
            signing_key: parts.signing_key,
            denylist: parts.denylist,
            lifetimes: parts.lifetimes,
            decoy_hash: Arc::new(decoy_hash),
            activity: parts.activity,
        })
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
        // The failure budget (CacheDB) and the account (SystemDB) are read side by side: a
        // refused attempt wastes one read, every other login saves a round trip.
        let (budget, account) = tokio::join!(
            self.login_budget(&email, client),
            self.users.by_email(&email)
        );
        let slowdown = match budget {
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
        let account = account?;
        let stored_hash = account.as_ref().map_or_else(
            || self.decoy_hash.as_ref().clone(),
            |account| account.password_hash.clone(),
        );
        let password_matches = passwords::verify(password, stored_hash).await?;
        let account = match account {
            Some(account) if password_matches && !account.disabled => account,
            known => {
                self.failures
                    .record(&email, &client.address, self.limits.window)
                    .await?;
                tracing::info!(client = %client.address, "login failed");
                // Why it failed is for IT only; the e-mail is never logged, the account id is
                // when there is one.
                let reason = match &known {
                    None => "unknown_email",
                    Some(account) if account.disabled => "account_disabled",
                    Some(_) => "wrong_password",
                };
                self.activity.warn(
                    "auth.login_failed",
                    known.as_ref().map(|account| account.id.as_str()),
                    "login failed",
                    &[("client", &client.address), ("reason", reason)],
                );
                return Err(invalid_credentials());
            }
        };
        let family_id = uuid::Uuid::new_v4().to_string();
        // Three independent writes, run together: on SystemDB each is a round trip that
        // otherwise adds to the login's wait after the hash.
        let (cleared, recorded, tokens) = tokio::join!(
            self.failures.clear_pair(&email, &client.address),
            self.users.record_login(&account.id),
            self.issue_tokens(&account, &family_id)
        );
        cleared?;
        if !recorded? {
            // DeleteAccount removed the account after the password check: the refresh token
            // stored for it meanwhile must not outlive it.
            if tokens.is_ok() {
                self.refresh_tokens.revoke_family(&family_id).await?;
            }
            return Err(invalid_credentials());
        }
        let tokens = tokens?;
        tracing::info!(user_id = %account.id, "login succeeded");
        self.activity.info(
            "auth.login_succeeded",
            Some(&account.id),
            "login succeeded",
            &[("client", &client.address), ("session_family", &family_id)],
        );
        Ok(Session { tokens, account })
    }

    /// RESOURCE_EXHAUSTED, with the time until the window ends, once the (e-mail, client) or
    /// the client's budget is spent; otherwise how long this attempt is to be slowed down.
    async fn login_budget(&self, email: &str, client: &ClientInfo) -> Result<Duration, AppError> {
        let counts = self.failures.counts(email, &client.address).await?;
        if let Some(budget) = self.limits.spent(&counts) {
            let remaining = self
                .failures
                .remaining(budget, email, &client.address)
                .await?;
            return Err(too_many_failures(remaining));
        }
        Ok(self.limits.slowdown(&counts))
    }

    /// Spends a refresh token for a new pair. A token presented twice revokes its family.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Session, AppError> {
        let invalid = || AppError::Unauthenticated("invalid refresh token".into());
        if !is_opaque_token(refresh_token) {
            return Err(invalid());
        }
        let spent = match self
            .refresh_tokens
            .rotate(&sha256_hex(refresh_token))
            .await?
        {
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
        let account = self
            .users
            .by_id(&spent.user_id)
            .await?
            .filter(|account| !account.disabled)
            .ok_or_else(invalid)?;
        let tokens = self.issue_tokens(&account, &spent.family_id).await?;
        // A reuse detected while this rotation ran revoked the family after our conditional
        // update; our new token must not escape that revocation.
        if self.refresh_tokens.family_revoked(&spent.family_id).await? {
            self.refresh_tokens.revoke_family(&spent.family_id).await?;
            return Err(invalid());
        }
        Ok(Session { tokens, account })
    }

    /// Ends a session: the refresh family (when given, and the caller's) and the calling
    /// access token.
    pub async fn logout(&self, caller: &Caller, refresh_token: &str) -> Result<(), AppError> {
        if !refresh_token.is_empty()
            && let Some(family) = self
                .refresh_tokens
                .family_of(&sha256_hex(refresh_token))
                .await?
            && family.user_id == caller.user_id
        {
            self.refresh_tokens.revoke_family(&family.family_id).await?;
            self.denylist
                .revoke_session(&family.family_id, self.lifetimes.access)
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

    /// The caller's own account.
    pub async fn me(&self, caller: &Caller) -> Result<Account, AppError> {
        self.users
            .by_id(&caller.user_id)
            .await?
            .ok_or_else(|| AppError::NotFound("account".into()))
    }

    /// Renames the caller's own account (`name` as sent: checked here).
    pub async fn rename(
        &self,
        caller: &Caller,
        name: &str,
        traceparent: &str,
    ) -> Result<Account, AppError> {
        let name = parse_name("name", name)?;
        self.writes
            .change_profile(&caller.user_id, ProfileChange::Name(&name), traceparent)
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
        check_password("new_password", &new_password)?;
        let account = self.me(caller).await?;
        if !passwords::verify(current_password, account.password_hash.clone()).await? {
            return Err(AppError::invalid("current_password", "does not match"));
        }
        let new_hash = passwords::hash(new_password).await?;
        if !self
            .users
            .replace_password_hash(&account.id, &account.password_hash, &new_hash)
            .await?
        {
            return Err(AppError::Aborted(
                "the password changed meanwhile; try again".into(),
            ));
        }
        // Access tokens first: a refresh racing this finds its family revoked below (the
        // rotation re-checks its family after issuing), and issues nothing that survives.
        self.denylist
            .revoke_user_tokens_before(&account.id, unix_now_ms(), self.lifetimes.access)
            .await?;
        self.refresh_tokens
            .revoke_user_families(&account.id)
            .await?;
        tracing::info!(user_id = %account.id, "password changed: every session revoked");
        self.activity.info(
            "auth.password_changed",
            Some(&caller.user_id),
            "password changed",
            &[],
        );
        Ok(())
    }

    /// A signed access token and a fresh refresh token of session `family_id`.
    async fn issue_tokens(
        &self,
        account: &Account,
        family_id: &str,
    ) -> Result<IssuedTokens, AppError> {
        let claims = access_claims(
            account,
            family_id,
            self.lifetimes.access,
            unix_now(),
            unix_now_ms(),
            uuid::Uuid::new_v4().to_string(),
        );
        let access_token = self.signing_key.sign(&claims)?;
        let refresh_token = random_token();
        let refresh_expires_at = domain::after(domain::now(), self.lifetimes.refresh);
        let family = TokenFamily {
            family_id: family_id.to_owned(),
            user_id: account.id.clone(),
        };
        self.refresh_tokens
            .insert(&sha256_hex(&refresh_token), &family, refresh_expires_at)
            .await?;
        Ok(IssuedTokens {
            access_token,
            access_lifetime: self.lifetimes.access,
            access_expires_at: i64::try_from(claims.exp)
                .ok()
                .and_then(|exp| DateTime::<Utc>::from_timestamp(exp, 0))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            refresh_token,
            refresh_expires_at,
        })
    }
}
