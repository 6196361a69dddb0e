//! The signing-keys page: the next, current and retired keys, and rotation (on
//! schedule or in an emergency) behind the typed `kid` of the current key.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::filters;
use super::{forms, render_refusal, Console, Me, Posted};
use crate::app::App;
use crate::signing::SigningKeyView;
use crate::store::SigningKeyState;
use crate::vocab::ManageError;

#[derive(Template)]
#[template(path = "console/signing_keys.html")]
struct SigningKeysPage {
    me: Option<Me>,
    form_token: String,
    keys: Vec<SigningKeyView>,
    current_kid: String,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Done {
    done: String,
    kid: String,
}

async fn page(
    app: &App,
    console: &Console,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let keys = match app.signing_keys.list(&console.session.actor).await {
        Ok(keys) => keys,
        Err(e) => return forms::refused(e, console.me()),
    };
    let current_kid = keys
        .iter()
        .find(|k| k.state == SigningKeyState::Current)
        .map(|k| k.kid.clone())
        .unwrap_or_default();
    let template = SigningKeysPage {
        me: console.me(),
        form_token: console.session.form_token.clone(),
        keys,
        current_kid,
        notice,
        error,
    };
    render_refusal(template.error.is_some(), &template)
}

/// `GET /console/signing-keys`.
pub async fn list(
    State(app): State<Arc<App>>,
    console: Console,
    Query(done): Query<Done>,
) -> Response {
    let notice = match done.done.as_str() {
        "scheduled" => Some(format!("Published {}: it signs once verifiers have it.", done.kid)),
        "rotated" => Some(format!("{} signs now.", done.kid)),
        "replaced" => Some(format!(
            "Emergency rotation done: {} signs now, and the old key is no longer published.",
            done.kid
        )),
        _ => None,
    };
    page(&app, &console, notice, None).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RotateForm {
    confirm: String,
    emergency: bool,
}

/// `POST /console/signing-keys/rotate`.
pub async fn rotate(
    State(app): State<Arc<App>>,
    Posted { console, form }: Posted<RotateForm>,
) -> Response {
    let form: RotateForm = form;
    let actor = &console.session.actor;
    match app.signing_keys.rotate_confirmed(actor, form.emergency, &form.confirm).await {
        Ok(outcome) => {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("done", outcome.outcome.as_str())
                .append_pair("kid", &outcome.kid)
                .finish();
            Redirect::to(&format!("/console/signing-keys?{query}")).into_response()
        }
        Err(ManageError::Invalid(field)) => page(&app, &console, None, Some(field.reason)).await,
        Err(e) => forms::refused(e, console.me()),
    }
}
