//! The console over plain HTTP: sessions, forgery checks, security headers, the
//! one-time secret, and what ends a session. (`browser.rs` drives the same pages in
//! a real browser.)

use keymint::store::{AuthMethod, PublicKeySource};
use keymint::vocab::scope::Scope;
use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{redirect::Policy, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_at, spawn_app_with, Backend, TestApp};

/// A browser-like client of the console: keeps the session cookie, sends `Origin`.
pub struct ConsoleClient<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    pub cookie: Option<String>,
}

impl<'a> ConsoleClient<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        let client = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
        ConsoleClient { app, client, cookie: None }
    }

    pub async fn get(&self, path: &str) -> Response {
        let mut request = self.client.get(self.app.url(path));
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.unwrap()
    }

    /// POSTs a form from this console's origin.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.post_from(path, form, &self.app.base).await
    }

    pub async fn post_from(&self, path: &str, form: &[(&str, &str)], origin: &str) -> Response {
        let mut request = self.client.post(self.app.url(path)).header("origin", origin).form(form);
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.unwrap()
    }

    /// Signs in; returns the response (a redirect to the keys page when it worked).
    pub async fn sign_in(&mut self, id: &str, secret: &str) -> Response {
        let response =
            self.post("/console/sign-in", &[("client_id", id), ("client_secret", secret)]).await;
        if let Some(set) = response.headers().get(SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_string();
            self.cookie = Some(pair);
        }
        response
    }

    /// The form token of the signed-in session, read from a page.
    pub async fn form_token(&self) -> String {
        let page = self.get("/console/keys").await.text().await.unwrap();
        let at = page.find("name=\"form_token\" value=\"").expect("a form token on the page");
        page[at + 25..at + 25 + 64].to_string()
    }

    /// POSTs a form with the session's form token added.
    pub async fn submit(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let token = self.form_token().await;
        let mut fields = form.to_vec();
        fields.push(("form_token", &token));
        self.post(path, &fields).await
    }
}

fn location(response: &Response) -> String {
    response.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

fn assert_console_headers(headers: &HeaderMap) {
    let csp = headers["content-security-policy"].to_str().unwrap();
    for directive in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn the_icon_is_served_where_browsers_ask_for_it() {
    let app = spawn_app(Backend::Sqlite).await;
    let page = reqwest::get(app.url("/console/sign-in")).await.unwrap().text().await.unwrap();
    let linked = page.split("<link rel=\"icon\" href=\"").nth(1).expect("the page links its icon");
    let linked = linked.split('"').next().unwrap().to_string();
    for path in ["/favicon.ico", linked.as_str()] {
        let response = reqwest::get(app.url(path)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["content-type"], "image/svg+xml", "{path}");
        assert!(response.text().await.unwrap().starts_with("<svg"), "{path}");
    }
}

async fn every_console_answer_carries_the_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut console = ConsoleClient::new(&app);
    for path in ["/console", "/console/sign-in", "/console/keys", "/console/assets/console.css"] {
        assert_console_headers(console.get(path).await.headers());
    }
    let signed_in = console.sign_in(&app.admin_id, &app.admin_secret).await;
    assert_console_headers(signed_in.headers());
    let page = console.get("/console/keys").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_console_headers(page.headers());
    assert!(page.text().await.unwrap().contains("<h1>API keys</h1>"));
}

async fn signing_in_sets_a_strict_http_only_cookie_and_stores_only_its_hash(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut console = ConsoleClient::new(&app);
    let response = console.sign_in(&app.admin_id, &app.admin_secret).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/console/keys");
    let set = response.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(set.starts_with("keymint_session="), "{set}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "plain http: {set}");
    let id = console.cookie.clone().unwrap().split_once('=').unwrap().1.to_string();
    assert!(app.app.store.find_session(&id).await.unwrap().is_none(), "never the id itself");
    let hash: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, id.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let stored = app.app.store.find_session(&hash).await.unwrap().expect("the hash is stored");
    assert!(matches!(
        stored.holder,
        keymint::store::SessionHolder::Key { ref key_id, .. } if *key_id == app.admin_id
    ));
    // A second sign-in gets a new id.
    let first = console.cookie.clone();
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    assert_ne!(console.cookie, first);
    assert!(!crate::helpers::captured_logs().contains(&id), "the session id is never logged");
}

async fn over_https_the_cookie_is_host_prefixed_and_secure(backend: Backend) {
    let app = spawn_app_at(backend, "https://keys.example.test").await;
    let mut console = ConsoleClient::new(&app);
    let response = console.sign_in(&app.admin_id, &app.admin_secret).await;
    let set = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(set.starts_with("__Host-keymint_session="), "{set}");
    assert!(set.contains("; Secure") && set.contains("Path=/"), "{set}");
}

async fn a_wrong_secret_is_refused_and_counts_against_the_limits(backend: Backend) {
    let app = spawn_app_with(backend, &["--auth-failures-per-ip", "3"]).await;
    let mut console = ConsoleClient::new(&app);
    let (head, last) = app.admin_secret.split_at(app.admin_secret.len() - 1);
    let wrong = format!("{head}{}", if last == "x" { "y" } else { "x" });
    let response = console.sign_in(&app.admin_id, &wrong).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get(SET_COOKIE).is_none());
    let page = response.text().await.unwrap();
    assert!(page.contains("the client ID or secret is wrong"), "{page}");
    assert!(page.contains(&app.admin_id), "the client ID is kept in the form");
    assert!(!page.contains(&wrong), "the secret is never echoed");
    for _ in 0..3 {
        console.sign_in(&app.admin_id, &wrong).await;
    }
    // The address is now over its limit: even the right secret waits (imported-style
    // guessing protection is the token endpoint's, shared here).
    let throttled = console.sign_in("unknownkeyid0000", "km_live_nope").await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers().contains_key("retry-after"));
}

async fn a_key_without_management_scopes_cannot_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.new_client("plain", &["read:things/*"]).await;
    let mut console = ConsoleClient::new(&app);
    let response = console.sign_in(&id, &secret).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.text().await.unwrap().contains("holds no management scope"));
    let (id, secret) = app.new_client("introspector", &["keymint:introspect"]).await;
    assert_eq!(console.sign_in(&id, &secret).await.status(), StatusCode::UNAUTHORIZED);
}

