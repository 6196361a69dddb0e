//! The web console under `/console`: server-rendered pages (askama templates in
//! `templates/console/`, checked at compile time and auto-escaped) over the same
//! domain services as `/v1` and the CLI. A handler extracts, calls one domain
//! function and renders the result; a form error is shown next to its field.
//!
//! Every response carries a strict Content-Security-Policy (no inline script, no
//! other host), `frame-ancestors 'none'`, `Referrer-Policy: no-referrer` and
//! `Cache-Control: no-store`. Every POST must come from this origin (Fetch
//! metadata or `Origin`) and, once signed in, carry the session's form token. GET
//! never changes anything.

mod access;
mod assets;
mod audit;
mod chart;
mod device;
mod forms;
mod key_edit;
mod keys;
mod people;
mod session;
mod signing_keys;
mod sso;
mod usage;
mod webhooks;
mod workspaces;

use std::sync::Arc;

use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;

use crate::app::App;
use crate::http::extract::ClientIp;
use crate::report::Chain;
use crate::sessions::{form_token_matches, Session, SessionError, SessionId, SignedIn};
use crate::vocab::scope::ManagementScope;

/// Filters of the console's templates (askama finds them as `filters` in the
/// module of each template).
mod filters {
    /// An RFC 3339 instant as people read it: `2026-11-30 18:00 UTC` (the exact
    /// instant stays in the `<time datetime>` attribute).
    #[askama::filter_fn]
    pub fn when(at: impl std::fmt::Display, _: &dyn askama::Values) -> askama::Result<String> {
        let at = at.to_string();
        Ok(match at.split_once('T') {
            Some((day, time)) if time.len() >= 5 => format!("{day} {} UTC", &time[..5]),
            _ => at,
        })
    }
}

/// The console's routes.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/console", get(session::home))
        .route("/console/", get(session::home))
        .route("/console/sign-in", get(session::sign_in_page).post(session::sign_in))
        .route("/console/sign-out", post(session::sign_out))
        .route("/console/sso/start", get(sso::start))
        .route("/console/sso/callback", get(sso::callback))
        .route("/console/keys", get(keys::list))
        .route("/console/keys/new", get(keys::new_form).post(keys::create))
        .route("/console/keys/{id}", get(keys::show))
        .route("/console/keys/{id}/secret", get(keys::secret))
        .route("/console/keys/{id}/edit", get(key_edit::edit_form).post(key_edit::edit))
        .route("/console/keys/{id}/rotate", post(keys::rotate))
        .route("/console/keys/{id}/end-grace", post(keys::end_grace))
        .route("/console/keys/{id}/activate", post(keys::activate))
        .route("/console/keys/{id}/deactivate", post(keys::deactivate))
        .route("/console/keys/{id}/revoke", get(keys::revoke_page).post(keys::revoke))
        .route("/console/keys/{id}/delete", get(keys::delete_page).post(keys::delete))
        .route("/console/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/console/webhooks/{id}", get(webhooks::show))
        .route("/console/webhooks/{id}/test", post(webhooks::test))
        .route("/console/webhooks/{id}/rotate", post(webhooks::rotate))
        .route("/console/webhooks/{id}/delete", post(webhooks::delete))
        .route("/console/webhooks/{id}/deliveries/{delivery}/resend", post(webhooks::resend))
        .route("/console/access", get(access::list).post(access::create))
        .route("/console/access/{id}/delete", post(access::delete))
        .route("/console/device", get(device::show).post(device::decide))
        .route("/console/people", get(people::list))
        .route("/console/people/{id}/sign-out", post(people::sign_out))
        .route("/console/audit", get(audit::list))
        .route("/console/audit.csv", get(audit::export))
        .route("/console/workspaces", get(workspaces::list).post(workspaces::create))
        .route("/console/workspaces/{id}", get(workspaces::show))
        .route("/console/workspaces/{id}/rename", post(workspaces::rename))
        .route("/console/workspaces/{id}/policy", post(workspaces::set_policy))
        .route("/console/workspaces/{id}/catalog", post(workspaces::set_catalog))
        .route("/console/workspaces/{id}/delete", post(workspaces::delete))
        .route("/console/signing-keys", get(signing_keys::list))
        .route("/console/usage", get(usage::show))
        .route("/console/workspace", post(switch_workspace))
        .route("/console/signing-keys/rotate", post(signing_keys::rotate))
        .route("/console/assets/{file}", get(assets::serve))
        .route("/favicon.ico", get(assets::favicon))
        .layer(axum::middleware::from_fn(guard))
}

/// The headers every console response carries.
const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
];

