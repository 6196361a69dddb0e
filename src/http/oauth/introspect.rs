//! `POST /oauth/introspect` (RFC 7662): tokens and raw API keys.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;

use super::extract::{token_and_caller, OAuthRequest};
use super::no_store;
use crate::apikeys::secret::Secret;
use crate::app::App;
use crate::http::error::OAuthError;
use crate::oauth::{RawKeyCheck, VerifyError};
use crate::vocab::scope::Scope;

/// `POST /oauth/introspect` (RFC 7662): the caller authenticates as a key holding
/// `keymint:introspect`.
#[utoipa::path(
    post, path = "/oauth/introspect", tag = "oauth",
    request_body(content = crate::http::openapi::schemas::TokenParamForm, content_type = "application/x-www-form-urlencoded", description = "token (an access token or a raw API key), optional token_type_hint (api_key for a raw key) and client_ip (the address a raw key came from); client credentials by Basic or in the body"),
    responses(
        (status = 200, description = "{active: true, ...claims} for an active token of this issuer or an active raw API key, else {active: false}", body = crate::http::openapi::schemas::Introspection),
        (status = 400, description = "invalid_request"),
        (status = 401, description = "invalid_client"),
        (status = 403, description = "insufficient_scope: the caller lacks keymint:introspect"),
    )
)]
pub async fn introspect(
    State(app): State<Arc<App>>,
    req: OAuthRequest,
) -> Result<Response, OAuthError> {
    let client_ip = match req.form.get("client_ip") {
        None => None,
        Some(text) => Some(text.parse::<std::net::IpAddr>().map_err(|_| {
            OAuthError::invalid_request("client_ip must be an IPv4 or IPv6 address")
        })?),
    };
    let (token, caller) = token_and_caller(&app, &req).await?;
    // A raw API key when the hint says so or the value is not a JWT; a JWT-shaped
    // value hinted as a key is also tried as a token (RFC 7662 section 2.1).
    let jwt_shaped = token.split('.').count() == 3;
    if req.form.get("token_type_hint") == Some("api_key") || !jwt_shaped {
        let value = Secret::new(token.clone());
        match app.tokens.introspect_raw_key(&caller, &value, client_ip).await {
            Ok(RawKeyCheck::Active(key)) => return Ok(no_store(raw_key_answer(&key))),
            Ok(RawKeyCheck::Inactive) if !jwt_shaped => {
                return Ok(no_store(serde_json::json!({"active": false})))
            }
            Ok(RawKeyCheck::Inactive) => {}
            Err(e) => return Err(introspection_failed(e)),
        }
    }
    match app.tokens.introspect(&caller, &token).await {
        Ok(Some((claims, key))) => {
            let mut body = serde_json::to_value(&claims).unwrap_or_default();
            if let Some(owner) = &key.owner {
                body["owner"] = serde_json::json!(owner);
            }
            body["active"] = serde_json::json!(true);
            body["token_type"] =
                serde_json::json!(if claims.cnf.is_some() { "DPoP" } else { "Bearer" });
            Ok(no_store(body))
        }
        Ok(None) => Ok(no_store(serde_json::json!({"active": false}))),
        Err(e) => Err(introspection_failed(e)),
    }
}

fn introspection_failed(e: VerifyError) -> OAuthError {
    match e {
        VerifyError::Insufficient(why) => OAuthError::insufficient_scope(why),
        VerifyError::Busy => {
            OAuthError::unavailable("secret verification is saturated; retry shortly")
        }
        VerifyError::Unavailable(_) => {
            OAuthError::unavailable("the database is unavailable; retry shortly")
        }
        // Introspection answers an invalid token with `active: false`, and asks
        // for no DPoP proof: either here is a fault, named as one, not renamed.
        e @ (VerifyError::Invalid(_) | VerifyError::UseDpopNonce(_)) => OAuthError::internal(&e),
    }
}

/// Introspection of an active raw API key: what a gateway needs to authorise the
/// call as a token would let it (the key's scopes, workspace, environment, type,
/// owner and claims, and its expiry when it has one).
fn raw_key_answer(key: &crate::store::KeyRecord) -> serde_json::Value {
    use serde_json::json;
    // The key's own claims first: keymint's names are reserved, so none is replaced.
    let mut body = key.claims.clone();
    body.extend([
        ("active".into(), json!(true)),
        ("token_type".into(), json!("api_key")),
        ("client_id".into(), json!(key.id)),
        ("sub".into(), json!(key.id)),
        ("scope".into(), json!(Scope::texts(&key.scopes).join(" "))),
        ("workspace_id".into(), json!(key.workspace_id)),
        ("environment".into(), json!(key.environment)),
        ("key_type".into(), json!(key.key_type)),
    ]);
    if let Some(owner) = &key.owner {
        body.insert("owner".into(), json!(owner));
    }
    if let Some(exp) = key.expires_at {
        body.insert("exp".into(), json!(exp));
    }
    serde_json::Value::Object(body)
}
