//! Discovery: the JWKS (RFC 7517) and the authorization server metadata (RFC 8414),
//! both served from memory.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::apikeys::{client_auth, jwks};
use crate::app::App;

/// `GET /.well-known/jwks.json`: public keys only, cacheable.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "discovery",
    responses((status = 200, description = "The JSON Web Key Set (RFC 7517 section 5)", body = crate::http::openapi::schemas::Jwks)))]
pub async fn jwks(State(app): State<Arc<App>>) -> Response {
    let mut response = app.keyring.jwks().into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, cache_control(app.config.jwks_max_age));
    response
}

/// `Cache-Control: public, max-age=N`.
fn cache_control(max_age: u32) -> HeaderValue {
    // ASCII letters and digits only: always a valid header value.
    HeaderValue::try_from(format!("public, max-age={max_age}"))
        .unwrap_or(HeaderValue::from_static("no-cache"))
}

/// The RFC 8414 metadata document.
pub fn metadata_document(app: &App) -> serde_json::Value {
    let issuer = app.config.issuer();
    let mut scopes: Vec<&str> =
        crate::vocab::scope::ManagementScope::ALL.iter().map(|s| s.as_str()).collect();
    scopes.sort_unstable();
    let mut document = json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oauth/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "grant_types_supported": [
            "client_credentials",
            crate::oauth::exchange::TOKEN_EXCHANGE_GRANT,
            crate::oauth::exchange::JWT_BEARER_GRANT,
        ],
        "token_endpoint_auth_methods_supported": client_auth::methods(),
        "token_endpoint_auth_signing_alg_values_supported": jwks::assertion_alg_names(),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "introspection_endpoint_auth_methods_supported": client_auth::methods(),
        "introspection_endpoint_auth_signing_alg_values_supported": jwks::assertion_alg_names(),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "revocation_endpoint_auth_methods_supported": client_auth::methods(),
        "revocation_endpoint_auth_signing_alg_values_supported": jwks::assertion_alg_names(),
        "dpop_signing_alg_values_supported": jwks::assertion_alg_names(),
        "response_types_supported": [],
        "scopes_supported": scopes,
        "service_documentation": format!("{issuer}/openapi.json"),
    });
    // People sign in (and the CLI as a person) only where SSO is set up.
    if app.sso.is_some() {
        document["device_authorization_endpoint"] =
            json!(format!("{issuer}/oauth/device_authorization"));
        if let Some(grants) = document["grant_types_supported"].as_array_mut() {
            grants.extend([json!(crate::http::oauth::DEVICE_CODE_GRANT), json!("refresh_token")]);
        }
    }
    document
}

/// `GET /.well-known/openid-configuration`: the same document, for libraries that only look there.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "discovery",
    responses((status = 200, description = "The RFC 8414 metadata document", body = crate::http::openapi::schemas::Metadata)))]
pub async fn openid_configuration(state: State<Arc<App>>) -> Response {
    metadata(state).await
}

/// `GET /.well-known/oauth-authorization-server`.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "discovery",
    responses((status = 200, description = "Authorization server metadata (RFC 8414)", body = crate::http::openapi::schemas::Metadata)))]
pub async fn metadata(State(app): State<Arc<App>>) -> Response {
    let mut response = axum::Json(metadata_document(&app)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}