/// Refuses a cross-site POST before any handler runs, and adds the security
/// headers to every answer.
async fn guard(request: Request, next: axum::middleware::Next) -> Response {
    let mut response = if request.method() == Method::POST && !same_origin(request.headers()) {
        message(
            StatusCode::FORBIDDEN,
            None,
            "Request refused",
            "This form was not sent from this console, so nothing was changed.",
            "/console/keys",
        )
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Whether a request says it comes from this origin: `Sec-Fetch-Site` when the
/// browser sends it, else `Origin` against `Host`. A client that sends neither is
/// no browser a page could drive; the form token still applies to it.
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    match (headers.get(header::ORIGIN), headers.get(header::HOST)) {
        (Some(origin), Some(host)) => {
            let origin = origin.to_str().unwrap_or_default();
            let host = host.to_str().unwrap_or_default();
            origin.split_once("://").is_some_and(|(_, rest)| rest == host)
        }
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// Who is signed in, as every page shows it.
pub struct Me {
    /// Whether a person (not an admin key) is signed in.
    pub person: bool,
    /// The key's name, or the person's email.
    pub shown_as: String,
    /// The key's masked secret; empty for a person.
    pub masked_secret: String,
    /// The signed-in admin's own workspace; empty when they reach every one.
    pub workspace_id: String,
    pub role: &'static str,
    pub form_token: String,
    /// Whether the audit log is open to this admin (the link is shown).
    pub can_audit: bool,
    /// Whether the signing keys are open to this admin.
    pub can_sign: bool,
    /// Whether the Access page (role bindings) is open to this admin.
    pub can_grant: bool,
    /// `(id, name)` of each workspace the switcher offers (a platform admin's).
    pub workspaces: Vec<(String, String)>,
    /// The workspace the pages show: the switcher's choice, empty for every one.
    pub workspace: String,
    /// This page's path, where the switcher comes back to.
    pub path: String,
}

impl Me {
    fn of(console: &Console) -> Self {
        let session = &console.session;
        Me {
            workspaces: console.workspaces.clone(),
            workspace: console.workspace.clone().unwrap_or_default(),
            path: console.path.clone(),
            person: matches!(session.who, SignedIn::Person { .. }),
            shown_as: match &session.who {
                SignedIn::Key { name, .. } => name.clone(),
                SignedIn::Person { shown_as } => shown_as.clone(),
            },
            masked_secret: match &session.who {
                SignedIn::Key { masked_secret, .. } => masked_secret.clone(),
                SignedIn::Person { .. } => String::new(),
            },
            workspace_id: session.actor.workspace_id.clone().unwrap_or_default(),
            role: session.actor.role(),
            form_token: session.form_token.clone(),
            can_audit: session.actor.holds(ManagementScope::AuditRead),
            can_sign: session.actor.holds(ManagementScope::SigningKeysAdmin),
            can_grant: session.actor.holds(ManagementScope::WorkspacesAdmin),
        }
    }
}

/// The name of the session cookie: `__Host-` prefixed (and Secure) when the
/// console is served over https.
fn cookie_name(app: &App) -> &'static str {
    if secure(app) {
        "__Host-keymint_session"
    } else {
        "keymint_session"
    }
}

fn secure(app: &App) -> bool {
    app.config.issuer().starts_with("https://")
}

/// The session cookie's value in `headers`, if any.
fn session_cookie(app: &App, headers: &HeaderMap) -> Option<SessionId> {
    cookie(headers, cookie_name(app)).and_then(|v| SessionId::parse(&v))
}

/// The value of the cookie `name` in `headers`, if any.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value that stores `id`, or clears the cookie when `None`.
fn set_cookie(app: &App, id: Option<&SessionId>) -> HeaderValue {
    cookie_header(app, cookie_name(app), id.map(SessionId::expose))
}

/// A `Set-Cookie` value for the console's cookie `name` (HttpOnly, SameSite=Strict,
/// Secure over https), holding `value` or, when `None`, cleared.
fn cookie_header(app: &App, name: &str, value: Option<&str>) -> HeaderValue {
    let secure = if secure(app) { "; Secure" } else { "" };
    let value = match value {
        Some(v) => format!("{name}={v}; Path=/; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The query of a page a change redirects to: what was done, for its notice.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct Done {
    done: String,
}

/// The switcher's form.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct SwitchForm {
    /// A workspace id, or empty for every workspace.
    workspace: String,
    /// The console page to return to.
    back: String,
}

/// `POST /console/workspace`: the workspace switcher. The choice is a view
/// preference kept in a cookie; what each page shows is still decided by the
/// domain for the signed-in key, so a workspace admin stays in their own.
async fn switch_workspace(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    Posted { console: _, form }: Posted<SwitchForm>,
) -> Response {
    // Only a path of this console, in characters a Location header can carry.
    let console_path = form.back.starts_with("/console/")
        && !form.back.contains("//")
        && form.back.bytes().all(|b| b.is_ascii_graphic());
    let back = if console_path { form.back } else { "/console/keys".to_string() };
    let value = crate::apikeys::workspace_id_form(&form.workspace).then_some(form.workspace);
    let mut response = Redirect::to(&back).into_response();
    let cookie = cookie_header(&app, workspace_cookie(&app), value.as_deref());
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

/// A signed-in request: the session, its id, the caller's address and the
/// workspace the pages show.
pub struct Console {
    pub session: Session,
    pub id: SessionId,
    pub ip: Option<std::net::IpAddr>,
    /// The switcher's choice: a workspace the admin reaches; `None` for every
    /// workspace (platform admins). A workspace admin is always in their own.
    pub workspace: Option<String>,
    /// `(id, name)` of the workspaces a platform admin can switch to.
    pub workspaces: Vec<(String, String)>,
    pub path: String,
}

impl Console {
    fn me(&self) -> Option<Me> {
        Some(Me::of(self))
    }
}

/// The name of the cookie that keeps the switcher's choice.
fn workspace_cookie(app: &App) -> &'static str {
    if secure(app) {
        "__Host-keymint_workspace"
    } else {
        "keymint_workspace"
    }
}

impl FromRequestParts<Arc<App>> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, app).await;
        let Some(id) = session_cookie(app, &parts.headers) else {
            // A device to approve is come back to once signed in.
            let to = match parts.uri.path_and_query().map(|p| p.as_str()) {
                Some(p) if p.starts_with("/console/device") => {
                    let next: String = form_urlencoded::byte_serialize(p.as_bytes()).collect();
                    format!("/console/sign-in?next={next}")
                }
                _ => "/console/sign-in".to_string(),
            };
            return Err(Redirect::to(&to).into_response());
        };
        match app.sessions.resume(&id, ip).await {
            Ok(session) => {
                let actor = &session.actor;
                let chosen = cookie(&parts.headers, workspace_cookie(app))
                    .filter(|ws| !ws.is_empty() && actor.reaches(ws));
                let (workspace, workspaces) = if actor.platform {
                    let all = app.workspaces.list(actor).await.unwrap_or_default();
                    (chosen, all.into_iter().map(|w| (w.id, w.name)).collect())
                } else {
                    (actor.workspace_id.clone(), vec![])
                };
                let path = parts.uri.path().to_string();
                Ok(Console { session, id, ip, workspace, workspaces, path })
            }
            Err(SessionError::Ended) => {
                let mut response = Redirect::to("/console/sign-in?ended=1").into_response();
                response.headers_mut().insert(header::SET_COOKIE, set_cookie(app, None));
                Err(response)
            }
            Err(e) => Err(unavailable(&e)),
        }
    }
}

