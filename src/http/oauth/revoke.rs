//! `POST /oauth/revoke` (RFC 7009).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;

use super::extract::{token_and_caller, OAuthRequest};
use super::no_store;
use crate::app::App;
use crate::http::error::OAuthError;

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
