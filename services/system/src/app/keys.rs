//! The key SystemAPI signs access tokens with, and its public half as a JWK.

use astro_proto::astrobookings::system::v1::Jwk;
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use jsonwebtoken::EncodingKey;
use sha2::{Digest as _, Sha256};

/// An Ed25519 signing key with its key id.
#[derive(Clone)]
pub struct SigningKey {
    pub encoding: EncodingKey,
    pub key_id: String,
    pub public_jwk: Jwk,
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
            public_jwk: Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: URL_SAFE_NO_PAD.encode(public),
                kid: key_id.clone(),
                r#use: "sig".into(),
                alg: "EdDSA".into(),
                ..Jwk::default()
            },
            key_id,
        })
    }

    /// Reads the key from a file.
    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Self> {
        let pem = std::fs::read_to_string(path).map_err(|error| {
            anyhow::anyhow!("cannot read the JWT key {}: {error}", path.display())
        })?;
        Self::from_pem(&pem)
    }
}
