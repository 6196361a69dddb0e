//! The JWS algorithms keymint signs with, by their registered names: what a
//! signing key is stored as and what its tokens' `alg` says.

/// A JWS algorithm keymint signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256 (the default).
    Es256,
    /// Ed25519.
    EdDsa,
    /// RSA PKCS#1 v1.5 with SHA-256, 2048-bit keys.
    Rs256,
}

impl Algorithm {
    /// Every algorithm keymint signs with.
    pub const ALL: [Algorithm; 3] = [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256];

    /// The JWS `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Rs256 => "RS256",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "ES256" => Some(Algorithm::Es256),
            "EdDSA" => Some(Algorithm::EdDsa),
            "RS256" => Some(Algorithm::Rs256),
            _ => None,
        }
    }

    /// The same algorithm in `jsonwebtoken`'s terms, for verification.
    pub fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Algorithm::Es256 => jsonwebtoken::Algorithm::ES256,
            Algorithm::EdDsa => jsonwebtoken::Algorithm::EdDSA,
            Algorithm::Rs256 => jsonwebtoken::Algorithm::RS256,
        }
    }
}
