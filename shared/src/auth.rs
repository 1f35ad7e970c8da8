//! Authentication and authorization shared by every service and the gateway.
//!
//! Access tokens are EdDSA JWTs signed by SystemAPI; everyone verifies them locally against
//! SystemAPI's JWKS (cached, refetched when a token names an unknown key id). Who may call which
//! RPC is declared once, in the contracts (`astrobookings.common.v1.access` on every public RPC,
//! `internal_access` on every internal one), and read here from the descriptor set. Internal
//! RPCs take service tokens only (see [`crate::service_auth`]), never a user's. Logout and
//! disabled accounts take effect everywhere at once through a denylist in CacheDB.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use astro_proto::astrobookings::{
    common::v1::{MeshService, Role, instance_internal_service_server},
    system::v1::{GetJwksRequest, Jwk, system_service_client::SystemServiceClient},
};
use fred::{interfaces::LuaInterface as _, prelude::KeysInterface as _};
use http::{Request, Response};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock};
use tonic::{Status, body::Body};

use crate::{
    AppError,
    grpc_client::TracedChannel,
    service_auth::{CallingService, SERVICE_TOKEN_HEADER, ServiceKeys, service_name},
};

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
    /// The session (refresh family) the token was issued to, so a family revoked for reuse
    /// takes its access tokens with it. Empty in tokens that predate it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sid: String,
    /// `iat` in milliseconds, so "every token issued before the password change" is exact
    /// even within the second of the change. 0 in tokens that predate it (`iat` is used).
    #[serde(default)]
    pub iat_ms: u64,
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
    /// When the token was issued (milliseconds since the epoch).
    pub issued_at_ms: u64,
    /// The session (refresh family) of the token; empty if unknown.
    pub session_id: String,
}

impl Caller {
    /// The caller's user id as the UUID every account id is (an AGENCY's is its agency id).
    /// A token naming anything else is our own bug, never the caller's mistake.
    pub fn user_uuid(&self) -> Result<uuid::Uuid, AppError> {
        uuid::Uuid::parse_str(&self.user_id).map_err(|_| {
            AppError::internal(anyhow::anyhow!(
                "the caller's user id {:?} is not a UUID",
                self.user_id
            ))
        })
    }
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

/// Milliseconds since the epoch.
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
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

    fn user_revoked_before_key(&self, user_id: &str) -> String {
        format!("{}auth:user-revoked-before:{user_id}", self.prefix)
    }

    fn revoked_session_key(&self, session_id: &str) -> String {
        format!("{}auth:revoked-session:{session_id}", self.prefix)
    }

    /// Every revocation by the time it was made (ListRevokedTokens), beside the marks.
    fn revocations_key(&self) -> String {
        format!("{}auth:revocations", self.prefix)
    }

    /// Refuses every access token of `user_id` issued before `at_ms` (a password change).
    /// Tokens issued later, e.g. by the login that follows, stay valid.
    pub async fn revoke_user_tokens_before(
        &self,
        user_id: &str,
        at_ms: u64,
        access_token_ttl: Duration,
    ) -> Result<(), AppError> {
        let ttl = outliving(access_token_ttl);
        self.mark(
            self.user_revoked_before_key(user_id),
            at_ms,
            ttl,
            Revocation::user(user_id, at_ms, ttl),
        )
        .await
    }

    /// Refuses every access token of the session (refresh family) `session_id`.
    pub async fn revoke_session(
        &self,
        session_id: &str,
        access_token_ttl: Duration,
    ) -> Result<(), AppError> {
        if session_id.is_empty() {
            return Ok(());
        }
        let ttl = outliving(access_token_ttl);
        self.mark(
            self.revoked_session_key(session_id),
            1,
            ttl,
            Revocation::session(session_id, unix_now_ms(), ttl),
        )
        .await
    }

