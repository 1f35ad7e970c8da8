//! Authentication and authorization shared by every service and the gateway.
//!
//! Access tokens are EdDSA JWTs signed by SystemAPI; everyone verifies them locally against
//! SystemAPI's JWKS (cached, refetched when a token names an unknown key id). Who may call which
//! RPC is declared once, in the contracts (`astrobookings.common.v1.access` on every public RPC),
//! and read here from the descriptor set. Logout and disabled accounts take effect everywhere
//! at once through a denylist in CacheDB.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use astro_proto::astrobookings::{
    common::v1::Role,
    system::v1::{GetJwksRequest, Jwk, system_service_client::SystemServiceClient},
};
use fred::prelude::KeysInterface as _;
use http::{Request, Response};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock};
use tonic::{Status, body::Body};

use crate::{AppError, grpc_client::TracedChannel};

/// Who signs and who may accept access tokens.
pub const TOKEN_ISSUER: &str = "astrobookings";
/// The audience of access tokens: every API of the platform.
pub const TOKEN_AUDIENCE: &str = "astrobookings-api";
/// The `token_use` claim of an access token (refresh tokens are opaque, never JWTs).
pub const ACCESS_TOKEN_USE: &str = "access";
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY: Duration = Duration::from_secs(60);
/// Anything longer is refused before parsing: a token is a few hundred bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// At most one JWKS refetch per this interval, however many unknown key ids arrive.
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Keys are refreshed in the background of a request after this age.
const JWKS_MAX_AGE: Duration = Duration::from_secs(300);

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// User id.
    pub sub: String,
    /// `TRAVELER`, `AGENCY`, `FINANCE`, `IT` or `ADMIN`.
    pub role: String,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    pub nbf: u64,
    /// Token id, for the logout denylist.
    pub jti: String,
    /// Always [`ACCESS_TOKEN_USE`]: a token of another use is refused.
    pub token_use: String,
}

/// The authenticated caller of a request, put into the request's extensions by [`AuthLayer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub role: Role,
    /// The access token's `jti`.
    pub token_id: String,
    /// The access token's `exp` (seconds since the epoch).
    pub expires_at: u64,
}

/// The role name used in tokens (`TRAVELER`), from the contract's enum.
pub fn role_claim(role: Role) -> &'static str {
    let name = role.as_str_name();
    name.strip_prefix("ROLE_").unwrap_or(name)
}

/// The contract's enum from a token's role name; `None` for anything unknown.
pub fn role_from_claim(claim: &str) -> Option<Role> {
    Role::from_str_name(&format!("ROLE_{claim}")).filter(|role| *role != Role::Unspecified)
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Revoked access tokens and disabled accounts, in CacheDB, with the prefix shared by one
/// deployment (`ASTRO_REDIS_KEY_PREFIX`).
#[derive(Clone)]
pub struct Denylist {
    redis: fred::prelude::Client,
    prefix: String,
}

impl Denylist {
    pub fn new(redis: fred::prelude::Client, prefix: impl Into<String>) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
        }
    }

    fn revoked_token_key(&self, token_id: &str) -> String {
        format!("{}auth:revoked-token:{token_id}", self.prefix)
    }

    fn disabled_user_key(&self, user_id: &str) -> String {
        format!("{}auth:disabled-user:{user_id}", self.prefix)
    }

    /// Refuses the access token `token_id` until it expires at `expires_at` (plus leeway).
    pub async fn revoke_token(&self, token_id: &str, expires_at: u64) -> Result<(), AppError> {
        let ttl = expires_at.saturating_sub(unix_now()) + LEEWAY.as_secs() + 1;
        self.set_with_ttl(self.revoked_token_key(token_id), ttl)
            .await
    }

    /// Refuses every access token of `user_id` issued so far. Refresh and login are refused by
    /// SystemDB, so the mark only has to outlive the longest access token.
    pub async fn mark_user_disabled(
        &self,
        user_id: &str,
        access_token_ttl: Duration,
    ) -> Result<(), AppError> {
        let ttl = access_token_ttl.as_secs() + LEEWAY.as_secs() + 1;
        self.set_with_ttl(self.disabled_user_key(user_id), ttl)
            .await
    }

    /// Lifts [`Self::mark_user_disabled`].
    pub async fn clear_user_disabled(&self, user_id: &str) -> Result<(), AppError> {
        let _: i64 = self.redis.del(self.disabled_user_key(user_id)).await?;
        Ok(())
    }

    /// Whether the token or its user is denied; a CacheDB outage is an `Unavailable` error, which
    /// [`TokenVerifier`] tolerates (see `verify`).
    pub async fn is_denied(&self, caller: &Caller) -> Result<bool, AppError> {
        let keys = vec![
            self.revoked_token_key(&caller.token_id),
            self.disabled_user_key(&caller.user_id),
        ];
        let found: i64 = self.redis.exists(keys).await?;
        Ok(found > 0)
    }

    async fn set_with_ttl(&self, key: String, ttl_seconds: u64) -> Result<(), AppError> {
        let ttl = i64::try_from(ttl_seconds).unwrap_or(i64::MAX);
        let _: () = self
            .redis
            .set(key, 1, Some(fred::types::Expiration::EX(ttl)), None, false)
            .await?;
        Ok(())
    }
}

