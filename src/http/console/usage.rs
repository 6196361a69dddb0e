//! The usage page: the shown workspace's exchanges by outcome over a period, and
//! its keys with the most tokens and the most refusals.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::chart::{self, Chart};
use super::forms;
use super::{render, Console, Me};
use crate::app::App;
use crate::usage::TopKey;
use crate::vocab::Outcome;

#[derive(Template)]
#[template(path = "console/usage.html")]
struct UsagePage {
    me: Option<Me>,
    /// The workspace shown, or `None` for every workspace.
    workspace: Option<String>,
    ranges: [(&'static str, &'static str); 3],
    range: &'static str,
    chart: Chart,
    top_keys: Vec<TopKey>,
    top_refused: Vec<TopKey>,
    refusals: [Outcome; 5],
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UsageParams {
    /// `24h`, `7d` (default) or `30d`.
    range: String,
}

/// `GET /console/usage`.
pub async fn show(
    State(app): State<Arc<App>>,
    console: Console,
    Query(params): Query<UsageParams>,
) -> Response {
    let actor = &console.session.actor;
    let (range, period, label) = chart::period(&params.range, app.clock.now());
    let usage =
        match app.keys.workspace_usage(actor, console.workspace.as_deref(), None, period).await {
            Ok(usage) => usage,
            Err(e) => return forms::refused(e, console.me()),
        };
    let template = UsagePage {
        me: console.me(),
        workspace: usage.workspace_id.clone(),
        ranges: chart::RANGES,
        range,
        chart: chart::bars(&usage.data, &usage.total, period.granularity, label),
        top_keys: usage.top_keys,
        top_refused: usage.top_refused,
        refusals: Outcome::REFUSALS,
    };
    render(StatusCode::OK, &template)
}
