//! RFC 7662 introspection and RFC 7009 revocation.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_oauth_error, spawn_app, Backend, TestApp};
use crate::on_both_backends;

async fn call(app: &TestApp, path: &str, id: &str, secret: &str, token: &str) -> Response {
    app.client
        .post(app.url(path))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

pub struct Introspector {
    id: String,
    secret: String,
}

impl Introspector {
    pub async fn new(app: &TestApp) -> Self {
        let (id, secret) = app.new_client("resource-server", &["keymint:introspect"]).await;
        Introspector { id, secret }
    }

    /// The introspection answer for `token` (`active` true or false).
    pub async fn active(&self, app: &TestApp, token: &str) -> Value {
        let response = call(app, "/oauth/introspect", &self.id, &self.secret, token).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["cache-control"], "no-store");
        response.json().await.unwrap()
    }
}

async fn introspection_reports_active_tokens_with_their_claims(backend: Backend) {
    let app = spawn_app(backend).await;
    let rs = Introspector::new(&app).await;
    let (id, secret) = app.new_client("client", &["read:a"]).await;
    let token = app.access_token(&id, &secret).await;
    let body = rs.active(&app, &token).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], id.as_str());
    assert_eq!(body["sub"], id.as_str());
    assert_eq!(body["scope"], "read:a");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["iss"], app.base.as_str());
    assert!(body["exp"].is_i64() && body["jti"].is_string());

    for junk in ["", "not-a-token", "a.b.c"] {
        let response = call(&app, "/oauth/introspect", &rs.id, &rs.secret, junk).await;
        if junk.is_empty() {
            assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        } else {
            assert_eq!(response.json::<Value>().await.unwrap(), json!({"active": false}));
        }
    }
    app.clock.advance(600 + 10);
    assert_eq!(rs.active(&app, &token).await, json!({"active": false}), "expired");
}

async fn tokens_of_changed_keys_become_inactive(backend: Backend) {
    let app = spawn_app(backend).await;
    let rs = Introspector::new(&app).await;
    let admin = app.admin_token().await;
    for action in ["revoke", "deactivate", "delete", "rotate"] {
        let (id, secret) = app.new_client(&format!("client-{action}"), &["read:a"]).await;
        let token = app.access_token(&id, &secret).await;
        assert_eq!(rs.active(&app, &token).await["active"], true);
        app.clock.advance(1);
        let status = match action {
            "delete" => app.delete_with(&admin, &format!("/v1/keys/{id}")).await.status(),
            _ => {
                app.post_with(&admin, &format!("/v1/keys/{id}/{action}"), &json!({})).await.status()
            }
        };
        assert!(status.is_success(), "{action}: {status}");
        assert_eq!(rs.active(&app, &token).await, json!({"active": false}), "after {action}");
    }
    // A rotation with grace keeps earlier tokens active until the grace ends.
    let (id, secret) = app.new_client("graceful", &["read:a"]).await;
    let token = app.access_token(&id, &secret).await;
    app.clock.advance(1);
    app.post_with(&admin, &format!("/v1/keys/{id}/rotate"), &json!({"grace_seconds": 300})).await;
    assert_eq!(rs.active(&app, &token).await["active"], true);
    app.clock.advance(301);
    assert_eq!(rs.active(&app, &token).await["active"], false);
}

async fn introspection_needs_the_introspect_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.new_client("nosy", &["read:a"]).await;
    let token = app.access_token(&id, &secret).await;
    let refused = call(&app, "/oauth/introspect", &id, &secret, &token).await;
    assert_oauth_error(refused, StatusCode::FORBIDDEN, "insufficient_scope").await;
    let wrong = call(&app, "/oauth/introspect", &id, "wrong-secret-entirely", &token).await;
    assert_oauth_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

