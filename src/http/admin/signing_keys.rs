//! `/v1/signing-keys`: list and rotate token signing keys (`keymint:signing-keys:admin`).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::apikeys::ManageError;
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
    actor.require("keymint:signing-keys:admin")?;
    let keys: Vec<SigningKeyView> = app.keyring.list().await.map_err(ManageError::from)?;
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
    actor.require("keymint:signing-keys:admin")?;
    let outcome =
        app.keyring.rotate(app.clock.now(), body.emergency, &actor.id).await.map_err(|e| {
            match e.downcast_ref::<crate::store::StoreError>() {
                Some(store) => ManageError::from(store.duplicate()),
                None => {
                    tracing::warn!(error = %format!("{e:#}"), "signing key rotation refused");
                    ManageError::Conflict("the signing keys changed concurrently; retry".into())
                }
            }
        })?;
    Ok(Json(outcome))
}
