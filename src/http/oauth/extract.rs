//! What an OAuth request carries, read as every endpoint reads it: the form
//! (each parameter once, but the repeatable ones), the client's credentials from
//! exactly one of Basic, the body or a signed assertion, and a DPoP proof. Every
//! failure comes back in RFC 6749's shape.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::apikeys::secret::Secret;
use crate::apikeys::{AuthFailure, Authenticated};
use crate::app::App;
use crate::http::error::OAuthError;
use crate::http::extract::{authorization, AuthorizationError, ClientIp};
use crate::oauth::{assertion, Proof};
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
pub(super) struct Form {
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

    /// A parameter's value; an empty one counts as absent.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.single.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A parameter's value as sent, empty or not.
    pub(super) fn raw(&self, name: &str) -> Option<&str> {
        self.single.get(name).map(String::as_str)
    }

    /// The targets a token request names (`resource`, RFC 8707; `audience`), each
    /// of which may repeat and none of which may be empty.
    pub(super) fn audiences(&self) -> Result<Vec<String>, OAuthError> {
        let mut audiences = Vec::new();
        for name in REPEATABLE {
            audiences.extend(self.repeated.get(*name).into_iter().flatten().cloned());
        }
        if audiences.iter().any(String::is_empty) {
            return Err(OAuthError::invalid_request("resource and audience must not be empty"));
        }
        Ok(audiences)
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
enum ClientProof {
    Secret(Secret),
    /// A `private_key_jwt` client assertion.
    Assertion(String),
}

/// Client credentials as presented.
pub(super) struct Credentials {
    pub(super) client_id: String,
    presented: ClientProof,
    /// Sent in the body (`client_secret_post`, an assertion) rather than with Basic.
    in_body: bool,
}

impl Credentials {
    /// Whether `token` is the very secret the client authenticated with (compared
    /// in constant time): possession, for a key revoking itself.
    pub(super) fn presented_secret_is(&self, token: &str) -> bool {
        match &self.presented {
            ClientProof::Secret(secret) => {
                subtle::ConstantTimeEq::ct_eq(secret.expose().as_bytes(), token.as_bytes()).into()
            }
            ClientProof::Assertion(_) => false,
        }
    }

    pub(super) fn proof(&self) -> Proof<'_> {
        match &self.presented {
            ClientProof::Secret(secret) => Proof::Secret(secret),
            ClientProof::Assertion(assertion) => Proof::Assertion(assertion),
        }
    }

    /// The answer to a failed authentication with these credentials; the reason is
    /// logged, never sent.
    pub(super) fn refused(&self, failure: AuthFailure) -> OAuthError {
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
pub(super) fn credentials(headers: &HeaderMap, form: &Form) -> Result<Credentials, OAuthError> {
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
                presented: ClientProof::Secret(Secret::new(secret)),
                in_body: false,
            })
        }
        None => match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), Some(secret)) => Ok(Credentials {
                client_id: id.to_string(),
                presented: ClientProof::Secret(Secret::new(secret.to_string())),
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
        presented: ClientProof::Assertion(assertion.to_string()),
        in_body: true,
    })
}

/// The form of an OAuth request: no `client_secret` in the URL, a form body within
/// the size limit, every parameter at most once (but the repeatable ones).
/// An OAuth endpoint's request: the client address, the headers and the parsed form.
/// Every failure comes back in RFC 6749's shape.
pub struct OAuthRequest {
    pub(super) ip: Option<std::net::IpAddr>,
    pub(super) headers: HeaderMap,
    pub(super) form: Form,
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

/// The `DPoP` header's proof (RFC 9449 section 4.1), if there is one: at most one
/// header, of visible ASCII.
pub(super) fn dpop_header(headers: &HeaderMap) -> Result<Option<String>, OAuthError> {
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
pub(super) async fn token_and_caller(
    app: &App,
    req: &OAuthRequest,
) -> Result<(String, Authenticated), OAuthError> {
    let (token, caller, _) = token_caller_and_credentials(app, req).await?;
    Ok((token, caller))
}

/// [`token_and_caller`], with the credentials the caller presented.
pub(super) async fn token_caller_and_credentials(
    app: &App,
    req: &OAuthRequest,
) -> Result<(String, Authenticated, Credentials), OAuthError> {
    let client = credentials(&req.headers, &req.form)?;
    let token =
        req.form.get("token").ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    let caller = app
        .tokens
        .authenticate_client(&client.client_id, client.proof(), req.ip)
        .await
        .map_err(|f| client.refused(f))?;
    Ok((token.to_string(), caller, client))
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
