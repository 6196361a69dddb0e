//! `POST /oauth/token`: the client-credentials grant (RFC 6749 sections 2.3, 4.4, 5).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::error::OAuthError;
use super::extract::{authorization, AuthorizationError, ClientIp};
use crate::apikeys::secret::Secret;
use crate::apikeys::{AuthFailure, Authenticated};
use crate::app::App;
use crate::oauth::dpop::DpopError;
use crate::oauth::{
    assertion, Denial, ExchangeError, Proof, RawKeyCheck, TokenRequest, VerifyError,
};
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;

/// Parameters that may appear more than once (RFC 8707 section 2).
const REPEATABLE: &[&str] = &["resource", "audience"];
/// Most parameters a token request may carry.
const MAX_PARAMS: usize = 32;
/// Longest parameter value.
const MAX_VALUE_LEN: usize = 4096;

/// The parsed form: every name once, except the repeatable ones.
#[derive(Debug, Default)]
struct Form {
    single: HashMap<String, String>,
    repeated: HashMap<String, Vec<String>>,
}

impl Form {
    fn parse(body: &[u8]) -> Result<Form, OAuthError> {
        let mut form = Form::default();
        for (i, (name, value)) in form_urlencoded::parse(body).enumerate() {
            if i >= MAX_PARAMS {
                return Err(OAuthError::invalid_request(format!(
                    "at most {MAX_PARAMS} parameters"
                )));
            }
            if value.len() > MAX_VALUE_LEN || name.len() > 64 {
                return Err(OAuthError::invalid_request("a parameter is too long"));
            }
            if REPEATABLE.contains(&name.as_ref()) {
                form.repeated.entry(name.into_owned()).or_default().push(value.into_owned());
            } else if form.single.insert(name.to_string(), value.into_owned()).is_some() {
                // RFC 6749 section 3.2: request parameters MUST NOT be included more than once.
                return Err(OAuthError::invalid_request(format!(
                    "parameter '{}' is repeated",
                    crate::oauth::ascii(&name)
                )));
            }
        }
        Ok(form)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.single.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
        .unwrap_or(false)
}

/// Decodes one `application/x-www-form-urlencoded` component (RFC 6749 appendix B).
fn form_decode(text: &str) -> String {
    form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// What a client presented to prove it holds its key.
enum Credential {
    Secret(Secret),
    /// A `private_key_jwt` client assertion.
    Assertion(String),
}

/// Client credentials as presented.
struct Credentials {
    client_id: String,
    presented: Credential,
    /// Sent in the body (`client_secret_post`, an assertion) rather than with Basic.
    in_body: bool,
}

impl Credentials {
    fn proof(&self) -> Proof<'_> {
        match &self.presented {
            Credential::Secret(secret) => Proof::Secret(secret),
            Credential::Assertion(assertion) => Proof::Assertion(assertion),
        }
    }

    /// The answer to a failed authentication with these credentials; the reason is
    /// logged, never sent.
    fn refused(&self, failure: AuthFailure) -> OAuthError {
        let client_id = crate::oauth::ascii(&self.client_id);
        match failure {
            AuthFailure::Refused(reason) | AuthFailure::KeyRefused { reason, .. } => {
                tracing::info!(%client_id, reason, "client authentication failed");
                OAuthError::invalid_client(!self.in_body)
            }
            AuthFailure::Throttled(seconds) => {
                tracing::info!(%client_id, "client authentication throttled");
                OAuthError::throttled(seconds)
            }
            AuthFailure::Busy => {
                OAuthError::unavailable("secret verification is saturated; retry shortly")
            }
            AuthFailure::Unavailable(_) => {
                OAuthError::unavailable("the database is unavailable; retry shortly")
            }
        }
    }
}

/// Reads an OAuth request as the endpoints do: the form, then the client
/// credentials from exactly one of Basic or the body. Answers the client id.
pub fn read_client_request(headers: &HeaderMap, body: &[u8]) -> Result<String, OAuthError> {
    let form = Form::parse(body)?;
    credentials(headers, &form).map(|c| c.client_id)
}

/// The client credentials, from exactly one of Basic, a secret in the body, or a
/// client assertion.
fn credentials(headers: &HeaderMap, form: &Form) -> Result<Credentials, OAuthError> {
    let body_secret = form.single.get("client_secret");
    let authorization = authorization(headers).map_err(|e| match e {
        AuthorizationError::Repeated => {
            OAuthError::invalid_request("send exactly one Authorization header")
        }
        AuthorizationError::Malformed => OAuthError::invalid_client(true),
    })?;
    let assertion_type = form.single.get("client_assertion_type");
    if assertion_type.is_some() || form.single.contains_key("client_assertion") {
        if authorization.is_some() || body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method: a client assertion, Basic or client_secret, not several",
            ));
        }
        return assertion_credentials(form);
    }
    match authorization {
        Some((scheme, encoded)) => {
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method: Basic or client_secret in the body, not both",
                ));
            }
            if scheme != "basic" {
                return Err(OAuthError::invalid_client(true));
            }
            let decoded = STANDARD
                .decode(encoded)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| OAuthError::invalid_client(true))?;
            let (id, secret) =
                decoded.split_once(':').ok_or_else(|| OAuthError::invalid_client(true))?;
            let (id, secret) = (form_decode(id), form_decode(secret));
            if let Some(body_id) = form.get("client_id") {
                if body_id != id {
                    return Err(OAuthError::invalid_request(
                        "client_id differs from the Basic credentials",
                    ));
                }
            }
            if id.is_empty() || secret.is_empty() {
                return Err(OAuthError::invalid_client(true));
            }
            Ok(Credentials {
                client_id: id,
                presented: Credential::Secret(Secret::new(secret)),
                in_body: false,
            })
        }
        None => match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), Some(secret)) => Ok(Credentials {
                client_id: id.to_string(),
                presented: Credential::Secret(Secret::new(secret.to_string())),
                in_body: true,
            }),
            // No credentials at all: the challenge says how to send them.
            _ => Err(OAuthError::invalid_client(true)),
        },
    }
}

