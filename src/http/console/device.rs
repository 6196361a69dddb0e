//! `/console/device`: where a person approves the CLI's sign-in as them (the
//! device flow, RFC 8628). The code the CLI printed is shown (or typed) and the
//! person approves or denies it; the domain decides who may.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{forms, message, render, Console, Me, Posted};
use crate::app::App;

#[derive(Template)]
#[template(path = "console/device.html")]
struct DevicePage {
    me: Option<Me>,
    form_token: String,
    user_code: String,
    /// Whether the code waits for a decision (else the field asks for it).
    waiting: bool,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeviceQuery {
    user_code: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeviceForm {
    user_code: String,
    /// `approve` or `deny`.
    decision: String,
}

async fn page(app: &App, console: &Console, typed: &str, error: Option<String>) -> Response {
    let waiting = match app.devices.waiting(typed).await {
        Ok(waiting) => waiting,
        Err(e) => return super::unavailable(&e),
    };
    let error = error.or_else(|| {
        (!typed.is_empty() && waiting.is_none())
            .then(|| "No device waits for this code: it expired or was used. Run keymint login --sso again.".to_string())
    });
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let template = DevicePage {
        me: console.me(),
        form_token: console.session.form_token.clone(),
        waiting: waiting.is_some(),
        user_code: waiting.unwrap_or_else(|| typed.to_string()),
        error,
    };
    render(status, &template)
}

/// `GET /console/device`.
pub async fn show(
    State(app): State<Arc<App>>,
    console: Console,
    Query(query): Query<DeviceQuery>,
) -> Response {
    page(&app, &console, query.user_code.trim(), None).await
}

/// `POST /console/device`: the person's decision.
pub async fn decide(
    State(app): State<Arc<App>>,
    Posted { console, form }: Posted<DeviceForm>,
) -> Response {
    let form: DeviceForm = form;
    let approve = match form.decision.as_str() {
        "approve" => true,
        "deny" => false,
        // A code typed in the field, to be shown for a decision.
        _ => return page(&app, &console, form.user_code.trim(), None).await,
    };
    match app.devices.decide(&console.session, &form.user_code, approve).await {
        Ok(()) if approve => message(
            StatusCode::OK,
            console.me(),
            "Device approved",
            "The CLI is signed in as you. Return to your terminal.",
            "/console/keys",
        ),
        Ok(()) => message(
            StatusCode::OK,
            console.me(),
            "Device denied",
            "The CLI that showed this code gets no access.",
            "/console/keys",
        ),
        Err(e) => forms::refused(e, console.me()),
    }
}