    /// Refuses the access token `token_id` until it expires at `expires_at` (plus leeway).
    pub async fn revoke_token(&self, token_id: &str, expires_at: u64) -> Result<(), AppError> {
        let ttl = expires_at.saturating_sub(unix_now()) + LEEWAY.as_secs() + 1;
        let revoked_at_ms = unix_now_ms();
        self.mark(
            self.revoked_token_key(token_id),
            1,
            ttl,
            Revocation::token(token_id, revoked_at_ms, ttl),
        )
        .await
    }

    /// Refuses every access token of `user_id` issued so far. Refresh and login are refused by
    /// SystemDB, so the mark only has to outlive the longest access token.
    pub async fn mark_user_disabled(
        &self,
        user_id: &str,
        access_token_ttl: Duration,
    ) -> Result<(), AppError> {
        let ttl = outliving(access_token_ttl);
        let now_ms = unix_now_ms();
        // For a local deny-list a disabled account is one whose tokens so far are revoked: no
        // later one is issued while it is disabled.
        self.mark(
            self.disabled_user_key(user_id),
            1,
            ttl,
            Revocation::user(user_id, now_ms, ttl),
        )
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
        // One round trip for every reason a token can be refused: the "revoked before" time
        // first, then the marks whose mere presence refuses.
        let mut keys = vec![
            self.user_revoked_before_key(&caller.user_id),
            self.revoked_token_key(&caller.token_id),
            self.disabled_user_key(&caller.user_id),
        ];
        if !caller.session_id.is_empty() {
            keys.push(self.revoked_session_key(&caller.session_id));
        }
        let values: Vec<Option<String>> = self.redis.mget(keys).await?;
        let revoked_before = values
            .first()
            .cloned()
            .flatten()
            .and_then(|value| value.parse::<u64>().ok());
        let flagged = values.iter().skip(1).any(Option::is_some);
        Ok(flagged || revoked_before.is_some_and(|before| caller.issued_at_ms < before))
    }

    /// The revocations made at or after `since_ms` whose tokens may still be valid, in the
    /// order they were made, starting after `after` (the last one of the previous page): at
    /// most `limit`.
    pub async fn revocations(
        &self,
        since_ms: u64,
        after: Option<&Revocation>,
        limit: u32,
    ) -> Result<Vec<Revocation>, AppError> {
        let (min_score, after_member) = match after {
            Some(last) => (last.revoked_at_ms.max(since_ms), last.member()),
            None => (since_ms, String::new()),
        };
        let rows: Vec<String> = self
            .redis
            .eval(
                LIST_REVOCATIONS,
                vec![self.revocations_key()],
                vec![
                    min_score.to_string(),
                    after_member,
                    limit.to_string(),
                    unix_now_ms().to_string(),
                ],
            )
            .await?;
        Ok(rows
            .chunks_exact(2)
            .filter_map(|pair| Revocation::parse(&pair[0], &pair[1]))
            .collect())
    }

    /// Sets the mark `key` to `value` for `ttl_seconds` and records `revocation` in the index,
    /// in one script: a revocation is never listed without its mark, nor marked unlisted.
    async fn mark(
        &self,
        key: String,
        value: u64,
        ttl_seconds: u64,
        revocation: Revocation,
    ) -> Result<(), AppError> {
        let horizon_ms = unix_now_ms().saturating_sub(REVOCATION_INDEX_HORIZON_MS);
        let _: i64 = self
            .redis
            .eval(
                MARK_AND_INDEX,
                vec![key, self.revocations_key()],
                vec![
                    value.to_string(),
                    ttl_seconds.max(1).to_string(),
                    revocation.revoked_at_ms.to_string(),
                    revocation.member(),
                    horizon_ms.to_string(),
                ],
            )
            .await?;
        Ok(())
    }
}

/// How long the revocation index keeps an entry: longer than any access token lives, so an
/// entry is only dropped once nothing it revokes can be valid.
const REVOCATION_INDEX_HORIZON_MS: u64 = 24 * 60 * 60 * 1000;

