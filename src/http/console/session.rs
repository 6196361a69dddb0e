//! Signing in and out.

use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::{render, set_cookie, unavailable, Console, Me, Posted};
use crate::apikeys::secret::Secret;
use crate::app::App;
use crate::http::extract::ClientIp;
use crate::sessions::SignInError;

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    me: Option<Me>,
    client_id: String,
    error: Option<String>,
    /// Whether "Sign in with SSO" is offered (`--sso-issuer` is set).
    sso: bool,
    /// Whether sign-in with an admin key is offered (`--console-key-sign-in`).
    key_sign_in: bool,
    /// Where "Sign in with SSO" leads (with the page to come back to).
    sso_start: String,
}

impl SignInPage {
    fn new(app: &App, client_id: String, error: Option<String>) -> Self {
        SignInPage {
            me: None,
            client_id,
            error,
            sso: app.sso.is_some(),
            key_sign_in: app.config.console_key_sign_in,
            sso_start: "/console/sso/start".into(),
        }
    }
}

/// `GET /console`: the keys page when signed in, else sign-in.
pub async fn home(console: Result<Console, Response>) -> Redirect {
    match console {
        Ok(_) => Redirect::to("/console/keys"),
        Err(_) => Redirect::to("/console/sign-in"),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SignInQuery {
    ended: Option<String>,
    /// The console page to land on after signing in with SSO.
    next: Option<String>,
}

/// `GET /console/sign-in`.
pub async fn sign_in_page(
    State(app): State<Arc<App>>,
    Query(query): Query<SignInQuery>,
) -> Response {
    let error = query.ended.map(|_| "Your session has ended. Sign in again.".to_string());
    let mut page = SignInPage::new(&app, String::new(), error);
    if let Some(next) = query.next.as_deref().and_then(super::sso::console_path) {
        page.sso_start = format!("/console/sso/start?next={}", urlencoded(next));
    }
    render(StatusCode::OK, &page)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SignInForm {
    client_id: String,
    client_secret: String,
}

fn urlencoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A form with nothing but its token.
#[derive(Deserialize, Default)]
pub struct NoFields {}

pub(super) fn user_agent(headers: &HeaderMap) -> &str {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// `POST /console/sign-in`: a new session for an admin key.
pub async fn sign_in(
    State(app): State<Arc<App>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    if !app.config.console_key_sign_in {
        let error = Some("Sign-in with an admin key is turned off on this server.".to_string());
        return render(StatusCode::FORBIDDEN, &SignInPage::new(&app, String::new(), error));
    }
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let secret = Secret::new(form.client_secret);
    let client_id = form.client_id.trim().to_string();
    match app.sessions.sign_in(&client_id, &secret, ip, user_agent(&headers)).await {
        Ok((id, _)) => {
            let mut response = Redirect::to("/console/keys").into_response();
            response.headers_mut().insert(header::SET_COOKIE, set_cookie(&app, Some(&id)));
            response
        }
        Err(SignInError::Unavailable(e)) => unavailable(&e),
        Err(e) => {
            let status = match e {
                SignInError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
                SignInError::Busy => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNAUTHORIZED,
            };
            let retry = match e {
                SignInError::Throttled(seconds) => Some(seconds),
                SignInError::Busy => Some(crate::http::error::RETRY_AFTER_SECONDS),
                _ => None,
            };
            let error = Some(e.to_string());
            let mut response = render(status, &SignInPage::new(&app, client_id, error));
            if let Some(seconds) = retry {
                response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
            }
            response
        }
    }
}

/// `POST /console/sign-out`: ends the session, audited.
pub async fn sign_out(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Posted { console, .. }: Posted<NoFields>,
) -> Response {
    if let Err(e) =
        app.sessions.sign_out(&console.id, &console.session, console.ip, user_agent(&headers)).await
    {
        return unavailable(&e);
    }
    let mut response = Redirect::to("/console/sign-in").into_response();
    response.headers_mut().insert(header::SET_COOKIE, set_cookie(&app, None));
    response
}
