//! `POST /oauth/token`: the client-credentials grant (RFC 6749 sections 2.3, 4.4, 5).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::Response;

use super::extract::{credentials, dpop_header, OAuthRequest};
use super::no_store;
use crate::app::App;
use crate::http::error::OAuthError;
use crate::oauth::dpop::DpopError;
use crate::oauth::{Denial, ExchangeError, TokenRequest};

/// `POST /oauth/token`.
#[utoipa::path(
    post, path = "/oauth/token", tag = "oauth",
    request_body(content = crate::http::openapi::schemas::TokenForm, content_type = "application/x-www-form-urlencoded", description = "grant_type=client_credentials, optional scope, resource, audience; client_id and client_secret unless sent with Basic"),
    responses(
        (status = 200, description = "An access token (RFC 6749 section 5.1)", body = crate::oauth::Issued),
        (status = 400, description = "invalid_request, unsupported_grant_type, invalid_scope or invalid_target"),
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
