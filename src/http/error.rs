//! The only place that picks HTTP status codes.
//!
//! Which error type belongs where:
//! - start-up and background jobs: `anyhow` with context;
//! - domain and store code: `thiserror` enums (`ManageError`, `StoreError`, `AuthFailure` ...);
//! - HTTP: [`OAuthError`] on `/oauth/*` (RFC 6749 section 5.2 JSON) and [`Problem`]
//!   everywhere else (RFC 9457 problem details). Both are `IntoResponse`; nothing
//!   else is. Internal causes are logged here and answered with a generic body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::report::Chain;
use crate::vocab::{FieldError, ManageError};

/// Seconds a client should wait after a 503.
pub const RETRY_AFTER_SECONDS: u64 = 2;

/// An RFC 6749 section 5.2 error response.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    www_authenticate: Option<&'static str>,
    retry_after: Option<u64>,
    /// A `DPoP-Nonce` header (RFC 9449 section 8).
    dpop_nonce: Option<String>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
            www_authenticate: None,
            retry_after: None,
            dpop_nonce: None,
        }
    }

    /// 400 `invalid_dpop_proof` (RFC 9449 section 5): the `DPoP` proof is
    /// missing where the client must send one, malformed or invalid.
    pub fn invalid_dpop_proof(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_dpop_proof", description)
    }

    /// 400 `use_dpop_nonce` (RFC 9449 section 8) with the nonce to use.
    pub fn use_dpop_nonce(nonce: String) -> Self {
        OAuthError {
            dpop_nonce: Some(nonce),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "use_dpop_nonce",
                "the DPoP proof must carry the server nonce of the DPoP-Nonce header",
            )
        }
    }

    /// 400 `invalid_request`: malformed, missing or repeated parameters.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 401 `invalid_client`: one answer for every authentication failure, whatever
    /// the reason. `challenge`: the client used (or could have used) the
    /// `Authorization` header, so the answer carries `WWW-Authenticate: Basic`
    /// (RFC 6749 section 5.2); a client that authenticated in the body gets none,
    /// as certified providers answer, so its library reports `invalid_client`.
    pub fn invalid_client(challenge: bool) -> Self {
        OAuthError {
            www_authenticate: challenge.then_some(r#"Basic realm="keymint", charset="UTF-8""#),
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed")
        }
    }

    /// 400 with the grant's own `error` (RFC 8628 section 3.5: `authorization_pending`,
    /// `slow_down`, `access_denied`, `expired_token`; RFC 6749: `invalid_grant`).
    pub fn grant(error: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, description)
    }

    /// 400 `unsupported_grant_type`.
    pub fn unsupported_grant_type(grant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!(
                "grant_type '{}' is not supported; use client_credentials",
                crate::oauth::ascii(grant)
            ),
        )
    }

    /// 400 `invalid_scope`.
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    /// 400 `invalid_target` (RFC 8707 section 2).
    pub fn invalid_target(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_target", description)
    }

    /// 408 for a request that did not complete in time.
    pub fn timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request",
            "the request did not complete in time",
        )
    }

    /// 413 for a body over the size limit.
    pub fn too_large() -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", "the request body is too large")
    }

    /// 429 `temporarily_unavailable`: too many failed attempts; `Retry-After: seconds`.
    pub fn throttled(seconds: u64) -> Self {
        OAuthError {
            retry_after: Some(seconds),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                "too many failed authentication attempts; retry later",
            )
        }
    }

    /// 403 `insufficient_scope` (RFC 6750 section 3.1).
    pub fn insufficient_scope(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "insufficient_scope", description)
    }

    /// 405 for any method but POST, in the endpoint's own error shape.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "this endpoint accepts only POST",
        )
    }

    /// 503 `temporarily_unavailable` with `Retry-After`.
    pub fn unavailable(description: impl Into<String>) -> Self {
        OAuthError {
            retry_after: Some(RETRY_AFTER_SECONDS),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", description)
        }
    }

    /// 500 `server_error`; the cause is logged, not sent.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %Chain(cause), "internal error at the token endpoint");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "internal error")
    }

    pub fn error_code(&self) -> &'static str {
        self.error
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        // error_description must be printable ASCII without '"' or '\' (RFC 6749 section 5.2).
        let body = json!({"error": self.error, "error_description": crate::oauth::ascii(&self.description)});
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(challenge) = self.www_authenticate {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(nonce) = self.dpop_nonce.and_then(|n| HeaderValue::try_from(n).ok()) {
            headers.insert("dpop-nonce", nonce);
        }
        response
    }
}

