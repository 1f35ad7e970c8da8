//! The key SystemAPI signs access tokens with, its public half (published as a JWK), and the
//! signing. Signing does no I/O, but it needs the service's private key loaded at start-up, so
//! it is a service of the use cases rather than a rule: what a token says is
//! `domain::tokens::access_claims`.

use astro_shared::{AppError, auth::AccessClaims};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sha2::{Digest as _, Sha256};

/// An Ed25519 signing key with its key id.
#[derive(Clone)]
pub struct SigningKey {
    pub encoding: EncodingKey,
    pub key_id: String,
    pub public_jwk: PublicJwk,
}

/// The public half of an Ed25519 key as a JWK's variable members (`kty` OKP, `crv` Ed25519,
/// `use` sig and `alg` EdDSA go without saying).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    /// The public key, base64url without padding.
    pub x: String,
    pub kid: String,
}

impl SigningKey {
    /// Reads a PKCS#8 PEM Ed25519 private key (`openssl genpkey -algorithm ed25519`). The key id
    /// is derived from the public key, so rotating the key changes it without configuration.
    pub fn from_pem(pem: &str) -> anyhow::Result<Self> {
        let signing = ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map_err(|error| anyhow::anyhow!("not a PKCS#8 PEM Ed25519 private key: {error}"))?;
        let public = signing.verifying_key().to_bytes();
        let key_id = URL_SAFE_NO_PAD.encode(&Sha256::digest(public)[..12]);
        let encoding = EncodingKey::from_ed_pem(pem.as_bytes())?;
        Ok(Self {
            encoding,
            public_jwk: PublicJwk {
                x: URL_SAFE_NO_PAD.encode(public),
                kid: key_id.clone(),
            },
            key_id,
        })
    }

    /// Reads the key from a file (at start-up).
    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Self> {
        let pem = std::fs::read_to_string(path).map_err(|error| {
            anyhow::anyhow!("cannot read the JWT key {}: {error}", path.display())
        })?;
        Self::from_pem(&pem)
    }

    /// `claims` as a compact EdDSA JWT whose `kid` header names this key.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, AppError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.key_id.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(AppError::internal)
    }
}
