//! `/v1/workspaces`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use crate::apikeys::catalog::ScopeCatalog;
use crate::apikeys::policy::KeyPolicy;
use crate::app::App;
use crate::http::error::Problem;
use crate::http::extract::{ApiJson, ApiQuery, Caller};
use crate::workspaces::{WorkspaceInput, WorkspaceView};

/// `POST /v1/workspaces` (platform admins).
#[utoipa::path(post, path = "/v1/workspaces", tag = "workspaces", request_body = WorkspaceInput,
    responses((status = 201, description = "The workspace", body = WorkspaceView), (status = 409, description = "Name taken")),
    security(("bearer" = [])))]
pub async fn create(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<WorkspaceInput>,
) -> Result<(StatusCode, Json<WorkspaceView>), Problem> {
    Ok((StatusCode::CREATED, Json(app.workspaces.create(&actor, input).await?)))
}

/// `GET /v1/workspaces`: every workspace the caller reaches.
#[utoipa::path(get, path = "/v1/workspaces", tag = "workspaces",
    responses((status = 200, description = "Every workspace the caller reaches", body = crate::http::openapi::schemas::WorkspaceList)), security(("bearer" = [])))]
pub async fn list(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
) -> Result<Json<serde_json::Value>, Problem> {
    let data = app.workspaces.list(&actor).await?;
    Ok(Json(serde_json::json!({ "data": data })))
}

/// `GET /v1/workspaces/{id}`.
#[utoipa::path(get, path = "/v1/workspaces/{id}", tag = "workspaces",
    responses((status = 200, description = "The workspace", body = WorkspaceView), (status = 404, description = "No such workspace")), security(("bearer" = [])))]
pub async fn get(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<WorkspaceView>, Problem> {
    Ok(Json(app.workspaces.get(&actor, &id).await?))
}

/// `PATCH /v1/workspaces/{id}`: rename (platform admins).
#[utoipa::path(patch, path = "/v1/workspaces/{id}", tag = "workspaces", request_body = WorkspaceInput,
    responses((status = 200, description = "The renamed workspace", body = WorkspaceView), (status = 404, description = "No such workspace"), (status = 409, description = "Name taken")), security(("bearer" = [])))]
pub async fn rename(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<WorkspaceInput>,
) -> Result<Json<WorkspaceView>, Problem> {
    Ok(Json(app.workspaces.rename(&actor, &id, input).await?))
}

/// Query of a workspace delete.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Also delete the workspace's keys (they stop working at once).
    #[serde(default)]
    pub force: bool,
}

/// `DELETE /v1/workspaces/{id}`: refused with 409 while it holds keys, unless `force=true`.
#[utoipa::path(delete, path = "/v1/workspaces/{id}", tag = "workspaces", params(DeleteQuery),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such workspace"), (status = 409, description = "It holds keys (without force), it is the caller's own, or it holds the last active platform-admin key")), security(("bearer" = [])))]
pub async fn delete(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> Result<StatusCode, Problem> {
    app.workspaces.delete(&actor, &id, query.force, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/workspaces/{id}/key-policy`: the guardrails keys in it pass.
#[utoipa::path(get, path = "/v1/workspaces/{id}/key-policy", tag = "workspaces",
    responses((status = 200, description = "The workspace's key policy (`{}`: none)", body = KeyPolicy), (status = 404, description = "No such workspace")),
    security(("bearer" = [])))]
pub async fn key_policy(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<KeyPolicy>, Problem> {
    Ok(Json(app.workspaces.key_policy(&actor, &id).await?))
}

/// `PUT /v1/workspaces/{id}/key-policy` (platform admins): replaces the policy.
#[utoipa::path(put, path = "/v1/workspaces/{id}/key-policy", tag = "workspaces", request_body = KeyPolicy,
    responses((status = 200, description = "The policy now in force", body = KeyPolicy),
              (status = 404, description = "No such workspace"),
              (status = 422, description = "A field is invalid")),
    security(("bearer" = [])))]
pub async fn set_key_policy(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(policy): ApiJson<KeyPolicy>,
) -> Result<Json<KeyPolicy>, Problem> {
    Ok(Json(app.workspaces.set_key_policy(&actor, &id, policy).await?))
}

/// `GET /v1/workspaces/{id}/scope-catalog`: the resources its APIs understand.
#[utoipa::path(get, path = "/v1/workspaces/{id}/scope-catalog", tag = "workspaces",
    responses((status = 200, description = "The workspace's scope catalog (`{}`: none)", body = ScopeCatalog), (status = 404, description = "No such workspace")),
    security(("bearer" = [])))]
pub async fn scope_catalog(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<ScopeCatalog>, Problem> {
    Ok(Json(app.workspaces.scope_catalog(&actor, &id).await?))
}

/// `PUT /v1/workspaces/{id}/scope-catalog` (platform admins): replaces the catalog.
#[utoipa::path(put, path = "/v1/workspaces/{id}/scope-catalog", tag = "workspaces", request_body = ScopeCatalog,
    responses((status = 200, description = "The catalog now in force", body = ScopeCatalog),
              (status = 404, description = "No such workspace"),
              (status = 422, description = "A resource is invalid")),
    security(("bearer" = [])))]
pub async fn set_scope_catalog(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(catalog): ApiJson<ScopeCatalog>,
) -> Result<Json<ScopeCatalog>, Problem> {
    Ok(Json(app.workspaces.set_scope_catalog(&actor, &id, catalog).await?))
}