/// A signed-in POST: the session, and the form, whose `form_token` matched.
pub struct Posted<T> {
    pub console: Console,
    pub form: T,
}

impl<T: DeserializeOwned + Default> FromRequest<Arc<App>> for Posted<T> {
    type Rejection = Response;

    async fn from_request(request: Request, app: &Arc<App>) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let console = Console::from_request_parts(&mut parts, app).await?;
        let bytes =
            axum::body::to_bytes(body, crate::http::MAX_BODY_BYTES).await.map_err(|_| {
                message(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    console.me(),
                    "Form too large",
                    "The form was larger than the console accepts.",
                    "/console/keys",
                )
            })?;
        let token = form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "form_token")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if !form_token_matches(&console.session, &token) {
            return Err(message(
                StatusCode::FORBIDDEN,
                console.me(),
                "Request refused",
                "This form has expired or did not come from this console, so nothing was \
                 changed. Reload the page and try again.",
                "/console/keys",
            ));
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            message(
                StatusCode::BAD_REQUEST,
                console.me(),
                "Form not understood",
                &format!("The form could not be read: {e}."),
                "/console/keys",
            )
        })?;
        Ok(Posted { console, form })
    }
}

/// Renders a page that may carry a refusal of its input: 422 with one, 200 without.
fn render_refusal(refused: bool, template: &impl Template) -> Response {
    let status = if refused { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    render(status, template)
}

/// Renders `template` with `status`.
fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
        }
        Err(e) => {
            tracing::error!(error = %Chain(&e), "a console page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage<'a> {
    me: Option<Me>,
    heading: &'a str,
    text: &'a str,
    back: &'a str,
}

/// A page that says one thing, e.g. why a request was refused.
fn message(status: StatusCode, me: Option<Me>, heading: &str, text: &str, back: &str) -> Response {
    render(status, &MessagePage { me, heading, text, back })
}

/// 503 when the database is unavailable, with `Retry-After`.
fn unavailable(cause: &(dyn std::error::Error + 'static)) -> Response {
    tracing::warn!(error = %Chain(cause), "console request failed");
    let mut response = message(
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        "Unavailable",
        "The service cannot reach its database right now. Try again in a moment.",
        "/console/keys",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(crate::http::error::RETRY_AFTER_SECONDS));
    response
}