async fn a_cross_site_post_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (victim, _) = app.new_client("victim", &["read:a"]).await;
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    let token = console.form_token().await;
    let path = format!("/console/keys/{victim}/deactivate");
    let form = [("form_token", token.as_str())];
    let evil = console.post_from(&path, &form, "https://evil.example").await;
    assert_eq!(evil.status(), StatusCode::FORBIDDEN);
    assert_console_headers(evil.headers());
    // Fetch metadata wins over Origin: a same-site page on another port is not this origin.
    let request = reqwest::Client::new()
        .post(app.url(&path))
        .header(COOKIE, console.cookie.clone().unwrap())
        .header("sec-fetch-site", "same-site")
        .form(&form);
    assert_eq!(request.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    // Right origin, no token, or another session's token: refused too.
    assert_eq!(console.post(&path, &[]).await.status(), StatusCode::FORBIDDEN);
    let mut other = ConsoleClient::new(&app);
    other.sign_in(&app.admin_id, &app.admin_secret).await;
    let foreign = other.form_token().await;
    assert_ne!(foreign, token);
    assert_eq!(
        console.post(&path, &[("form_token", &foreign)]).await.status(),
        StatusCode::FORBIDDEN
    );
    let key = app.app.store.find_key(&victim).await.unwrap().unwrap();
    assert_eq!(key.status.as_str(), "active", "nothing changed");
    // The same form with the token works.
    let done = console.post(&path, &form).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER, "{:?}", done.text().await);
    let key = app.app.store.find_key(&victim).await.unwrap().unwrap();
    assert_eq!(key.status.as_str(), "inactive");
}

async fn a_created_secret_is_shown_once_and_works(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    let fields = [
        ("name", "billing"),
        ("description", "charges cards"),
        ("environment", "production"),
        ("type", "access"),
        ("scopes", "read:invoices/*\nwrite:charges/*"),
        ("allowed_cidrs", ""),
        ("audiences", ""),
        ("expires", "30d"),
    ];
    let review =
        console.submit("/console/keys/new", &[&fields[..], &[("intent", "review")]].concat()).await;
    assert_eq!(review.status(), StatusCode::OK);
    let page = review.text().await.unwrap();
    assert!(page.contains("Review the new key") && page.contains("write:charges/*"), "{page}");
    assert_eq!(
        app.app.store.count_keys(&Default::default()).await.unwrap(),
        1,
        "a review creates nothing"
    );

    let created =
        console.submit("/console/keys/new", &[&fields[..], &[("intent", "create")]].concat()).await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let target = location(&created);
    assert!(target.ends_with("/secret") && !target.contains("km_"), "{target}");
    let shown = console.get(&target).await;
    assert_console_headers(shown.headers());
    let page = shown.text().await.unwrap();
    let at = page.find("value=\"km_live_").expect("the secret is on the page") + 7;
    let secret = page[at..].split('"').next().unwrap().to_string();
    let id = target.split('/').nth(3).unwrap().to_string();
    let curl = page.find("id=\"curl-line\"").map(|at| &page[at..]).expect("the curl line");
    let curl = &curl[..curl.find("</textarea>").unwrap()];
    assert!(curl.contains(&id) && curl.contains("/oauth/token"), "{curl}");
    assert!(!curl.contains(&secret), "the secret stays out of shell history: {curl}");
    let token = app.token_basic(&id, &secret, &[]).await;
    assert_eq!(token.status(), StatusCode::OK, "the revealed secret exchanges");
    let again = console.get(&target).await.text().await.unwrap();
    assert!(!again.contains(&secret), "shown once");
    assert!(again.contains("shown once and cannot be shown again"));
    assert!(!crate::helpers::captured_logs().contains(&secret));
}

