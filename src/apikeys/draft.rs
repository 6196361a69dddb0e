//! A key to be: the create request, the checked draft an admin reviews before
//! committing, and the one-time reveal of the secret.

use serde::Deserialize;
use serde_json::{json, Value};

use super::client_auth::ClientAuth;
use super::secret::Secret;
use super::KeyView;
use crate::vocab::scope::Scope;
use crate::vocab::FederatedCredential;

/// The body of a create request.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// The workspace to create the key in; the caller's own when absent.
    pub workspace_id: Option<String>,
    /// Unique within the workspace: 1-100 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*\S[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// Free text, up to 1000 characters; line breaks allowed.
    #[serde(default)]
    #[schema(max_length = 1000, pattern = r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*$")]
    pub description: String,
    /// e.g. `production`, `staging`; fixed for the key's life. Default `production`.
    #[schema(pattern = r"^[a-z0-9_-]{1,32}$")]
    pub environment: Option<String>,
    /// e.g. `access`, `gateway`. Default `access`.
    #[serde(rename = "type")]
    #[schema(pattern = r"^[a-z0-9_-]{1,32}$")]
    pub key_type: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub allowed_cidrs: Vec<String>,
    #[serde(default)]
    pub audiences: Vec<String>,
    /// RFC 3339; or use `expires_in`.
    pub expires_at: Option<String>,
    /// One of `1h`, `1d`, `7d`, `30d`, `90d`, `180d`, `360d`.
    #[schema(pattern = "^(1h|1d|7d|30d|90d|180d|360d)$")]
    pub expires_in: Option<String>,
    /// An existing secret to import instead of generating one.
    pub secret: Option<String>,
    /// `client_secret_basic` (default), `client_secret_post` or `private_key_jwt`
    /// (the default when `jwks` is given; such a key gets no secret).
    pub token_endpoint_auth_method: Option<String>,
    /// The public keys that verify the key's client assertions (a JWK Set).
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    /// Or the https URL where the client publishes them (not with `jwks`).
    pub jwks_uri: Option<String>,
    /// `true`: every token request must carry a DPoP proof (RFC 9449), so every
    /// token is bound to the client's key. Default `false` (DPoP is optional).
    pub dpop_bound_access_tokens: Option<bool>,
    /// A JSON object (at most 2 KB) copied into every token the key gets;
    /// registered JWT claims and keymint's own are refused by name.
    #[schema(value_type = Option<Object>)]
    pub claims: Option<Value>,
    /// An external id: the customer or team the key belongs to (1-200 characters).
    #[schema(max_length = 200)]
    pub owner: Option<String>,
    /// Platform tokens that may act as the key with no secret (token exchange
    /// with `subject_token_type=urn:ietf:params:oauth:token-type:jwt`, or the
    /// RFC 7523 JWT bearer grant).
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredential>,
}

/// A key together with its secret: the one-time reveal of create and rotate.
#[derive(Debug)]
pub struct Revealed {
    pub key: KeyView,
    /// `None` for a key that authenticates by assertion (`private_key_jwt`).
    pub secret: Option<Secret>,
    /// What the admin should know about the key (a create's draft warnings).
    pub warnings: Vec<String>,
}

impl Revealed {
    /// The key with `client_id` and `client_secret`, as OAuth clients name them: the
    /// one shape the create and rotate answers (API and CLI) share.
    pub fn to_json(&self) -> Value {
        let mut body = serde_json::to_value(&self.key).unwrap_or_default();
        body["client_id"] = Value::from(self.key.id.clone());
        if let Some(secret) = &self.secret {
            body["client_secret"] = Value::from(secret.expose());
        }
        body["warnings"] = json!(self.warnings);
        body
    }
}

/// A checked create request: what would be stored, and what the admin should know
/// first (e.g. that an IP range lets every address in).
#[derive(Debug, Clone)]
pub struct KeyDraft {
    pub workspace_id: String,
    pub name: String,
    pub description: String,
    pub environment: String,
    pub key_type: String,
    pub scopes: Vec<Scope>,
    pub allowed_cidrs: Vec<String>,
    pub audiences: Vec<String>,
    pub expires_at: Option<i64>,
    pub imported: bool,
    pub client_auth: ClientAuth,
    pub claims: serde_json::Map<String, Value>,
    pub owner: Option<String>,
    pub federated: Vec<FederatedCredential>,
    pub warnings: Vec<String>,
}