/// KEYS: the mark, the index. ARGV: value, ttl seconds, revoked-at ms, index member, the
/// horizon before which entries are dropped.
const MARK_AND_INDEX: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[5])
return 1
";

/// KEYS: the index. ARGV: the least revoked-at ms, the last member already listed at that time
/// ('' for none), how many, now ms. Answers member, score, member, score... Members are ordered by time, then by member (as Redis
/// orders ties), and entries whose tokens have all expired are skipped.
const LIST_REVOCATIONS: &str = r"
local wanted = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local found = {}
local count = 0
local offset = 0
while count < wanted do
  local rows = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf', 'WITHSCORES', 'LIMIT', offset, wanted)
  if #rows == 0 then break end
  for i = 1, #rows, 2 do
    local member, score = rows[i], rows[i + 1]
    local seen = ARGV[2] ~= '' and tonumber(score) == tonumber(ARGV[1]) and member <= ARGV[2]
    local expires = tonumber(string.match(member, ':(%d+)$'))
    if not seen and expires and expires > now and count < wanted then
      table.insert(found, member)
      table.insert(found, score)
      count = count + 1
    end
  end
  offset = offset + wanted
end
return found
";

/// What a revocation refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Revoked {
    /// One access token, by its `jti`.
    Token,
    /// Every access token of a session (refresh family).
    Session,
    /// Every access token of a user issued before the revocation.
    User,
}

impl Revoked {
    fn tag(self) -> &'static str {
        match self {
            Self::Token => "t",
            Self::Session => "s",
            Self::User => "u",
        }
    }
}

/// One entry of the revocation index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Revocation {
    pub revoked: Revoked,
    /// The `jti`, session id or user id.
    pub id: String,
    pub revoked_at_ms: u64,
    /// When the last token it refuses expires: after that it refuses nothing.
    pub expires_at_ms: u64,
}

impl Revocation {
    fn new(revoked: Revoked, id: &str, revoked_at_ms: u64, ttl_seconds: u64) -> Self {
        Self {
            revoked,
            id: id.to_owned(),
            revoked_at_ms,
            expires_at_ms: revoked_at_ms.saturating_add(ttl_seconds.saturating_mul(1000)),
        }
    }

    fn token(jti: &str, revoked_at_ms: u64, ttl_seconds: u64) -> Self {
        Self::new(Revoked::Token, jti, revoked_at_ms, ttl_seconds)
    }

    fn session(session_id: &str, revoked_at_ms: u64, ttl_seconds: u64) -> Self {
        Self::new(Revoked::Session, session_id, revoked_at_ms, ttl_seconds)
    }

    fn user(user_id: &str, revoked_at_ms: u64, ttl_seconds: u64) -> Self {
        Self::new(Revoked::User, user_id, revoked_at_ms, ttl_seconds)
    }

    /// `tag:id:expires` (ids never hold a colon: UUIDs and random token ids); the expiry last,
    /// where the listing script reads it.
    fn member(&self) -> String {
        format!("{}:{}:{}", self.revoked.tag(), self.id, self.expires_at_ms)
    }

    fn parse(member: &str, score: &str) -> Option<Self> {
        let (tag, rest) = member.split_once(':')?;
        let (id, expires) = rest.rsplit_once(':')?;
        let revoked = [Revoked::Token, Revoked::Session, Revoked::User]
            .into_iter()
            .find(|revoked| revoked.tag() == tag)?;
        Some(Self {
            revoked,
            id: id.to_owned(),
            // Redis answers a score as a double's text.
            revoked_at_ms: score.parse::<f64>().ok()? as u64,
            expires_at_ms: expires.parse().ok()?,
        })
    }
}

/// The header of an EdDSA JWT of at most [`MAX_TOKEN_BYTES`], or UNAUTHENTICATED saying why
/// (checked before any key is looked up: a forged algorithm never reaches a verifier).
pub(crate) fn eddsa_header(
    token: &str,
    unauthenticated: impl Fn(&str) -> AppError,
) -> Result<jsonwebtoken::Header, AppError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(unauthenticated("too large"));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| unauthenticated("malformed"))?;
    if header.alg != Algorithm::EdDSA {
        return Err(unauthenticated("algorithm not allowed"));
    }
    Ok(header)
}

