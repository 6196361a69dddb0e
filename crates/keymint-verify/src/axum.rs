//! axum middleware (feature `axum`): [`RequireScope`], a tower layer that
//! verifies each request's token and scope and answers refusals as RFC 6750 and
//! RFC 9449 say, and [`Token`], the extractor that hands the verified claims to a
//! handler.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use axum::{extract::Path, routing::get, Router};
//! use keymint_verify::axum::{RequireScope, Token};
//! use keymint_verify::verifier::{Error, Verifier};
//!
//! async fn agent(Token(claims): Token, Path(id): Path<String>) -> Result<String, Error> {
//!     // A scope that depends on the path is checked in the handler.
//!     claims.require(&format!("read:agents/{id}"))?;
//!     Ok(format!("agent {id}, for {}", claims.client_id))
//! }
//!
//! # async fn run() -> Result<(), Error> {
//! let verifier = Arc::new(
//!     Verifier::discover("https://keymint.example.com", "https://api.example.com").await?,
//! );
//! let app: Router = Router::new()
//!     .route("/agents/{id}", get(agent))
//!     .route_layer(RequireScope::new(verifier.clone(), "read:agents/*"));
//! # Ok(()) }
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, HOST, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::claims::Claims;
use crate::error::Error;
use crate::request::{credentials, Request as Credentials};
use crate::verifier::Verifier;

/// A layer that lets a request through only with a token keymint issued for
/// this API holding a scope that covers `scope`; the claims go into the
/// request's extensions, for [`Token`].
#[derive(Clone)]
pub struct RequireScope {
    verifier: Arc<Verifier>,
    scope: Option<Arc<str>>,
}

impl RequireScope {
    /// Requires a valid token whose scopes cover `scope` (e.g. `read:agents/*`).
    pub fn new(verifier: Arc<Verifier>, scope: &str) -> Self {
        RequireScope { verifier, scope: Some(scope.into()) }
    }

    /// Requires a valid token only: the handlers check scopes themselves
    /// ([`Claims::require`]).
    pub fn any_scope(verifier: Arc<Verifier>) -> Self {
        RequireScope { verifier, scope: None }
    }
}

impl<S> Layer<S> for RequireScope {
    type Service = RequireScopeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopeService { inner, layer: self.clone() }
    }
}

/// The service [`RequireScope`] wraps around the routes.
#[derive(Clone)]
pub struct RequireScopeService<S> {
    inner: S,
    layer: RequireScope,
}

impl<S> Service<Request> for RequireScopeService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // The clone that was polled ready serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        let asked = Asked::of(&layer, &request);
        Box::pin(async move {
            match authorize(&layer, asked).await {
                Ok(claims) => {
                    request.extensions_mut().insert(claims);
                    inner.call(request).await
                }
                Err(refusal) => Ok(refusal.into_response()),
            }
        })
    }
}

/// What the verification needs from a request, owned (the request's body is
/// not `Sync`, so the request itself cannot be held across an await).
struct Asked {
    authorization: Option<String>,
    dpop: Option<String>,
    method: String,
    url: String,
    headers: HeaderMap,
}

impl Asked {
    fn of(layer: &RequireScope, request: &Request) -> Self {
        let headers = request.headers();
        let origin = match &layer.verifier.origin {
            Some(origin) => origin.clone(),
            None => {
                let host = headers.get(HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
                let loopback = ["127.0.0.1", "localhost", "[::1]"]
                    .iter()
                    .any(|h| host == *h || host.starts_with(&format!("{h}:")));
                format!("{}://{host}", if loopback { "http" } else { "https" })
            }
        };
        let text = |v: &HeaderValue| v.to_str().ok().map(String::from);
        Asked {
            authorization: headers.get(AUTHORIZATION).and_then(text),
            dpop: headers.get("dpop").and_then(text),
            method: request.method().as_str().to_string(),
            url: format!("{origin}{}", request.uri().path()),
            headers: headers.clone(),
        }
    }
}

/// The request's claims, or the answer refusing it.
async fn authorize(layer: &RequireScope, asked: Asked) -> Result<Claims, Refusal> {
    let headers = &asked.headers;
    let refuse = |error: Error| Refusal { error, headers: headers.clone() };
    if headers.get_all("dpop").iter().count() > 1 {
        return Err(refuse(Error::InvalidDpopProof("more than one DPoP header".into())));
    }
    if headers.get_all(AUTHORIZATION).iter().count() > 1 {
        return Err(refuse(Error::InvalidRequest("more than one Authorization header".into())));
    }
    let credentials = Credentials {
        authorization: asked.authorization.as_deref(),
        dpop: asked.dpop.as_deref(),
        method: &asked.method,
        url: &asked.url,
    };
    let claims = layer.verifier.verify_request(credentials).await.map_err(refuse)?;
    if let Some(scope) = &layer.scope {
        claims.require(scope).map_err(refuse)?;
    }
    Ok(claims)
}

/// A refusal, with the request's headers to tell the scheme it used.
struct Refusal {
    error: Error,
    headers: HeaderMap,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let scheme = self
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(credentials)
            .map(|(scheme, _)| scheme);
        respond(&self.error, scheme)
    }
}

/// The RFC 6750 answer: the status, a `WWW-Authenticate` challenge per scheme,
/// and the reason as an RFC 9457 problem.
fn respond(error: &Error, scheme: Option<crate::error::Scheme>) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let problem = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Unauthorized"),
        "status": status.as_u16(),
        "detail": error.to_string(),
    });
    let mut response = (
        status,
        [(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"))],
        problem.to_string(),
    )
        .into_response();
    for challenge in error.challenges(scheme) {
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.headers_mut().append(WWW_AUTHENTICATE, value);
        }
    }
    response
}

/// An [`Error`] a handler returns (from [`Claims::require`]) answers as RFC 6750
/// says.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        respond(&self, None)
    }
}

/// The verified claims of the request, put there by [`RequireScope`]. A route
/// without the layer in front answers 500, never lets the request through.
#[derive(Debug, Clone)]
pub struct Token(pub Claims);

impl<S: Send + Sync> FromRequestParts<S> for Token {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Claims>().cloned().map(Token).ok_or((
            StatusCode::INTERNAL_SERVER_ERROR,
            "this route extracts a keymint Token without a RequireScope layer in front of it",
        ))
    }
}
