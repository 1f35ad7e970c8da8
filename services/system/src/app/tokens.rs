//! Access-token validation for the callers of the mesh that cannot verify JWTs themselves:
//! the same check every service's auth layer makes (signature, issuer, audience, expiry, use)
//! and the denylist (logout, a password change, a revoked session, a disabled account).

use std::sync::Arc;

use astro_shared::{
    AppError,
    auth::{Caller, Denylist, Revocation, TokenVerifier, unix_now_ms},
    paging::{Page, QueryKey},
};

/// How far before the server time a revocation list's `as_of` is put: a revocation is stamped
/// before it is written, so one written while the list is read is listed again next time
/// instead of missed.
const AS_OF_MARGIN_MS: u64 = 5_000;

/// A page of revocations and where the next poll starts.
#[derive(Debug)]
pub struct RevocationList {
    pub page: Page<Revocation>,
    pub as_of_ms: u64,
}

#[derive(Clone)]
pub struct Tokens {
    verifier: Arc<TokenVerifier>,
    denylist: Denylist,
}

impl Tokens {
    pub fn new(verifier: Arc<TokenVerifier>, denylist: Denylist) -> Self {
        Self { verifier, denylist }
    }

    /// ListRevokedTokens: the revocations made since `since_ms` whose tokens may still be
    /// valid, oldest first, `limit` a page.
    pub async fn revoked_since(
        &self,
        since_ms: u64,
        page_token: &str,
        limit: u32,
    ) -> Result<RevocationList, AppError> {
        let as_of_ms = unix_now_ms().saturating_sub(AS_OF_MARGIN_MS);
        let query = QueryKey::of(&["ListRevokedTokens", &since_ms.to_string()]);
        let after: Option<Revocation> = query.position(page_token)?;
        let rows = self
            .denylist
            .revocations(since_ms, after.as_ref(), limit.saturating_add(1))
            .await?;
        Ok(RevocationList {
            page: Page::from_rows(rows, limit, query, Clone::clone),
            as_of_ms,
        })
    }

    /// ValidateToken: who the token speaks for, or UNAUTHENTICATED. Unlike a customer's read
    /// through the auth layer, the answer is a verdict other services act on, so a CacheDB
    /// outage (the denylist unreadable) is UNAVAILABLE, never a token taken as valid.
    pub async fn validate(&self, access_token: &str) -> Result<Caller, AppError> {
        let token = access_token.trim();
        if token.is_empty() {
            return Err(AppError::invalid("access_token", "is required"));
        }
        self.verifier.verify_with(token, false).await
    }
}
