//! Signing in through the organisation's identity provider: `GET
//! /console/sso/start` sends the browser there with a fresh `state`, `nonce` and
//! PKCE challenge, kept (sealed, usable once) for the browser that began it under
//! a short-lived cookie; `GET /console/sso/callback` takes them back, redeems the
//! code, and opens a session for the person if a role reaches them.
//!
//! The sign-in cookie is `SameSite=Lax`: the return from the provider is a
//! cross-site navigation, which a `Strict` cookie would not ride. The session
//! cookie stays `Strict`, so the callback answers with a page of this origin that
//! moves on to the console: a `Strict` cookie set at the end of a cross-site
//! redirect chain is not sent with the next redirect of that chain.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{cookie, message, render, secure, set_cookie, unavailable, Me};
use crate::app::App;
use crate::http::extract::ClientIp;
use crate::people::Refusal;
use crate::report::Chain;
use crate::sessions::{SessionId, SSO_LOGIN_SECONDS};

/// The sign-in cookie's name: `__Host-` prefixed (and Secure) over https.
fn login_cookie(app: &App) -> &'static str {
    if secure(app) {
        "__Host-keymint_sso"
    } else {
        "keymint_sso"
    }
}

/// A `Set-Cookie` value holding the sign-in handle, or clearing it.
fn login_cookie_header(app: &App, handle: Option<&SessionId>) -> HeaderValue {
    let name = login_cookie(app);
    let secure = if secure(app) { "; Secure" } else { "" };
    let value = match handle {
        Some(h) => format!(
            "{name}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={SSO_LOGIN_SECONDS}{secure}",
            h.expose()
        ),
        None => format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A refused sign-in: the page says why, and the sign-in cookie is cleared.
fn refused(app: &App, status: StatusCode, text: &str) -> Response {
    let mut response = message(status, None, "Sign-in refused", text, "/console/sign-in");
    response.headers_mut().append(header::SET_COOKIE, login_cookie_header(app, None));
    response
}

/// Where a sign-in may land: a console path, in characters a URL carries as is.
pub(super) fn console_path(path: &str) -> Option<&str> {
    (path.starts_with("/console/")
        && !path.contains("//")
        && path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/?=&-_.".contains(&b)))
    .then_some(path)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Start {
    /// The console page to land on once signed in.
    next: String,
}

/// `GET /console/sso/start`: to the identity provider.
pub async fn start(
    State(app): State<Arc<App>>,
    query: Result<Query<Start>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = query.map(|Query(q)| q.next).unwrap_or_default();
    let Some(provider) = app.sso.clone() else {
        return message(
            StatusCode::NOT_FOUND,
            None,
            "Not available",
            "Sign-in with SSO is not set up on this server.",
            "/console/sign-in",
        );
    };
    let (url, mut pending) = match provider.begin().await {
        Ok(begun) => begun,
        Err(e) => {
            tracing::warn!(error = %Chain(&e), "sso sign-in could not begin");
            return refused(
                &app,
                StatusCode::BAD_GATEWAY,
                "The identity provider could not be reached. Try again in a moment.",
            );
        }
    };
    pending.next = console_path(&next).unwrap_or("/console/keys").to_string();
    let handle = match app.sessions.hold_sso_login(&pending).await {
        Ok(handle) => handle,
        Err(e) => return unavailable(&e),
    };
    let mut response = Redirect::to(&url).into_response();
    response.headers_mut().insert(header::SET_COOKIE, login_cookie_header(&app, Some(&handle)));
    response
}

/// What the provider sends back.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    /// The issuer that answers (RFC 9207), when the provider names it.
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Template)]
#[template(path = "console/signed_in.html")]
struct SignedInPage {
    me: Option<Me>,
    next: String,
}

/// `GET /console/sso/callback`: the provider's answer.
pub async fn callback(
    State(app): State<Arc<App>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    query: Result<Query<Callback>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(provider) = app.sso.clone() else {
        return refused(&app, StatusCode::NOT_FOUND, "Sign-in with SSO is not set up here.");
    };
    let answer = query.map(|Query(q)| q).unwrap_or_default();
    // The sign-in this browser began, taken so it cannot be used again.
    let handle = cookie(&headers, login_cookie(&app)).and_then(|v| SessionId::parse(&v));
    let pending = match handle {
        Some(handle) => match app.sessions.take_sso_login(&handle).await {
            Ok(pending) => pending,
            Err(e) => return unavailable(&e),
        },
        None => None,
    };
    let Some(pending) = pending else {
        return refused(
            &app,
            StatusCode::BAD_REQUEST,
            "This sign-in was not begun in this browser, has expired, or was already used. \
             Start again from the sign-in page.",
        );
    };
    if !answer.state.as_deref().is_some_and(|s| pending.state_matches(s)) {
        return refused(
            &app,
            StatusCode::BAD_REQUEST,
            "The identity provider's answer does not belong to the sign-in this browser began. \
             Start again from the sign-in page.",
        );
    }
    // An answer that names another issuer is a mix-up (RFC 9207): not ours to redeem.
    if answer.iss.as_deref().is_some_and(|iss| iss != provider.issuer()) {
        return refused(
            &app,
            StatusCode::BAD_REQUEST,
            "The answer names another identity provider than the one this server trusts.",
        );
    }
    if let Some(error) = answer.error {
        let said = answer.error_description.unwrap_or(error);
        let said: String = said.chars().filter(|c| !c.is_control()).take(200).collect();
        return refused(
            &app,
            StatusCode::UNAUTHORIZED,
            &format!("The identity provider did not sign you in: {said}"),
        );
    }
    let Some(code) = answer.code.filter(|c| !c.is_empty()) else {
        return refused(&app, StatusCode::BAD_REQUEST, "The identity provider sent no code.");
    };
    let next = console_path(&pending.next).unwrap_or("/console/keys").to_string();
    let identity = match provider.finish(pending, &code).await {
        Ok(identity) => identity,
        Err(e) => {
            tracing::warn!(error = %Chain(&e), "sso sign-in refused");
            return refused(&app, StatusCode::UNAUTHORIZED, &format!("{e}."));
        }
    };
    let (person, actor) = match app.people.sign_in(identity, ip).await {
        Ok(signed_in) => signed_in,
        Err(Refusal::Unavailable(e)) => return unavailable(&e),
        Err(e @ Refusal::NoRole(_)) => {
            return refused(
                &app,
                StatusCode::FORBIDDEN,
                &format!("{}.", capitalised(&e.to_string())),
            )
        }
    };
    let user_agent = super::session::user_agent(&headers);
    let (id, _) = match app.sessions.sign_in_person(&person, actor, user_agent).await {
        Ok(opened) => opened,
        Err(e) => return unavailable(&e),
    };
    let mut response = render(StatusCode::OK, &SignedInPage { me: None, next });
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, set_cookie(&app, Some(&id)));
    headers.append(header::SET_COOKIE, login_cookie_header(&app, None));
    response
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
