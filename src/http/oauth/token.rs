//! `POST /oauth/token`: the client-credentials grant (RFC 6749 sections 2.3, 4.4, 5),
//! and for the CLI signed in as a person the device code (RFC 8628) and refresh
//! token grants.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;

use super::device::{device_refusal, DEVICE_CODE_GRANT};
use super::extract::{credentials, dpop_header, Credentials, Form, OAuthRequest};
use super::no_store;
use crate::app::App;
use crate::http::error::OAuthError;
use crate::oauth::dpop::DpopError;
use crate::oauth::exchange::{
    ACCESS_TOKEN_TYPE, JWT_BEARER_GRANT, JWT_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT,
};
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
    request_body(content = crate::http::openapi::schemas::TokenForm, content_type = "application/x-www-form-urlencoded", description = "grant_type=client_credentials, optional scope, resource, audience; client_id and client_secret unless sent with Basic. Token exchange (RFC 8693): grant_type=urn:ietf:params:oauth:grant-type:token-exchange with subject_token and subject_token_type (access_token: delegation, the client authenticates; jwt: workload federation, client_id names the key), optional actor_token, scope, audience. JWT bearer (RFC 7523): grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer with assertion and client_id. For the CLI signed in as a person: grant_type=urn:ietf:params:oauth:grant-type:device_code with device_code and client_id=keymint-cli (RFC 8628), or grant_type=refresh_token with refresh_token and client_id=keymint-cli"),
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
        Some(TOKEN_EXCHANGE_GRANT) => return token_exchange(&app, &headers, &form, ip).await,
        Some(JWT_BEARER_GRANT) => {
            let assertion = form
                .get("assertion")
                .ok_or_else(|| OAuthError::invalid_request("assertion is missing"))?;
            let request = token_request(&headers, &form)?;
            let result = app.tokens.federate(client_id_of(&form)?, assertion, &request, ip).await;
            return answer(&app, result, None, "invalid_grant");
        }
        Some(other) => return Err(OAuthError::unsupported_grant_type(other)),
    }
    let client = credentials(&headers, &form)?;
    let request = token_request(&headers, &form)?;
    let result = app.tokens.exchange(&client.client_id, client.proof(), &request, ip).await;
    answer(&app, result, Some(&client), "invalid_request")
}

/// What a token request asks for beyond its grant: scope, audiences, DPoP proof.
fn token_request(headers: &HeaderMap, form: &Form) -> Result<TokenRequest, OAuthError> {
    Ok(TokenRequest {
        scope: form.raw("scope").map(str::to_string),
        audiences: form.audiences()?,
        dpop: dpop_header(headers)?,
    })
}

/// The key a federated request acts as: its `client_id` parameter.
fn client_id_of(form: &Form) -> Result<&str, OAuthError> {
    form.get("client_id").ok_or_else(|| {
        OAuthError::invalid_request("client_id is missing: it names the key to act as")
    })
}

/// Token exchange (RFC 8693): a keymint access token for a narrower one
/// (delegation, the client authenticates), or a platform JWT for a key's token
/// (federation, `client_id` names the key).
async fn token_exchange(
    app: &App,
    headers: &HeaderMap,
    form: &Form,
    ip: Option<std::net::IpAddr>,
) -> Result<Response, OAuthError> {
    let missing = |name: &str| OAuthError::invalid_request(format!("{name} is missing"));
    let subject = form.get("subject_token").ok_or_else(|| missing("subject_token"))?;
    let subject_type =
        form.get("subject_token_type").ok_or_else(|| missing("subject_token_type"))?;
    if let Some(asked) = form.get("requested_token_type") {
        if asked != ACCESS_TOKEN_TYPE && asked != JWT_TOKEN_TYPE {
            return Err(OAuthError::invalid_request(
                "requested_token_type: only access tokens are issued",
            ));
        }
    }
    let actor = match (form.get("actor_token"), form.get("actor_token_type")) {
        (None, None) => None,
        (Some(token), Some(ACCESS_TOKEN_TYPE)) => Some(token),
        (Some(_), None) => return Err(missing("actor_token_type")),
        (None, Some(_)) => return Err(missing("actor_token")),
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(format!(
                "actor_token_type must be {ACCESS_TOKEN_TYPE}"
            )))
        }
    };
    let request = token_request(headers, form)?;
    match subject_type {
        ACCESS_TOKEN_TYPE => {
            let client = credentials(headers, form)?;
            let caller =
                match app.tokens.authenticate_client(&client.client_id, client.proof(), ip).await {
                    Ok(caller) => caller,
                    Err(failure) => return Err(client.refused(failure)),
                };
            let result = app.tokens.delegate(&caller, subject, actor, &request, ip).await;
            answer(app, result, Some(&client), "invalid_request")
        }
        JWT_TOKEN_TYPE if actor.is_none() => {
            let result = app.tokens.federate(client_id_of(form)?, subject, &request, ip).await;
            answer(app, result, None, "invalid_request")
        }
        JWT_TOKEN_TYPE => Err(OAuthError::invalid_request(
            "actor_token is for delegation (subject_token_type access_token) only",
        )),
        _ => Err(OAuthError::invalid_request(format!(
            "subject_token_type must be {ACCESS_TOKEN_TYPE} or {JWT_TOKEN_TYPE}"
        ))),
    }
}

/// A token endpoint answer: the token, or the grant's refusal. `unacceptable`
/// is the `error` a subject, actor or platform token that is not accepted gets
/// (RFC 8693 section 2.2.2: `invalid_request`; RFC 7523: `invalid_grant`); the
/// reason is in the log, not in the answer.
fn answer(
    app: &App,
    result: Result<crate::oauth::Issued, ExchangeError>,
    client: Option<&Credentials>,
    unacceptable: &'static str,
) -> Result<Response, OAuthError> {
    let nonce = app.tokens.dpop_nonce();
    match result {
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
        Err(ExchangeError::Auth(failure)) => match client {
            Some(client) => Err(client.refused(failure)),
            None => Err(OAuthError::invalid_client(false)),
        },
        Err(ExchangeError::Unacceptable(_)) => Err(OAuthError::grant(
            unacceptable,
            "the presented token is not accepted for this exchange",
        )),
        Err(ExchangeError::Denied(Denial::InvalidScope(why))) => {
            Err(OAuthError::invalid_scope(why))
        }
        Err(ExchangeError::Denied(Denial::InvalidTarget(why))) => {
            Err(OAuthError::invalid_target(why))
        }
        Err(ExchangeError::Internal(why)) => Err(OAuthError::internal(&*why)),
    }
}
