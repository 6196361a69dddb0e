//! The Access page: which people get which rights (role bindings), for platform
//! admins; the domain decides, as it does for `/v1/role-bindings`.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::filters;
use super::{forms, render_refusal, Console, Done, Me, Posted};
use crate::access::{RoleBindingInput, RoleBindingView};
use crate::app::App;
use crate::vocab::role::Role;
use crate::vocab::ManageError;

#[derive(Template)]
#[template(path = "console/access.html")]
struct AccessPage {
    me: Option<Me>,
    form_token: String,
    bindings: Vec<RoleBindingView>,
    /// `(id, name)` of every workspace, for the form and the table.
    workspaces: Vec<(String, String)>,
    roles: Vec<&'static str>,
    form: BindingForm,
    /// The field a refusal names, with its message.
    error: Option<(String, String)>,
    notice: Option<&'static str>,
}

impl AccessPage {
    /// The name of workspace `id` (or "Every workspace").
    fn workspace_name(&self, id: &Option<String>) -> String {
        match id {
            None => "Every workspace".into(),
            Some(id) => self
                .workspaces
                .iter()
                .find(|(ws, _)| ws == id)
                .map_or_else(|| id.clone(), |(_, name)| name.clone()),
        }
    }

    /// The message for `field`, when the refusal names it.
    fn error_of(&self, field: &str) -> Option<&str> {
        self.error.as_ref().filter(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }
}

/// The new-binding form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BindingForm {
    pub subject: String,
    pub role: String,
    /// Empty: every workspace.
    pub workspace_id: String,
}

async fn page(
    app: &App,
    console: &Console,
    form: BindingForm,
    error: Option<(String, String)>,
    notice: Option<&'static str>,
) -> Response {
    let actor = &console.session.actor;
    let (bindings, workspaces) =
        match tokio::try_join!(app.role_bindings.list(actor), app.workspaces.list(actor)) {
            Ok(both) => both,
            Err(e) => return forms::refused(e, console.me()),
        };
    let template = AccessPage {
        me: console.me(),
        form_token: console.session.form_token.clone(),
        bindings,
        workspaces: workspaces.into_iter().map(|ws| (ws.id, ws.name)).collect(),
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        form,
        error,
        notice,
    };
    render_refusal(template.error.is_some(), &template)
}

/// `GET /console/access`.
pub async fn list(
    State(app): State<Arc<App>>,
    console: Console,
    Query(done): Query<Done>,
) -> Response {
    let notice = match done.done.as_str() {
        "added" => Some("Role binding added."),
        "removed" => Some("Role binding removed: the rights it gave have ended."),
        _ => None,
    };
    page(&app, &console, BindingForm::default(), None, notice).await
}

/// `POST /console/access`: add a binding.
pub async fn create(
    State(app): State<Arc<App>>,
    Posted { console, form }: Posted<BindingForm>,
) -> Response {
    let form: BindingForm = form;
    let input = RoleBindingInput {
        subject: form.subject.trim().to_string(),
        role: form.role.clone(),
        workspace_id: Some(form.workspace_id.clone()).filter(|ws| !ws.is_empty()),
    };
    match app.role_bindings.create(&console.session.actor, input).await {
        Ok(_) => Redirect::to("/console/access?done=added").into_response(),
        Err(ManageError::Invalid(field)) => {
            page(&app, &console, form, Some((field.field, field.reason)), None).await
        }
        Err(ManageError::Conflict(why)) => {
            page(&app, &console, form, Some(("subject".into(), why)), None).await
        }
        Err(e) => forms::refused(e, console.me()),
    }
}

/// `POST /console/access/{id}/delete`: remove a binding.
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { console, form }: Posted<super::session::NoFields>,
) -> Response {
    let _: super::session::NoFields = form;
    match app.role_bindings.delete(&console.session.actor, &id).await {
        Ok(()) => Redirect::to("/console/access?done=removed").into_response(),
        Err(e) => forms::refused(e, console.me()),
    }
}