/// `private_key_jwt` (RFC 7523 section 2.2): the client is the assertion's `sub`
/// (equal to its `iss`, and to `client_id` when that is sent too).
fn assertion_credentials(form: &Form) -> Result<Credentials, OAuthError> {
    let (Some(kind), Some(assertion)) =
        (form.get("client_assertion_type"), form.get("client_assertion"))
    else {
        return Err(OAuthError::invalid_request(
            "client_assertion and client_assertion_type go together",
        ));
    };
    if kind != assertion::ASSERTION_TYPE {
        return Err(OAuthError::invalid_request(format!(
            "client_assertion_type must be {}",
            assertion::ASSERTION_TYPE
        )));
    }
    let client_id =
        assertion::claimed_client(assertion).ok_or_else(|| OAuthError::invalid_client(false))?;
    if form.get("client_id").is_some_and(|id| id != client_id) {
        return Err(OAuthError::invalid_request("client_id differs from the assertion's sub"));
    }
    Ok(Credentials {
        client_id,
        presented: Credential::Assertion(assertion.to_string()),
        in_body: true,
    })
}

/// The form of an OAuth request: no `client_secret` in the URL, a form body within
/// the size limit, every parameter at most once (but the repeatable ones).
/// An OAuth endpoint's request: the client address, the headers and the parsed form.
/// Every failure comes back in RFC 6749's shape.
pub struct OAuthRequest {
    ip: Option<std::net::IpAddr>,
    headers: HeaderMap,
    form: Form,
}

impl axum::extract::FromRequest<Arc<App>> for OAuthRequest {
    type Rejection = OAuthError;

    async fn from_request(req: axum::extract::Request, app: &Arc<App>) -> Result<Self, OAuthError> {
        use axum::extract::FromRequestParts;
        let (mut parts, body) = req.into_parts();
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(&mut parts, app).await;
        let query = parts.uri.query().map(str::to_string);
        let headers = parts.headers.clone();
        let req = axum::extract::Request::from_parts(parts, body);
        let body = Bytes::from_request(req, app).await;
        Ok(OAuthRequest { ip, form: parse_form(query, &headers, body)?, headers })
    }
}

fn parse_form(
    query: Option<String>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Form, OAuthError> {
    if let Some(query) = query {
        if form_urlencoded::parse(query.as_bytes()).any(|(name, _)| name == "client_secret") {
            return Err(OAuthError::invalid_request("client_secret must not be sent in the URL"));
        }
    }
    if !is_form(headers) {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            OAuthError::too_large()
        } else {
            OAuthError::invalid_request("the body could not be read")
        }
    })?;
    Form::parse(&body)
}