/// Where verification keys come from.
enum KeySource {
    /// SystemAPI verifies with the keys it signs with.
    Local(HashMap<String, DecodingKey>),
    /// Everyone else fetches SystemAPI's JWKS.
    Remote(Box<RemoteKeys>),
}

struct RemoteKeys {
    client: SystemServiceClient<TracedChannel>,
    cache: RwLock<CachedKeys>,
    refetch: Mutex<Option<Instant>>,
}

struct CachedKeys {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

/// Verifies access tokens: signature against the JWKS, algorithm allow-list (EdDSA only),
/// `iss`, `aud`, `exp`/`nbf` with leeway, token use, denylist.
pub struct TokenVerifier {
    keys: KeySource,
    denylist: Option<Denylist>,
    validation: Validation,
}

impl TokenVerifier {
    fn validation() -> Validation {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.leeway = LEEWAY.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[TOKEN_ISSUER]);
        validation.set_audience(&[TOKEN_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation
    }

    /// A verifier that fetches the JWKS from SystemAPI over `system`.
    pub fn remote(system: TracedChannel, denylist: Option<Denylist>) -> Self {
        Self {
            keys: KeySource::Remote(Box::new(RemoteKeys {
                client: SystemServiceClient::new(system),
                cache: RwLock::new(CachedKeys {
                    keys: HashMap::new(),
                    fetched_at: None,
                }),
                refetch: Mutex::new(None),
            })),
            denylist,
            validation: Self::validation(),
        }
    }

    /// A verifier with fixed keys (SystemAPI's own).
    pub fn local(jwks: &[Jwk], denylist: Option<Denylist>) -> Self {
        Self {
            keys: KeySource::Local(decoding_keys(jwks)),
            denylist,
            validation: Self::validation(),
        }
    }

    /// The caller a bearer token stands for, or UNAUTHENTICATED saying why.
    pub async fn verify(&self, token: &str) -> Result<Caller, AppError> {
        let unauthenticated =
            |reason: &str| AppError::Unauthenticated(format!("invalid access token: {reason}"));
        if token.len() > MAX_TOKEN_BYTES {
            return Err(unauthenticated("too large"));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| unauthenticated("malformed"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(unauthenticated("algorithm not allowed"));
        }
        let key_id = header.kid.ok_or_else(|| unauthenticated("no key id"))?;
        let key = self
            .key(&key_id)
            .await?
            .ok_or_else(|| unauthenticated("unknown key id"))?;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key, &self.validation).map_err(
            |error| {
                use jsonwebtoken::errors::ErrorKind;
                unauthenticated(match error.kind() {
                    ErrorKind::ExpiredSignature => "expired",
                    ErrorKind::ImmatureSignature => "not valid yet",
                    ErrorKind::InvalidIssuer => "wrong issuer",
                    ErrorKind::InvalidAudience => "wrong audience",
                    ErrorKind::MissingRequiredClaim(_) => "missing claim",
                    ErrorKind::InvalidSignature => "bad signature",
                    _ => "malformed",
                })
            },
        )?;
        let claims = data.claims;
        if claims.token_use != ACCESS_TOKEN_USE {
            return Err(unauthenticated("not an access token"));
        }
        let role = role_from_claim(&claims.role).ok_or_else(|| unauthenticated("unknown role"))?;
        let caller = Caller {
            user_id: claims.sub,
            role,
            token_id: claims.jti,
            expires_at: claims.exp,
        };
        if let Some(denylist) = &self.denylist {
            match denylist.is_denied(&caller).await {
                Ok(false) => {}
                Ok(true) => return Err(AppError::Unauthenticated("access token revoked".into())),
                // CacheDB down: the signature, expiry and audience are proven, only a logout or
                // a disabling within the token's last minutes (15 at most) could be missed.
                // Bookings and payments keep working through a CacheDB outage; the gap is
                // logged for every request it applies to.
                Err(AppError::Unavailable { cause, .. }) => tracing::warn!(
                    user_id = %caller.user_id,
                    error = %format!("{cause:#}"),
                    "token denylist unavailable (CacheDB); accepting the verified token"
                ),
                Err(error) => return Err(error),
            }
        }
        Ok(caller)
    }

    async fn key(&self, key_id: &str) -> Result<Option<DecodingKey>, AppError> {
        match &self.keys {
            KeySource::Local(keys) => Ok(keys.get(key_id).cloned()),
            KeySource::Remote(remote) => remote.key(key_id).await,
        }
    }
}

impl RemoteKeys {
    /// A key from the cached JWKS, refetching it when the key id is unknown or the cache is old.
    async fn key(&self, key_id: &str) -> Result<Option<DecodingKey>, AppError> {
        let Self {
            client,
            cache,
            refetch,
        } = self;
        {
            let cached = cache.read().await;
            let fresh = cached
                .fetched_at
                .is_some_and(|fetched| fetched.elapsed() < JWKS_MAX_AGE);
            if let Some(key) = cached.keys.get(key_id)
                && fresh
            {
                return Ok(Some(key.clone()));
            }
        }
        // At most one refetch per interval, however many unknown key ids arrive (a flood of
        // forged key ids must not become a flood of JWKS requests).
        let mut last_refetch = refetch.lock().await;
        if last_refetch.is_none_or(|at| at.elapsed() >= JWKS_REFETCH_INTERVAL) {
            *last_refetch = Some(Instant::now());
            let mut request = tonic::Request::new(GetJwksRequest {});
            request.set_timeout(Duration::from_secs(2));
            match client.clone().get_jwks(request).await {
                Ok(response) => {
                    let keys = decoding_keys(&response.into_inner().keys);
                    tracing::info!(keys = keys.len(), "fetched SystemAPI's JWKS");
                    *cache.write().await = CachedKeys {
                        keys,
                        fetched_at: Some(Instant::now()),
                    };
                }
                Err(status) => {
                    if cache.read().await.keys.is_empty() {
                        return Err(AppError::unavailable(
                            "SystemAPI (JWKS)",
                            anyhow::anyhow!("GetJwks: {status}"),
                        ));
                    }
                    tracing::warn!(%status, "JWKS refetch failed; keeping the cached keys");
                }
            }
        }
        Ok(cache.read().await.keys.get(key_id).cloned())
    }
}

/// The Ed25519 keys of a JWKS by key id; other key types are ignored (EdDSA only).
fn decoding_keys(jwks: &[Jwk]) -> HashMap<String, DecodingKey> {
    jwks.iter()
        .filter(|jwk| jwk.kty == "OKP" && jwk.crv == "Ed25519" && !jwk.kid.is_empty())
        .filter_map(|jwk| {
            DecodingKey::from_ed_components(&jwk.x)
                .ok()
                .map(|key| (jwk.kid.clone(), key))
        })
        .collect()
}

/// Who may call one RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessRule {
    Public,
    /// Any authenticated user when empty, else one of these roles.
    Roles(Vec<Role>),
}

/// The access rules of the RPCs of some services, by gRPC path (`/pkg.Service/Method`).
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    rules: HashMap<String, AccessRule>,
}

