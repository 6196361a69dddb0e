//! `/v1/people` (platform admins): who signed in through the identity provider.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;

use crate::app::App;
use crate::http::error::Problem;
use crate::http::extract::Caller;

/// `GET /v1/people`: everyone who has signed in, most recent first, with their role now.
#[utoipa::path(get, path = "/v1/people", tag = "people",
    responses((status = 200, description = "Everyone who has signed in, as `data`", body = crate::http::openapi::schemas::PersonList)),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
) -> Result<Json<serde_json::Value>, Problem> {
    let data = app.people.list(&actor).await?;
    Ok(Json(serde_json::json!({ "data": data })))
}

/// `POST /v1/people/{id}/sign-out`: ends every session of the person (console and CLI).
#[utoipa::path(post, path = "/v1/people/{id}/sign-out", tag = "people",
    responses((status = 200, description = "How many sessions ended", body = crate::http::openapi::schemas::SignedOut),
        (status = 404, description = "No such person")),
    security(("bearer" = [])))]
pub async fn sign_out(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, Problem> {
    let ended = app.people.sign_out_everywhere(&actor, &id).await?;
    Ok(Json(serde_json::json!({ "sessions_ended": ended })))
}
