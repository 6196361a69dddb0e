//! The OAuth endpoints, one a file: `token`, `device` (RFC 8628), `introspect`, `revoke`; what their
//! requests carry (the form, the client's credentials, a DPoP proof) is read in
//! `extract`, once for all three.

mod device;
mod extract;
mod introspect;
mod revoke;
mod token;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

pub use device::*;
pub use extract::{read_client_request, OAuthRequest};
pub use introspect::*;
pub use revoke::*;
pub use token::*;

/// A JSON body with `Cache-Control: no-store` and `Pragma: no-cache`.
fn no_store(body: impl serde::Serialize) -> Response {
    let mut response = axum::Json(body).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
