//! `/v1/audit`.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;

use crate::app::App;
use crate::audit::{AuditPage, AuditQuery};
use crate::http::error::Problem;
use crate::http::extract::{ApiQuery, Caller};

/// `GET /v1/audit`: management events, newest first, filtered and paginated.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "A page of events, newest first", body = AuditPage), (status = 403, description = "Needs keymint:audit:read")),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, Problem> {
    Ok(Json(app.audit.list(&actor, &query).await?))
}
