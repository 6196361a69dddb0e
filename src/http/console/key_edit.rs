//! Editing a key in the console: the form, the review of what the edit changes
//! and may break, and the save; every decision is `Keys::update`'s and
//! `Keys::preview_update`'s.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::forms::{self, shown, EditForm, Errors};
use super::keys::after;
use super::{render, Console, Me, Posted};
use crate::apikeys::KeyView;
use crate::app::App;
use crate::vocab::scope::ManagementScope;
use crate::vocab::ManageError;

#[derive(Template)]
#[template(path = "console/key_edit.html")]
struct EditPage {
    me: Option<Me>,
    form_token: String,
    key: KeyView,
    form: EditForm,
    errors: Errors,
    expiry_choices: [(&'static str, &'static str); 10],
}

#[derive(Template)]
#[template(path = "console/key_edit_review.html")]
struct EditReviewPage {
    me: Option<Me>,
    form_token: String,
    key: KeyView,
    /// `(field, now, after)`.
    changes: Vec<(String, String, String)>,
    warnings: Vec<String>,
    hidden: Vec<(String, String)>,
}

fn edit_page(console: &Console, key: KeyView, form: EditForm, errors: Errors) -> Response {
    render(
        errors.status(),
        &EditPage {
            me: console.me(),
            form_token: console.session.form_token.clone(),
            key,
            form,
            errors,
            expiry_choices: forms::EDIT_EXPIRY,
        },
    )
}

/// `GET /console/keys/{id}/edit`.
pub async fn edit_form(
    State(app): State<Arc<App>>,
    console: Console,
    Path(id): Path<String>,
) -> Response {
    if let Err(e) = console.session.actor.require(ManagementScope::KeysWrite) {
        return forms::refused(e, console.me());
    }
    match app.keys.get(&console.session.actor, &id).await {
        Ok(key) => {
            let form = EditForm::of(&key);
            edit_page(&console, key, form, Errors::default())
        }
        Err(e) => forms::refused(e, console.me()),
    }
}

/// `POST /console/keys/{id}/edit`: `intent=review` shows the change and what it may
/// break; `intent=save` saves it; `intent=edit` goes back to the form.
pub async fn edit(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { console, form }: Posted<EditForm>,
) -> Response {
    let form: EditForm = form;
    let actor = &console.session.actor;
    let result = match form.intent.as_str() {
        "save" => match app.keys.update(actor, &id, form.to_update()).await {
            Ok(edited) => return after(&edited.key.id, "updated"),
            Err(e) => e,
        },
        "review" => match app.keys.preview_update(actor, &id, form.to_update()).await {
            Ok(preview) => {
                let changes = preview
                    .changes
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(field, c)| (field.clone(), shown(&c["from"]), shown(&c["to"])))
                            .collect()
                    })
                    .unwrap_or_default();
                return render(
                    StatusCode::OK,
                    &EditReviewPage {
                        me: console.me(),
                        form_token: console.session.form_token.clone(),
                        key: preview.key,
                        changes,
                        warnings: preview.warnings,
                        hidden: form.hidden(),
                    },
                );
            }
            Err(e) => e,
        },
        _ => match app.keys.get(actor, &id).await {
            Ok(key) => return edit_page(&console, key, form, Errors::default()),
            Err(e) => e,
        },
    };
    match (Errors::from_refusal(&result), app.keys.get(actor, &id).await) {
        (Some(errors), Ok(key)) if !matches!(result, ManageError::NotFound(_)) => {
            edit_page(&console, key, form, errors)
        }
        _ => forms::refused(result, console.me()),
    }
}
