//! Who a service-to-service call comes from.
//!
//! Every process of the mesh has an Ed25519 identity key. When it calls an internal RPC it sends
//! a service token in the `astro-service-token` metadata: an EdDSA JWT whose `kid` and `iss` are
//! its name, `aud` the callee's name and `token_use` "service", valid for [`SERVICE_TOKEN_TTL`].
//! The callee verifies it against the callers' public keys and checks the caller against the
//! contract's `internal_access` option of the RPC (see [`crate::auth`]).
//!
//! Signed tokens rather than mTLS: they go through the same auth layer, the same JWT
//! verification and the same plaintext HTTP/2 channels as user tokens, so no test client, probe
//! or sidecar needs a certificate, while a stolen token is bound to one callee and dies within a
//! minute. Confidentiality on the wire is left to the network (a service mesh or the cluster's
//! encrypted overlay), as it is for user tokens today.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use astro_proto::astrobookings::common::v1::MeshService;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{
    AppError,
    auth::{eddsa_header, rejection_reason, unix_now},
    config::{ConfigError, Env},
    grpc_client::TracedChannel,
};

/// The metadata key that carries a service token.
pub const SERVICE_TOKEN_HEADER: &str = "astro-service-token";
/// The `token_use` claim of a service token: a user's access token is never one.
pub const SERVICE_TOKEN_USE: &str = "service";
/// How long a service token is valid.
pub const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(60);
/// A cached token is replaced once less than this is left of it, so none expires in flight.
const RENEW_BEFORE: Duration = Duration::from_secs(30);
/// Verification tolerates this much clock skew between two pods (less than a user token's
/// [`crate::auth::LEEWAY`]: a service token lives a minute, not fifteen).
const SERVICE_LEEWAY: Duration = Duration::from_secs(10);

/// The name of a service in tokens and key files (`booking`), from the contract's enum.
pub fn service_name(service: MeshService) -> &'static str {
    match service {
        MeshService::Unspecified => "unspecified",
        MeshService::System => "system",
        MeshService::Agency => "agency",
        MeshService::Booking => "booking",
        MeshService::Finance => "finance",
        MeshService::Notify => "notify",
        MeshService::Gateway => "gateway",
    }
}

/// The contract's enum from a name in a token; `None` for anything unknown.
pub fn service_from_name(name: &str) -> Option<MeshService> {
    MeshService::from_str_name(&format!("MESH_SERVICE_{}", name.to_ascii_uppercase()))
        .filter(|service| *service != MeshService::Unspecified)
}

/// The claims of a service token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    pub nbf: u64,
    pub token_use: String,
}

/// Where a process finds its identity key and the public keys of the others.
#[derive(Debug, Clone)]
pub struct ServiceAuthConfig {
    /// `<PREFIX>_SERVICE_KEY_FILE`: this process's Ed25519 private key, PKCS#8 PEM
    /// (`openssl genpkey -algorithm ed25519`).
    pub key_file: PathBuf,
    /// `<PREFIX>_SERVICE_PUBLIC_KEYS_DIR`: a directory with `<service>.pub.pem` (SPKI PEM,
    /// `openssl pkey -pubout`) for each service that may call this one.
    pub public_keys_dir: PathBuf,
}

impl ServiceAuthConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            key_file: env.required::<String>("SERVICE_KEY_FILE")?.into(),
            public_keys_dir: env.required::<String>("SERVICE_PUBLIC_KEYS_DIR")?.into(),
        })
    }
}

/// A service's identity and the keys it verifies its callers with, from its configuration.
pub struct ServiceCredentials {
    pub identity: Arc<ServiceIdentity>,
    pub keys: ServiceKeys,
}

impl ServiceCredentials {
    /// Loads both; a missing or unreadable key stops the service at start-up.
    pub fn load(service: MeshService, config: &ServiceAuthConfig) -> anyhow::Result<Self> {
        Ok(Self {
            identity: Arc::new(ServiceIdentity::load(service, config)?),
            keys: ServiceKeys::load(service, &config.public_keys_dir)?,
        })
    }
}

/// This process's identity: signs service tokens, one cached per callee.
pub struct ServiceIdentity {
    service: MeshService,
    key: EncodingKey,
    tokens: Mutex<HashMap<MeshService, (String, u64)>>,
}

