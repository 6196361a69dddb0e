//! The People page: who signed in through the identity provider, their role now
//! and their last sign-in, and "Sign out everywhere" (platform admins); the
//! domain decides, as it does for `/v1/people`.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::filters;
use super::{forms, render, Console, Done, Me, Posted};
use crate::app::App;
use crate::people::PersonView;

#[derive(Template)]
#[template(path = "console/people.html")]
struct PeoplePage {
    me: Option<Me>,
    form_token: String,
    people: Vec<PersonView>,
    notice: Option<&'static str>,
}

/// `GET /console/people`.
pub async fn list(
    State(app): State<Arc<App>>,
    console: Console,
    Query(done): Query<Done>,
) -> Response {
    let people = match app.people.list(&console.session.actor).await {
        Ok(people) => people,
        Err(e) => return forms::refused(e, console.me()),
    };
    let notice = (done.done == "signed-out")
        .then_some("Every session of that person has ended, in the console and the CLI.");
    let page = PeoplePage {
        me: console.me(),
        form_token: console.session.form_token.clone(),
        people,
        notice,
    };
    render(axum::http::StatusCode::OK, &page)
}

/// `POST /console/people/{id}/sign-out`: ends every session of the person.
pub async fn sign_out(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { console, form }: Posted<super::session::NoFields>,
) -> Response {
    let _: super::session::NoFields = form;
    match app.people.sign_out_everywhere(&console.session.actor, &id).await {
        Ok(_) => Redirect::to("/console/people?done=signed-out").into_response(),
        Err(e) => forms::refused(e, console.me()),
    }
}
