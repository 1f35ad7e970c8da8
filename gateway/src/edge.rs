//! Admission at the edge, the same for REST and grpc-web/gRPC: identify the caller from its
//! bearer token, charge the rate limits, and refuse RPCs the caller may not call, all before
//! any upstream call. Services verify the token again; this only keeps bad traffic out.

use std::{net::IpAddr, sync::Arc};

use axum::http::HeaderMap;
use tonic::{Status, metadata::MetadataValue};

use crate::{contracts::Rpc, ratelimit::RateLimiter};

/// The verified caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    /// `astrobookings.common.v1.Role` number; 0 when the verifier cannot tell.
    pub role: i32,
}

/// How the gateway checks a bearer access token: [`JwksVerifier`] in production; in-process
/// tests with a contract of their own may pass another.
#[tonic::async_trait]
pub trait VerifyToken: Send + Sync {
    /// The caller, or UNAUTHENTICATED.
    async fn verify(&self, bearer_token: &str) -> Result<Caller, Status>;
}

/// The production verifier: exactly what every service does (SystemAPI's JWKS, cached and
/// refetched on an unknown key id; EdDSA only; iss, aud, exp/nbf with leeway; the denylist).
pub struct JwksVerifier(pub astro_shared::auth::TokenVerifier);

#[tonic::async_trait]
impl VerifyToken for JwksVerifier {
    async fn verify(&self, bearer_token: &str) -> Result<Caller, Status> {
        let caller = self.0.verify(bearer_token).await.map_err(Status::from)?;
        Ok(Caller {
            user_id: caller.user_id,
            role: caller.role as i32,
        })
    }
}

/// What admission learned about the request.
#[derive(Debug, Clone, Default)]
pub struct Admitted {
    pub caller: Option<Caller>,
}

/// Edge auth and rate limits.
#[derive(Clone)]
pub struct Edge {
    verifier: Arc<dyn VerifyToken>,
    limiter: Option<Arc<RateLimiter>>,
}

impl Edge {
    pub fn new(verifier: Arc<dyn VerifyToken>, limiter: Option<RateLimiter>) -> Self {
        Self {
            verifier,
            limiter: limiter.map(Arc::new),
        }
    }

    /// Admits a call of `rpc` from `client`, or says why not (UNAUTHENTICATED,
    /// PERMISSION_DENIED, RESOURCE_EXHAUSTED with `retry-after`).
    pub async fn admit(
        &self,
        rpc: &Rpc,
        headers: &HeaderMap,
        client: IpAddr,
    ) -> Result<Admitted, Status> {
        let token = bearer_token(headers);
        let verified = match token {
            Some(token) => Some(self.verifier.verify(token).await),
            None => None,
        };
        // Charge the limits first, so requests with bad tokens still spend the address's budget.
        let caller = verified.as_ref().and_then(|result| result.as_ref().ok());
        if let Some(limiter) = &self.limiter {
            limiter
                .check(
                    rpc.group,
                    client,
                    caller.map(|caller| caller.user_id.as_str()),
                )
                .await?;
        }
        if rpc.access.public {
            // A public RPC ignores an invalid token (clients refreshing still send the old one).
            return Ok(Admitted {
                caller: caller.cloned(),
            });
        }
        let caller = match verified {
            None => {
                return Err(Status::unauthenticated(
                    "this RPC needs an access token: Authorization: Bearer <token>",
                ));
            }
            Some(Err(status)) => return Err(status),
            Some(Ok(caller)) => caller,
        };
        if !rpc.access.roles.is_empty() && !rpc.access.roles.contains(&caller.role) {
            return Err(Status::permission_denied("your role may not call this RPC"));
        }
        Ok(Admitted {
            caller: Some(caller),
        })
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// A RESOURCE_EXHAUSTED status carrying `retry-after` for both REST and gRPC clients.
pub fn rate_limited(retry_after_secs: u64) -> Status {
    let mut status = Status::resource_exhausted(format!(
        "rate limit exceeded; retry after {retry_after_secs} s"
    ));
    status
        .metadata_mut()
        .insert("retry-after", MetadataValue::from(retry_after_secs));
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "bearer abc".parse().expect("header"));
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert("authorization", "Basic abc".parse().expect("header"));
        assert_eq!(bearer_token(&headers), None);
        headers.insert("authorization", "Bearer ".parse().expect("header"));
        assert_eq!(bearer_token(&headers), None);
    }
}