/// Why a JWT failed validation, in words a client may read.
pub(crate) fn rejection_reason(error: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => "not valid yet",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::MissingRequiredClaim(_) => "missing claim",
        ErrorKind::InvalidSignature => "bad signature",
        _ => "malformed",
    }
}

/// How long a denylist mark about access tokens must live: past the longest access token.
fn outliving(access_token_ttl: Duration) -> u64 {
    access_token_ttl.as_secs() + LEEWAY.as_secs() + 1
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

    /// The caller a bearer token stands for, or UNAUTHENTICATED saying why. If the denylist
    /// cannot be read, see [`Self::verify_with`]: reads of customers stay open.
    pub async fn verify(&self, token: &str) -> Result<Caller, AppError> {
        self.verify_with(token, true).await
    }

    /// As [`Self::verify`]. `read_only` says whether the RPC only reads: when CacheDB (the
    /// denylist) is down, a revocation may be missed, so only customers' (TRAVELER, AGENCY)
    /// reads are let through; employees (FINANCE, IT, ADMIN) and every write fail closed with
    /// UNAVAILABLE rather than act on a token that may have been revoked.
    pub async fn verify_with(&self, token: &str, read_only: bool) -> Result<Caller, AppError> {
        let unauthenticated =
            |reason: &str| AppError::Unauthenticated(format!("invalid access token: {reason}"));
        let header = eddsa_header(token, unauthenticated)?;
        let key_id = header.kid.ok_or_else(|| unauthenticated("no key id"))?;
        let key = self
            .key(&key_id)
            .await?
            .ok_or_else(|| unauthenticated("unknown key id"))?;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key, &self.validation)
            .map_err(|error| unauthenticated(rejection_reason(&error)))?;
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
            issued_at_ms: if claims.iat_ms > 0 {
                claims.iat_ms
            } else {
                claims.iat.saturating_mul(1000)
            },
            session_id: claims.sid,
        };
        if let Some(denylist) = &self.denylist {
            match denylist.is_denied(&caller).await {
                Ok(false) => {}
                Ok(true) => return Err(AppError::Unauthenticated("access token revoked".into())),
                // CacheDB down: the signature, expiry and audience are proven, only a logout,
                // password change or disabling within the token's last minutes (15 at most)
                // could be missed. A customer's read goes on (the catalogue and their bookings
                // stay visible through a CacheDB outage), logged; anything else fails closed.
                Err(AppError::Unavailable { cause, .. })
                    if read_only && !is_employee(caller.role) =>
                {
                    tracing::warn!(
                        user_id = %caller.user_id,
                        error = %format!("{cause:#}"),
                        "token denylist unavailable (CacheDB); accepting the verified token for a read"
                    );
                }
                Err(error @ AppError::Unavailable { .. }) => {
                    tracing::warn!(
                        user_id = %caller.user_id,
                        role = role_claim(caller.role),
                        "token denylist unavailable (CacheDB); refusing an employee or a write"
                    );
                    return Err(error);
                }
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

/// Whether a role is one of the platform's employees, whose tokens carry the most power.
pub fn is_employee(role: Role) -> bool {
    matches!(role, Role::Finance | Role::It | Role::Admin)
}

/// Whether an RPC only reads, by the naming rule every contract follows (AIP-131..136):
/// `Get…`, `List…`, `BatchGet…`, `Search…`, `Export…`, `Watch…`.
pub fn is_read_rpc(method_name: &str) -> bool {
    ["Get", "List", "BatchGet", "Search", "Export", "Watch"]
        .iter()
        .any(|prefix| method_name.starts_with(prefix))
}

/// Who may call one RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessRule {
    Public,
    /// Any authenticated user when empty, else one of these roles.
    Roles(Vec<Role>),
    /// An internal RPC: one of these services, with a service token (never empty).
    Services(Vec<MeshService>),
}

/// The access rules of the RPCs of some services, by gRPC path (`/pkg.Service/Method`).
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    rules: HashMap<String, AccessRule>,
    services: Vec<String>,
}

