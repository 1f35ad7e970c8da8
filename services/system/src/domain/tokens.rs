//! What the tokens SystemAPI hands out say and how they are kept: the claims of an access
//! token, the opaque random tokens (refresh, e-mail confirmation), stored only as their
//! SHA-256. Signing needs the service's private key, so it is `app::keys`; these are the rules.

use std::time::Duration;

use astro_shared::auth::{ACCESS_TOKEN_USE, AccessClaims, TOKEN_AUDIENCE, TOKEN_ISSUER};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use super::accounts::Account;

/// Our opaque tokens are 43 characters; anything empty or this long is refused unread.
const OPAQUE_TOKEN_MAX_CHARS: usize = 512;

/// How long tokens live.
#[derive(Debug, Clone, Copy)]
pub struct TokenLifetimes {
    pub access: Duration,
    pub refresh: Duration,
}

/// One session (refresh family) of one account: every token descended from one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFamily {
    pub family_id: String,
    pub user_id: String,
}

/// The tokens a login or a refresh hands out.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    pub access_lifetime: Duration,
    /// To the second, as the token's `exp` says.
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: String,
    pub refresh_expires_at: DateTime<Utc>,
}

/// The claims of a fresh access token of `account` in session `family_id`, valid `lifetime`
/// from `now_seconds` (its `iat_ms` is `now_millis`); `token_id` is its `jti`, for the denylist.
pub fn access_claims(
    account: &Account,
    family_id: &str,
    lifetime: Duration,
    now_seconds: u64,
    now_millis: u64,
    token_id: String,
) -> AccessClaims {
    AccessClaims {
        sub: account.id.clone(),
        role: account.role_name().to_owned(),
        iss: TOKEN_ISSUER.to_owned(),
        aud: TOKEN_AUDIENCE.to_owned(),
        exp: now_seconds + lifetime.as_secs(),
        iat: now_seconds,
        nbf: now_seconds,
        jti: token_id,
        token_use: ACCESS_TOKEN_USE.to_owned(),
        sid: family_id.to_owned(),
        iat_ms: now_millis,
    }
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

/// Whether `raw` may be one of our opaque tokens at all (checked before any look-up).
pub fn is_opaque_token(raw: &str) -> bool {
    !raw.is_empty() && raw.len() <= OPAQUE_TOKEN_MAX_CHARS
}

#[cfg(test)]
mod tests {
    use astro_proto::astrobookings::common::v1::Role;

    use super::*;

    #[test]
    fn access_claims_carry_the_account_session_and_lifetime() {
        let account = Account {
            id: "user-1".into(),
            email: "ada@example.com".into(),
            name: "Ada".into(),
            role: Role::Agency,
            password_hash: String::new(),
            email_confirmed: true,
            confirmation_token_hash: None,
            disabled: false,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            last_login_at: None,
            disabled_at: None,
            registration_key: None,
            profile_version: 1,
        };
        let claims = access_claims(
            &account,
            "family-1",
            Duration::from_secs(900),
            1_000,
            1_000_123,
            "jti-1".into(),
        );
        assert_eq!(claims.sub, "user-1");
        assert_eq!(claims.role, "AGENCY");
        assert_eq!((claims.iat, claims.nbf, claims.exp), (1_000, 1_000, 1_900));
        assert_eq!(claims.sid, "family-1");
        assert_eq!(claims.token_use, ACCESS_TOKEN_USE);
    }

    #[test]
    fn opaque_tokens_are_random_and_kept_as_hashes() {
        let token = random_token();
        assert_eq!(token.len(), 43);
        assert_ne!(token, random_token());
        assert!(is_opaque_token(&token));
        assert!(!is_opaque_token(""));
        assert!(!is_opaque_token(&"x".repeat(513)));
        assert_eq!(sha256_hex(&token).len(), 64);
    }
}
