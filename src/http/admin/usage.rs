//! `/v1/usage`: usage per key and day across a workspace (or every workspace).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::App;
use crate::http::error::Problem;
use crate::http::extract::{ApiQuery, Caller};

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
    responses((status = 200, description = "Per UTC day: totals and the per-key rows", body = crate::http::openapi::schemas::WorkspaceUsage)),
    security(("bearer" = [])))]
pub async fn workspace_usage(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Json<Value>, Problem> {
    let rows = app.keys.usage(&actor, None, query.workspace_id.as_deref()).await?;
    let mut days: BTreeMap<&str, (i64, i64, Vec<Value>)> = BTreeMap::new();
    for r in &rows {
        let day = days.entry(r.day.as_str()).or_default();
        day.0 += r.issued;
        day.1 += r.failed;
        day.2.push(json!({"key_id": r.key_id, "workspace_id": r.workspace_id, "issued": r.issued, "failed": r.failed}));
    }
    let data: Vec<Value> = days
        .into_iter()
        .map(|(day, (issued, failed, keys))| json!({"day": day, "issued": issued, "failed": failed, "keys": keys}))
        .collect();
    Ok(Json(json!({ "data": data })))
}