impl AccessPolicy {
    /// Reads the `astrobookings.common.v1.access` option of every method of `services`.
    /// A method of those services without the option is an error: every public RPC must say
    /// who may call it, and internal services must not be listed here.
    pub fn from_contracts(services: &[&str]) -> anyhow::Result<Self> {
        use prost_reflect::{DescriptorPool, Value};
        let pool = DescriptorPool::decode(astro_proto::FILE_DESCRIPTOR_SET)?;
        let access = pool
            .get_extension_by_name("astrobookings.common.v1.access")
            .ok_or_else(|| anyhow::anyhow!("the access option is missing from the contracts"))?;
        let mut rules = HashMap::new();
        for service_name in services {
            let service = pool
                .get_service_by_name(service_name)
                .ok_or_else(|| anyhow::anyhow!("no service {service_name} in the contracts"))?;
            for method in service.methods() {
                let options = method.options();
                anyhow::ensure!(
                    options.has_extension(&access),
                    "{} has no access option",
                    method.full_name()
                );
                let Value::Message(rule) = options.get_extension(&access).into_owned() else {
                    anyhow::bail!("{}: the access option is not a message", method.full_name());
                };
                let public = rule
                    .get_field_by_name("public")
                    .and_then(|value| value.as_bool())
                    .unwrap_or(false);
                let roles: Vec<Role> = rule
                    .get_field_by_name("roles")
                    .and_then(|value| value.as_list().map(<[Value]>::to_vec))
                    .unwrap_or_default()
                    .iter()
                    .filter_map(Value::as_enum_number)
                    .filter_map(|number| Role::try_from(number).ok())
                    .collect();
                let rule = if public {
                    AccessRule::Public
                } else {
                    AccessRule::Roles(roles)
                };
                rules.insert(format!("/{}/{}", service.full_name(), method.name()), rule);
            }
        }
        Ok(Self { rules })
    }

