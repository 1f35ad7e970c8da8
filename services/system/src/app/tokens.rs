//! Access-token validation for the callers of the mesh that cannot verify JWTs themselves:
//! the same check every service's auth layer makes (signature, issuer, audience, expiry, use)
//! and the denylist (logout, a password change, a revoked session, a disabled account).

use std::sync::Arc;

use astro_shared::{
    AppError,
    auth::{Caller, TokenVerifier},
};

#[derive(Clone)]
pub struct Tokens {
    verifier: Arc<TokenVerifier>,
}

impl Tokens {
    pub fn new(verifier: Arc<TokenVerifier>) -> Self {
        Self { verifier }
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
