//! Token issuance policy: which scopes and audiences a key may receive, and the
//! claims of the RFC 9068 JWT access token. No HTTP and no SQL here.

pub mod assertion;
pub mod dpop;
pub mod exchange;
pub mod federation;
pub mod jwks_uri;
pub mod jws;
pub mod limiter;
pub mod once;
mod raw_key;
pub mod revoked;
mod service;

pub use dpop::Presented;
pub use raw_key::RawKeyCheck;
pub use service::{
    Bearer, ExchangeError, Issued, Proof, TokenService, VerifyError, CLOCK_LEEWAY_SECONDS,
};

use serde::Serialize;

use crate::store::KeyRecord;
use crate::vocab::scope::{self, Scope};

/// What the client asked for at the token endpoint (beyond authentication).
#[derive(Debug, Default, Clone)]
pub struct TokenRequest {
    /// `scope`, space-separated (RFC 6749 section 3.3); `None` means all granted.
    pub scope: Option<String>,
    /// `resource` (RFC 8707, repeatable) and `audience` values together.
    pub audiences: Vec<String>,
    /// The `DPoP` header's proof (RFC 9449), if one was sent.
    pub dpop: Option<String>,
}

/// Server-wide issuance settings.
#[derive(Debug, Clone)]
pub struct Issuance {
    pub issuer: String,
    /// The `aud` when neither the request nor the key names one.
    pub default_audience: String,
    /// Added to `aud` when the token carries management scopes.
    pub management_audience: String,
    pub ttl_seconds: i64,
}

/// Why a request was refused after the client authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// RFC 6749 `invalid_scope`.
    #[error("{0}")]
    InvalidScope(String),
    /// RFC 8707 `invalid_target`.
    #[error("{0}")]
    InvalidTarget(String),
}

/// The claims of an access token (RFC 9068 section 2.2), plus keymint's own:
/// `workspace_id`, `environment` and `key_type`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub client_id: String,
    pub aud: Audience,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    pub scope: String,
    pub workspace_id: String,
    pub environment: String,
    pub key_type: String,
    /// The key the token is bound to (RFC 9449 DPoP), when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// A person's token (the CLI signed in as a person): the session it stands on,
    /// by the SHA-256 of its id; ending the session ends the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// A person's email, in a person's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A token from token exchange (RFC 8693 section 4.1): the key that asked for
    /// it, `{"sub": key id}`, with the actor of the token it came from nested
    /// under its own `act`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
    /// The key's own claims (`claims` on `/v1/keys`), at the top level.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `cnf` (RFC 7800): the thumbprint of the key a DPoP-bound token is bound to.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Confirmation {
    pub jkt: String,
}

/// `aud`: a single string when there is one audience, else an array (RFC 7519 section 4.1.3).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, aud: &str) -> bool {
        match self {
            Audience::One(a) => a == aud,
            Audience::Many(list) => list.iter().any(|a| a == aud),
        }
    }
}

/// `scopes` as a token's `scope` claim: separated by spaces (RFC 6749 section 3.3).
fn space_separated(scopes: &[Scope]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(scopes.len() * 24);
    for (i, scope) in scopes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{scope}");
    }
    out
}

/// Decides what a token for `key` carries, or why none may be issued.
/// `jti` is supplied by the caller so this stays deterministic.
pub fn decide(
    key: &KeyRecord,
    req: &TokenRequest,
    settings: &Issuance,
    now: i64,
    jti: String,
) -> Result<Claims, Denial> {
    let granted = &key.scopes;
    // Borrowed when the request asks for no scope: the token carries the key's.
    let scopes: std::borrow::Cow<'_, [Scope]> = match req.scope.as_deref() {
        None => std::borrow::Cow::Borrowed(granted),
        Some(text) => {
            let requested = scope::parse_list(text).map_err(|(item, e)| {
                Denial::InvalidScope(format!("scope '{}' is invalid: {e}", ascii(&item)))
            })?;
            if requested.is_empty() {
                return Err(Denial::InvalidScope("scope is empty".into()));
            }
            if let Some(missing) = requested.iter().find(|r| !scope::any_covers(granted, r)) {
                return Err(Denial::InvalidScope(format!(
                    "scope '{}' is not granted to this client",
                    ascii(&missing.to_string())
                )));
            }
            std::borrow::Cow::Owned(requested)
        }
    };

    let allowed: Vec<&str> = if key.audiences.is_empty() {
        vec![settings.default_audience.as_str()]
    } else {
        key.audiences.iter().map(String::as_str).collect()
    };
    let mut audiences: Vec<String> = Vec::new();
    for aud in &req.audiences {
        if !allowed.contains(&aud.as_str()) {
            return Err(Denial::InvalidTarget(format!(
                "audience '{}' is not allowed for this client",
                ascii(aud)
            )));
        }
        if !audiences.contains(aud) {
            audiences.push(aud.clone());
        }
    }
    if audiences.is_empty() {
        audiences.push(allowed[0].to_string());
    }
    if scopes.iter().any(Scope::opens_management_api)
        && !audiences.contains(&settings.management_audience)
    {
        audiences.push(settings.management_audience.clone());
    }

    let exp = match key.expires_at {
        Some(key_exp) => (now + settings.ttl_seconds).min(key_exp),
        None => now + settings.ttl_seconds,
    };
    let aud = if audiences.len() == 1 {
        Audience::One(audiences.remove(0))
    } else {
        Audience::Many(audiences)
    };
    Ok(Claims {
        iss: settings.issuer.clone(),
        sub: key.id.clone(),
        client_id: key.id.clone(),
        aud,
        iat: now,
        nbf: now,
        exp,
        jti,
        scope: space_separated(&scopes),
        workspace_id: key.workspace_id.clone(),
        environment: key.environment.clone(),
        key_type: key.key_type.clone(),
        cnf: None,
        sid: None,
        email: None,
        act: None,
        extra: key.claims.clone(),
    })
}

