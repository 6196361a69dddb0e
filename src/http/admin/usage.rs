//! `/v1/usage`: usage per key and day across a workspace (or every workspace).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use crate::app::App;
use crate::http::error::Problem;
use crate::http::extract::{ApiQuery, Caller};
use crate::usage::WorkspaceUsage;

/// Filters of `GET /v1/usage`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// Only this workspace (platform admins; others always see their own).
    pub workspace_id: Option<String>,
}

/// `GET /v1/usage`: per day, totals and the per-key rows.
#[utoipa::path(get, path = "/v1/usage", tag = "usage", params(UsageQuery),
    responses((status = 200, description = "Per UTC day: totals and the per-key rows", body = WorkspaceUsage)),
    security(("bearer" = [])))]
pub async fn workspace_usage(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Json<WorkspaceUsage>, Problem> {
    Ok(Json(app.keys.workspace_usage(&actor, query.workspace_id.as_deref()).await?))
}
