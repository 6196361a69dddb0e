//! The Webhooks page: endpoints with their health, a new one with its secret
//! shown once, and an endpoint's page with its deliveries and every attempt,
//! "Send test event" and "Resend"; the domain decides, as it does for
//! `/v1/webhooks`.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::filters;
use super::{forms, render_refusal, Console, Done, Me, Posted};
use crate::app::App;
use crate::vocab::ManageError;
use crate::webhooks::{
    DeliveryView, RotateInput, WebhookInput, WebhookView, WebhookWithSecret, EVENT_TYPES,
};

#[derive(Template)]
#[template(path = "console/webhooks.html")]
struct WebhooksPage {
    me: Option<Me>,
    form_token: String,
    webhooks: Vec<WebhookView>,
    /// `(id, name)` of the workspaces the form offers.
    workspaces: Vec<(String, String)>,
    /// Whether "Every workspace" is offered (a platform admin).
    every: bool,
    event_types: String,
    form: WebhookForm,
    error: Option<(String, String)>,
    notice: Option<&'static str>,
}

impl WebhooksPage {
    fn error_of(&self, field: &str) -> Option<&str> {
        self.error.as_ref().filter(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }
}

#[derive(Template)]
#[template(path = "console/webhook.html")]
struct WebhookPage {
    me: Option<Me>,
    form_token: String,
    webhook: WebhookView,
    deliveries: Vec<DeliveryView>,
    notice: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "console/webhook_secret.html")]
struct SecretPage {
    me: Option<Me>,
    created: WebhookWithSecret,
}

/// The new-endpoint form.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct WebhookForm {
    pub url: String,
    /// Event types, separated by commas or spaces, or `*`.
    pub events: String,
    /// Empty: the caller's own workspace; `*`: every workspace.
    pub workspace_id: String,
    pub description: String,
}

impl Default for WebhookForm {
    fn default() -> Self {
        WebhookForm {
            url: String::new(),
            events: "*".into(),
            workspace_id: String::new(),
            description: String::new(),
        }
    }
}

async fn list_page(
    app: &App,
    console: &Console,
    form: WebhookForm,
    error: Option<(String, String)>,
    notice: Option<&'static str>,
) -> Response {
    let actor = &console.session.actor;
    let (webhooks, workspaces) =
        match tokio::try_join!(app.webhooks.list(actor, None), app.workspaces.list(actor)) {
            Ok(both) => both,
            Err(e) => return forms::refused(e, console.me()),
        };
    let template = WebhooksPage {
        me: console.me(),
        form_token: console.session.form_token.clone(),
        webhooks,
        workspaces: workspaces.into_iter().map(|ws| (ws.id, ws.name)).collect(),
        every: actor.holds(crate::vocab::scope::ManagementScope::WorkspacesAdmin),
        event_types: EVENT_TYPES.join(", "),
        form,
        error,
        notice,
    };
    render_refusal(template.error.is_some(), &template)
}

/// `GET /console/webhooks`.
pub async fn list(
    State(app): State<Arc<App>>,
    console: Console,
    Query(done): Query<Done>,
) -> Response {
    let notice = match done.done.as_str() {
        "deleted" => Some("Webhook endpoint deleted."),
        _ => None,
    };
    list_page(&app, &console, WebhookForm::default(), None, notice).await
}

/// `POST /console/webhooks`: a new endpoint; the answer shows its secret once.
pub async fn create(
    State(app): State<Arc<App>>,
    Posted { console, form }: Posted<WebhookForm>,
) -> Response {
    let form: WebhookForm = form;
    let input = WebhookInput {
        url: form.url.trim().to_string(),
        events: form
            .events
            .split([',', ' '])
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect(),
        workspace_id: Some(form.workspace_id.clone()).filter(|ws| !ws.is_empty()),
        description: Some(form.description.trim().to_string()),
    };
    match app.webhooks.create(&console.session.actor, input).await {
        Ok(created) => secret_page(&console, created),
        Err(ManageError::Invalid(field)) => {
            list_page(&app, &console, form, Some((field.field, field.reason)), None).await
        }
        Err(ManageError::Conflict(why)) => {
            list_page(&app, &console, form, Some(("url".into(), why)), None).await
        }
        Err(e) => forms::refused(e, console.me()),
    }
}

fn secret_page(console: &Console, created: WebhookWithSecret) -> Response {
    super::render(axum::http::StatusCode::OK, &SecretPage { me: console.me(), created })
}

/// `GET /console/webhooks/{id}`.
pub async fn show(
    State(app): State<Arc<App>>,
    console: Console,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    let actor = &console.session.actor;
    let found = tokio::try_join!(
        app.webhooks.get(actor, &id),
        app.webhooks.deliveries(actor, &id, Some(50))
    );
    let (webhook, deliveries) = match found {
        Ok(both) => both,
        Err(e) => return forms::refused(e, console.me()),
    };
    let notice = match done.done.as_str() {
        "test" => Some("Test event queued: it is sent within a second."),
        "resent" => Some("Delivery queued again."),
        _ => None,
    };
    super::render(
        axum::http::StatusCode::OK,
        &WebhookPage {
            me: console.me(),
            form_token: console.session.form_token.clone(),
            webhook,
            deliveries,
            notice,
        },
    )
}

/// `POST /console/webhooks/{id}/test`: "Send test event".
pub async fn test(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { console, form }: Posted<super::session::NoFields>,
) -> Response {
    let _: super::session::NoFields = form;
    match app.webhooks.test(&console.session.actor, &id).await {
        Ok(_) => Redirect::to(&format!("/console/webhooks/{id}?done=test")).into_response(),
        Err(e) => forms::refused(e, console.me()),
    }
}

/// `POST /console/webhooks/{id}/deliveries/{delivery}/resend`: "Resend".
pub async fn resend(
    State(app): State<Arc<App>>,
    Path((id, delivery)): Path<(String, String)>,
    Posted { console, form }: Posted<super::session::NoFields>,
) -> Response {
    let _: super::session::NoFields = form;
    let Ok(delivery) = delivery.parse::<i64>() else {
        return forms::refused(ManageError::NotFound("delivery"), console.me());
    };
    match app.webhooks.resend(&console.session.actor, &id, delivery).await {
        Ok(_) => Redirect::to(&format!("/console/webhooks/{id}?done=resent")).into_response(),
        Err(e) => forms::refused(e, console.me()),
    }
}

/// `POST /console/webhooks/{id}/rotate`: a new secret, shown once.
pub async fn rotate(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { console, form }: Posted<super::session::NoFields>,
) -> Response {
    let _: super::session::NoFields = form;
    match app.webhooks.rotate(&console.session.actor, &id, RotateInput::default()).await {
        Ok(rotated) => secret_page(&console, rotated),
        Err(e) => forms::refused(e, console.me()),
    }
}

/// `POST /console/webhooks/{id}/delete`.
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { console, form }: Posted<super::session::NoFields>,
) -> Response {
    let _: super::session::NoFields = form;
    match app.webhooks.delete(&console.session.actor, &id).await {
        Ok(()) => Redirect::to("/console/webhooks?done=deleted").into_response(),
        Err(e) => forms::refused(e, console.me()),
    }
}