    /// The rule of the RPC at `path`; `None` for paths outside the policy (health, reflection,
    /// internal services).
    pub fn rule(&self, path: &str) -> Option<&AccessRule> {
        self.rules.get(path)
    }
}

/// Checks a caller (or its absence) against a rule.
pub fn authorize(rule: &AccessRule, caller: Option<&Caller>) -> Result<(), AppError> {
    match (rule, caller) {
        (AccessRule::Public, _) => Ok(()),
        (AccessRule::Roles(_), None) => Err(AppError::Unauthenticated(
            "an access token is required (authorization: Bearer <token>)".into(),
        )),
        (AccessRule::Roles(roles), Some(caller)) => {
            if roles.is_empty() || roles.contains(&caller.role) {
                Ok(())
            } else {
                Err(AppError::PermissionDenied(format!(
                    "role {} may not call this",
                    role_claim(caller.role)
                )))
            }
        }
    }
}

/// The bearer token of a request's `authorization` header, if any.
pub fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Decides whether a request may go on, and who makes it.
pub async fn authenticate(
    verifier: &TokenVerifier,
    rule: &AccessRule,
    headers: &http::HeaderMap,
) -> Result<Option<Caller>, AppError> {
    let caller = match bearer_token(headers) {
        None => None,
        Some(token) => match verifier.verify(token).await {
            Ok(caller) => Some(caller),
            // A public RPC ignores a bad token rather than failing the call.
            Err(AppError::Unauthenticated(_)) if *rule == AccessRule::Public => None,
            Err(error) => return Err(error),
        },
    };
    authorize(rule, caller.as_ref())?;
    Ok(caller)
}

/// The tower layer every service puts in front of its gRPC services.
#[derive(Clone)]
pub struct AuthLayer {
    verifier: Arc<TokenVerifier>,
    policy: Arc<AccessPolicy>,
}

impl AuthLayer {
    pub fn new(verifier: Arc<TokenVerifier>, policy: AccessPolicy) -> Self {
        Self {
            verifier,
            policy: Arc::new(policy),
        }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            layer: self.clone(),
        }
    }
}

/// See [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    layer: AuthLayer,
}

impl<S> tower::Service<Request<Body>> for AuthService<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        // The clone that was polled ready serves this call; the fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let Some(rule) = self.layer.policy.rule(request.uri().path()).cloned() else {
            return Box::pin(inner.call(request));
        };
        let verifier = Arc::clone(&self.layer.verifier);
        Box::pin(async move {
            match authenticate(&verifier, &rule, request.headers()).await {
                Ok(caller) => {
                    if let Some(caller) = caller {
                        request.extensions_mut().insert(caller);
                    }
                    inner.call(request).await
                }
                Err(error) => Ok(Status::from(error).into_http()),
            }
        })
    }
}

