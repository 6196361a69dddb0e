//! `POST /oauth/revoke` (RFC 7009).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;

use super::extract::{token_caller_and_credentials, OAuthRequest};
use super::no_store;
use crate::app::App;
use crate::http::error::OAuthError;

/// `POST /oauth/revoke` (RFC 7009): a client revokes one of its own tokens, or its
/// key itself: with the key's secret as `token` (`token_type_hint=api_key`, or any
/// value that is not a JWT), authenticated by that same secret. Unknown, invalid
/// or foreign tokens and keys get 200 too, and nothing changes.
#[utoipa::path(
    post, path = "/oauth/revoke", tag = "oauth",
    request_body(content = crate::http::openapi::schemas::TokenParamForm, content_type = "application/x-www-form-urlencoded", description = "token (an access token, or the key's own secret to revoke the key), optional token_type_hint (api_key for a key); client credentials by Basic or in the body"),
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
    let (token, caller, presented) = token_caller_and_credentials(&app, &req).await?;
    let jwt_shaped = token.split('.').count() == 3;
    if req.form.get("token_type_hint") == Some("api_key") || !jwt_shaped {
        if presented.presented_secret_is(&token) {
            use crate::vocab::ManageError as E;
            match app.keys.revoke_own(&caller, req.ip).await {
                // Deleted meanwhile: nothing left to revoke.
                Ok(_) | Err(E::NotFound(_)) => {}
                Err(E::Unavailable(_) | E::Busy | E::Conflict(_)) => {
                    return Err(OAuthError::unavailable("the key could not be revoked; retry"))
                }
                Err(e) => return Err(OAuthError::internal(&e)),
            }
        }
        return Ok(no_store(serde_json::json!({})));
    }
    app.tokens
        .revoke(&caller, &token)
        .await
        .map_err(|_| OAuthError::unavailable("the database is unavailable; retry shortly"))?;
    Ok(no_store(serde_json::json!({})))
}