async fn form_errors_are_shown_beside_their_fields_with_the_values_kept(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    let response = console
        .submit(
            "/console/keys/new",
            &[
                ("name", "edge"),
                ("description", "kept text"),
                ("environment", "production"),
                ("type", "access"),
                ("scopes", "read:a"),
                ("allowed_cidrs", "10.0.0.0/8\nnot-a-range"),
                ("expires", "none"),
                ("intent", "review"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(page.contains("id=\"cidrs-error\""), "{page}");
    assert!(page.contains("Allowed IP ranges: "), "{page}");
    assert!(page.contains("kept text") && page.contains("not-a-range"), "values kept");
    let wildcard = console
        .submit(
            "/console/keys/new",
            &[
                ("name", "open"),
                ("environment", "staging"),
                ("type", "access"),
                ("allowed_cidrs", "0.0.0.0/0"),
                ("intent", "review"),
            ],
        )
        .await;
    let page = wildcard.text().await.unwrap();
    assert!(page.contains("0.0.0.0/0 allows every address"), "{page}");
}

async fn a_hostile_name_is_shown_as_text(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_key(json!({"name": "<script>alert(1)</script>\"'&"})).await;
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    let page = console.get("/console/keys").await.text().await.unwrap();
    assert!(!page.contains("<script>alert"), "never markup");
    let review = console.get("/console/keys?hygiene=no-scope").await.text().await.unwrap();
    let shown = "aria-current=\"page\">Without a scope <span class=\"count\">1</span>";
    assert!(review.contains(shown), "the check is shown with its count: {review}");
    assert!(review.contains(">&#60;script&#62;alert"), "a key without scopes is listed");
    assert!(!review.contains(">platform-admin<"), "the admin has scopes");
    let bad_check = console.get("/console/keys?hygiene=messy").await;
    assert_eq!(bad_check.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad_filter = console.get("/console/keys?status=gone&q=%3Cb%3E").await;
    assert_eq!(bad_filter.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad_filter = bad_filter.text().await.unwrap();
    assert!(bad_filter.contains("status: must be active, inactive, expired, revoked or all"));
    assert!(bad_filter.contains("value=\"&#60;b&#62;\""), "the search is kept, escaped");
    assert!(page.contains("&#60;script&#62;alert(1)&#60;/script&#62;&#34;&#39;&#38;"), "{page}");
}

/// Signs in as a fresh admin key, returning its id and the signed-in client.
async fn admin_session<'a>(app: &'a TestApp, name: &str) -> (String, ConsoleClient<'a>) {
    let (id, secret) = app.new_client(name, &["keymint:keys:write", "keymint:keys:read"]).await;
    let mut console = ConsoleClient::new(app);
    assert_eq!(console.sign_in(&id, &secret).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(console.get("/console/keys").await.status(), StatusCode::OK);
    (id, console)
}

async fn a_workspace_admin_is_offered_the_import_the_api_allows(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, console) = admin_session(&app, "workspace-admin").await;
    let form = console.get("/console/keys/new").await.text().await.unwrap();
    assert!(form.contains("Secret to import"), "the import the API allows is offered: {form}");
    let secret = "legacy-Imported-by-a-workspace-admin-42";
    let create = [
        ("name", "imported"),
        ("environment", "production"),
        ("type", "access"),
        ("expires", "none"),
        ("secret", secret),
        ("intent", "create"),
    ];
    let done = console.submit("/console/keys/new", &create).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER, "{}", done.text().await.unwrap());
    let id = location(&done).split('/').nth(3).unwrap().split('?').next().unwrap().to_string();
    assert_eq!(app.token_basic(&id, secret, &[]).await.status(), StatusCode::OK, "it imported");
}

/// The console page for a refusal says what `/v1` says: the same status, and
/// the problem's `members` (a form shows the detail beside its field, a page
/// the title and the detail).
async fn agrees(page: Response, problem: Response, members: &[&str], what: &str) {
    let status = page.status();
    assert_eq!(status, problem.status(), "{what}: the same status");
    let page = page.text().await.unwrap();
    let problem: Value = problem.json().await.unwrap();
    let escaped = |text: &str| text.replace('\'', "&#39;").replace('"', "&#34;");
    for member in members {
        let words = escaped(problem[member].as_str().unwrap());
        assert!(page.contains(&words), "{what}: the console says the {member} {words:?}: {page}");
    }
}

async fn the_console_and_the_api_refuse_with_the_same_status_and_words(backend: Backend) {
    let app = spawn_app(backend).await;
    let platform = app.admin_token().await;
    let ws: Value = app.post_json(&platform, "/v1/workspaces", &json!({"name": "other"})).await;
    let elsewhere = app
        .create_key(json!({"name": "elsewhere", "workspace_id": ws["id"], "scopes": ["read:a"]}))
        .await;
    let elsewhere = elsewhere["id"].as_str().unwrap();
    let (target, _) = app.new_client("target", &["read:a"]).await;

    // A read-only admin revoking: not allowed.
    let (reader, secret) = app.new_client("reader", &["keymint:keys:read"]).await;
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&reader, &secret).await;
    let token = app.access_token(&reader, &secret).await;
    let path = format!("/v1/keys/{target}/deactivate");
    agrees(
        console.submit(&format!("/console/keys/{target}/deactivate"), &[]).await,
        app.post_with(&token, &path, &json!({})).await,
        &["title", "detail"],
        "read-only deactivate",
    )
    .await;

    // A workspace admin reading another workspace's key: not found.
    let (writer, secret) = app.new_client("writer", &["keymint:keys:write"]).await;
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&writer, &secret).await;
    let token = app.access_token(&writer, &secret).await;
    agrees(
        console.get(&format!("/console/keys/{elsewhere}")).await,
        app.get_with(&token, &format!("/v1/keys/{elsewhere}")).await,
        &["title", "detail"],
        "workspace admin, another workspace",
    )
    .await;

    // A platform admin creating a second key of one name: a conflict.
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    let form = [
        ("name", "target"),
        ("environment", "production"),
        ("type", "access"),
        ("expires", "none"),
        ("intent", "create"),
    ];
    agrees(
        console.submit("/console/keys/new", &form).await,
        app.post_with(&platform, "/v1/keys", &json!({"name": "target"})).await,
        &["detail"],
        "platform admin, a taken name",
    )
    .await;
}

async fn ended(console: &ConsoleClient<'_>) {
    let response = console.get("/console/keys").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/console/sign-in?ended=1");
}

async fn a_session_ends_with_its_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    for (name, action) in [("r", "revoke"), ("d", "deactivate"), ("x", "delete"), ("o", "rotate")] {
        let (id, console) = admin_session(&app, name).await;
        let response = match action {
            "delete" => app.delete_with(&admin, &format!("/v1/keys/{id}")).await,
            _ => app.post_with(&admin, &format!("/v1/keys/{id}/{action}"), &json!({})).await,
        };
        assert!(response.status().is_success(), "{action}: {}", response.status());
        ended(&console).await;
    }
    // Expiry ends it too.
    let (id, console) = admin_session(&app, "e").await;
    app.patch_with(&admin, &format!("/v1/keys/{id}"), &json!({"expires_in": "1h"})).await;
    app.clock.advance(3601);
    ended(&console).await;
}

async fn a_session_ends_when_idle_and_at_its_lifetime(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, console) = admin_session(&app, "idle").await;
    app.clock.advance(keymint::sessions::IDLE_SECONDS - 60);
    assert_eq!(console.get("/console/keys").await.status(), StatusCode::OK, "still active");
    app.clock.advance(keymint::sessions::IDLE_SECONDS + 1);
    ended(&console).await;

    let (_, console) = admin_session(&app, "long").await;
    let steps = keymint::sessions::LIFETIME_SECONDS / (keymint::sessions::IDLE_SECONDS - 60);
    for _ in 0..steps {
        app.clock.advance(keymint::sessions::IDLE_SECONDS - 60);
        assert_eq!(console.get("/console/keys").await.status(), StatusCode::OK);
    }
    app.clock.advance(keymint::sessions::IDLE_SECONDS - 60);
    ended(&console).await;
}

