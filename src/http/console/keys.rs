//! The key pages: list, create (form, review, one-time secret), key page, edit
//! (form, review of the change), rotate, activate, deactivate, revoke and delete.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::chart::{self, Chart};
use super::filters;
use super::forms::{self, Errors, KeyForm, Offer};
use super::session::NoFields;
use super::{render, render_refusal, Console, Me, Posted};
use crate::apikeys::{
    HygieneCount, KeyDraft, KeyListQuery, KeyView, Keys, Revealed, HYGIENE_CHECKS,
};
use crate::app::App;
use crate::clock::rfc3339;
use crate::report::Chain;
use crate::vocab::scope::ManagementScope;
use crate::vocab::ManageError;

/// Status filter choices: `(value, label)`, as `GET /v1/keys` takes them.
const STATUSES: [(&str, &str); 5] = [
    ("active", "Active"),
    ("inactive", "Inactive"),
    ("expired", "Expired"),
    ("revoked", "Revoked"),
    ("all", "All"),
];

/// Orders of the list: `(value, label)`, as `GET /v1/keys?sort=` takes them.
const SORTS: [(&str, &str); 6] = [
    ("created", "Oldest first"),
    ("-created", "Newest first"),
    ("-last_used", "Recently used first"),
    ("last_used", "Least recently used first"),
    ("expires", "Expiring soonest first"),
    ("-expires", "Expiring latest first"),
];

/// A key in the list, with its labels.
struct Row {
    key: KeyView,
    badges: Vec<&'static str>,
    /// Tokens per day over the last week, as a spark line.
    spark: String,
}

/// How many days a row's spark line spans.
const SPARK_DAYS: i64 = 7;

#[derive(Template)]
#[template(path = "console/keys.html")]
struct ListPage {
    me: Option<Me>,
    can_write: bool,
    statuses: [(&'static str, &'static str); 5],
    /// The workspace shown (the switcher's, or the address's), empty for all.
    workspace: String,
    checks: [(&'static str, &'static str); 5],
    sorts: [(&'static str, &'static str); 6],
    sort: String,
    /// How many active keys each hygiene check finds in the shown workspace.
    counts: Vec<HygieneCount>,
    hygiene: String,
    q: String,
    status: String,
    key_type: String,
    environment: String,
    owner: String,
    rows: Vec<Row>,
    error: Option<String>,
    page: u32,
    first_query: String,
    next_query: Option<String>,
}

/// The list's filters, kept in the URL so a view can be bookmarked.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListParams {
    q: String,
    status: String,
    #[serde(rename = "type")]
    key_type: String,
    environment: String,
    owner: String,
    /// A platform admin's choice of workspace; empty: every workspace.
    workspace: String,
    hygiene: String,
    sort: String,
    cursor: String,
    page: u32,
}

impl ListParams {
    fn query(&self, cursor: Option<&str>, page: u32) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("q", &self.q)
            .append_pair("status", &self.status)
            .append_pair("type", &self.key_type)
            .append_pair("environment", &self.environment)
            .append_pair("owner", &self.owner)
            .append_pair("workspace", &self.workspace)
            .append_pair("hygiene", &self.hygiene)
            .append_pair("sort", &self.sort);
        if let Some(cursor) = cursor {
            q.append_pair("cursor", cursor).append_pair("page", &page.to_string());
        }
        q.finish()
    }
}