/// Whether a contract service is internal: reachable by services only, never listed by
/// reflection nor routed by the gateway.
pub fn is_internal_service(full_name: &str) -> bool {
    full_name.ends_with("InternalService")
}

impl AccessPolicy {
    /// Reads the access rule of every method of `services`: `astrobookings.common.v1.access`
    /// for a public service, `internal_access` with at least one caller for an
    /// `*InternalService`. A method without its option is an error, so a service whose contract
    /// forgets one refuses to start (deny by default).
    pub fn from_contracts(services: &[&str]) -> anyhow::Result<Self> {
        use prost_reflect::DescriptorPool;
        let pool = DescriptorPool::decode(astro_proto::FILE_DESCRIPTOR_SET)?;
        let option = |name: &str| {
            pool.get_extension_by_name(name)
                .ok_or_else(|| anyhow::anyhow!("the {name} option is missing from the contracts"))
        };
        let access = option("astrobookings.common.v1.access")?;
        let internal_access = option("astrobookings.common.v1.internal_access")?;
        let mut rules = HashMap::new();
        // Every gRPC server also serves its instance status (see crate::instance).
        let instance_service = instance_internal_service_server::SERVICE_NAME;
        let services: Vec<&str> = services
            .iter()
            .copied()
            .chain((!services.contains(&instance_service)).then_some(instance_service))
            .collect();
        for service_name in &services {
            let service = pool
                .get_service_by_name(service_name)
                .ok_or_else(|| anyhow::anyhow!("no service {service_name} in the contracts"))?;
            let internal = is_internal_service(service.full_name());
            for method in service.methods() {
                let options = method.options();
                let rule = if internal {
                    anyhow::ensure!(
                        options.has_extension(&internal_access),
                        "{} has no internal_access option",
                        method.full_name()
                    );
                    let callers = repeated_enum::<MeshService>(
                        &options.get_extension(&internal_access),
                        "callers",
                    );
                    anyhow::ensure!(
                        !callers.is_empty(),
                        "{}: internal_access names no caller",
                        method.full_name()
                    );
                    AccessRule::Services(callers)
                } else {
                    anyhow::ensure!(
                        options.has_extension(&access),
                        "{} has no access option",
                        method.full_name()
                    );
                    let rule = options.get_extension(&access);
                    let public = rule
                        .as_message()
                        .and_then(|rule| rule.get_field_by_name("public"))
                        .and_then(|value| value.as_bool())
                        .unwrap_or(false);
                    if public {
                        AccessRule::Public
                    } else {
                        AccessRule::Roles(repeated_enum::<Role>(&rule, "roles"))
                    }
                };
                rules.insert(format!("/{}/{}", service.full_name(), method.name()), rule);
            }
        }
        Ok(Self {
            rules,
            services: services.iter().map(|name| (*name).to_owned()).collect(),
        })
    }

    /// The rule of the RPC at `path`; `None` for paths outside the policy (health, reflection).
    pub fn rule(&self, path: &str) -> Option<&AccessRule> {
        self.rules.get(path)
    }

    /// Whether the policy holds the rules of the service `full_name`.
    pub fn covers(&self, full_name: &str) -> bool {
        self.services.iter().any(|name| name == full_name)
    }
}

/// The known values of the repeated enum field `field` of an option message.
fn repeated_enum<E: TryFrom<i32>>(option: &prost_reflect::Value, field: &str) -> Vec<E> {
    use prost_reflect::Value;
    option
        .as_message()
        .and_then(|message| message.get_field_by_name(field))
        .and_then(|value| value.as_list().map(<[Value]>::to_vec))
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_enum_number)
        .filter_map(|number| E::try_from(number).ok())
        .collect()
}

