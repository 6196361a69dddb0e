//! The CLI signs in as a person through the device flow (RFC 8628) at keymint:
//! the grant over real HTTP, approved by a person signed in through the real
//! OpenID provider. The CLI binary itself, approved in a browser, is driven in
//! `browser_sso.rs`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::idp::{get, sign_in, spawn_app_with_sso, walker, Jar};
use crate::helpers::{assert_oauth_error, spawn_app, Backend, TestApp};

crate::with_an_idp_on_both_backends!(
    an_approved_device_acts_as_the_person_until_they_are_signed_out_everywhere,
    a_denied_device_gets_nothing,
    only_a_person_approves_a_device,
);

async fn device_authorization(app: &TestApp, client_id: &str) -> reqwest::Response {
    app.client
        .post(app.url("/oauth/device_authorization"))
        .form(&[("client_id", client_id)])
        .send()
        .await
        .unwrap()
}

async fn poll(app: &TestApp, device_code: &str) -> reqwest::Response {
    app.client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
            ("client_id", "keymint-cli"),
        ])
        .send()
        .await
        .unwrap()
}

async fn refresh(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "keymint-cli"),
        ])
        .send()
        .await
        .unwrap()
}

/// The device page as the signed-in browser of `jar` sees it, and its form token.
async fn device_page(app: &TestApp, jar: &mut Jar, user_code: &str) -> (StatusCode, String) {
    let url = app.url(&format!("/console/device?user_code={user_code}"));
    let response = get(&walker(), jar, &url).await;
    (response.status(), response.text().await.unwrap())
}

