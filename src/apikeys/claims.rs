//! What a key adds to its tokens and who it belongs to: its custom `claims`, its
//! `owner`, and the `federated_credentials` under which a workload's platform
//! token (Kubernetes, a CI job, any OpenID issuer) acts as the key with no secret.
//! Each rule is checked here once, for every door.

use serde_json::{Map, Value};

use super::jwks_uri::check_uri;
use super::validate::{invalid, FieldError};
pub use crate::vocab::FederatedCredential;

/// Largest `claims` object, as compact JSON.
pub const MAX_CLAIMS_BYTES: usize = 2048;

/// Claim names a key may not set: the registered JWT claims (RFC 7519), those of
/// RFC 9068, DPoP's and token exchange's (RFC 9449, RFC 8693), the members of an
/// introspection answer (RFC 7662), and keymint's own.
pub const RESERVED_CLAIMS: &[&str] = &[
    "active",
    "token_type",
    "username",
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "scope",
    "auth_time",
    "acr",
    "amr",
    "cnf",
    "act",
    "may_act",
    "workspace_id",
    "environment",
    "key_type",
    "owner",
    "sid",
    "email",
];

/// Most federated credentials one key holds.
pub const MAX_FEDERATED: usize = 20;

/// Checks a key's `claims`: a JSON object of at most 2 KB, no reserved name.
pub fn claims(value: &Value) -> Result<Map<String, Value>, FieldError> {
    let Value::Object(map) = value else {
        return Err(invalid("claims", "must be a JSON object"));
    };
    if value.to_string().len() > MAX_CLAIMS_BYTES {
        return Err(invalid("claims", "must be at most 2048 bytes as JSON"));
    }
    if let Some(name) = map.keys().find(|k| RESERVED_CLAIMS.contains(&k.as_str())) {
        return Err(invalid(
            "claims",
            format!("may not set '{name}': keymint sets it (registered and keymint claims are reserved)"),
        ));
    }
    if let Some(name) = map.keys().find(|k| k.is_empty() || k.chars().any(char::is_control)) {
        return Err(invalid(
            "claims",
            format!("'{}' is not a usable claim name", name.escape_debug()),
        ));
    }
    Ok(map.clone())
}

/// Checks an `owner`: an external id of 1 to 200 characters, no control
/// characters; empty clears it.
pub fn owner(value: &str) -> Result<Option<String>, FieldError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > 200 {
        return Err(invalid("owner", "must be at most 200 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid("owner", "must not contain control characters"));
    }
    Ok(Some(value.to_string()))
}

/// Checks `federated_credentials`: at most 20, each an issuer URL under the
/// outbound rules of `jwks_uri` (`allow_private`: the operator's development
/// flag), an exact subject and one to ten audiences; no two for one subject.
pub fn federated(
    list: &[FederatedCredential],
    allow_private: bool,
) -> Result<Vec<FederatedCredential>, FieldError> {
    let field = "federated_credentials";
    if list.len() > MAX_FEDERATED {
        return Err(invalid(field, format!("at most {MAX_FEDERATED} credentials")));
    }
    let mut checked: Vec<FederatedCredential> = Vec::with_capacity(list.len());
    for (i, c) in list.iter().enumerate() {
        let issuer = c.issuer.trim_end_matches('/');
        check_uri(issuer, allow_private)
            .map_err(|why| invalid(field, format!("[{i}].issuer {why}")))?;
        if reqwest::Url::parse(issuer).is_ok_and(|u| u.query().is_some()) {
            return Err(invalid(field, format!("[{i}].issuer must not have a query")));
        }
        let subject = c.subject.as_str();
        if subject.is_empty()
            || subject.len() > 400
            || subject.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(invalid(
                field,
                format!("[{i}].subject must be 1-400 characters, no spaces or control characters"),
            ));
        }
        if c.audiences.is_empty() || c.audiences.len() > 10 {
            return Err(invalid(field, format!("[{i}].audiences must hold 1 to 10 values")));
        }
        if c.audiences
            .iter()
            .any(|a| a.is_empty() || a.len() > 400 || a.chars().any(|c| c.is_control() || c == ' '))
        {
            return Err(invalid(
                field,
                format!("[{i}].audiences: each 1-400 characters, no spaces or control characters"),
            ));
        }
        if checked.iter().any(|o| o.issuer == issuer && o.subject == subject) {
            return Err(invalid(field, format!("[{i}] repeats an issuer and subject")));
        }
        checked.push(FederatedCredential {
            issuer: issuer.to_string(),
            subject: subject.to_string(),
            audiences: c.audiences.clone(),
        });
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_are_an_object_of_at_most_2_kb_with_no_reserved_name() {
        assert!(claims(&json!({"tenant": "acme", "tier": 3})).is_ok());
        assert!(claims(&json!([1])).unwrap_err().to_string().contains("JSON object"));
        for name in ["sub", "scope", "cnf", "act", "workspace_id", "exp"] {
            let e = claims(&json!({ name: 1 })).unwrap_err().to_string();
            assert!(e.contains(&format!("'{name}'")), "{e}");
        }
        let big = json!({"blob": "x".repeat(2100)});
        assert!(claims(&big).unwrap_err().to_string().contains("2048"));
    }

    #[test]
    fn federated_credentials_name_an_https_issuer_a_subject_and_audiences() {
        let c = |issuer: &str, subject: &str, audiences: &[&str]| FederatedCredential {
            issuer: issuer.into(),
            subject: subject.into(),
            audiences: audiences.iter().map(|a| a.to_string()).collect(),
        };
        let good = c(
            "https://token.actions.githubusercontent.com/",
            "repo:a/b:ref:refs/heads/main",
            &["keymint"],
        );
        let checked = federated(std::slice::from_ref(&good), false).unwrap();
        assert_eq!(checked[0].issuer, "https://token.actions.githubusercontent.com");
        let e = |list: &[FederatedCredential]| federated(list, false).unwrap_err().to_string();
        assert!(e(&[c("http://kubernetes.default.svc", "s", &["a"])]).contains("https"));
        assert!(e(&[c("https://10.0.0.1", "s", &["a"])]).contains("private"));
        assert!(e(&[c("https://idp.example", "", &["a"])]).contains("subject"));
        assert!(e(&[c("https://idp.example", "s", &[])]).contains("audiences"));
        assert!(e(&[good.clone(), good.clone()]).contains("repeats"));
        assert!(federated(&[c("http://127.0.0.1:9000", "s", &["a"])], true).is_ok());
    }
}