/// An RFC 9457 problem document. `type` is a stable URN per kind of error.
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub kind: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub extra: Option<(&'static str, Value)>,
    pub www_authenticate: Option<String>,
    /// A `DPoP-Nonce` header (RFC 9449 section 9).
    pub dpop_nonce: Option<String>,
}

/// The `type` URN prefix of every keymint problem.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:keymint:problem:";

impl Problem {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Problem {
            status,
            kind,
            title,
            detail: detail.into(),
            extra: None,
            www_authenticate: None,
            dpop_nonce: None,
        }
    }

    /// 401 asking for a DPoP proof with this server nonce (RFC 9449 section 9).
    pub fn use_dpop_nonce(nonce: String) -> Self {
        let detail = "the DPoP proof must carry the server nonce of the DPoP-Nonce header";
        Problem {
            www_authenticate: Some(format!(
                r#"DPoP realm="keymint", error="use_dpop_nonce", error_description="{detail}""#
            )),
            dpop_nonce: Some(nonce),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "use-dpop-nonce",
                "A DPoP server nonce is required",
                detail,
            )
        }
    }

    /// 400 for a body or query that cannot be parsed.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "The request could not be parsed",
            detail,
        )
    }

    /// 422 naming the invalid field.
    pub fn invalid_field(e: &FieldError) -> Self {
        Problem {
            extra: Some(("errors", json!([{"field": e.field, "reason": e.reason}]))),
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "A field is invalid",
                e.to_string(),
            )
        }
    }

    /// 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 section 3).
    pub fn invalid_token(detail: &str) -> Self {
        let detail = crate::oauth::ascii(detail);
        Problem {
            www_authenticate: Some(format!(
                r#"Bearer realm="keymint", error="invalid_token", error_description="{detail}""#
            )),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid-token",
                "The access token is missing or invalid",
                detail,
            )
        }
    }

    /// 403 `insufficient_scope`.
    pub fn insufficient_scope(detail: String) -> Self {
        Problem {
            www_authenticate: Some(r#"Bearer realm="keymint", error="insufficient_scope""#.into()),
            ..Self::new(StatusCode::FORBIDDEN, "insufficient-scope", "Not allowed", detail)
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Temporarily unavailable", detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": format!("{PROBLEM_TYPE_PREFIX}{}", self.kind),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let Some((name, value)) = self.extra {
            body[name] = value;
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(challenge) = self.www_authenticate.and_then(|c| HeaderValue::from_str(&c).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        if let Some(nonce) = self.dpop_nonce.and_then(|n| HeaderValue::try_from(n).ok()) {
            headers.insert("dpop-nonce", nonce);
        }
        response
    }
}

/// How every door answers a refused management request: its status, problem type,
/// title and the words a person reads. `/v1` sends it as a problem document, the
/// console shows it as a page, so the two cannot disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub kind: &'static str,
    pub title: &'static str,
    pub detail: String,
}

impl Refusal {
    /// The one table from a domain refusal to its answer. The causes of a fault
    /// (the database, an internal error) are logged here, once, and never shown.
    pub fn of(e: &ManageError) -> Refusal {
        let (status, kind, title, detail) = match e {
            ManageError::NotFound(what) => {
                (StatusCode::NOT_FOUND, "not-found", "Not found", format!("{what} not found"))
            }
            ManageError::Conflict(why) => {
                (StatusCode::CONFLICT, "conflict", "Conflict", why.clone())
            }
            ManageError::Invalid(field) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "A field is invalid",
                field.to_string(),
            ),
            ManageError::Forbidden(why) => {
                (StatusCode::FORBIDDEN, "insufficient-scope", "Not allowed", why.clone())
            }
            ManageError::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Temporarily unavailable",
                "the service is busy; retry shortly".into(),
            ),
            ManageError::Unavailable(cause) => {
                tracing::warn!(error = %Chain(&**cause), "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Temporarily unavailable",
                    "the database is unavailable; retry shortly".into(),
                )
            }
            ManageError::Internal(cause) => {
                tracing::error!(error = %Chain(&**cause), "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "internal error".into(),
                )
            }
        };
        Refusal { status, kind, title, detail }
    }
}

impl From<ManageError> for Problem {
    fn from(e: ManageError) -> Self {
        let Refusal { status, kind, title, detail } = Refusal::of(&e);
        let problem = Problem::new(status, kind, title, detail);
        match e {
            ManageError::Invalid(field) => Problem {
                extra: Some(("errors", json!([{"field": field.field, "reason": field.reason}]))),
                ..problem
            },
            ManageError::Forbidden(_) => Problem {
                www_authenticate: Some(
                    r#"Bearer realm="keymint", error="insufficient_scope""#.into(),
                ),
                ..problem
            },
            _ => problem,
        }
    }
}