async fn a_client_revokes_its_own_token_and_only_its_own(backend: Backend) {
    let app = spawn_app(backend).await;
    let rs = Introspector::new(&app).await;
    let (id, secret) = app.new_client("owner", &["read:a"]).await;
    let (other, other_secret) = app.new_client("other", &["read:a"]).await;
    let mine = app.access_token(&id, &secret).await;
    let theirs = app.access_token(&other, &other_secret).await;

    let foreign = call(&app, "/oauth/revoke", &id, &secret, &theirs).await;
    assert_eq!(foreign.status(), StatusCode::OK);
    assert_eq!(
        rs.active(&app, &theirs).await["active"],
        true,
        "another client's token is untouched"
    );

    let revoked = call(&app, "/oauth/revoke", &id, &secret, &mine).await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(rs.active(&app, &mine).await, json!({"active": false}));
    // Repeating, and unknown tokens, are fine too.
    assert_eq!(call(&app, "/oauth/revoke", &id, &secret, &mine).await.status(), StatusCode::OK);
    assert_eq!(call(&app, "/oauth/revoke", &id, &secret, "garbage").await.status(), StatusCode::OK);
    // The key itself still works.
    assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK);
    let unauthenticated = call(&app, "/oauth/revoke", &id, "wrong-wrong-wrong-wrong", &mine).await;
    assert_oauth_error(unauthenticated, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

async fn the_introspect_scope_opens_no_management_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let rs = Introspector::new(&app).await;
    let token = app.access_token(&rs.id, &rs.secret).await;
    let claims = crate::token::verify_with_jwks(&app, &token, "https://api.example.test").await;
    assert_eq!(claims["aud"], "https://api.example.test", "no management audience");
    let response = app.get_with(&token, "/v1/workspaces").await;
    crate::helpers::assert_problem(response, StatusCode::FORBIDDEN, "insufficient-scope").await;
}

async fn a_revoked_admin_token_no_longer_opens_the_management_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    assert_eq!(app.get_with(&admin, "/v1/keys").await.status(), StatusCode::OK);
    let revoked = call(&app, "/oauth/revoke", &app.admin_id, &app.admin_secret, &admin).await;
    assert_eq!(revoked.status(), StatusCode::OK);
    let response = app.get_with(&admin, "/v1/keys").await;
    crate::helpers::assert_problem(response, StatusCode::UNAUTHORIZED, "invalid-token").await;
}

async fn discovery_names_introspection_and_revocation(backend: Backend) {
    let app = spawn_app(backend).await;
    let meta: Value = reqwest::get(app.url("/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["introspection_endpoint"], app.url("/oauth/introspect"));
    assert_eq!(meta["revocation_endpoint"], app.url("/oauth/revoke"));
}

on_both_backends!(
    introspection_reports_active_tokens_with_their_claims,
    tokens_of_changed_keys_become_inactive,
    introspection_needs_the_introspect_scope,
    a_client_revokes_its_own_token_and_only_its_own,
    discovery_names_introspection_and_revocation,
    the_introspect_scope_opens_no_management_api,
    a_revoked_admin_token_no_longer_opens_the_management_api,
    whoever_holds_a_key_can_revoke_it_and_no_one_else,
);

async fn whoever_holds_a_key_can_revoke_it_and_no_one_else(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.new_client("leaked", &["read:a"]).await;
    let (other, other_secret) = app.new_client("bystander", &["read:a"]).await;
    let revoke = |who: &str, with: &str, token: &str, hint: Option<&str>| {
        let mut form = vec![("token", token.to_string())];
        if let Some(hint) = hint {
            form.push(("token_type_hint", hint.to_string()));
        }
        app.client.post(app.url("/oauth/revoke")).basic_auth(who, Some(with)).form(&form).send()
    };

    // Another key's credentials cannot revoke it: 200, and nothing changes.
    let foreign = revoke(&other, &other_secret, &secret, Some("api_key")).await.unwrap();
    assert_eq!(foreign.status(), StatusCode::OK);
    assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK);

    // Its holder can, with no admin: the key's own secret, authenticated by itself.
    let own = revoke(&id, &secret, &secret, Some("api_key")).await.unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    assert_eq!(own.headers()["cache-control"], "no-store");
    let refused = app.token_basic(&id, &secret, &[]).await;
    assert_oauth_error(refused, StatusCode::UNAUTHORIZED, "invalid_client").await;
    assert_eq!(app.token_basic(&other, &other_secret, &[]).await.status(), StatusCode::OK);

    let admin = app.admin_token().await;
    let key = app.get_json(&admin, &format!("/v1/keys/{id}")).await;
    assert_eq!(key["status"], "revoked");
    let audit = app.get_json(&admin, &format!("/v1/audit?target_id={id}&action=key.revoke")).await;
    let event = &audit["data"][0];
    assert_eq!(event["actor"], id, "the key revoked itself");
    assert_eq!(event["details"]["reason"], "revoked by its holder");
    assert!(!audit.to_string().contains(&secret), "the secret is never in the audit log");

    // Without the hint, a value that is not a JWT is taken as a key too.
    let (third, third_secret) = app.new_client("also-leaked", &["read:a"]).await;
    assert_eq!(
        revoke(&third, &third_secret, &third_secret, None).await.unwrap().status(),
        StatusCode::OK
    );
    let refused = app.token_basic(&third, &third_secret, &[]).await;
    assert_oauth_error(refused, StatusCode::UNAUTHORIZED, "invalid_client").await;
}
