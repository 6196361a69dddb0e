//! People sign in through a real OpenID provider (node-oidc-provider, on another
//! site), walked through its own login and consent pages over HTTP: who gets a
//! session, what refuses one, and what ends one. The browser drives the same
//! flow in `browser_sso.rs`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::captured_logs;
use crate::helpers::idp::{
    begin, get, log_in_at_idp, sign_in, spawn_app_with_sso, walker, Jar, CLIENT_SECRET,
    OTHER_CLIENT_ID,
};
use crate::helpers::{Backend, TestApp};

crate::with_an_idp_on_both_backends!(
    an_admin_group_member_signs_in_and_is_audited_by_name,
    a_person_no_role_reaches_is_told_so_and_gets_no_session,
    an_email_binding_matches_only_a_verified_address,
    a_replayed_callback_is_refused,
    a_forged_state_is_refused,
    an_answer_naming_another_issuer_is_refused,
    a_callback_this_browser_did_not_begin_is_refused,
    a_code_issued_to_another_client_is_refused,
    an_expired_id_token_is_refused,
    deleting_a_binding_ends_the_rights_at_once,
    leaving_a_group_at_the_provider_ends_the_rights_at_the_next_sign_in,
    sign_out_everywhere_ends_every_session_of_the_person,
    a_workspace_binding_gives_that_workspace_only,
    key_sign_in_can_be_turned_off,
);

#[test]
fn ci_runs_the_sign_in_tests() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        !ci || cfg!(keymint_idp_tests),
        "CI=true but the test OpenID provider is not installed: npm ci --prefix tests/idp"
    );
}

/// The console page `path` with the cookies of `jar`.
async fn page(app: &TestApp, jar: &mut Jar, path: &str) -> (StatusCode, String, String) {
    let response = get(&walker(), jar, &app.url(path)).await;
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location, response.text().await.unwrap())
}

fn session_cookie(jar: &Jar) -> Option<&str> {
    jar.get("keymint_session")
}

async fn bind(app: &TestApp, subject: &str, workspace: Option<&str>, role: &str) -> Value {
    let token = app.admin_token().await;
    let response = app
        .post_with(
            &token,
            "/v1/role-bindings",
            &json!({"subject": subject, "workspace_id": workspace, "role": role}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    let token = app.admin_token().await;
    let page = app.get_json(&token, &format!("/v1/audit?{query}")).await;
    page["data"].as_array().unwrap().clone()
}

async fn an_admin_group_member_signs_in_and_is_audited_by_name(backend: Backend) {
    let (app, idp) = spawn_app_with_sso(backend, &[]).await;
    let (mut jar, response) = sign_in(&app, &idp, "alice").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(session_cookie(&jar).is_some(), "a session cookie is set");
    assert!(jar.get("keymint_sso").is_none(), "the sign-in cookie is cleared");
    let (status, _, html) = page(&app, &mut jar, "/console/keys").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("alice@example.com"), "the header names the person");
    assert!(html.contains("platform admin"), "an admin group member is a platform admin");
    assert!(html.contains(r#"href="/console/access""#), "and is offered Access");

    // The person acts: a workspace made in the console is audited under them.
    let token = form_token(&html);
    let response = walker()
        .post(app.url("/console/workspaces"))
        .header("cookie", jar.header())
        .form(&[("form_token", token.as_str()), ("name", "made-by-alice")])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection() || response.status().is_success());

    let admin = app.admin_token().await;
    let people = app.get_json(&admin, "/v1/people").await;
    let alice = &people["data"][0];
    assert_eq!(alice["email"], "alice@example.com");
    assert_eq!(alice["role"], "platform-admin");
    assert_eq!(alice["groups"], json!(["keymint-admins", "staff"]));
    let id = alice["id"].as_str().unwrap();
    assert!(id.starts_with("p_"));

    let events = audit(&app, &format!("actor={id}")).await;
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["workspace.create", "person.sign_in"], "filtered by the person");
    for event in &events {
        assert_eq!(event["actor"], id);
        assert_eq!(event["actor_email"], "alice@example.com");
    }

    // The provider's client secret and its tokens never reach a log.
    let logs = captured_logs();
    assert!(!logs.contains(CLIENT_SECRET), "the client secret was logged");
    assert!(!logs.contains("eyJ"), "a token was logged");
}

fn form_token(html: &str) -> String {
    html.split(r#"name="form_token" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form token on the page")
        .to_string()
}

async fn a_person_no_role_reaches_is_told_so_and_gets_no_session(backend: Backend) {
    let (app, idp) = spawn_app_with_sso(backend, &[]).await;
    let (jar, response) = sign_in(&app, &idp, "nobody").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie(&jar).is_none(), "no session");
    let html = response.text().await.unwrap();
    assert!(
        html.contains(
            "you signed in as nobody@example.com, but no role in keymint is given to you"
        ) || html.contains(
            "You signed in as nobody@example.com, but no role in keymint is given to you"
        ),
        "{html}"
    );
    let refused = audit(&app, "action=person.refused").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["actor_email"], "nobody@example.com");
}