async fn signing_in_and_out_is_audited_with_address_and_user_agent(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    let token = console.form_token().await;
    let out = console.post("/console/sign-out", &[("form_token", &token)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(out.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    ended(&console).await;
    let admin = app.admin_token().await;
    let audit: serde_json::Value = app.get_json(&admin, "/v1/audit").await;
    let events: Vec<&serde_json::Value> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("session."))
        .collect();
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["session.sign_out", "session.sign_in"], "newest first");
    for event in events {
        assert_eq!(event["actor"], app.admin_id.as_str());
        assert_eq!(event["actor_ip"], "127.0.0.1");
        assert!(event["details"]["user_agent"].is_string());
    }
}

async fn a_read_only_admin_gets_no_write_controls_and_no_writes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (victim, _) = app.new_client("victim", &["read:a"]).await;
    let (id, secret) = app.new_client("auditor", &["keymint:keys:read"]).await;
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&id, &secret).await;
    let list = console.get("/console/keys").await.text().await.unwrap();
    assert!(list.contains("read-only") && !list.contains("Create key"), "{list}");
    let page = console.get(&format!("/console/keys/{victim}")).await.text().await.unwrap();
    for control in [">Rotate<", ">Revoke<", ">Delete<", ">Deactivate<", ">Edit<"] {
        assert!(!page.contains(control), "{control} shown to a read-only admin");
    }
    let refused = console.submit(&format!("/console/keys/{victim}/deactivate"), &[]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(console.get("/console/keys/new").await.status(), StatusCode::FORBIDDEN);
    // Forged posts of the create and edit forms get what /v1 answers: 403, and no
    // form to go on with.
    let keys_before = app.app.store.count_keys(&Default::default()).await.unwrap();
    let create = [("name", "forged"), ("scopes", "read:a"), ("expires", "none")];
    let edit = [("name", "renamed"), ("scopes", "write:a"), ("expires", "keep")];
    let edit_path = format!("/console/keys/{victim}/edit");
    for (path, form, intent) in [
        ("/console/keys/new", &create[..], "create"),
        ("/console/keys/new", &create[..], "review"),
        (edit_path.as_str(), &edit[..], "save"),
        (edit_path.as_str(), &edit[..], "review"),
    ] {
        let response = console.submit(path, &[form, &[("intent", intent)]].concat()).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path} {intent}");
        let page = response.text().await.unwrap();
        assert!(page.contains("keymint:keys:write"), "{path} {intent} says why: {page}");
        assert!(!page.contains("name=\"intent\""), "{path} {intent}: no form: {page}");
    }
    assert_eq!(app.app.store.count_keys(&Default::default()).await.unwrap(), keys_before);
    let after = app.app.store.find_key(&victim).await.unwrap().expect("still there");
    assert_eq!((after.name.as_str(), after.status), ("victim", keymint::store::KeyStatus::Active));
    assert_eq!(Scope::texts(&after.scopes), ["read:a"], "not edited");
}

async fn an_edit_is_reviewed_with_its_risks_before_it_is_saved(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app
        .create_key(
            json!({"name": "svc", "scopes": ["read:a", "write:b"], "environment": "staging"}),
        )
        .await;
    let id = key["id"].as_str().unwrap();
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    let path = format!("/console/keys/{id}/edit");
    let form = [
        ("name", "svc"),
        ("description", ""),
        ("scopes", "read:a"),
        ("allowed_cidrs", "10.0.0.0/8"),
        ("audiences", ""),
        ("expires", "keep"),
        ("environment", "production"),
    ];
    let review = console.submit(&path, &[&form[..], &[("intent", "review")]].concat()).await;
    assert_eq!(review.status(), StatusCode::OK);
    let page = review.text().await.unwrap();
    assert!(page.contains("removing write:b"), "{page}");
    assert!(page.contains("narrower IP ranges"), "{page}");
    let stored = app.app.store.find_key(id).await.unwrap().unwrap();
    assert_eq!(Scope::texts(&stored.scopes), ["read:a", "write:b"], "a review changes nothing");

    let saved = console.submit(&path, &[&form[..], &[("intent", "save")]].concat()).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&saved), format!("/console/keys/{id}?done=updated"));
    let stored = app.app.store.find_key(id).await.unwrap().unwrap();
    assert_eq!(Scope::texts(&stored.scopes), ["read:a"]);
    assert_eq!(stored.allowed_cidrs, ["10.0.0.0/8"]);
    assert_eq!(stored.environment, "staging", "the environment is fixed");

    let mut bad_form = form.to_vec();
    bad_form[2] = ("scopes", "read:a\nbad scope");
    bad_form.push(("intent", "review"));
    let bad = console.submit(&path, &bad_form).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("id=\"scopes-error\""));
}

async fn a_rotation_with_grace_shows_when_the_old_secret_was_last_used(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, old) = app.new_client("moving", &["read:a"]).await;
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    let rotated =
        console.submit(&format!("/console/keys/{id}/rotate"), &[("grace_seconds", "3600")]).await;
    assert_eq!(location(&rotated), format!("/console/keys/{id}/secret"));
    let page = console.get(&location(&rotated)).await.text().await.unwrap();
    let at = page.find("value=\"km_live_").unwrap() + 7;
    let new = page[at..].split('"').next().unwrap().to_string();
    assert_ne!(new, old);
    app.clock.advance(5);
    assert_eq!(app.token_basic(&id, &old, &[]).await.status(), StatusCode::OK, "in grace");
    let key = console.get(&format!("/console/keys/{id}")).await.text().await.unwrap();
    assert!(key.contains("in grace") && key.contains("Old secret works until"), "{key}");
    assert!(key.contains("used 1 times since the rotation"), "how often: {key}");
    assert!(key.contains("from <code>127.0.0.1</code>"), "and from where: {key}");
    assert!(key.contains("End grace now"));
    let bad =
        console.submit(&format!("/console/keys/{id}/rotate"), &[("grace_seconds", "x")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("grace_seconds: must be between 0 and"));
}

async fn a_key_page_shows_how_the_key_authenticates(backend: Backend) {
    let app = spawn_app(backend).await;
    let signer = crate::assertions::ClientKey::new(Some("client-key-1"));
    let jwt = app
        .create_key(
            json!({"name": "signer", "jwks": signer.jwks(), "dpop_bound_access_tokens": true}),
        )
        .await;
    let (secret_id, _) = app.new_client("plain", &["read:a"]).await;
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    let page = console.get(&format!("/console/keys/{}", jwt["id"].as_str().unwrap())).await;
    let page = page.text().await.unwrap();
    assert!(page.contains("signed assertions (<code>private_key_jwt</code>)"), "{page}");
    assert!(page.contains("<code>client-key-1 (EC P-256)</code>"), "{page}");
    assert!(page.contains("required: every token is bound"), "{page}");
    assert!(!page.contains("<button type=\"submit\">Rotate</button>"), "no secret to rotate");
    assert!(page.contains("Replace its public keys"));
    let page = console.get(&format!("/console/keys/{secret_id}")).await.text().await.unwrap();
    assert!(page.contains("the secret (<code>client_secret_basic</code>"), "{page}");
    assert!(page.contains("<dt>DPoP</dt><dd>optional"), "{page}");
    assert!(page.contains("<button type=\"submit\">Rotate</button>"));
}