/// Checks a caller (or its absence) against a user rule.
pub fn authorize(rule: &AccessRule, caller: Option<&Caller>) -> Result<(), AppError> {
    match (rule, caller) {
        (AccessRule::Public, _) => Ok(()),
        (AccessRule::Services(_), _) => Err(AppError::Unauthenticated(format!(
            "a service token is required ({SERVICE_TOKEN_HEADER})"
        ))),
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

/// Decides whether a request to the RPC at `path` may go on, and who makes it.
pub async fn authenticate(
    verifier: &TokenVerifier,
    rule: &AccessRule,
    path: &str,
    headers: &http::HeaderMap,
) -> Result<Option<Caller>, AppError> {
    let read_only = path.rsplit('/').next().is_some_and(is_read_rpc);
    let caller = match bearer_token(headers) {
        None => None,
        Some(token) => match verifier.verify_with(token, read_only).await {
            Ok(caller) => Some(caller),
            // A public RPC ignores a bad token rather than failing the call.
            Err(AppError::Unauthenticated(_)) if *rule == AccessRule::Public => None,
            Err(error) => return Err(error),
        },
    };
    authorize(rule, caller.as_ref())?;
    Ok(caller)
}

/// Decides whether a service may call an internal RPC allowed to `callers`.
pub fn authenticate_service(
    keys: &ServiceKeys,
    callers: &[MeshService],
    headers: &http::HeaderMap,
) -> Result<MeshService, AppError> {
    let token = headers
        .get(SERVICE_TOKEN_HEADER)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| {
            AppError::Unauthenticated(format!(
                "a service token is required ({SERVICE_TOKEN_HEADER})"
            ))
        })?;
    let service = keys.verify(token)?;
    if callers.contains(&service) {
        Ok(service)
    } else {
        Err(AppError::PermissionDenied(format!(
            "service {} may not call this",
            service_name(service)
        )))
    }
}

/// The tower layer every service puts in front of its gRPC services.
#[derive(Clone)]
pub struct AuthLayer {
    verifier: Arc<TokenVerifier>,
    service_keys: Arc<ServiceKeys>,
    policy: Arc<AccessPolicy>,
}

impl AuthLayer {
    pub fn new(
        verifier: Arc<TokenVerifier>,
        service_keys: Arc<ServiceKeys>,
        policy: AccessPolicy,
    ) -> Self {
        Self {
            verifier,
            service_keys,
            policy: Arc::new(policy),
        }
    }

    /// Whether every RPC of the service `full_name` has its rule here; the server refuses to
    /// serve one that has not.
    pub fn covers(&self, full_name: &str) -> bool {
        self.policy.covers(full_name)
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
        if let AccessRule::Services(callers) = &rule {
            return match authenticate_service(&self.layer.service_keys, callers, request.headers())
            {
                Ok(service) => {
                    request.extensions_mut().insert(CallingService(service));
                    Box::pin(inner.call(request))
                }
                Err(error) => {
                    tracing::warn!(path = request.uri().path(), %error, "internal call refused");
                    let refused = Status::from(error).into_http();
                    Box::pin(async move { Ok(refused) })
                }
            };
        }
        let verifier = Arc::clone(&self.layer.verifier);
        Box::pin(async move {
            match authenticate(&verifier, &rule, request.uri().path(), request.headers()).await {
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

/// The auth layer of a service other than SystemAPI: user tokens verified against the JWKS
/// that SystemAPI at `system_url` publishes with the denylist in `cache`, service tokens against
/// `service_keys`, and the access rules of `services` (public and internal) from the contracts.
pub fn remote_auth_layer(
    system_url: &str,
    cache: fred::prelude::Client,
    service_keys: ServiceKeys,
    services: &[&str],
) -> anyhow::Result<AuthLayer> {
    let verifier = TokenVerifier::remote(
        TracedChannel::lazy(system_url, Duration::from_secs(5))?,
        Some(Denylist::new(cache, crate::config::redis_key_prefix())),
    );
    Ok(AuthLayer::new(
        Arc::new(verifier),
        Arc::new(service_keys),
        AccessPolicy::from_contracts(services)?,
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
    fn a_revocation_reads_back_from_its_index_member_and_score() {
        for revocation in [
            Revocation::token(
                "4e5ce135-fec5-483d-aa07-0ad9f6539b90",
                1_796_532_011_134,
                900,
            ),
            Revocation::session("b4f4f500-a657-4a5d-b8bc-4fec039ab114", 1, 60),
            Revocation::user(
                "01a249a7-00ae-74be-9db0-e73398913a7c",
                1_796_532_011_408,
                960,
            ),
        ] {
            let member = revocation.member();
            let score = revocation.revoked_at_ms.to_string();
            assert_eq!(Revocation::parse(&member, &score), Some(revocation.clone()));
            // Redis may answer a score in exponent form.
            let score = format!("{:e}", revocation.revoked_at_ms as f64);
            assert_eq!(Revocation::parse(&member, &score), Some(revocation));
        }
        let token = Revocation::token("jti", 1_000, 900);
        assert_eq!(
            token.expires_at_ms, 901_000,
            "revoked at plus the mark's lifetime"
        );
        for garbage in ["", "x:jti:1", "t:jti", "t:jti:soon"] {
            assert_eq!(Revocation::parse(garbage, "1"), None, "{garbage}");
        }
    }

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
    fn every_internal_rpc_names_its_callers_and_the_policy_reads_them() {
        let policy = AccessPolicy::from_contracts(&[
            "astrobookings.system.v1.SystemInternalService",
            "astrobookings.agency.v1.AgencyInternalService",
            "astrobookings.booking.v1.BookingInternalService",
            "astrobookings.finance.v1.FinanceInternalService",
            "astrobookings.notify.v1.NotifyInternalService",
        ])
        .expect("every internal RPC has an internal_access option");
        assert_eq!(
            policy.rule("/astrobookings.finance.v1.FinanceInternalService/RefundBooking"),
            Some(&AccessRule::Services(vec![MeshService::Booking]))
        );
        assert_eq!(
            policy.rule("/astrobookings.booking.v1.BookingInternalService/ConfirmBookingPayment"),
            Some(&AccessRule::Services(vec![MeshService::Finance]))
        );
        assert!(policy.covers("astrobookings.notify.v1.NotifyInternalService"));
        assert!(!policy.covers("astrobookings.notify.v1.NotifyService"));
    }

    #[test]
    fn a_user_token_never_opens_an_internal_rpc() {
        let admin = Caller {
            user_id: "u".into(),
            role: Role::Admin,
            token_id: "t".into(),
            expires_at: 0,
            issued_at_ms: 0,
            session_id: String::new(),
        };
        let internal = AccessRule::Services(vec![MeshService::Booking]);
        assert!(matches!(
            authorize(&internal, Some(&admin)),
            Err(AppError::Unauthenticated(_))
        ));
    }

    #[test]
    fn roles_are_checked_and_absence_is_unauthenticated() {
        let traveler = Caller {
            user_id: "u".into(),
            role: Role::Traveler,
            token_id: "t".into(),
            expires_at: 0,
            issued_at_ms: 0,
            session_id: String::new(),
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
    fn reads_are_told_from_writes_by_name() {
        for read in [
            "GetCurrentUser",
            "ListLaunches",
            "BatchGetUsers",
            "ExportLogs",
        ] {
            assert!(is_read_rpc(read), "{read}");
        }
        for write in [
            "CreateBooking",
            "Logout",
            "ChangePassword",
            "SetUserDisabled",
        ] {
            assert!(!is_read_rpc(write), "{write}");
        }
        assert!(is_employee(Role::It) && !is_employee(Role::Agency));
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