async fn an_email_binding_matches_only_a_verified_address(backend: Backend) {
    let (app, idp) = spawn_app_with_sso(backend, &[]).await;
    bind(&app, "email:una@example.com", None, "read-only").await;
    bind(&app, "email:vic@example.com", None, "read-only").await;
    let (jar, response) = sign_in(&app, &idp, "una").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "una's address is not verified");
    assert!(session_cookie(&jar).is_none());
    // Vic's provider spells the address in capitals; it is the same address.
    let (mut jar, response) = sign_in(&app, &idp, "vic").await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, _, html) = page(&app, &mut jar, "/console/keys").await;
    assert!(html.contains("read-only"));
}

async fn a_replayed_callback_is_refused(backend: Backend) {
    let (app, idp) = spawn_app_with_sso(backend, &[]).await;
    let mut jar = Jar::default();
    let authorize = begin(&app, &mut jar).await;
    let back = log_in_at_idp(&idp, &authorize, "alice").await;
    let mut replay = jar.clone();
    let first = get(&walker(), &mut jar, &back).await;
    assert_eq!(first.status(), StatusCode::OK);
    // The same answer again, with the same sign-in cookie: used once already.
    let second = get(&walker(), &mut replay, &back).await;
    assert_eq!(second.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(&replay).is_none(), "no second session");
    assert!(second.text().await.unwrap().contains("already used"));
}

async fn a_forged_state_is_refused(backend: Backend) {
    let (app, idp) = spawn_app_with_sso(backend, &[]).await;
    let mut jar = Jar::default();
    let authorize = begin(&app, &mut jar).await;
    let back = log_in_at_idp(&idp, &authorize, "alice").await;
    let mut url = reqwest::Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            (k.to_string(), if k == "state" { "forged".to_string() } else { v.to_string() })
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let response = get(&walker(), &mut jar, url.as_str()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(&jar).is_none());
    assert!(response.text().await.unwrap().contains("does not belong to the sign-in"));
    // The pending sign-in is spent: the genuine answer now fails too.
    let response = get(&walker(), &mut jar, &back).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(&jar).is_none());
}

async fn a_callback_this_browser_did_not_begin_is_refused(backend: Backend) {
    let (app, idp) = spawn_app_with_sso(backend, &[]).await;
    let mut victim = Jar::default();
    let authorize = begin(&app, &mut victim).await;
    let back = log_in_at_idp(&idp, &authorize, "alice").await;
    // Another browser (no sign-in cookie) is sent the answer.
    let mut other = Jar::default();
    let response = get(&walker(), &mut other, &back).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(&other).is_none());
}

async fn a_code_issued_to_another_client_is_refused(backend: Backend) {
    let (app, idp) = spawn_app_with_sso(backend, &[]).await;
    let mut jar = Jar::default();
    let authorize = begin(&app, &mut jar).await;
    // The same request, but for another application registered at the provider.
    let mut url = reqwest::Url::parse(&authorize).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            (
                k.to_string(),
                if k == "client_id" { OTHER_CLIENT_ID.to_string() } else { v.to_string() },
            )
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let back = log_in_at_idp(&idp, url.as_str(), "alice").await;
    assert!(back.contains("code="), "the provider issued a code to the other client: {back}");
    let response = get(&walker(), &mut jar, &back).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(session_cookie(&jar).is_none());
    assert!(response.text().await.unwrap().contains("refused the sign-in"));
}

async fn an_expired_id_token_is_refused(backend: Backend) {
    let (app, idp) = spawn_app_with_sso(backend, &[]).await;
    // keymint's clock runs an hour ahead of the provider's by the time the answer
    // arrives, past the ID token's one-hour life; the sign-in itself is fresh.
    app.clock.advance(3600 - 60);
    let mut jar = Jar::default();
    let authorize = begin(&app, &mut jar).await;
    let back = log_in_at_idp(&idp, &authorize, "alice").await;
    app.clock.advance(120);
    let response = get(&walker(), &mut jar, &back).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(session_cookie(&jar).is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains("ID token was not accepted"), "{html}");
}