fn some(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// `GET /console/keys`: search, filters and server-side paging.
pub async fn list(
    State(app): State<Arc<App>>,
    console: Console,
    Query(mut params): Query<ListParams>,
) -> Response {
    if params.status.is_empty() {
        params.status = "active".into();
    }
    if params.workspace.is_empty() {
        params.workspace = console.workspace.clone().unwrap_or_default();
    }
    let query = KeyListQuery {
        q: some(&params.q),
        status: Some(params.status.clone()),
        environment: some(&params.environment),
        owner: some(&params.owner),
        key_type: some(&params.key_type),
        workspace_id: some(&params.workspace),
        hygiene: some(&params.hygiene),
        sort: some(&params.sort),
        limit: Some(25),
        cursor: some(&params.cursor),
        ..KeyListQuery::default()
    };
    let now = app.clock.now();
    let page = params.page.max(1);
    let (rows, next, error) = match app.keys.list(&console.session.actor, &query).await {
        Ok(found) => {
            let ids: Vec<String> = found.data.iter().map(|k| k.id.clone()).collect();
            let mut lines =
                match app.keys.daily_issued(&console.session.actor, &ids, SPARK_DAYS).await {
                    Ok(lines) => lines,
                    Err(e) => return forms::refused(e, console.me()),
                };
            let rows = found
                .data
                .into_iter()
                .map(|key| {
                    let points = lines.remove(&key.id).unwrap_or_default();
                    let total: i64 = points.iter().sum();
                    let label = format!("{total} tokens in the last {SPARK_DAYS} days");
                    Row { badges: key.badges(now), spark: chart::spark(&points, &label), key }
                })
                .collect();
            (rows, found.next_cursor, None)
        }
        // A filter the domain refuses (a control character, an unknown status) is
        // shown above the empty list, with the filters kept for correction.
        Err(ManageError::Invalid(field)) => (vec![], None, Some(field.to_string())),
        Err(e) => return forms::refused(e, console.me()),
    };
    let counts =
        match app.keys.hygiene(&console.session.actor, some(&params.workspace).as_deref()).await {
            Ok(counts) => counts,
            Err(e) => return forms::refused(e, console.me()),
        };
    let template = ListPage {
        me: console.me(),
        can_write: console.session.actor.holds(ManagementScope::KeysWrite),
        statuses: STATUSES,
        workspace: params.workspace.clone(),
        checks: HYGIENE_CHECKS,
        sorts: SORTS,
        sort: params.sort.clone(),
        counts,
        hygiene: params.hygiene.clone(),
        first_query: params.query(None, 1),
        next_query: next.as_deref().map(|c| params.query(Some(c), page + 1)),
        q: params.q,
        status: params.status,
        key_type: params.key_type,
        environment: params.environment,
        owner: params.owner,
        rows,
        error,
        page,
    };
    render_refusal(template.error.is_some(), &template)
}

#[derive(Template)]
#[template(path = "console/key_new.html")]
struct NewPage {
    me: Option<Me>,
    form_token: String,
    form: KeyForm,
    errors: Errors,
    /// `(id, name)` of each workspace the admin may create in, for platform admins.
    workspaces: Vec<(String, String)>,
    expiry_choices: [(&'static str, &'static str); 9],
    can_import: bool,
    /// The workspace catalog's scopes, as checkboxes.
    offered: Vec<Offer>,
}

#[derive(Template)]
#[template(path = "console/key_review.html")]
struct ReviewPage {
    me: Option<Me>,
    form_token: String,
    draft: KeyDraft,
    expires_at: Option<String>,
    hidden: Vec<(String, String)>,
}

async fn new_page(app: &App, console: &Console, mut form: KeyForm, errors: Errors) -> Response {
    let actor = &console.session.actor;
    // The catalog of the workspace the form creates in (none: nothing offered).
    let offered = match app.workspaces.scope_catalog(actor, &form.workspace_id).await {
        Ok(catalog) => form.offer(&catalog),
        Err(_) => vec![],
    };
    let workspaces = if actor.platform {
        match app.workspaces.list(actor).await {
            Ok(all) => all.into_iter().map(|w| (w.id, w.name)).collect(),
            Err(e) => return forms::refused(e, console.me()),
        }
    } else {
        vec![]
    };
    render(
        errors.status(),
        &NewPage {
            me: console.me(),
            form_token: console.session.form_token.clone(),
            form,
            errors,
            workspaces,
            expiry_choices: forms::CREATE_EXPIRY,
            can_import: Keys::may_import(actor),
            offered,
        },
    )
}

/// `GET /console/keys/new`.
pub async fn new_form(State(app): State<Arc<App>>, console: Console) -> Response {
    if let Err(e) = console.session.actor.require(ManagementScope::KeysWrite) {
        return forms::refused(e, console.me());
    }
    let own = console.session.actor.workspace_id.as_deref().unwrap_or_default();
    let workspace = console.workspace.as_deref().unwrap_or(own);
    let form = KeyForm::blank(workspace);
    new_page(&app, &console, form, Errors::default()).await
}

/// `POST /console/keys/new`: `intent=review` checks the form and shows what will be
/// created; `intent=edit` goes back to the form; `intent=create` creates the key and
/// sends the browser to the page that shows its secret once.
pub async fn create(
    State(app): State<Arc<App>>,
    Posted { console, form }: Posted<KeyForm>,
) -> Response {
    let actor = &console.session.actor;
    let mut form: KeyForm = form;
    form.absorb_picks();
    match form.intent.as_str() {
        "create" => match app.keys.create(actor, form.to_new_key()).await {
            // An imported secret is the admin's own: it is never shown back.
            Ok(created) if created.key.imported => after(&created.key.id, "imported"),
            Ok(revealed) => reveal(&app, &console, revealed).await,
            Err(e) => refused_form(&app, &console, form, e).await,
        },
        "review" => match app.keys.review(actor, &form.to_new_key()).await {
            Ok(draft) => render(
                StatusCode::OK,
                &ReviewPage {
                    me: console.me(),
                    form_token: console.session.form_token.clone(),
                    expires_at: draft.expires_at.map(rfc3339),
                    hidden: form.hidden(),
                    draft,
                },
            ),
            Err(e) => refused_form(&app, &console, form, e).await,
        },
        _ => {
            form.secret.clear();
            new_page(&app, &console, form, Errors::default()).await
        }
    }
}

async fn refused_form(app: &App, console: &Console, mut form: KeyForm, e: ManageError) -> Response {
    form.secret.clear();
    match Errors::from_refusal(&e) {
        Some(errors) => new_page(app, console, form, errors).await,
        None => forms::refused(e, console.me()),
    }
}

/// Holds a new secret for the one page that shows it, and sends the browser there:
/// the secret is in no URL, and a reload or the back button cannot show it again.
async fn reveal(app: &App, console: &Console, revealed: Revealed) -> Response {
    let Some(secret) = &revealed.secret else {
        // Nothing to show: a key that authenticates with its public keys.
        return Redirect::to(&format!("/console/keys/{}", revealed.key.id)).into_response();
    };
    match app.sessions.hold_secret(&console.id, &revealed.key.id, secret).await {
        Ok(()) => {
            Redirect::to(&format!("/console/keys/{}/secret", revealed.key.id)).into_response()
        }
        Err(e) => super::unavailable(&e),
    }
}

#[derive(Template)]
#[template(path = "console/key_secret.html")]
struct SecretPage {
    me: Option<Me>,
    key: KeyView,
    secret: Option<String>,
    token_url: String,
}

/// `GET /console/keys/{id}/secret`: the new secret, once.
pub async fn secret(
    State(app): State<Arc<App>>,
    console: Console,
    Path(id): Path<String>,
) -> Response {
    let key = match app.keys.get(&console.session.actor, &id).await {
        Ok(key) => key,
        Err(e) => return forms::refused(e, console.me()),
    };
    let secret = match app.sessions.take_secret(&console.id, &key.id).await {
        Ok(secret) => secret,
        Err(e) => return super::unavailable(&e),
    };
    let template = SecretPage {
        me: console.me(),
        secret: secret.map(|s| s.expose().to_string()),
        token_url: format!("{}/oauth/token", app.config.issuer()),
        key,
    };
    render(StatusCode::OK, &template)
}

#[derive(Template)]
#[template(path = "console/key.html")]
struct KeyPage {
    me: Option<Me>,
    form_token: String,
    badges: Vec<&'static str>,
    can_write: bool,
    active: bool,
    revoked: bool,
    /// The pre-rotation secret still works.
    in_grace: bool,
    grace_choices: [(&'static str, &'static str); 5],
    notice: Option<String>,
    error: Option<String>,
    key: KeyView,
    ranges: [(&'static str, &'static str); 3],
    range: &'static str,
    /// The key's usage over `range` (absent when it could not be read).
    chart: Option<Chart>,
    /// Where its secret was last reported found in public, if ever.
    leak: Option<crate::apikeys::leaks::LeakReport>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ShowParams {
    done: String,
    /// The usage chart's period: `24h`, `7d` (default) or `30d`.
    range: String,
}

async fn key_page(
    app: &App,
    console: &Console,
    id: &str,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
    range: &str,
) -> Response {
    let actor = &console.session.actor;
    let key = match app.keys.get(actor, id).await {
        Ok(key) => key,
        Err(e) => return forms::refused(e, console.me()),
    };
    let (range, period, label) = chart::period(range, app.clock.now());
    let chart = match app.keys.key_usage(actor, id, period).await {
        Ok(usage) => Some(chart::bars(&usage.data, &usage.total, period.granularity, label)),
        Err(e) => {
            tracing::warn!(error = %Chain(&e), "the key's usage could not be read");
            None
        }
    };
    let leak = app.keys.leak_report(actor, id).await.unwrap_or_else(|e| {
        tracing::warn!(error = %Chain(&e), "the key's leak reports could not be read");
        None
    });
    let (status, error) = match error {
        Some((status, e)) => (status, Some(e)),
        None => (StatusCode::OK, None),
    };
    use crate::store::KeyStatus;
    let now = app.clock.now();
    let template = KeyPage {
        me: console.me(),
        form_token: console.session.form_token.clone(),
        in_grace: key.in_grace(now),
        badges: key.badges(now),
        can_write: console.session.actor.holds(ManagementScope::KeysWrite),
        active: key.status != KeyStatus::Inactive,
        revoked: key.status == KeyStatus::Revoked,
        grace_choices: forms::GRACE,
        notice,
        error,
        key,
        ranges: chart::RANGES,
        range,
        chart,
        leak,
    };
    render(status, &template)
}

/// `GET /console/keys/{id}`.
pub async fn show(
    State(app): State<Arc<App>>,
    console: Console,
    Path(id): Path<String>,
    Query(params): Query<ShowParams>,
) -> Response {
    let notice = match params.done.as_str() {
        "updated" => Some("Changes saved.".to_string()),
        "imported" => Some(
            "The key was created with the imported secret, which is never shown again.".to_string(),
        ),
        "activated" => Some("The key is active again.".to_string()),
        "grace-ended" => Some("The old secret no longer works.".to_string()),
        "deactivated" => {
            Some("The key is deactivated: it gets no tokens until activated.".to_string())
        }
        "revoked" => Some("The key is revoked, permanently.".to_string()),
        _ => None,
    };
    key_page(&app, &console, &id, notice, None, &params.range).await
}

pub(super) fn after(id: &str, done: &str) -> Response {
    Redirect::to(&format!("/console/keys/{id}?done={done}")).into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RotateForm {
    grace_seconds: String,
}

/// `POST /console/keys/{id}/rotate`: a new secret, shown once on the next page.
pub async fn rotate(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { console, form }: Posted<RotateForm>,
) -> Response {
    let form: RotateForm = form;
    let grace = form.grace_seconds.parse::<i64>().unwrap_or(-1);
    match app.keys.rotate(&console.session.actor, &id, grace).await {
        Ok(rotation) => reveal(&app, &console, rotation.revealed).await,
        Err(e) => action_refused(&app, &console, &id, e).await,
    }
}

/// A refused action on the key page: a conflict or an invalid value is shown on
/// the key's page; anything else (not found, not allowed, unavailable) as its own.
async fn action_refused(app: &App, console: &Console, id: &str, e: ManageError) -> Response {
    match e {
        ManageError::Conflict(_) | ManageError::Invalid(_) => {
            let refusal = crate::http::error::Refusal::of(&e);
            key_page(app, console, id, None, Some((refusal.status, refusal.detail)), "").await
        }
        e => forms::refused(e, console.me()),
    }
}

/// `POST /console/keys/{id}/activate`.
pub async fn activate(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { console, .. }: Posted<NoFields>,
) -> Response {
    match app.keys.set_active(&console.session.actor, &id, true).await {
        Ok(key) => after(&key.id, "activated"),
        Err(e) => action_refused(&app, &console, &id, e).await,
    }
}

/// `POST /console/keys/{id}/end-grace`: the old secret stops working now.
pub async fn end_grace(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { console, .. }: Posted<NoFields>,
) -> Response {
    match app.keys.end_grace(&console.session.actor, &id).await {
        Ok(key) => after(&key.id, "grace-ended"),
        Err(e) => action_refused(&app, &console, &id, e).await,
    }
}

/// `POST /console/keys/{id}/deactivate`.
pub async fn deactivate(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { console, .. }: Posted<NoFields>,
) -> Response {
    match app.keys.set_active(&console.session.actor, &id, false).await {
        Ok(key) => after(&key.id, "deactivated"),
        Err(e) => action_refused(&app, &console, &id, e).await,
    }
}

#[derive(Template)]
#[template(path = "console/confirm.html")]
struct ConfirmPage {
    me: Option<Me>,
    form_token: String,
    key: KeyView,
    verb: &'static str,
    action: &'static str,
    explanation: &'static str,
    error: Option<String>,
}

/// The two actions that ask for the key's name first.
#[derive(Clone, Copy)]
enum Destructive {
    Revoke,
    Delete,
}

impl Destructive {
    fn page(self, key: KeyView, console: &Console, error: Option<String>) -> ConfirmPage {
        let (verb, action, explanation) = match self {
            Destructive::Revoke => (
                "Revoke",
                "revoke",
                "Revoking is permanent: the key never gets a token again, and tokens it \
                 already holds stop working for /v1 and introspection. Its record stays, \
                 for audit.",
            ),
            Destructive::Delete => (
                "Delete",
                "delete",
                "Deleting removes the key and its record; the audit log keeps the event. \
                 Callers using it are refused at once.",
            ),
        };
        ConfirmPage {
            me: console.me(),
            form_token: console.session.form_token.clone(),
            key,
            verb,
            action,
            explanation,
            error,
        }
    }

    async fn confirm_page(self, app: &App, console: &Console, id: &str) -> Response {
        if let Err(e) = console.session.actor.require(ManagementScope::KeysWrite) {
            return forms::refused(e, console.me());
        }
        match app.keys.get(&console.session.actor, id).await {
            Ok(key) => render(StatusCode::OK, &self.page(key, console, None)),
            Err(e) => forms::refused(e, console.me()),
        }
    }

    async fn perform(self, app: &App, console: Console, id: &str, typed: &str) -> Response {
        let actor = &console.session.actor;
        let done = match self {
            Destructive::Revoke => {
                app.keys.revoke(actor, id, Some(typed)).await.map(|key| after(&key.id, "revoked"))
            }
            Destructive::Delete => app
                .keys
                .delete(actor, id, Some(typed))
                .await
                .map(|()| Redirect::to("/console/keys?status=all").into_response()),
        };
        match done {
            Ok(response) => response,
            // A name that is not the key's: the same page, the message beside the field.
            Err(ManageError::Invalid(field)) => match app.keys.get(actor, id).await {
                Ok(key) => render(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &self.page(key, &console, Some(field.reason)),
                ),
                Err(e) => forms::refused(e, console.me()),
            },
            Err(e) => forms::refused(e, console.me()),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConfirmForm {
    confirm: String,
}

/// `GET /console/keys/{id}/revoke`: what revoking does, and the name to type.
pub async fn revoke_page(
    State(app): State<Arc<App>>,
    console: Console,
    Path(id): Path<String>,
) -> Response {
    Destructive::Revoke.confirm_page(&app, &console, &id).await
}

/// `POST /console/keys/{id}/revoke`.
pub async fn revoke(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { console, form }: Posted<ConfirmForm>,
) -> Response {
    let form: ConfirmForm = form;
    Destructive::Revoke.perform(&app, console, &id, &form.confirm).await
}

/// `GET /console/keys/{id}/delete`.
pub async fn delete_page(
    State(app): State<Arc<App>>,
    console: Console,
    Path(id): Path<String>,
) -> Response {
    Destructive::Delete.confirm_page(&app, &console, &id).await
}

/// `POST /console/keys/{id}/delete`.
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { console, form }: Posted<ConfirmForm>,
) -> Response {
    let form: ConfirmForm = form;
    Destructive::Delete.perform(&app, console, &id, &form.confirm).await
}