impl std::fmt::Debug for ServiceIdentity {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ServiceIdentity")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl ServiceIdentity {
    /// The identity of `service` with the private key in `pem`.
    pub fn from_pem(service: MeshService, pem: &[u8]) -> anyhow::Result<Self> {
        let key = EncodingKey::from_ed_pem(pem).map_err(|error| {
            anyhow::anyhow!(
                "the {} service key is not a PKCS#8 PEM Ed25519 private key: {error}",
                service_name(service)
            )
        })?;
        Ok(Self {
            service,
            key,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// The identity of `service` with its key from `config`.
    pub fn load(service: MeshService, config: &ServiceAuthConfig) -> anyhow::Result<Self> {
        let pem = std::fs::read(&config.key_file).map_err(|error| {
            anyhow::anyhow!(
                "cannot read the service key {}: {error}",
                config.key_file.display()
            )
        })?;
        Self::from_pem(service, &pem)
    }

    pub fn service(&self) -> MeshService {
        self.service
    }

    /// A [`TracedChannel::lazy`] to `callee` at `url` whose calls carry this identity's tokens.
    pub fn channel(
        self: &Arc<Self>,
        url: &str,
        default_deadline: Duration,
        callee: MeshService,
    ) -> anyhow::Result<TracedChannel> {
        Ok(TracedChannel::lazy(url, default_deadline)?.signed_by(self, callee))
    }

    /// A token for calls to `audience`, reused until it nears its end.
    pub fn token_for(&self, audience: MeshService) -> Result<String, AppError> {
        let now = unix_now();
        let mut tokens = self
            .tokens
            .lock()
            .map_err(|_| AppError::Internal(anyhow::anyhow!("service token cache poisoned")))?;
        if let Some((token, expires_at)) = tokens.get(&audience)
            && *expires_at > now + RENEW_BEFORE.as_secs()
        {
            return Ok(token.clone());
        }
        let expires_at = now + SERVICE_TOKEN_TTL.as_secs();
        let token = self.sign(audience, now, expires_at)?;
        tokens.insert(audience, (token.clone(), expires_at));
        Ok(token)
    }

    /// A token with the given times, uncached (tests forge expired ones with it).
    pub fn sign(
        &self,
        audience: MeshService,
        now: u64,
        expires_at: u64,
    ) -> Result<String, AppError> {
        let name = service_name(self.service);
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(name.to_owned());
        let claims = ServiceClaims {
            iss: name.to_owned(),
            sub: name.to_owned(),
            aud: service_name(audience).to_owned(),
            exp: expires_at,
            iat: now,
            nbf: now.saturating_sub(1),
            token_use: SERVICE_TOKEN_USE.to_owned(),
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|error| AppError::Internal(anyhow::anyhow!("sign a service token: {error}")))
    }
}

/// Verifies the service tokens sent to one service.
pub struct ServiceKeys {
    keys: HashMap<MeshService, DecodingKey>,
    validation: Validation,
}

impl ServiceKeys {
    /// Public keys by service, for calls to `callee`.
    pub fn new(callee: MeshService, keys: HashMap<MeshService, DecodingKey>) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.leeway = SERVICE_LEEWAY.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_audience(&[service_name(callee)]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        Self { keys, validation }
    }

    /// Reads `<service>.pub.pem` of every service found in `dir`. A directory without any is an
    /// error: nothing could ever call this service's internal RPCs.
    pub fn load(callee: MeshService, dir: &Path) -> anyhow::Result<Self> {
        let mut keys = HashMap::new();
        for service in all_services() {
            let path = dir.join(format!("{}.pub.pem", service_name(service)));
            match std::fs::read(&path) {
                Ok(pem) => {
                    let key = DecodingKey::from_ed_pem(&pem).map_err(|error| {
                        anyhow::anyhow!("{} is not an Ed25519 public key: {error}", path.display())
                    })?;
                    keys.insert(service, key);
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => anyhow::bail!("cannot read {}: {error}", path.display()),
            }
        }
        anyhow::ensure!(
            !keys.is_empty(),
            "no service public key (<service>.pub.pem) in {}",
            dir.display()
        );
        Ok(Self::new(callee, keys))
    }

    /// The service a token was issued by, or UNAUTHENTICATED saying why.
    pub fn verify(&self, token: &str) -> Result<MeshService, AppError> {
        let unauthenticated =
            |reason: &str| AppError::Unauthenticated(format!("invalid service token: {reason}"));
        let header = eddsa_header(token, unauthenticated)?;
        let service = header
            .kid
            .as_deref()
            .and_then(service_from_name)
            .ok_or_else(|| unauthenticated("unknown service"))?;
        let key = self
            .keys
            .get(&service)
            .ok_or_else(|| unauthenticated("unknown service"))?;
        let claims = jsonwebtoken::decode::<ServiceClaims>(token, key, &self.validation)
            .map_err(|error| unauthenticated(rejection_reason(&error)))?
            .claims;
        if claims.token_use != SERVICE_TOKEN_USE {
            return Err(unauthenticated("not a service token"));
        }
        // The key proves the issuer; a token naming another must not pass for it.
        if claims.iss != service_name(service) || claims.sub != claims.iss {
            return Err(unauthenticated("issuer does not match its key"));
        }
        // An hour-long token signed with a stolen key is still refused.
        if claims.exp > claims.iat + SERVICE_TOKEN_TTL.as_secs() + SERVICE_LEEWAY.as_secs() {
            return Err(unauthenticated("lifetime too long"));
        }
        Ok(service)
    }
}

/// The caller of an internal RPC, put into the request's extensions by the auth layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallingService(pub MeshService);

/// Every service that can have an identity.
pub fn all_services() -> [MeshService; 6] {
    [
        MeshService::System,
        MeshService::Agency,
        MeshService::Booking,
        MeshService::Finance,
        MeshService::Notify,
        MeshService::Gateway,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};

    fn key_pair() -> (Vec<u8>, DecodingKey) {
        let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        let private = key
            .to_pkcs8_pem(Default::default())
            .expect("private PEM")
            .as_bytes()
            .to_vec();
        let public = key
            .verifying_key()
            .to_public_key_pem(Default::default())
            .expect("public PEM");
        (
            private,
            DecodingKey::from_ed_pem(public.as_bytes()).expect("public key"),
        )
    }

    #[test]
    fn a_token_is_accepted_by_its_callee_only_and_names_its_issuer() {
        let (booking_private, booking_public) = key_pair();
        let booking =
            ServiceIdentity::from_pem(MeshService::Booking, &booking_private).expect("identity");
        let finance = ServiceKeys::new(
            MeshService::Finance,
            HashMap::from([(MeshService::Booking, booking_public.clone())]),
        );
        let notify = ServiceKeys::new(
            MeshService::Notify,
            HashMap::from([(MeshService::Booking, booking_public)]),
        );
        let token = booking.token_for(MeshService::Finance).expect("token");
        assert_eq!(finance.verify(&token).expect("valid"), MeshService::Booking);
        assert_eq!(
            booking.token_for(MeshService::Finance).expect("cached"),
            token,
            "a fresh token is reused"
        );
        let error = notify.verify(&token).expect_err("another audience");
        assert!(error.to_string().contains("wrong audience"), "{error}");
    }

    #[test]
    fn forged_expired_and_long_lived_tokens_are_refused() {
        let (booking_private, booking_public) = key_pair();
        let (intruder_private, _) = key_pair();
        let finance = ServiceKeys::new(
            MeshService::Finance,
            HashMap::from([(MeshService::Booking, booking_public)]),
        );
        let forged = ServiceIdentity::from_pem(MeshService::Booking, &intruder_private)
            .expect("identity")
            .token_for(MeshService::Finance)
            .expect("token");
        assert!(finance.verify(&forged).is_err(), "signed by another key");

        let booking =
            ServiceIdentity::from_pem(MeshService::Booking, &booking_private).expect("identity");
        let now = unix_now();
        let expired = booking
            .sign(MeshService::Finance, now - 300, now - 240)
            .expect("token");
        assert!(
            finance
                .verify(&expired)
                .expect_err("expired")
                .to_string()
                .contains("expired")
        );
        let long_lived = booking
            .sign(MeshService::Finance, now, now + 3_600)
            .expect("token");
        assert!(
            finance
                .verify(&long_lived)
                .expect_err("an hour")
                .to_string()
                .contains("too long")
        );
        // Booking's key, but a token claiming to be notify's.
        let unknown = ServiceIdentity::from_pem(MeshService::Notify, &booking_private)
            .expect("identity")
            .token_for(MeshService::Finance)
            .expect("token");
        assert!(finance.verify(&unknown).is_err(), "no key for notify");
        assert!(finance.verify("not a token").is_err());
    }

    #[test]
    fn names_round_trip() {
        for service in all_services() {
            assert_eq!(service_from_name(service_name(service)), Some(service));
        }
        assert_eq!(service_from_name("unspecified"), None);
        assert_eq!(service_from_name("root"), None);
    }
}
