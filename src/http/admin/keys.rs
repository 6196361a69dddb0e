//! `/v1/keys`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::apikeys::{KeyListQuery, KeyPage, KeyView, NewKey, Revealed};
use crate::app::App;
use crate::http::error::Problem;
use crate::http::extract::{ApiJson, ApiQuery, Caller};

/// The one response that carries a secret: `Cache-Control: no-store`.
pub fn reveal(status: StatusCode, revealed: Revealed, extra: serde_json::Value) -> Response {
    let mut body = serde_json::to_value(&revealed.key).unwrap_or_default();
    body["client_id"] = json!(revealed.key.id);
    body["client_secret"] = json!(revealed.secret.expose());
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /v1/keys`: create a key; the secret is in this response only.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = NewKey,
    responses((status = 201, description = "The key, with client_id and client_secret (shown once)"),
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

/// `GET /v1/keys`: search, filter, paginate.
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
    responses((status = 200, description = "The key"), (status = 404, description = "No such key")),
    security(("bearer" = [])))]
pub async fn get(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, Problem> {
    Ok(Json(app.keys.get(&actor, &id).await?))
}

/// `POST /v1/keys/{id}/revoke`: permanent; repeating it changes nothing.
#[utoipa::path(post, path = "/v1/keys/{id}/revoke", tag = "keys",
    responses((status = 200, description = "The revoked key"), (status = 404, description = "No such key")),
    security(("bearer" = [])))]
pub async fn revoke(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, Problem> {
    Ok(Json(app.keys.revoke(&actor, &id).await?))
}