/// `text` with every non-printable-ASCII character replaced, so it may be echoed
/// in an `error_description` (RFC 6749 section 5.2 allows only %x20-21 / %x23-5B / %x5D-7E).
pub fn ascii(text: &str) -> String {
    text.chars()
        .take(100)
        .map(|c| if (' '..='~').contains(&c) && c != '"' && c != '\\' { c } else { '?' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fixtures::key;

    fn settings() -> Issuance {
        Issuance {
            issuer: "https://auth.example".into(),
            default_audience: "https://api.example".into(),
            management_audience: "https://auth.example/v1".into(),
            ttl_seconds: 600,
        }
    }

    fn req(scope: Option<&str>, audiences: &[&str]) -> TokenRequest {
        TokenRequest {
            scope: scope.map(str::to_string),
            audiences: audiences.iter().map(|s| s.to_string()).collect(),
            dpop: None,
        }
    }

    #[test]
    fn no_scope_requested_grants_everything_the_key_holds() {
        let k = key(&["read:agents/*", "write:prompts/welcome"], &[], None);
        let c = decide(&k, &req(None, &[]), &settings(), 1000, "j".into()).unwrap();
        assert_eq!(c.scope, "read:agents/* write:prompts/welcome");
        assert_eq!(c.aud, Audience::One("https://api.example".into()));
        assert_eq!((c.iat, c.nbf, c.exp), (1000, 1000, 1600));
        assert_eq!((c.sub.as_str(), c.client_id.as_str()), ("k1", "k1"));
    }

    #[test]
    fn a_covered_subset_is_granted_exactly_as_asked() {
        let k = key(&["write:agents/**"], &[], None);
        let c = decide(&k, &req(Some("read:agents/bot"), &[]), &settings(), 0, "j".into()).unwrap();
        assert_eq!(c.scope, "read:agents/bot");
    }

    #[test]
    fn an_uncovered_or_malformed_scope_is_invalid_scope() {
        let k = key(&["read:agents/*"], &[], None);
        let denied = decide(&k, &req(Some("write:agents/bot"), &[]), &settings(), 0, "j".into());
        assert!(matches!(denied, Err(Denial::InvalidScope(_))));
        let denied = decide(&k, &req(Some("bogus"), &[]), &settings(), 0, "j".into());
        assert!(matches!(denied, Err(Denial::InvalidScope(_))));
    }

    #[test]
    fn audiences_come_from_the_request_the_key_or_the_server() {
        let k = key(&["read:x"], &["https://a", "https://b"], None);
        let c = decide(&k, &req(None, &[]), &settings(), 0, "j".into()).unwrap();
        assert_eq!(c.aud, Audience::One("https://a".into()));
        let c = decide(&k, &req(None, &["https://b"]), &settings(), 0, "j".into()).unwrap();
        assert_eq!(c.aud, Audience::One("https://b".into()));
        let denied = decide(&k, &req(None, &["https://c"]), &settings(), 0, "j".into());
        assert!(matches!(denied, Err(Denial::InvalidTarget(_))));
    }

    #[test]
    fn management_scopes_add_the_management_audience() {
        let k = key(&["keymint:keys:read"], &[], None);
        let c = decide(&k, &req(None, &[]), &settings(), 0, "j".into()).unwrap();
        assert!(c.aud.contains("https://auth.example/v1"));
        assert!(c.aud.contains("https://api.example"));
    }

    #[test]
    fn a_token_never_outlives_its_key() {
        let k = key(&["read:x"], &[], Some(1300));
        let c = decide(&k, &req(None, &[]), &settings(), 1000, "j".into()).unwrap();
        assert_eq!(c.exp, 1300);
    }

    #[test]
    fn ascii_replaces_anything_unsafe_to_echo() {
        assert_eq!(ascii("ok\r\nx\"é"), "ok??x??");
    }
}
