//! `/v1/role-bindings` (platform admins).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use crate::access::{RoleBindingInput, RoleBindingView};
use crate::app::App;
use crate::http::error::Problem;
use crate::http::extract::{ApiJson, Caller};

/// `POST /v1/role-bindings`: give a role to a group or a person.
#[utoipa::path(post, path = "/v1/role-bindings", tag = "role-bindings", request_body = RoleBindingInput,
    responses((status = 201, description = "The binding", body = RoleBindingView),
        (status = 404, description = "No such workspace"),
        (status = 409, description = "The subject already has this role there")),
    security(("bearer" = [])))]
pub async fn create(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<RoleBindingInput>,
) -> Result<(StatusCode, Json<RoleBindingView>), Problem> {
    Ok((StatusCode::CREATED, Json(app.role_bindings.create(&actor, input).await?)))
}

/// `GET /v1/role-bindings`: every binding, oldest first.
#[utoipa::path(get, path = "/v1/role-bindings", tag = "role-bindings",
    responses((status = 200, description = "Every role binding, as `data`", body = crate::http::openapi::schemas::RoleBindingList)),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
) -> Result<Json<serde_json::Value>, Problem> {
    let data = app.role_bindings.list(&actor).await?;
    Ok(Json(serde_json::json!({ "data": data })))
}

/// `DELETE /v1/role-bindings/{id}`: the rights it gave end at once.
#[utoipa::path(delete, path = "/v1/role-bindings/{id}", tag = "role-bindings",
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such role binding")),
    security(("bearer" = [])))]
pub async fn delete(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    app.role_bindings.delete(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
