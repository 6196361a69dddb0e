//! `/v1/signing-keys`: list and rotate token signing keys (`keymint:signing-keys:admin`).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::App;
use crate::http::error::Problem;
use crate::http::extract::{Caller, OptionalJson};
use crate::signing::{RotationOutcome, SigningKeyView};

/// `GET /v1/signing-keys`: every published key and its state.
#[utoipa::path(get, path = "/v1/signing-keys", tag = "signing-keys",
    responses((status = 200, description = "Every published signing key", body = crate::http::openapi::schemas::SigningKeyList)), security(("bearer" = [])))]
pub async fn list(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
) -> Result<Json<Value>, Problem> {
    let keys: Vec<SigningKeyView> = app.signing_keys.list(&actor).await?;
    Ok(Json(json!({ "data": keys })))
}

/// Body of a rotation request.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSigningKey {
    /// Drop the current key from the JWKS at once and sign with a new one now.
    #[serde(default)]
    pub emergency: bool,
}

/// `POST /v1/signing-keys/rotate`.
#[utoipa::path(post, path = "/v1/signing-keys/rotate", tag = "signing-keys",
    request_body(content = Option<RotateSigningKey>),
    responses((status = 200, description = "What the rotation did", body = RotationOutcome)), security(("bearer" = [])))]
pub async fn rotate(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    OptionalJson(body): OptionalJson<RotateSigningKey>,
) -> Result<Json<RotationOutcome>, Problem> {
    Ok(Json(app.signing_keys.rotate(&actor, body.emergency).await?))
}