async fn a_key_with_public_keys_is_created_in_the_console(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    let signer = crate::assertions::ClientKey::new(Some("console-key"));
    let jwks = signer.jwks().to_string();
    let base = [
        ("name", "signer"),
        ("environment", "production"),
        ("type", "access"),
        ("scopes", "read:a"),
        ("expires", "30d"),
        ("dpop_bound_access_tokens", "on"),
    ];
    // A JWK Set that is not one is refused beside its field, the text kept.
    let bad = console
        .submit(
            "/console/keys/new",
            &[&base[..], &[("jwks", "{not json"), ("intent", "review")]].concat(),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = bad.text().await.unwrap();
    assert!(page.contains("id=\"jwks-error\"") && page.contains("Public keys (JWK Set)"), "{page}");
    assert!(page.contains("{not json"), "the text is kept");

    let fields = [&base[..], &[("jwks", jwks.as_str())]].concat();
    let review =
        console.submit("/console/keys/new", &[&fields[..], &[("intent", "review")]].concat()).await;
    let page = review.text().await.unwrap();
    assert!(page.contains("none: the client signs assertions"), "{page}");
    let created =
        console.submit("/console/keys/new", &[&fields[..], &[("intent", "create")]].concat()).await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let target = location(&created);
    assert!(!target.ends_with("/secret"), "no secret to show: {target}");
    let id = target.rsplit('/').next().unwrap();
    let key: serde_json::Value = app
        .get_with(&app.admin_token().await, &format!("/v1/keys/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(key["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(key["dpop_bound_access_tokens"], true);
    assert_eq!(key["jwks"]["keys"][0]["kid"], "console-key");
}

async fn public_keys_and_the_dpop_requirement_are_edited_in_the_console(backend: Backend) {
    let app = spawn_app(backend).await;
    let old = crate::assertions::ClientKey::new(Some("old"));
    let key = app.create_key(json!({"name": "signer", "jwks": old.jwks()})).await;
    let id = key["id"].as_str().unwrap();
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    let path = format!("/console/keys/{id}/edit");
    let page = console.get(&path).await.text().await.unwrap();
    assert!(page.contains("Public keys (JWK Set)") && page.contains("&#34;old&#34;"), "{page}");

    let new = crate::assertions::ClientKey::new(Some("new"));
    let jwks = new.jwks().to_string();
    let form = [
        ("name", "signer"),
        ("description", ""),
        ("scopes", ""),
        ("allowed_cidrs", ""),
        ("audiences", ""),
        ("expires", "keep"),
        ("jwks", jwks.as_str()),
        ("jwks_uri", ""),
        ("dpop_bound_access_tokens", "on"),
    ];
    let review = console.submit(&path, &[&form[..], &[("intent", "review")]].concat()).await;
    let page = review.text().await.unwrap();
    assert!(page.contains("jwks") && page.contains("dpop_bound_access_tokens"), "{page}");
    let saved = console.submit(&path, &[&form[..], &[("intent", "save")]].concat()).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let stored = app.app.store.find_key(id).await.unwrap().unwrap();
    assert!(stored.dpop_bound);
    let held = match stored.credential.public_keys() {
        Some(PublicKeySource::Held(jwks)) => jwks.clone(),
        other => panic!("public keys held: {other:?}"),
    };
    assert!(held.contains("\"new\""), "the public keys were replaced");

    // Both places at once is refused beside the URL field.
    let mut both = form.to_vec();
    both[7] = ("jwks_uri", "https://client.example.com/jwks.json");
    both.push(("intent", "review"));
    let refused = console.submit(&path, &both).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("id=\"jwks_uri-error\""));
}

async fn a_key_moves_between_a_secret_and_public_keys_in_the_console(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.new_client("mover", &["read:a"]).await;
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    let path = format!("/console/keys/{id}/edit");
    let page = console.get(&path).await.text().await.unwrap();
    assert!(page.contains("Authenticate with the client's own keys instead of a secret"), "{page}");
    assert!(!page.contains("id=\"use_secret\""), "a secret key has nothing to go back to");

    let signer = crate::assertions::ClientKey::new(Some("mover-key"));
    let jwks = signer.jwks().to_string();
    let mut form = vec![
        ("name", "mover"),
        ("description", ""),
        ("scopes", "read:a"),
        ("allowed_cidrs", ""),
        ("audiences", ""),
        ("expires", "keep"),
        ("jwks", jwks.as_str()),
        ("jwks_uri", ""),
    ];
    let review = console.submit(&path, &[&form[..], &[("intent", "review")]].concat()).await;
    let page = review.text().await.unwrap();
    assert!(page.contains("token_endpoint_auth_method"), "{page}");
    assert!(page.contains("its secret stops working"), "warned first: {page}");
    let saved = console.submit(&path, &[&form[..], &[("intent", "save")]].concat()).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let stored = app.app.store.find_key(&id).await.unwrap().unwrap();
    assert_eq!(stored.credential.method(), AuthMethod::PrivateKeyJwt);
    let refused = app.token_basic(&id, &secret, &[]).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "the secret no longer works");

    // Back to a secret: the form still shows the public keys, the box says go back.
    let page = console.get(&path).await.text().await.unwrap();
    assert!(page.contains("Authenticate with a secret instead"), "{page}");
    form.push(("use_secret", "on"));
    let review = console.submit(&path, &[&form[..], &[("intent", "review")]].concat()).await;
    let page = review.text().await.unwrap();
    assert!(page.contains("rotate it to get one"), "{page}");
    let saved = console.submit(&path, &[&form[..], &[("intent", "save")]].concat()).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let stored = app.app.store.find_key(&id).await.unwrap().unwrap();
    assert_eq!(stored.credential.method(), AuthMethod::ClientSecretBasic);
    assert_eq!(stored.credential.public_keys(), None);
    let page = console.get(&format!("/console/keys/{id}")).await.text().await.unwrap();
    assert!(page.contains("<button type=\"submit\">Rotate</button>"), "{page}");
}

async fn a_platform_admin_imports_a_legacy_secret_that_is_never_shown_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    let form = console.get("/console/keys/new").await.text().await.unwrap();
    assert!(form.contains("Import an existing secret"), "offered to a platform admin");
    let legacy = "legacy-value-0123456789abcdef";
    let fields = [
        ("name", "legacy"),
        ("environment", "production"),
        ("type", "access"),
        ("expires", "none"),
        ("secret", legacy),
    ];
    let review =
        console.submit("/console/keys/new", &[&fields[..], &[("intent", "review")]].concat()).await;
    let page = review.text().await.unwrap();
    assert!(page.contains("imported") && !page.contains(legacy), "never put back in a page");
    let created =
        console.submit("/console/keys/new", &[&fields[..], &[("intent", "create")]].concat()).await;
    let target = location(&created);
    assert!(target.ends_with("?done=imported"), "{target}");
    let id = target.split('/').nth(3).unwrap().split('?').next().unwrap().to_string();
    let key = console.get(&target).await.text().await.unwrap();
    assert!(key.contains("never shown again") && !key.contains(legacy));
    assert_eq!(app.token_basic(&id, legacy, &[]).await.status(), StatusCode::OK);

    let (reader, secret) = app.new_client("reader", &["keymint:keys:read"]).await;
    let mut read_only = ConsoleClient::new(&app);
    read_only.sign_in(&reader, &secret).await;
    let response = read_only.get("/console/keys/new").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "no import without keys:write");
}

