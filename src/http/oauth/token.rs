//! `POST /oauth/token`: the client-credentials grant (RFC 6749 sections 2.3, 4.4, 5),
//! and for the CLI signed in as a person the device code (RFC 8628) and refresh
//! token grants.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::Response;

use super::device::{device_refusal, DEVICE_CODE_GRANT};
use super::extract::{credentials, dpop_header, OAuthRequest};
use super::no_store;
use crate::app::App;
use crate::http::error::OAuthError;
use crate::oauth::dpop::DpopError;
use crate::oauth::{Denial, ExchangeError, TokenRequest};

/// A token with the refresh token of the session it stands on.
#[derive(serde::Serialize)]
struct WithRefresh {
    #[serde(flatten)]
    issued: crate::oauth::Issued,
    refresh_token: String,
}

/// `POST /oauth/token`.
#[utoipa::path(
    post, path = "/oauth/token", tag = "oauth",
    request_body(content = crate::http::openapi::schemas::TokenForm, content_type = "application/x-www-form-urlencoded", description = "grant_type=client_credentials, optional scope, resource, audience; client_id and client_secret unless sent with Basic. For the CLI signed in as a person: grant_type=urn:ietf:params:oauth:grant-type:device_code with device_code and client_id=keymint-cli (RFC 8628), or grant_type=refresh_token with refresh_token and client_id=keymint-cli"),
    responses(
        (status = 200, description = "An access token (RFC 6749 section 5.1)", body = crate::oauth::Issued),
        (status = 400, description = "invalid_request, unsupported_grant_type, invalid_scope, invalid_target, invalid_grant; for the device code grant authorization_pending, slow_down, access_denied or expired_token"),
        (status = 401, description = "invalid_client"),
        (status = 429, description = "temporarily_unavailable: too many failed attempts, with Retry-After"),
        (status = 503, description = "temporarily_unavailable, with Retry-After"),
    )
)]
pub async fn token(
    State(app): State<Arc<App>>,
    OAuthRequest { ip, headers, form }: OAuthRequest,
) -> Result<Response, OAuthError> {
    match form.get("grant_type") {
        None => return Err(OAuthError::invalid_request("grant_type is missing")),
        Some("client_credentials") => {}
        Some(DEVICE_CODE_GRANT) => {
            let code = form
                .get("device_code")
                .ok_or_else(|| OAuthError::invalid_request("device_code is missing"))?;
            let client_id = form.get("client_id").unwrap_or_default();
            return match app.devices.redeem(client_id, code, ip).await {
                Ok(redeemed) => Ok(no_store(WithRefresh {
                    issued: redeemed.issued,
                    refresh_token: redeemed.refresh_token,
                })),
                Err(e) => Err(device_refusal(e)),
            };
        }
        Some("refresh_token") => {
            let token = form
                .get("refresh_token")
                .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
            let client_id = form.get("client_id").unwrap_or_default();
            return match app.devices.refresh(client_id, token, ip).await {
                Ok(issued) => Ok(no_store(issued)),
                Err(e) => Err(device_refusal(e)),
            };
        }
        Some(other) => return Err(OAuthError::unsupported_grant_type(other)),
    }
    let client = credentials(&headers, &form)?;
    let request = TokenRequest {
        scope: form.raw("scope").map(str::to_string),
        audiences: form.audiences()?,
        dpop: dpop_header(&headers)?,
    };
    let nonce = app.tokens.dpop_nonce();
    match app.tokens.exchange(&client.client_id, client.proof(), &request, ip).await {
        Ok(issued) => {
            let mut response = no_store(issued);
            if let Some(nonce) = nonce.and_then(|n| HeaderValue::try_from(n).ok()) {
                response.headers_mut().insert("dpop-nonce", nonce);
            }
            Ok(response)
        }
        Err(ExchangeError::Dpop(DpopError::UseNonce)) => {
            Err(OAuthError::use_dpop_nonce(nonce.unwrap_or_default()))
        }
        Err(ExchangeError::Dpop(DpopError::Invalid(why))) => {
            Err(OAuthError::invalid_dpop_proof(why))
        }
        Err(ExchangeError::Unavailable(_)) => {
            Err(OAuthError::unavailable("the database is unavailable; retry shortly"))
        }
        Err(ExchangeError::Auth(failure)) => Err(client.refused(failure)),
        Err(ExchangeError::Denied(Denial::InvalidScope(why))) => {
            Err(OAuthError::invalid_scope(why))
        }
        Err(ExchangeError::Denied(Denial::InvalidTarget(why))) => {
            Err(OAuthError::invalid_target(why))
        }
        Err(ExchangeError::Internal(why)) => Err(OAuthError::internal(&*why)),
    }
}