async fn deleting_a_binding_ends_the_rights_at_once(backend: Backend) {
    let (app, idp) = spawn_app_with_sso(backend, &[]).await;
    let binding = bind(&app, "group:support", None, "read-only").await;
    let (mut jar, response) = sign_in(&app, &idp, "sam").await;
    assert_eq!(response.status(), StatusCode::OK);
    let (status, _, html) = page(&app, &mut jar, "/console/keys").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("sam@example.com") && html.contains("read-only"));
    assert!(!html.contains(r#"href="/console/keys/new""#), "read-only is offered no Create key");

    let token = app.admin_token().await;
    let id = binding["id"].as_str().unwrap();
    let response = app.delete_with(&token, &format!("/v1/role-bindings/{id}")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, location, _) = page(&app, &mut jar, "/console/keys").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/console/sign-in?ended=1");
}

async fn leaving_a_group_at_the_provider_ends_the_rights_at_the_next_sign_in(backend: Backend) {
    let (app, mut idp) = spawn_app_with_sso(backend, &[]).await;
    bind(&app, "group:support", None, "read-only").await;
    let (_, response) = sign_in(&app, &idp, "sam").await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut accounts = crate::helpers::idp::accounts();
    accounts["sam"]["groups"] = json!(["former-support"]);
    idp.send(json!({ "accounts": accounts }));
    let (jar, response) = sign_in(&app, &idp, "sam").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie(&jar).is_none());
    let token = app.admin_token().await;
    let people = app.get_json(&token, "/v1/people").await;
    assert_eq!(people["data"][0]["groups"], json!(["former-support"]));
    assert_eq!(people["data"][0]["role"], Value::Null);
}

async fn sign_out_everywhere_ends_every_session_of_the_person(backend: Backend) {
    let (app, idp) = spawn_app_with_sso(backend, &[]).await;
    let (mut laptop, _) = sign_in(&app, &idp, "alice").await;
    let (mut phone, _) = sign_in(&app, &idp, "alice").await;
    assert_eq!(page(&app, &mut laptop, "/console/keys").await.0, StatusCode::OK);
    assert_eq!(page(&app, &mut phone, "/console/keys").await.0, StatusCode::OK);

    let token = app.admin_token().await;
    let people = app.get_json(&token, "/v1/people").await;
    let id = people["data"][0]["id"].as_str().unwrap().to_string();
    let response = app.post_with(&token, &format!("/v1/people/{id}/sign-out"), &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["sessions_ended"], 2);
    for jar in [&mut laptop, &mut phone] {
        let (status, location, _) = page(&app, jar, "/console/keys").await;
        assert_eq!(
            (status, location.as_str()),
            (StatusCode::SEE_OTHER, "/console/sign-in?ended=1")
        );
    }
    let ended = audit(&app, "action=person.sessions_end").await;
    assert_eq!(ended[0]["target_id"], id.as_str());

    let response = app.post_with(&token, "/v1/people/p_nobody/sign-out", &json!({})).await;
    crate::helpers::assert_problem(response, StatusCode::NOT_FOUND, "not-found").await;
}

async fn a_workspace_binding_gives_that_workspace_only(backend: Backend) {
    let (app, idp) = spawn_app_with_sso(backend, &[]).await;
    let token = app.admin_token().await;
    let a = app.post_json(&token, "/v1/workspaces", &json!({"name": "team-a"})).await;
    let b = app.post_json(&token, "/v1/workspaces", &json!({"name": "team-b"})).await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    bind(&app, "group:team-a", Some(a), "workspace-admin").await;
    let key_b =
        app.post_json(&token, "/v1/keys", &json!({"name": "in-b", "workspace_id": b})).await;

    let (mut jar, response) = sign_in(&app, &idp, "wes").await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, _, html) = page(&app, &mut jar, "/console/keys").await;
    assert!(html.contains("workspace admin"));
    assert!(html.contains(&format!("Workspace <code>{a}</code>")));
    assert!(!html.contains(r#"href="/console/access""#), "no Access for a workspace admin");
    let key_b = key_b["id"].as_str().unwrap();
    let (status, _, _) = page(&app, &mut jar, &format!("/console/keys/{key_b}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another workspace's key is not there");
}

async fn key_sign_in_can_be_turned_off(backend: Backend) {
    let (app, _idp) = spawn_app_with_sso(backend, &["--console-key-sign-in", "false"]).await;
    let page = app.client.get(app.url("/console/sign-in")).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign in with SSO"));
    assert!(!html.contains("Client secret"), "no key form");
    let response = app
        .client
        .post(app.url("/console/sign-in"))
        .form(&[("client_id", app.admin_id.as_str()), ("client_secret", &app.admin_secret)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get("set-cookie").is_none());
}

async fn an_answer_naming_another_issuer_is_refused(backend: Backend) {
    let (app, idp) = spawn_app_with_sso(backend, &[]).await;
    let mut jar = Jar::default();
    let authorize = begin(&app, &mut jar).await;
    let back = log_in_at_idp(&idp, &authorize, "alice").await;
    let mut url = reqwest::Url::parse(&back).unwrap();
    let said: Vec<(String, String)> =
        url.query_pairs().map(|(k, v)| (k.into(), v.into())).collect();
    assert!(said.iter().any(|(k, v)| k == "iss" && *v == idp.issuer), "the provider names itself");
    let pairs: Vec<(String, String)> = said
        .into_iter()
        .map(|(k, v)| if k == "iss" { (k, "https://evil.example".to_string()) } else { (k, v) })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let response = get(&walker(), &mut jar, url.as_str()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(&jar).is_none());
    assert!(response.text().await.unwrap().contains("names another identity provider"));
}