/// The auth layer of a service other than SystemAPI: tokens verified against the JWKS that
/// SystemAPI at `system_url` publishes, the denylist in `cache`, and the access rules of
/// `public_service` from the contracts.
pub fn remote_auth_layer(
    system_url: &str,
    cache: fred::prelude::Client,
    public_service: &str,
) -> anyhow::Result<AuthLayer> {
    let verifier = TokenVerifier::remote(
        TracedChannel::lazy(system_url, Duration::from_secs(5))?,
        Some(Denylist::new(cache, crate::config::redis_key_prefix())),
    );
    Ok(AuthLayer::new(
        Arc::new(verifier),
        AccessPolicy::from_contracts(&[public_service])?,
    ))
}

/// The caller that [`AuthLayer`] authenticated, for handlers of non-public RPCs.
pub fn caller<T>(request: &tonic::Request<T>) -> Result<&Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .ok_or_else(|| Status::unauthenticated("an access token is required"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_public_rpc_declares_its_access_and_the_policy_reads_it() {
        let policy = AccessPolicy::from_contracts(&[
            "astrobookings.system.v1.SystemService",
            "astrobookings.agency.v1.AgencyService",
            "astrobookings.booking.v1.BookingService",
            "astrobookings.finance.v1.FinanceService",
            "astrobookings.notify.v1.NotifyService",
        ])
        .expect("every public RPC has an access option");
        assert_eq!(
            policy.rule("/astrobookings.system.v1.SystemService/Login"),
            Some(&AccessRule::Public)
        );
        assert_eq!(
            policy.rule("/astrobookings.system.v1.SystemService/CreateEmployee"),
            Some(&AccessRule::Roles(vec![Role::Admin]))
        );
        assert_eq!(
            policy.rule("/astrobookings.system.v1.SystemService/GetCurrentUser"),
            Some(&AccessRule::Roles(vec![]))
        );
        assert_eq!(
            policy.rule("/astrobookings.finance.v1.FinanceService/ListInvoices"),
            Some(&AccessRule::Roles(vec![Role::Finance, Role::Agency]))
        );
        assert_eq!(
            policy.rule("/astrobookings.finance.v1.FinanceInternalService/ChargeBooking"),
            None
        );
    }

    #[test]
    fn internal_services_cannot_enter_the_policy() {
        let error =
            AccessPolicy::from_contracts(&["astrobookings.finance.v1.FinanceInternalService"])
                .expect_err("internal RPCs have no access option");
        assert!(
            error.to_string().contains("has no access option"),
            "{error}"
        );
    }

    #[test]
    fn roles_are_checked_and_absence_is_unauthenticated() {
        let traveler = Caller {
            user_id: "u".into(),
            role: Role::Traveler,
            token_id: "t".into(),
            expires_at: 0,
        };
        let admin_only = AccessRule::Roles(vec![Role::Admin]);
        assert!(matches!(
            authorize(&admin_only, Some(&traveler)),
            Err(AppError::PermissionDenied(_))
        ));
        assert!(matches!(
            authorize(&admin_only, None),
            Err(AppError::Unauthenticated(_))
        ));
        assert!(authorize(&AccessRule::Roles(vec![]), Some(&traveler)).is_ok());
        assert!(authorize(&AccessRule::Public, None).is_ok());
    }

    #[test]
    fn role_claims_round_trip() {
        for role in [
            Role::Traveler,
            Role::Agency,
            Role::Finance,
            Role::It,
            Role::Admin,
        ] {
            assert_eq!(role_from_claim(role_claim(role)), Some(role));
        }
        assert_eq!(role_from_claim("UNSPECIFIED"), None);
        assert_eq!(role_from_claim("ROOT"), None);
    }

    #[test]
    fn bearer_token_is_read_case_insensitively() {
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", "bearer abc".parse().expect("header"));
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert("authorization", "Basic abc".parse().expect("header"));
        assert_eq!(bearer_token(&headers), None);
    }
}