async fn decide(
    app: &TestApp,
    jar: &Jar,
    html: &str,
    user_code: &str,
    decision: &str,
) -> reqwest::Response {
    let token = html
        .split(r#"name="form_token" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form token");
    walker()
        .post(app.url("/console/device"))
        .header("cookie", jar.header())
        .form(&[("form_token", token), ("user_code", user_code), ("decision", decision)])
        .send()
        .await
        .unwrap()
}

async fn an_approved_device_acts_as_the_person_until_they_are_signed_out_everywhere(
    backend: Backend,
) {
    let (app, idp) = spawn_app_with_sso(backend, &[]).await;
    let discovery = app.public_json("/.well-known/oauth-authorization-server").await;
    assert_eq!(discovery["device_authorization_endpoint"], app.url("/oauth/device_authorization"));

    let started: Value = device_authorization(&app, "keymint-cli").await.json().await.unwrap();
    let (device_code, user_code) =
        (started["device_code"].as_str().unwrap(), started["user_code"].as_str().unwrap());
    assert_eq!(started["verification_uri"], app.url("/console/device"));
    assert_eq!(
        started["verification_uri_complete"],
        app.url(&format!("/console/device?user_code={user_code}"))
    );
    assert_eq!(
        (started["interval"].as_i64(), started["expires_in"].as_i64()),
        (Some(5), Some(600))
    );

    app.clock.advance(5);
    assert_oauth_error(
        poll(&app, device_code).await,
        StatusCode::BAD_REQUEST,
        "authorization_pending",
    )
    .await;
    assert_oauth_error(poll(&app, device_code).await, StatusCode::BAD_REQUEST, "slow_down").await;

    // Alice, signed in through the provider, sees the code and approves it; typed
    // in lower case without its dash, it is the same code.
    let (mut alice, _) = sign_in(&app, &idp, "alice").await;
    let typed = user_code.to_lowercase().replace('-', "");
    let (status, html) = device_page(&app, &mut alice, &typed).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(user_code), "the page shows the code to check");
    let response = decide(&app, &alice, &html, user_code, "approve").await;
    assert_eq!(response.status(), StatusCode::OK);

    app.clock.advance(5);
    let response = poll(&app, device_code).await;
    assert_eq!(response.status(), StatusCode::OK);
    let issued: Value = response.json().await.unwrap();
    let access = issued["access_token"].as_str().unwrap().to_string();
    let refresh_token = issued["refresh_token"].as_str().unwrap().to_string();
    assert!(issued["scope"].as_str().unwrap().contains("keymint:workspaces:admin"));
    // Used once.
    assert_oauth_error(poll(&app, device_code).await, StatusCode::BAD_REQUEST, "invalid_grant")
        .await;

    // The CLI acts as Alice at /v1, and the audit log names her.
    let made = app.post_with(&access, "/v1/workspaces", &json!({"name": "cli-made"})).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let key = app.post_with(&access, "/v1/keys", &json!({"name": "by-alice"})).await;
    let key: Value = key.json().await.unwrap();
    assert!(key["created_by"].as_str().unwrap().starts_with("p_"), "created_by names her: {key}");
    let admin = app.admin_token().await;
    let events = app.get_json(&admin, "/v1/audit?action=workspace.create").await;
    assert_eq!(events["data"][0]["actor_email"], "alice@example.com");
    assert!(events["data"][0]["actor"].as_str().unwrap().starts_with("p_"));
    let fresh: Value = refresh(&app, &refresh_token).await.json().await.unwrap();
    let renewed = fresh["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.get_with(&renewed, "/v1/workspaces").await.status(), StatusCode::OK);

    // Signing Alice out everywhere ends the CLI's access at once.
    let people = app.get_json(&admin, "/v1/people").await;
    let id = people["data"][0]["id"].as_str().unwrap().to_string();
    let out = app.post_with(&admin, &format!("/v1/people/{id}/sign-out"), &json!({})).await;
    let out: Value = out.json().await.unwrap();
    assert_eq!(out["sessions_ended"], 2, "the console's and the CLI's");
    let refused = app.get_with(&renewed, "/v1/workspaces").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_oauth_error(
        refresh(&app, &refresh_token).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

async fn a_denied_device_gets_nothing(backend: Backend) {
    let (app, idp) = spawn_app_with_sso(backend, &[]).await;
    let started: Value = device_authorization(&app, "keymint-cli").await.json().await.unwrap();
    let (device_code, user_code) =
        (started["device_code"].as_str().unwrap(), started["user_code"].as_str().unwrap());
    let (mut alice, _) = sign_in(&app, &idp, "alice").await;
    let (_, html) = device_page(&app, &mut alice, user_code).await;
    assert_eq!(decide(&app, &alice, &html, user_code, "deny").await.status(), StatusCode::OK);
    app.clock.advance(5);
    assert_oauth_error(poll(&app, device_code).await, StatusCode::BAD_REQUEST, "access_denied")
        .await;
    // A code nobody approves expires.
    let started: Value = device_authorization(&app, "keymint-cli").await.json().await.unwrap();
    app.clock.advance(601);
    let device_code = started["device_code"].as_str().unwrap();
    assert_oauth_error(poll(&app, device_code).await, StatusCode::BAD_REQUEST, "expired_token")
        .await;
    let (status, html) =
        device_page(&app, &mut alice, started["user_code"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("No device waits for this code"), "{html}");
}

async fn only_a_person_approves_a_device(backend: Backend) {
    let (app, _idp) = spawn_app_with_sso(backend, &[]).await;
    let started: Value = device_authorization(&app, "keymint-cli").await.json().await.unwrap();
    let user_code = started["user_code"].as_str().unwrap();
    // Signed in with the admin key (break-glass): the CLI would act as nobody.
    let mut jar = Jar::default();
    let response = walker()
        .post(app.url("/console/sign-in"))
        .form(&[("client_id", app.admin_id.as_str()), ("client_secret", &app.admin_secret)])
        .send()
        .await
        .unwrap();
    jar.take(&response);
    let (_, html) = device_page(&app, &mut jar, user_code).await;
    let response = decide(&app, &jar, &html, user_code, "approve").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().contains("sign in with SSO to approve a device"));
    // Not signed in: the sign-in page comes back to the device page afterwards.
    let mut nobody = Jar::default();
    let response =
        get(&walker(), &mut nobody, &app.url(&format!("/console/device?user_code={user_code}")))
            .await;
    let to = response.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with("/console/sign-in?next=%2Fconsole%2Fdevice"), "{to}");
    let page = get(&walker(), &mut nobody, &app.url(&to)).await.text().await.unwrap();
    assert!(page.contains("/console/sso/start?next=%2Fconsole%2Fdevice%3Fuser_code%3D"), "{page}");
}

/// Where no one signs in through an identity provider.
mod without_sso {
    use super::*;

    crate::on_both_backends!(the_device_endpoint_refuses_strangers_and_servers_without_sso);

    pub(super) async fn the_device_endpoint_refuses_strangers_and_servers_without_sso(
        backend: Backend,
    ) {
        let app = spawn_app(backend).await;
        let response = device_authorization(&app, "keymint-cli").await;
        let body =
            assert_oauth_error(response, StatusCode::BAD_REQUEST, "unauthorized_client").await;
        assert!(body["error_description"].as_str().unwrap().contains("--sso-issuer"));
        let discovery =
            app.client.get(app.url("/.well-known/oauth-authorization-server")).send().await;
        let discovery: Value = discovery.unwrap().json().await.unwrap();
        assert!(discovery.get("device_authorization_endpoint").is_none());
        assert_oauth_error(poll(&app, "made-up").await, StatusCode::BAD_REQUEST, "invalid_grant")
            .await;
        let response = app
            .client
            .post(app.url("/oauth/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", "other"),
            ])
            .send()
            .await
            .unwrap();
        assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
}
