//! `POST /oauth/device_authorization` (RFC 8628 section 3.1): the CLI's first step
//! to act as a person; the person approves the code in the console, at
//! `/console/device`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use super::no_store;
use super::OAuthRequest;
use crate::app::App;
use crate::devices::DeviceError;
use crate::http::error::OAuthError;

/// The device code grant's `grant_type`.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The answer (RFC 8628 section 3.2).
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeviceAuthorization {
    /// What the CLI polls the token endpoint with.
    pub device_code: String,
    /// What the person types, or sees filled in, at `verification_uri`.
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    /// The least seconds between two polls.
    pub interval: i64,
}

/// `POST /oauth/device_authorization`.
#[utoipa::path(
    post, path = "/oauth/device_authorization", tag = "oauth",
    request_body(content = crate::http::openapi::schemas::DeviceAuthorizationForm, content_type = "application/x-www-form-urlencoded", description = "client_id=keymint-cli"),
    responses(
        (status = 200, description = "A device code and the user code to approve (RFC 8628 section 3.2)", body = DeviceAuthorization),
        (status = 400, description = "unauthorized_client: people do not sign in to this server (no --sso-issuer); invalid_request"),
        (status = 401, description = "invalid_client: only the keymint CLI uses this grant"),
        (status = 503, description = "temporarily_unavailable, with Retry-After"),
    )
)]
pub async fn device_authorization(
    State(app): State<Arc<App>>,
    OAuthRequest { form, .. }: OAuthRequest,
) -> Result<Response, OAuthError> {
    if app.sso.is_none() {
        return Err(OAuthError::grant(
            "unauthorized_client",
            "people do not sign in to this server: it runs without --sso-issuer",
        ));
    }
    let client_id = form.get("client_id").unwrap_or_default();
    let authorization = app.devices.authorize(client_id).await.map_err(device_refusal)?;
    let page = format!("{}/console/device", app.config.issuer());
    Ok(no_store(DeviceAuthorization {
        verification_uri_complete: format!("{page}?user_code={}", authorization.user_code),
        verification_uri: page,
        device_code: authorization.device_code,
        user_code: authorization.user_code,
        expires_in: authorization.expires_in,
        interval: authorization.interval,
    }))
}

/// The RFC 8628 / RFC 6749 error for a refused device grant.
pub fn device_refusal(e: DeviceError) -> OAuthError {
    let said = e.to_string();
    match e {
        DeviceError::InvalidClient => OAuthError::invalid_client(false),
        DeviceError::InvalidGrant(_) => OAuthError::grant("invalid_grant", said),
        DeviceError::AuthorizationPending => OAuthError::grant("authorization_pending", said),
        DeviceError::SlowDown => OAuthError::grant("slow_down", said),
        DeviceError::ExpiredToken => OAuthError::grant("expired_token", said),
        DeviceError::AccessDenied => OAuthError::grant("access_denied", said),
        DeviceError::Unavailable(_) => {
            OAuthError::unavailable("the database is unavailable; retry shortly")
        }
        DeviceError::Internal(e) => OAuthError::internal(&e),
    }
}
