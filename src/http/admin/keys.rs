//! `/v1/keys`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::apikeys::{KeyListQuery, KeyPage, KeyUpdate, KeyView, NewKey, Revealed};
use crate::app::App;
use crate::clock::rfc3339;
use crate::http::error::Problem;
use crate::http::extract::{ApiJson, ApiQuery, Caller, OptionalJson};

/// The only responses that carry a secret (create and rotate): `Cache-Control: no-store`.
fn reveal(status: StatusCode, revealed: Revealed, extra: Value) -> Response {
    let mut body = revealed.to_json();
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /v1/keys`: create a key; the secret is in this response only.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = NewKey,
    responses((status = 201, description = "The key, with client_id and client_secret (shown once)", body = crate::http::openapi::schemas::RevealedKey),
              (status = 404, description = "No such workspace"),
              (status = 409, description = "A key with this name exists in the workspace"),
              (status = 422, description = "A field is invalid")),
    security(("bearer" = [])))]
pub async fn create(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(new): ApiJson<NewKey>,
) -> Result<Response, Problem> {
    let revealed = app.keys.create(&actor, new).await?;
    Ok(reveal(StatusCode::CREATED, revealed, json!({})))
}

/// `GET /v1/keys`: search, filter and paginate, oldest first (`created_at`, then `id`).
#[utoipa::path(get, path = "/v1/keys", tag = "keys", params(KeyListQuery),
    responses((status = 200, description = "A page of keys", body = KeyPage)),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiQuery(query): ApiQuery<KeyListQuery>,
) -> Result<Json<KeyPage>, Problem> {
    Ok(Json(app.keys.list(&actor, &query).await?))
}

/// `GET /v1/keys/{id}`.
#[utoipa::path(get, path = "/v1/keys/{id}", tag = "keys",
    responses((status = 200, description = "The key", body = KeyView), (status = 404, description = "No such key")),
    security(("bearer" = [])))]
pub async fn get(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, Problem> {
    Ok(Json(app.keys.get(&actor, &id).await?))
}

/// Query of an edit.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EditQuery {
    /// `true`: check the edit and answer what it would change, saving nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// `PATCH /v1/keys/{id}`: edit; the response's `changes` says what changed, and
/// `warnings` what the change may break at once. With `?dry_run=true` nothing is
/// saved: the answer is the key as it would be.
#[utoipa::path(patch, path = "/v1/keys/{id}", tag = "keys", request_body = KeyUpdate, params(EditQuery),
    responses((status = 200, description = "The key, with `changes`: {field: {from, to}} and `warnings`", body = crate::http::openapi::schemas::UpdatedKey),
              (status = 404, description = "No such key"),
              (status = 409, description = "The key is revoked, or the name is taken"),
              (status = 422, description = "A field is invalid")),
    security(("bearer" = [])))]
pub async fn update(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<EditQuery>,
    ApiJson(update): ApiJson<KeyUpdate>,
) -> Result<Json<Value>, Problem> {
    let preview = if query.dry_run {
        app.keys.preview_update(&actor, &id, update).await?
    } else {
        app.keys.update(&actor, &id, update).await?
    };
    Ok(Json(preview.to_json(query.dry_run)))
}

/// `DELETE /v1/keys/{id}`: the row goes; the audit event stays.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys",
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such key")),
    security(("bearer" = [])))]
pub async fn delete(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    app.keys.delete(&actor, &id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of a rotation.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// Seconds the old secret keeps working (0, the default, to 604800).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 604800)]
    pub grace_seconds: i64,
}

/// `POST /v1/keys/{id}/rotate`: a new secret for the same key id, shown once.
#[utoipa::path(post, path = "/v1/keys/{id}/rotate", tag = "keys", request_body(content = Option<RotateBody>),
    responses((status = 200, description = "The key with its new client_secret and previous_secret_expires_at", body = crate::http::openapi::schemas::RotatedKey),
              (status = 404, description = "No such key"),
              (status = 409, description = "The key is revoked")),
    security(("bearer" = [])))]
pub async fn rotate(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<RotateBody>,
) -> Result<Response, Problem> {
    let rotation = app.keys.rotate(&actor, &id, body.grace_seconds).await?;
    let until = rotation.previous_expires_at.map(rfc3339);
    Ok(reveal(StatusCode::OK, rotation.revealed, json!({"previous_secret_expires_at": until})))
}

/// `POST /v1/keys/{id}/end-grace`: the pre-rotation secret stops working now.
#[utoipa::path(post, path = "/v1/keys/{id}/end-grace", tag = "keys",
    responses((status = 200, description = "The key, its grace period over (unchanged if none was running)", body = KeyView), (status = 404, description = "No such key")),
    security(("bearer" = [])))]
pub async fn end_grace(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, Problem> {
    Ok(Json(app.keys.end_grace(&actor, &id).await?))
}

/// `POST /v1/keys/{id}/activate`: reactivate a deactivated key.
#[utoipa::path(post, path = "/v1/keys/{id}/activate", tag = "keys",
    responses((status = 200, description = "The key", body = KeyView), (status = 404, description = "No such key"), (status = 409, description = "The key is revoked")),
    security(("bearer" = [])))]
pub async fn activate(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, Problem> {
    Ok(Json(app.keys.set_active(&actor, &id, true).await?))
}

/// `POST /v1/keys/{id}/deactivate`: stop the key until it is activated again.
#[utoipa::path(post, path = "/v1/keys/{id}/deactivate", tag = "keys",
    responses((status = 200, description = "The key", body = KeyView), (status = 404, description = "No such key"), (status = 409, description = "The key is revoked")),
    security(("bearer" = [])))]
pub async fn deactivate(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, Problem> {
    Ok(Json(app.keys.set_active(&actor, &id, false).await?))
}

/// `POST /v1/keys/{id}/revoke`: permanent; repeating it changes nothing.
#[utoipa::path(post, path = "/v1/keys/{id}/revoke", tag = "keys",
    responses((status = 200, description = "The revoked key", body = KeyView), (status = 404, description = "No such key")),
    security(("bearer" = [])))]
pub async fn revoke(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, Problem> {
    Ok(Json(app.keys.revoke(&actor, &id, None).await?))
}