async fn the_audit_page_filters_pages_and_exports_csv(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_key(json!({"name": "=cmd|' /C calc'!A0"})).await;
    let (id, _) = app.new_client("audited", &["read:a"]).await;
    let admin = app.admin_token().await;
    app.post_with(&admin, &format!("/v1/keys/{id}/deactivate"), &json!({})).await;
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    let page = console.get("/console/audit?action=key.deactivate").await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("key.deactivate") && page.contains(&id), "{page}");
    assert!(page.contains("status: active → inactive"), "the change, as people read it");
    assert!(!page.contains(">key.create<"), "filtered");
    let future = console.get("/console/audit?from=2999-01-01T00:00").await.text().await.unwrap();
    assert!(future.contains("No events match"), "{future}");
    let bad = console.get("/console/audit?from=yesterday").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("from: must be an RFC 3339 time"));

    let csv = console.get("/console/audit.csv?action=key.create").await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(csv.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("at,actor,actor_email,actor_ip"), "{csv}");
    assert_eq!(lines.len(), 1 + 3, "the admin, the formula-named key and the client: {csv}");
    assert!(lines[1..].iter().all(|l| l.contains("\"key.create\"")), "{csv}");
    assert!(csv.contains("\"\"name\"\":\"\"=cmd|' /C calc'!A0\"\""), "quotes doubled: {csv}");
    assert!(!csv.contains(&app.admin_secret));

    let (reader, secret) = app.new_client("reader", &["keymint:keys:read"]).await;
    let mut other = ConsoleClient::new(&app);
    other.sign_in(&reader, &secret).await;
    assert!(!other.get("/console/keys").await.text().await.unwrap().contains("Audit log"));
    assert_eq!(other.get("/console/audit").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(other.get("/console/audit.csv").await.status(), StatusCode::FORBIDDEN);
}

