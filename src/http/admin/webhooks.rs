//! `/v1/webhooks`: endpoints that receive keymint's events (docs/webhooks.md).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::app::App;
use crate::http::error::Problem;
use crate::http::extract::{ApiJson, ApiQuery, Caller};
use crate::webhooks::{
    DeliveryView, RotateInput, WebhookChange, WebhookInput, WebhookView, WebhookWithSecret,
};

/// A secret is shown once: never kept by a cache.
fn with_secret(status: StatusCode, body: WebhookWithSecret) -> Response {
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Filters of `GET /v1/webhooks`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WebhookQuery {
    /// Only this workspace's endpoints (platform admins; others see their own).
    pub workspace_id: Option<String>,
}

/// Query of `GET /v1/webhooks/{id}/deliveries`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// 1-100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// `POST /v1/webhooks`: a new endpoint; its signing secret is in this response only.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = WebhookInput,
    responses((status = 201, description = "The endpoint, with its secret (shown once)", body = WebhookWithSecret),
        (status = 404, description = "No such workspace"),
        (status = 409, description = "The workspace has the most endpoints it may have"),
        (status = 422, description = "A field is invalid")),
    security(("bearer" = [])))]
pub async fn create(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<WebhookInput>,
) -> Result<Response, Problem> {
    Ok(with_secret(StatusCode::CREATED, app.webhooks.create(&actor, input).await?))
}

/// `GET /v1/webhooks`: the endpoints the caller reaches, oldest first.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", params(WebhookQuery),
    responses((status = 200, description = "Endpoints, as `data`", body = crate::http::openapi::schemas::WebhookList),
        (status = 404, description = "No such workspace (the workspace_id filter)")),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiQuery(query): ApiQuery<WebhookQuery>,
) -> Result<Json<serde_json::Value>, Problem> {
    let data = app.webhooks.list(&actor, query.workspace_id).await?;
    Ok(Json(serde_json::json!({ "data": data })))
}

/// `GET /v1/webhooks/{id}`.
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks",
    responses((status = 200, description = "The endpoint", body = WebhookView),
        (status = 404, description = "No such endpoint")),
    security(("bearer" = [])))]
pub async fn get(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, Problem> {
    Ok(Json(app.webhooks.get(&actor, &id).await?))
}

/// `PATCH /v1/webhooks/{id}`: change its URL, events or description.
#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks", request_body = WebhookChange,
    responses((status = 200, description = "The endpoint", body = WebhookView),
        (status = 404, description = "No such endpoint"),
        (status = 422, description = "A field is invalid")),
    security(("bearer" = [])))]
pub async fn update(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(change): ApiJson<WebhookChange>,
) -> Result<Json<WebhookView>, Problem> {
    Ok(Json(app.webhooks.update(&actor, &id, change).await?))
}

/// `DELETE /v1/webhooks/{id}`: the endpoint and its pending deliveries.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such endpoint")),
    security(("bearer" = [])))]
pub async fn delete(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    app.webhooks.delete(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/webhooks/{id}/rotate`: a new signing secret (shown once); the old
/// one signs beside it for `overlap_seconds` (default a day).
#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate", tag = "webhooks", request_body = RotateInput,
    responses((status = 200, description = "The endpoint, with its new secret (shown once)", body = WebhookWithSecret),
        (status = 404, description = "No such endpoint"),
        (status = 422, description = "A field is invalid")),
    security(("bearer" = [])))]
pub async fn rotate(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RotateInput>,
) -> Result<Response, Problem> {
    Ok(with_secret(StatusCode::OK, app.webhooks.rotate(&actor, &id, input).await?))
}

/// `POST /v1/webhooks/{id}/test`: sends a `webhook.test` event to this endpoint.
#[utoipa::path(post, path = "/v1/webhooks/{id}/test", tag = "webhooks",
    responses((status = 202, description = "The delivery, queued", body = DeliveryView),
        (status = 404, description = "No such endpoint")),
    security(("bearer" = [])))]
pub async fn test(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<DeliveryView>), Problem> {
    Ok((StatusCode::ACCEPTED, Json(app.webhooks.test(&actor, &id).await?)))
}

/// `GET /v1/webhooks/{id}/deliveries`: the latest deliveries, newest first, each
/// with its attempts (time, status, latency, the start of the answer).
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", params(DeliveryQuery),
    responses((status = 200, description = "Deliveries, as `data`", body = crate::http::openapi::schemas::DeliveryList),
        (status = 404, description = "No such endpoint")),
    security(("bearer" = [])))]
pub async fn deliveries(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<DeliveryQuery>,
) -> Result<Json<serde_json::Value>, Problem> {
    let data = app.webhooks.deliveries(&actor, &id, query.limit).await?;
    Ok(Json(serde_json::json!({ "data": data })))
}

/// `POST /v1/webhooks/{id}/deliveries/{delivery_id}/resend`: sends that event
/// again (same `webhook-id`), as a new delivery.
#[utoipa::path(post, path = "/v1/webhooks/{id}/deliveries/{delivery_id}/resend", tag = "webhooks",
    responses((status = 202, description = "The new delivery, queued", body = DeliveryView),
        (status = 404, description = "No such endpoint or delivery")),
    security(("bearer" = [])))]
pub async fn resend(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<DeliveryView>), Problem> {
    // Read as text: a path that names no delivery is one not found, in the API's
    // own error shape.
    let delivery_id = delivery_id
        .parse::<i64>()
        .map_err(|_| Problem::from(crate::vocab::ManageError::NotFound("delivery")))?;
    Ok((StatusCode::ACCEPTED, Json(app.webhooks.resend(&actor, &id, delivery_id).await?)))
}