/// A JSON body with `Cache-Control: no-store` and `Pragma: no-cache`.
fn no_store(body: impl serde::Serialize) -> Response {
    let mut response = axum::Json(body).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

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
    let mut audiences = Vec::new();
    for name in REPEATABLE {
        audiences.extend(form.repeated.get(*name).into_iter().flatten().cloned());
    }
    if audiences.iter().any(String::is_empty) {
        return Err(OAuthError::invalid_request("resource and audience must not be empty"));
    }
    let request = TokenRequest {
        scope: form.single.get("scope").cloned(),
        audiences,
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

/// The `DPoP` header's proof (RFC 9449 section 4.1), if there is one: at most one
/// header, of visible ASCII.
fn dpop_header(headers: &HeaderMap) -> Result<Option<String>, OAuthError> {
    let mut values = headers.get_all("dpop").iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Ok(None),
        (Some(value), None) => value,
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_dpop_proof("send exactly one DPoP header"))
        }
    };
    let text = value
        .to_str()
        .map_err(|_| OAuthError::invalid_dpop_proof("the DPoP header is not a JWT"))?;
    Ok(Some(text.to_string()))
}

/// An introspection or revocation request: its `token` parameter and the client
/// that sent it, authenticated like a token request.
async fn token_and_caller(
    app: &App,
    req: &OAuthRequest,
) -> Result<(String, Authenticated), OAuthError> {
    let client = credentials(&req.headers, &req.form)?;
    let token =
        req.form.get("token").ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    let caller = app
        .tokens
        .authenticate_client(&client.client_id, client.proof(), req.ip)
        .await
        .map_err(|f| client.refused(f))?;
    Ok((token.to_string(), caller))
}

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
        Ok(Some(claims)) => {
            let mut body = serde_json::to_value(&claims).unwrap_or_default();
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
        _ => OAuthError::unavailable("the database is unavailable; retry shortly"),
    }
}

/// Introspection of an active raw API key: what a gateway needs to authorise the
/// call as a token would let it (the key's scopes, workspace, environment, type,
/// and its expiry when it has one).
fn raw_key_answer(key: &crate::store::KeyRecord) -> serde_json::Value {
    let mut body = serde_json::json!({
        "active": true,
        "token_type": "api_key",
        "client_id": key.id,
        "sub": key.id,
        "scope": key.scopes.join(" "),
        "workspace_id": key.workspace_id,
        "environment": key.environment,
        "key_type": key.key_type,
    });
    if let Some(exp) = key.expires_at {
        body["exp"] = serde_json::json!(exp);
    }
    body
}

/// `POST /oauth/revoke` (RFC 7009): a client revokes one of its own tokens. Unknown,
/// invalid or foreign tokens get 200 too.
#[utoipa::path(
    post, path = "/oauth/revoke", tag = "oauth",
    request_body(content = crate::http::openapi::schemas::TokenParamForm, content_type = "application/x-www-form-urlencoded", description = "token, optional token_type_hint; client credentials by Basic or in the body"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke", body = crate::http::openapi::schemas::Revoked),
        (status = 400, description = "invalid_request"),
        (status = 401, description = "invalid_client"),
    )
)]
pub async fn revoke(
    State(app): State<Arc<App>>,
    req: OAuthRequest,
) -> Result<Response, OAuthError> {
    let (token, caller) = token_and_caller(&app, &req).await?;
    app.tokens
        .revoke(&caller, &token)
        .await
        .map_err(|_| OAuthError::unavailable("the database is unavailable; retry shortly"))?;
    Ok(no_store(serde_json::json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(form_decode("a%2Bb+c"), "a+b c");
        assert_eq!(form_decode("plain"), "plain");
    }

    #[test]
    fn repeated_parameters_are_refused_but_resource_may_repeat() {
        assert!(Form::parse(b"grant_type=a&grant_type=b").is_err());
        let form = Form::parse(b"resource=a&resource=b&grant_type=x").unwrap();
        assert_eq!(form.repeated["resource"], ["a", "b"]);
    }
}