async fn signing_keys_rotate_behind_the_typed_kid(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    let kid = app.app.keyring.current().kid().to_string();
    let page = console.get("/console/signing-keys").await.text().await.unwrap();
    assert!(page.contains(&kid) && page.contains(">current<"), "{page}");

    let path = "/console/signing-keys/rotate";
    let wrong = console.submit(path, &[("confirm", "not-the-kid"), ("emergency", "false")]).await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.text().await.unwrap().contains("type the kid of the current signing key"));
    assert_eq!(app.app.store.list_signing_keys().await.unwrap().len(), 1, "nothing rotated");

    let scheduled = console.submit(path, &[("confirm", &kid), ("emergency", "false")]).await;
    assert_eq!(scheduled.status(), StatusCode::SEE_OTHER);
    assert!(location(&scheduled).starts_with("/console/signing-keys?done=scheduled"));
    let page = console.get(&location(&scheduled)).await.text().await.unwrap();
    assert!(page.contains(">next<") && page.contains("once verifiers have it"), "{page}");
    app.clock.advance(301);
    let page = console.get("/console/signing-keys").await.text().await.unwrap();
    assert!(page.contains("published long enough"), "after the JWKS max-age: {page}");

    let emergency = console.submit(path, &[("confirm", &kid), ("emergency", "true")]).await;
    assert!(location(&emergency).starts_with("/console/signing-keys?done=replaced"));
    let jwks: serde_json::Value =
        reqwest::get(app.url("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
    assert!(!jwks.to_string().contains(&kid), "the old key is no longer published");

    let (id, secret) = app.new_client("keys-only", &["keymint:keys:write"]).await;
    let mut other = ConsoleClient::new(&app);
    other.sign_in(&id, &secret).await;
    assert!(!other.get("/console/keys").await.text().await.unwrap().contains("Signing keys"));
    assert_eq!(other.get("/console/signing-keys").await.status(), StatusCode::FORBIDDEN);
}

async fn workspaces_are_created_renamed_switched_and_deleted_with_the_api_guards(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    let blank = console.submit("/console/workspaces", &[("name", "  ")]).await;
    assert_eq!(blank.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(blank.text().await.unwrap().contains("id=\"name-error\""));
    let created = console.submit("/console/workspaces", &[("name", "payments")]).await;
    assert_eq!(location(&created), "/console/workspaces?done=created");
    let clash = console.submit("/console/workspaces", &[("name", "payments")]).await;
    assert_eq!(clash.status(), StatusCode::UNPROCESSABLE_ENTITY, "a name is unique");
    let ws = app.app.store.find_workspace_by_name("payments").await.unwrap().unwrap();
    let pay = app.create_key(json!({"name": "pay-key", "workspace_id": ws.id})).await;
    let home = app.create_key(json!({"name": "home-key"})).await;

    // One workspace's keys, kept in the address.
    let theirs = console.get(&format!("/console/keys?workspace={}", ws.id)).await;
    let theirs = theirs.text().await.unwrap();
    assert!(theirs.contains("pay-key") && !theirs.contains("home-key"), "{theirs}");
    // The switcher's choice holds for the keys, usage and audit pages.
    let signed_in = console.cookie.clone().unwrap();
    console.cookie = Some(format!("{signed_in}; keymint_workspace={}", ws.id));
    let keys = console.get("/console/keys").await.text().await.unwrap();
    assert!(keys.contains("pay-key") && !keys.contains("home-key"), "{keys}");
    let audit = console.get("/console/audit").await.text().await.unwrap();
    let (pay_id, home_id) = (pay["id"].as_str().unwrap(), home["id"].as_str().unwrap());
    assert!(audit.contains(pay_id) && !audit.contains(home_id), "{audit}");
    let usage = console.get("/console/usage").await.text().await.unwrap();
    assert!(usage.contains(&format!("Workspace <code>{}</code>", ws.id)), "{usage}");
    console.cookie = Some(signed_in);

    let path = format!("/console/workspaces/{}", ws.id);
    // The scope catalog, one resource per line.
    let saved = console
        .submit(
            &format!("{path}/catalog"),
            &[("catalog", "agents read write -- AI agents\nprompts")],
        )
        .await;
    assert_eq!(location(&saved), format!("{path}?done=catalog"));
    let page = console.get(&path).await.text().await.unwrap();
    assert!(page.contains("agents read write -- AI agents\nprompts read write admin"), "{page}");
    let stored =
        app.app.workspaces.scope_catalog(&keymint::vocab::Actor::cli(), &ws.id).await.unwrap();
    assert_eq!(stored.resources.len(), 2);
    let bad = console.submit(&format!("{path}/catalog"), &[("catalog", "agents/* read")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad = bad.text().await.unwrap();
    assert!(
        bad.contains("Scope catalog, resource 1: &#34;agents/*&#34; is not a resource path"),
        "{bad}"
    );
    // A key policy set here refuses, in the create form, a key without expiry.
    let policy = console
        .submit(
            &format!("{path}/policy"),
            &[
                ("default_expires_in", "none"),
                ("max_lifetime_days", "30"),
                ("expiry_editable", "true"),
            ],
        )
        .await;
    assert_eq!(location(&policy), format!("{path}?done=policy"));
    let page = console.get(&location(&policy)).await.text().await.unwrap();
    assert!(page.contains("Key policy saved.") && page.contains("value=\"30\""), "{page}");
    let refused = console
        .submit(
            "/console/keys/new",
            &[
                ("workspace_id", ws.id.as_str()),
                ("name", "forever"),
                ("environment", "production"),
                ("type", "access"),
                ("expires", "none"),
                ("intent", "review"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = refused.text().await.unwrap();
    assert!(refused.contains("id=\"expires-error\""), "beside the Expires field: {refused}");
    assert!(refused.contains("max_lifetime_days: 30"), "{refused}");
    let bad = console.submit(&format!("{path}/policy"), &[("max_lifetime_days", "lots")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let renamed = console.submit(&format!("{path}/rename"), &[("name", "billing")]).await;
    assert_eq!(location(&renamed), format!("{path}?done=renamed"));
    let wrong = console.submit(&format!("{path}/delete"), &[("confirm", "payments")]).await;
    assert!(wrong.text().await.unwrap().contains("type the workspace"));
    let holds_keys = console.submit(&format!("{path}/delete"), &[("confirm", "billing")]).await;
    assert!(holds_keys.text().await.unwrap().contains("still holds keys"), "the API's guard");
    let own = app.app.store.find_key(&app.admin_id).await.unwrap().unwrap().workspace_id;
    let mine = console
        .submit(&format!("/console/workspaces/{own}/delete"), &[("confirm", "default")])
        .await;
    assert!(mine.text().await.unwrap().contains("cannot delete its own workspace"));
    let gone = console
        .submit(&format!("{path}/delete"), &[("confirm", "billing"), ("force", "true")])
        .await;
    assert_eq!(location(&gone), "/console/workspaces?done=deleted");
    assert!(app.app.store.find_workspace_by_name("billing").await.unwrap().is_none());

    let (id, secret) = app.new_client("team", &["keymint:keys:write"]).await;
    let mut team = ConsoleClient::new(&app);
    team.sign_in(&id, &secret).await;
    let list = team.get("/console/workspaces").await.text().await.unwrap();
    assert!(!list.contains("Create workspace") && list.contains("default"), "{list}");
    // Its own workspace reads as /v1 reads it, with nothing to change; another
    // is not found, as on /v1.
    let page = team.get(&format!("/console/workspaces/{own}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("Key policy") && page.contains("Only platform admins"), "{page}");
    assert!(!page.contains("/policy\"") && !page.contains("Delete workspace"), "{page}");
    let token = app.access_token(&id, &secret).await;
    let api = app.get_with(&token, &format!("/v1/workspaces/{own}")).await;
    assert_eq!(api.status(), StatusCode::OK);
    let elsewhere = team.get(&format!("/console/workspaces/{}", ws.id)).await;
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    let api = app.get_with(&token, &format!("/v1/workspaces/{}", ws.id)).await;
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    let changed = team
        .submit(&format!("/console/workspaces/{own}/policy"), &[("require_scope", "true")])
        .await;
    assert_eq!(changed.status(), StatusCode::FORBIDDEN, "changing it is not allowed");
    let keys = team.get("/console/keys").await.text().await.unwrap();
    assert!(!keys.contains("All workspaces"), "no switcher for a workspace admin");
    // Even a switch forged to another workspace leaves a workspace admin in their own.
    let switched = team
        .submit("/console/workspace", &[("workspace", &ws.id), ("back", "/console/keys")])
        .await;
    assert_eq!(location(&switched), "/console/keys");
    let set = switched.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set.starts_with(&format!("keymint_workspace={}", ws.id)), "{set}");
    team.cookie = Some(format!("{}; keymint_workspace={}", team.cookie.clone().unwrap(), ws.id));
    let keys = team.get("/console/keys").await.text().await.unwrap();
    assert!(keys.contains("team") && !keys.contains("pay-key"), "{keys}");
    let usage = team.get("/console/usage").await.text().await.unwrap();
    assert!(usage.contains(&format!("Workspace <code>{own}</code>")), "{usage}");
    let away = team
        .submit("/console/workspace", &[("workspace", ""), ("back", "https://evil.example/")])
        .await;
    assert_eq!(location(&away), "/console/keys", "only console pages are gone back to");
    let split = team
        .submit(
            "/console/workspace",
            &[("workspace", ""), ("back", "/console/x\r\nSet-Cookie: a=b")],
        )
        .await;
    assert_eq!(location(&split), "/console/keys", "no header is split");
}

async fn the_keys_list_sorts_by_the_chosen_order(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_key(json!({"name": "older-key"})).await;
    app.clock.advance(1);
    app.create_key(json!({"name": "newer-key"})).await;
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    let page = |path: &'static str| {
        let console = &console;
        async move { console.get(path).await.text().await.unwrap() }
    };
    let at = |page: &str, name: &str| {
        page.find(name).unwrap_or_else(|| panic!("{name} is listed: {page}"))
    };
    let newest = page("/console/keys?sort=-created").await;
    assert!(at(&newest, "newer-key") < at(&newest, "older-key"), "newest first");
    assert!(newest.contains("<option value=\"-created\" selected>Newest first"), "{newest}");
    let oldest = page("/console/keys").await;
    assert!(at(&oldest, "older-key") < at(&oldest, "newer-key"), "oldest first by default");
    let bad = console.get("/console/keys?sort=name").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("sort: must be created, last_used or expires"));
}

/// The typed name is checked by the call that revokes, against the row it
/// revokes: a key renamed after its confirmation page was shown is not revoked
/// by its old name.
async fn a_revoke_checks_the_typed_name_against_the_key_it_revokes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.new_client("alpha", &["read:a"]).await;
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    let path = format!("/console/keys/{id}/revoke");
    assert!(console.get(&path).await.text().await.unwrap().contains("alpha"));
    let admin = app.admin_token().await;
    let renamed = app.patch_with(&admin, &format!("/v1/keys/{id}"), &json!({"name": "beta"})).await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let stale = console.submit(&path, &[("confirm", "alpha")]).await;
    assert_eq!(stale.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = stale.text().await.unwrap();
    assert!(page.contains("name exactly as shown to confirm"), "{page}");
    assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK, "not revoked");
    let revoked = console.submit(&path, &[("confirm", "beta")]).await;
    assert_eq!(location(&revoked), format!("/console/keys/{id}?done=revoked"));
    assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::UNAUTHORIZED);
    let events: Value =
        app.get_json(&admin, &format!("/v1/audit?target_id={id}&action=key.revoke")).await;
    assert_eq!(events["data"].as_array().unwrap().len(), 1, "one revocation, audited once");
}

/// The Access page adds and removes role bindings as `/v1/role-bindings` does,
/// refusing beside the field; only platform admins see it.
async fn platform_admins_grant_and_remove_access_in_the_console(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut console = ConsoleClient::new(&app);
    console.sign_in(&app.admin_id, &app.admin_secret).await;
    let keys = console.get("/console/keys").await.text().await.unwrap();
    assert!(keys.contains("<a href=\"/console/access\">Access</a>"), "in the navigation");
    let page = console.get("/console/access").await.text().await.unwrap();
    assert!(page.contains("<h1>Access</h1>") && page.contains("No role bindings yet."), "{page}");

    let typo = console
        .submit(
            "/console/access",
            &[("subject", "support"), ("role", "read-only"), ("workspace_id", "")],
        )
        .await;
    assert_eq!(typo.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = typo.text().await.unwrap();
    assert!(page.contains("id=\"subject-error\""), "beside the Subject field: {page}");
    assert!(page.contains("must be group:&#60;name&#62; or email:&#60;address&#62;"), "{page}");
    assert!(page.contains("value=\"support\""), "the value is kept");

    let added = console
        .submit(
            "/console/access",
            &[("subject", "group:support"), ("role", "read-only"), ("workspace_id", "")],
        )
        .await;
    assert_eq!(location(&added), "/console/access?done=added");
    let admin = app.admin_token().await;
    let listed: Value = app.get_json(&admin, "/v1/role-bindings").await;
    let binding = &listed["data"][0];
    assert_eq!(
        (binding["subject"].as_str(), binding["role"].as_str()),
        (Some("group:support"), Some("read-only"))
    );
    assert_eq!(binding["workspace_id"], Value::Null);
    let page = console.get("/console/access").await.text().await.unwrap();
    assert!(
        page.contains("Remove read-only from group:support") && page.contains("Every workspace")
    );

    let id = binding["id"].as_str().unwrap();
    let removed = console.submit(&format!("/console/access/{id}/delete"), &[]).await;
    assert_eq!(location(&removed), "/console/access?done=removed");
    let listed: Value = app.get_json(&admin, "/v1/role-bindings").await;
    assert_eq!(listed["data"], json!([]));
    let events: Value = app.get_json(&admin, "/v1/audit?action=role_binding.delete").await;
    assert_eq!(events["data"][0]["actor"], app.admin_id, "audited as the signed-in key");

    let (reader_id, reader_secret) = app.new_client("reader", &["keymint:keys:read"]).await;
    let mut reader = ConsoleClient::new(&app);
    reader.sign_in(&reader_id, &reader_secret).await;
    let keys = reader.get("/console/keys").await.text().await.unwrap();
    assert!(!keys.contains("/console/access"), "no Access link for a reader");
    assert_eq!(reader.get("/console/access").await.status(), StatusCode::FORBIDDEN);
    let refused = reader
        .submit("/console/access", &[("subject", "group:x"), ("role", "platform-admin")])
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let listed: Value = app.get_json(&admin, "/v1/role-bindings").await;
    assert_eq!(listed["data"], json!([]), "nothing was added");
}

crate::on_both_backends!(
    platform_admins_grant_and_remove_access_in_the_console,
    a_revoke_checks_the_typed_name_against_the_key_it_revokes,
    a_workspace_admin_is_offered_the_import_the_api_allows,
    the_console_and_the_api_refuse_with_the_same_status_and_words,
    public_keys_and_the_dpop_requirement_are_edited_in_the_console,
    a_key_moves_between_a_secret_and_public_keys_in_the_console,
    a_key_page_shows_how_the_key_authenticates,
    a_key_with_public_keys_is_created_in_the_console,
    the_keys_list_sorts_by_the_chosen_order,
    workspaces_are_created_renamed_switched_and_deleted_with_the_api_guards,
    signing_keys_rotate_behind_the_typed_kid,
    the_audit_page_filters_pages_and_exports_csv,
    a_platform_admin_imports_a_legacy_secret_that_is_never_shown_back,
    an_edit_is_reviewed_with_its_risks_before_it_is_saved,
    a_rotation_with_grace_shows_when_the_old_secret_was_last_used,
    every_console_answer_carries_the_security_headers,
    signing_in_sets_a_strict_http_only_cookie_and_stores_only_its_hash,
    over_https_the_cookie_is_host_prefixed_and_secure,
    a_wrong_secret_is_refused_and_counts_against_the_limits,
    a_key_without_management_scopes_cannot_sign_in,
    a_cross_site_post_is_refused_and_changes_nothing,
    a_created_secret_is_shown_once_and_works,
    form_errors_are_shown_beside_their_fields_with_the_values_kept,
    a_hostile_name_is_shown_as_text,
    a_session_ends_with_its_key,
    a_session_ends_when_idle_and_at_its_lifetime,
    signing_in_and_out_is_audited_with_address_and_user_agent,
    a_read_only_admin_gets_no_write_controls_and_no_writes,
);
