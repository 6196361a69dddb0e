//! `/v1/usage` and `/v1/keys/{id}/usage`: usage by outcome over a range of hourly or
//! daily buckets.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;

use crate::apikeys::HygieneCount;
use crate::app::App;
use crate::http::error::Problem;
use crate::http::extract::{ApiQuery, Caller};
use crate::store::Granularity;
use crate::usage::{KeyUsage, UsageRange, WorkspaceUsage};
use crate::vocab::ManageError;

/// The range of a usage read.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KeyUsageQuery {
    /// `hour` or `day` (default).
    pub granularity: Option<Granularity>,
    /// First bucket (RFC 3339, rounded down to its bucket); default 24 hours or
    /// 30 days before `to`.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// End of the range (RFC 3339, exclusive, rounded up to a bucket); default now.
    #[param(format = DateTime)]
    pub to: Option<String>,
}

/// The range of a usage read, and whose.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// Only this workspace (platform admins; others always see their own).
    pub workspace_id: Option<String>,
    /// Only the keys of this owner (their `owner`, exact).
    pub owner: Option<String>,
    /// `hour` or `day` (default).
    pub granularity: Option<Granularity>,
    /// First bucket (RFC 3339, rounded down to its bucket); default 24 hours or
    /// 30 days before `to`.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// End of the range (RFC 3339, exclusive, rounded up to a bucket); default now.
    #[param(format = DateTime)]
    pub to: Option<String>,
}

fn range(
    app: &App,
    granularity: Option<Granularity>,
    from: &Option<String>,
    to: &Option<String>,
) -> Result<UsageRange, ManageError> {
    let now = app.clock.now();
    Ok(UsageRange::parse(granularity, from.as_deref(), to.as_deref(), now)?)
}

/// `GET /v1/usage`: totals per bucket, and the keys with the most tokens and refusals.
#[utoipa::path(get, path = "/v1/usage", tag = "usage", params(UsageQuery),
    responses((status = 200, description = "Every bucket of the range by outcome, and the top keys", body = WorkspaceUsage),
        (status = 422, description = "A range that is not one (from after to, too many buckets)")),
    security(("bearer" = [])))]
pub async fn workspace_usage(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Json<WorkspaceUsage>, Problem> {
    let range = range(&app, query.granularity, &query.from, &query.to)?;
    Ok(Json(
        app.keys
            .workspace_usage(&actor, query.workspace_id.as_deref(), query.owner.as_deref(), range)
            .await?,
    ))
}

/// `GET /v1/keys/{id}/usage`: the key's exchanges per bucket, by outcome.
#[utoipa::path(get, path = "/v1/keys/{id}/usage", tag = "keys", params(KeyUsageQuery),
    responses((status = 200, description = "Every bucket of the range by outcome", body = KeyUsage),
        (status = 404, description = "No such key"),
        (status = 422, description = "A range that is not one (from after to, too many buckets)")),
    security(("bearer" = [])))]
pub async fn key_usage(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<KeyUsageQuery>,
) -> Result<Json<KeyUsage>, Problem> {
    let range = range(&app, query.granularity, &query.from, &query.to)?;
    Ok(Json(app.keys.key_usage(&actor, &id, range).await?))
}

/// Whose hygiene to count.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HygieneQuery {
    /// Only this workspace (platform admins; others always see their own).
    pub workspace_id: Option<String>,
}

/// The hygiene counts.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct HygieneReport {
    pub data: Vec<HygieneCount>,
}

/// `GET /v1/hygiene`: how many active keys each hygiene check finds; each check
/// lists its keys at `GET /v1/keys?hygiene={check}`.
#[utoipa::path(get, path = "/v1/hygiene", tag = "keys", params(HygieneQuery),
    responses((status = 200, description = "Active keys found by each hygiene check", body = HygieneReport)),
    security(("bearer" = [])))]
pub async fn hygiene(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiQuery(query): ApiQuery<HygieneQuery>,
) -> Result<Json<HygieneReport>, Problem> {
    let data = app.keys.hygiene(&actor, query.workspace_id.as_deref()).await?;
    Ok(Json(HygieneReport { data }))
}
