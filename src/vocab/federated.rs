//! A key's federated credential: which platform tokens may act as it.

use serde::{Deserialize, Serialize};

/// A platform token that may act as the key: one from `issuer` whose `sub` is
/// exactly `subject` and whose `aud` holds one of `audiences`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FederatedCredential {
    /// The platform's issuer URL (its OpenID discovery document is read from it).
    pub issuer: String,
    /// The exact `sub` of the platform token, e.g.
    /// `system:serviceaccount:payments:api` or `repo:acme/api:ref:refs/heads/main`.
    pub subject: String,
    /// The platform token's `aud` must hold one of these.
    pub audiences: Vec<String>,
}
