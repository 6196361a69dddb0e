//! The workspaces pages: list and create, and per workspace rename and delete
//! (behind the typed name, with the guards of the API).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::filters;
use super::{forms, render_refusal, Console, Done, Me, Posted};
use crate::apikeys::policy::KeyPolicy;
use crate::app::App;
use crate::vocab::scope::ManagementScope;
use crate::vocab::ManageError;
use crate::workspaces::{WorkspaceInput, WorkspaceView};

#[derive(Template)]
#[template(path = "console/workspaces.html")]
struct ListPage {
    me: Option<Me>,
    form_token: String,
    workspaces: Vec<WorkspaceView>,
    can_admin: bool,
    name: String,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/workspace.html")]
struct WorkspacePage {
    me: Option<Me>,
    form_token: String,
    ws: WorkspaceView,
    policy: KeyPolicy,
    default_expiry: String,
    max_lifetime: String,
    expiry_choices: [(&'static str, &'static str); 9],
    /// The scope catalog, one resource per line as its form takes it.
    catalog: String,
    notice: Option<String>,
    error: Option<String>,
    /// Shows the forms that change the workspace (platform admins).
    can_admin: bool,
}

fn notice(done: &str) -> Option<String> {
    match done {
        "created" => Some("Workspace created.".into()),
        "renamed" => Some("Workspace renamed.".into()),
        "deleted" => Some("Workspace deleted.".into()),
        "policy" => Some("Key policy saved.".into()),
        "catalog" => Some("Scope catalog saved.".into()),
        _ => None,
    }
}

async fn list_page(
    app: &App,
    console: &Console,
    name: String,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let workspaces = match app.workspaces.list(&console.session.actor).await {
        Ok(all) => all,
        Err(e) => return forms::refused(e, console.me()),
    };
    let template = ListPage {
        me: console.me(),
        form_token: console.session.form_token.clone(),
        workspaces,
        can_admin: console.session.actor.holds(ManagementScope::WorkspacesAdmin),
        name,
        notice,
        error,
    };
    render_refusal(template.error.is_some(), &template)
}

/// `GET /console/workspaces`.
pub async fn list(
    State(app): State<Arc<App>>,
    console: Console,
    Query(done): Query<Done>,
) -> Response {
    list_page(&app, &console, String::new(), notice(&done.done), None).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NameForm {
    name: String,
}

/// A refusal about the name or the confirmation shown on the form; others as pages.
fn field_message(e: &ManageError) -> Option<String> {
    match e {
        ManageError::Invalid(field) => Some(field.reason.clone()),
        ManageError::Conflict(why) => Some(why.clone()),
        _ => None,
    }
}

/// `POST /console/workspaces`: create.
pub async fn create(
    State(app): State<Arc<App>>,
    Posted { console, form }: Posted<NameForm>,
) -> Response {
    let form: NameForm = form;
    let input = WorkspaceInput { name: form.name.clone() };
    match app.workspaces.create(&console.session.actor, input).await {
        Ok(_) => Redirect::to("/console/workspaces?done=created").into_response(),
        Err(e) => match field_message(&e) {
            Some(message) => list_page(&app, &console, form.name, None, Some(message)).await,
            None => forms::refused(e, console.me()),
        },
    }
}

async fn workspace_page(
    app: &App,
    console: &Console,
    id: &str,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    // Who may read a workspace is the domain's to say, as for `/v1`; the forms
    // that change it are for those who may.
    let actor = &console.session.actor;
    let (ws, policy, catalog) = match tokio::try_join!(
        app.workspaces.get(actor, id),
        app.workspaces.key_policy(actor, id),
        app.workspaces.scope_catalog(actor, id)
    ) {
        Ok(all) => all,
        Err(e) => return forms::refused(e, console.me()),
    };
    let template = WorkspacePage {
        me: console.me(),
        form_token: console.session.form_token.clone(),
        ws,
        default_expiry: policy.default_expires_in.clone().unwrap_or_else(|| "none".into()),
        max_lifetime: policy.max_lifetime_days.map(|d| d.to_string()).unwrap_or_default(),
        policy,
        expiry_choices: forms::CREATE_EXPIRY,
        catalog: forms::catalog_lines(&catalog),
        notice,
        error,
        can_admin: actor.holds(ManagementScope::WorkspacesAdmin),
    };
    render_refusal(template.error.is_some(), &template)
}

/// `GET /console/workspaces/{id}`.
pub async fn show(
    State(app): State<Arc<App>>,
    console: Console,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    workspace_page(&app, &console, &id, notice(&done.done), None).await
}

/// `POST /console/workspaces/{id}/rename`.
pub async fn rename(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { console, form }: Posted<NameForm>,
) -> Response {
    let form: NameForm = form;
    let input = WorkspaceInput { name: form.name };
    match app.workspaces.rename(&console.session.actor, &id, input).await {
        Ok(ws) => {
            Redirect::to(&format!("/console/workspaces/{}?done=renamed", ws.id)).into_response()
        }
        Err(e) => match field_message(&e) {
            Some(message) => workspace_page(&app, &console, &id, None, Some(message)).await,
            None => forms::refused(e, console.me()),
        },
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteForm {
    confirm: String,
    force: bool,
}

/// `POST /console/workspaces/{id}/delete`: behind the typed name.
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { console, form }: Posted<DeleteForm>,
) -> Response {
    let form: DeleteForm = form;
    let actor = &console.session.actor;
    let deleted = app.workspaces.delete(actor, &id, form.force, Some(&form.confirm)).await;
    match deleted {
        Ok(()) => Redirect::to("/console/workspaces?done=deleted").into_response(),
        Err(e) => match field_message(&e) {
            Some(message) => workspace_page(&app, &console, &id, None, Some(message)).await,
            None => forms::refused(e, console.me()),
        },
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PolicyForm {
    default_expires_in: String,
    max_lifetime_days: String,
    expiry_editable: bool,
    require_scope: bool,
    allow_wildcard_ranges: bool,
    catalog_scopes_only: bool,
    /// `revoke`, `deactivate` or `notify`; absent: revoke.
    on_leak: Option<crate::apikeys::policy::LeakResponse>,
}

/// `POST /console/workspaces/{id}/policy`: replaces the key policy.
pub async fn set_policy(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { console, form }: Posted<PolicyForm>,
) -> Response {
    let form: PolicyForm = form;
    let max_lifetime_days = match form.max_lifetime_days.trim() {
        "" => None,
        days => match days.parse() {
            Ok(days) => Some(days),
            Err(_) => {
                let error = Some("Maximum lifetime: a whole number of days".to_string());
                return workspace_page(&app, &console, &id, None, error).await;
            }
        },
    };
    let policy = KeyPolicy {
        default_expires_in: (!matches!(form.default_expires_in.as_str(), "" | "none"))
            .then_some(form.default_expires_in),
        max_lifetime_days,
        expiry_editable: form.expiry_editable,
        require_scope: form.require_scope,
        allow_wildcard_ranges: form.allow_wildcard_ranges,
        catalog_scopes_only: form.catalog_scopes_only,
        on_leak: form.on_leak.unwrap_or_default(),
    };
    match app.workspaces.set_key_policy(&console.session.actor, &id, policy).await {
        Ok(_) => Redirect::to(&format!("/console/workspaces/{id}?done=policy")).into_response(),
        Err(ManageError::Invalid(field)) => {
            workspace_page(&app, &console, &id, None, Some(field.to_string())).await
        }
        Err(e) => forms::refused(e, console.me()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CatalogForm {
    catalog: String,
}

/// `POST /console/workspaces/{id}/catalog`: replaces the scope catalog.
pub async fn set_catalog(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { console, form }: Posted<CatalogForm>,
) -> Response {
    let form: CatalogForm = form;
    let catalog = match forms::parse_catalog(&form.catalog) {
        Ok(catalog) => catalog,
        Err(error) => return workspace_page(&app, &console, &id, None, Some(error)).await,
    };
    match app.workspaces.set_scope_catalog(&console.session.actor, &id, catalog).await {
        Ok(_) => Redirect::to(&format!("/console/workspaces/{id}?done=catalog")).into_response(),
        Err(ManageError::Invalid(field)) => {
            // `resources[2].name` is the third line with a resource on it.
            let line = field
                .field
                .strip_prefix("resources[")
                .and_then(|rest| rest.split(']').next()?.parse::<usize>().ok());
            let error = match line {
                Some(i) => format!("Scope catalog, resource {}: {}", i + 1, field.reason),
                None => format!("Scope catalog: {}", field.reason),
            };
            workspace_page(&app, &console, &id, None, Some(error)).await
        }
        Err(e) => forms::refused(e, console.me()),
    }
}
