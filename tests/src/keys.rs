//! Signing keys for test meshes: each mesh gets a fresh Ed25519 key, written as the PEM file
//! SystemAPI loads, so tests can also sign (and forge) tokens with the real key.

use std::{collections::HashMap, path::PathBuf, sync::Arc};

use astro_proto::astrobookings::common::v1::MeshService;
use astro_shared::service_auth::{ServiceIdentity, all_services, service_name};
use astro_system::keys::SigningKey;
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::{
    EncodePrivateKey as _, EncodePublicKey as _, spki::der::pem::LineEnding,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// A key pair on disk.
#[derive(Clone)]
pub struct TestKeys {
    pub pem_path: PathBuf,
    pub signing: SigningKey,
}

impl TestKeys {
    pub fn generate() -> anyhow::Result<Self> {
        let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|error| anyhow::anyhow!("encode PEM: {error}"))?;
        let dir = std::env::temp_dir().join("astro-e2e-keys");
        std::fs::create_dir_all(&dir)?;
        let pem_path = dir.join(format!("{}.pem", uuid::Uuid::new_v4().simple()));
        std::fs::write(&pem_path, pem.as_bytes())?;
        Ok(Self {
            signing: SigningKey::from_pem(&pem)?,
            pem_path,
        })
    }

    /// A token with these claims, signed by this key with its key id.
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.signing.key_id.clone());
        self.sign_with_header(&header, claims)
    }

    /// A token with an arbitrary header, signed by this key.
    pub fn sign_with_header(&self, header: &Header, claims: &serde_json::Value) -> String {
        jsonwebtoken::encode(header, claims, &self.signing.encoding).expect("sign")
    }

    /// An HS256 token whose HMAC secret is this key's public key (the classic key-confusion
    /// attack on verifiers that let the token choose the algorithm).
    pub fn hs256_with_public_key(&self, claims: &serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.signing.key_id.clone());
        let secret = EncodingKey::from_secret(self.signing.public_jwk.x.as_bytes());
        jsonwebtoken::encode(&header, claims, &secret).expect("sign")
    }
}

/// An unsigned token (`alg: none`).
pub fn unsigned_token(kid: &str, claims: &serde_json::Value) -> String {
    let header = serde_json::json!({ "alg": "none", "typ": "JWT", "kid": kid });
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// `token` with its payload replaced by `claims` (signature kept).
pub fn with_payload(token: &str, claims: &serde_json::Value) -> String {
    let mut parts = token.split('.');
    let header = parts.next().expect("header");
    let _ = parts.next();
    let signature = parts.next().expect("signature");
    format!(
        "{header}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// The service identity keys of one mesh, written as `./dev` writes them: `<svc>.key.pem` and
/// `<svc>.pub.pem` in one directory of their own. Tests sign as any service with them, as the
/// services do, and sign as the gateway (which the mesh gives no key) for a caller whose
/// signature is fine but who is not trusted.
#[derive(Clone)]
pub struct ServiceKeySet {
    pub dir: PathBuf,
    identities: HashMap<MeshService, Arc<ServiceIdentity>>,
}

impl ServiceKeySet {
    pub fn generate() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir()
            .join("astro-e2e-keys")
            .join(uuid::Uuid::new_v4().simple().to_string());
        std::fs::create_dir_all(&dir)?;
        let mut identities = HashMap::new();
        for service in all_services() {
            let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
            let private = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|error| anyhow::anyhow!("encode PEM: {error}"))?;
            let name = service_name(service);
            std::fs::write(dir.join(format!("{name}.key.pem")), private.as_bytes())?;
            // The gateway has no identity in the mesh: its public key is not published, so a
            // token it signs is well-formed but from nobody the services know.
            if service != MeshService::Gateway {
                let public = key
                    .verifying_key()
                    .to_public_key_pem(LineEnding::LF)
                    .map_err(|error| anyhow::anyhow!("encode PEM: {error}"))?;
                std::fs::write(dir.join(format!("{name}.pub.pem")), public.as_bytes())?;
            }
            identities.insert(
                service,
                Arc::new(ServiceIdentity::from_pem(service, private.as_bytes())?),
            );
        }
        Ok(Self { dir, identities })
    }

    /// One key set for every process a test starts on its own, made on first use.
    pub fn shared() -> anyhow::Result<&'static Self> {
        static SHARED: std::sync::OnceLock<ServiceKeySet> = std::sync::OnceLock::new();
        if let Some(keys) = SHARED.get() {
            return Ok(keys);
        }
        let keys = Self::generate()?;
        Ok(SHARED.get_or_init(|| keys))
    }

    /// The private key file of `service`.
    pub fn key_file(&self, service: MeshService) -> PathBuf {
        self.dir.join(format!("{}.key.pem", service_name(service)))
    }

    /// The identity of `service`, to sign its tokens.
    pub fn identity(&self, service: MeshService) -> &Arc<ServiceIdentity> {
        &self.identities[&service]
    }
}
