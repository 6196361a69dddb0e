//! The key lifecycle through `/v1/keys`: each state allows or refuses a token as it
//! should, transitions are idempotent or refused with a reason, rotation honours
//! its grace period on the service clock, and edits report what changed.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_oauth_error, assert_problem, spawn_app, Backend, TestApp};
use crate::on_both_backends;

async fn post(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.post_with(token, path, &json!({})).await
}

async fn exchange_status(app: &TestApp, id: &str, secret: &str) -> StatusCode {
    app.token_basic(id, secret, &[]).await.status()
}

async fn each_state_allows_or_refuses_a_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let (id, secret) = app.new_client("stateful", &["read:a"]).await;
    assert_eq!(exchange_status(&app, &id, &secret).await, StatusCode::OK);

    let deactivated: Value =
        post(&app, &admin, &format!("/v1/keys/{id}/deactivate")).await.json().await.unwrap();
    assert_eq!(deactivated["status"], "inactive");
    assert_oauth_error(
        app.token_basic(&id, &secret, &[]).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    // Repeating is idempotent.
    assert_eq!(
        post(&app, &admin, &format!("/v1/keys/{id}/deactivate")).await.status(),
        StatusCode::OK
    );

    let reactivated: Value =
        post(&app, &admin, &format!("/v1/keys/{id}/activate")).await.json().await.unwrap();
    assert_eq!(reactivated["status"], "active");
    assert_eq!(exchange_status(&app, &id, &secret).await, StatusCode::OK);

    assert_eq!(post(&app, &admin, &format!("/v1/keys/{id}/revoke")).await.status(), StatusCode::OK);
    assert_eq!(exchange_status(&app, &id, &secret).await, StatusCode::UNAUTHORIZED);
    for action in ["activate", "deactivate", "rotate"] {
        let refused = post(&app, &admin, &format!("/v1/keys/{id}/{action}")).await;
        let problem = assert_problem(refused, StatusCode::CONFLICT, "conflict").await;
        assert!(problem["detail"].as_str().unwrap().contains("revoked"), "{problem}");
    }
    let edit = app.patch_with(&admin, &format!("/v1/keys/{id}"), &json!({"name": "renamed"})).await;
    assert_problem(edit, StatusCode::CONFLICT, "conflict").await;
    // The revoked row stays for audit and still reads.
    let row: Value = app.get_json(&admin, &format!("/v1/keys/{id}")).await;
    assert_eq!(row["status"], "revoked");

    let (gone, gone_secret) = app.new_client("deleted", &["read:a"]).await;
    let deleted = app.delete_with(&admin, &format!("/v1/keys/{gone}")).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(exchange_status(&app, &gone, &gone_secret).await, StatusCode::UNAUTHORIZED);
    let missing = app.get_with(&admin, &format!("/v1/keys/{gone}")).await;
    assert_problem(missing, StatusCode::NOT_FOUND, "not-found").await;
    let again = app.delete_with(&admin, &format!("/v1/keys/{gone}")).await;
    assert_problem(again, StatusCode::NOT_FOUND, "not-found").await;

    // The audit log kept every transition, including the delete, once each.
    let audit: Value = app.get_json(&admin, &format!("/v1/audit?target_id={id}")).await;
    let actions: Vec<&str> =
        audit["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    let changes: Vec<&str> = actions.iter().copied().filter(|a| a.starts_with("key.")).collect();
    assert_eq!(changes, ["key.revoke", "key.activate", "key.deactivate", "key.create"]);
    // The refused exchanges are there too, with their reasons.
    assert_eq!(actions.iter().filter(|a| **a == "token.refused").count(), 2);
    let audit: Value = app.get_json(&admin, &format!("/v1/audit?target_id={gone}")).await;
    assert_eq!(audit["data"][0]["action"], "key.delete");
}

async fn rotation_without_grace_stops_the_old_secret_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let (id, old) = app.new_client("rotating", &["read:a"]).await;
    let rotated = post(&app, &admin, &format!("/v1/keys/{id}/rotate")).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    assert_eq!(rotated.headers()["cache-control"], "no-store");
    let rotated: Value = rotated.json().await.unwrap();
    let new = rotated["client_secret"].as_str().unwrap();
    assert_eq!(rotated["client_id"], id.as_str());
    assert_ne!(new, old);
    assert!(rotated["rotated_at"].is_string());
    assert_eq!(rotated["previous_secret_expires_at"], Value::Null);
    assert_eq!(exchange_status(&app, &id, &old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(exchange_status(&app, &id, new).await, StatusCode::OK);
}

async fn rotation_with_grace_accepts_both_secrets_until_the_grace_ends(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let (id, old) = app.new_client("graceful", &["read:a"]).await;
    let too_long = app
        .post_with(&admin, &format!("/v1/keys/{id}/rotate"), &json!({"grace_seconds": 8 * 86_400}))
        .await;
    let problem = assert_problem(too_long, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(problem["errors"][0]["field"], "grace_seconds");

    let rotated: Value = app
        .post_with(&admin, &format!("/v1/keys/{id}/rotate"), &json!({"grace_seconds": 3600}))
        .await
        .json()
        .await
        .unwrap();
    let new = rotated["client_secret"].as_str().unwrap().to_string();
    assert!(rotated["previous_secret_expires_at"].is_string());

    app.clock.advance(1800);
    assert_eq!(
        exchange_status(&app, &id, &old).await,
        StatusCode::OK,
        "old secret inside the grace"
    );
    assert_eq!(exchange_status(&app, &id, &new).await, StatusCode::OK);
    let admin = app.admin_token().await;
    let key: Value = app.get_json(&admin, &format!("/v1/keys/{id}")).await;
    assert!(
        key["previous_secret_last_used_at"].is_string(),
        "the key shows the old secret was still used: {key}"
    );
    assert_eq!(exchange_status(&app, &id, &old).await, StatusCode::OK);
    let key: Value = app.get_json(&admin, &format!("/v1/keys/{id}")).await;
    assert_eq!(key["previous_secret_use_count"], 2, "how often: {key}");
    assert_eq!(key["previous_secret_last_used_ip"], "127.0.0.1", "and from where");

    app.clock.advance(1801);
    assert_eq!(exchange_status(&app, &id, &old).await, StatusCode::UNAUTHORIZED, "grace over");
    assert_eq!(exchange_status(&app, &id, &new).await, StatusCode::OK);
}

async fn edits_report_what_changed_and_take_effect_on_the_next_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let (id, secret) = app.new_client("editable", &["read:a", "read:b"]).await;
    assert_eq!(
        app.token_basic(&id, &secret, &[("scope", "read:b")]).await.status(),
        StatusCode::OK
    );

    let edited = app
        .patch_with(&admin, &format!("/v1/keys/{id}"), &json!({
            "scopes": ["read:a"], "description": "narrowed", "allowed_cidrs": ["127.0.0.0/8", "::1"], "expires_in": "1d"
        }))
        .await;
    assert_eq!(edited.status(), StatusCode::OK);
    let edited: Value = edited.json().await.unwrap();
    assert_eq!(
        edited["changes"]["scopes"],
        json!({"from": ["read:a", "read:b"], "to": ["read:a"]})
    );
    assert_eq!(edited["changes"]["description"]["to"], "narrowed");
    assert_eq!(edited["changes"]["allowed_cidrs"]["to"], json!(["127.0.0.0/8", "::1/128"]));
    assert!(edited["changes"]["expires_at"]["to"].is_string());
    assert!(edited["changes"].get("name").is_none(), "unchanged fields are not reported");

    let refused = app.token_basic(&id, &secret, &[("scope", "read:b")]).await;
    assert_oauth_error(refused, StatusCode::BAD_REQUEST, "invalid_scope").await;
    assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK);

    // Expiry can be removed again; an unchanged edit reports no changes.
    let cleared: Value = app
        .patch_with(&admin, &format!("/v1/keys/{id}"), &json!({"expires_at": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["expires_at"], Value::Null);
    let same: Value = app
        .patch_with(&admin, &format!("/v1/keys/{id}"), &json!({"description": "narrowed"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(same["changes"], json!({}));

    app.create_key(json!({"name": "taken"})).await;
    let clash = app.patch_with(&admin, &format!("/v1/keys/{id}"), &json!({"name": "taken"})).await;
    assert_problem(clash, StatusCode::CONFLICT, "conflict").await;
    let bad = app
        .patch_with(&admin, &format!("/v1/keys/{id}"), &json!({"allowed_cidrs": ["10.0.0.1/33"]}))
        .await;
    assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let environment =
        app.patch_with(&admin, &format!("/v1/keys/{id}"), &json!({"environment": "staging"})).await;
    let problem = assert_problem(environment, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("environment"),
        "environment is fixed: {problem}"
    );
}

async fn ending_the_grace_stops_the_old_secret_and_its_tokens_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let (id, old) = app.new_client("moving", &["keymint:keys:read"]).await;
    let rotated: Value = app
        .post_with(&admin, &format!("/v1/keys/{id}/rotate"), &json!({"grace_seconds": 86_400}))
        .await
        .json()
        .await
        .unwrap();
    let new = rotated["client_secret"].as_str().unwrap().to_string();
    let old_token = app.access_token(&id, &old).await;
    assert_eq!(app.get_with(&old_token, "/v1/keys").await.status(), StatusCode::OK, "in grace");

    let ended = post(&app, &admin, &format!("/v1/keys/{id}/end-grace")).await;
    assert_eq!(ended.status(), StatusCode::OK);
    let key: Value = ended.json().await.unwrap();
    assert_eq!(key["previous_secret_expires_at"], Value::Null);
    assert_eq!(exchange_status(&app, &id, &old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(exchange_status(&app, &id, &new).await, StatusCode::OK);
    assert_eq!(
        app.get_with(&old_token, "/v1/keys").await.status(),
        StatusCode::UNAUTHORIZED,
        "tokens of the old secret stop too"
    );

    // Again: nothing to end, nothing changes, nothing is audited twice.
    assert_eq!(
        post(&app, &admin, &format!("/v1/keys/{id}/end-grace")).await.status(),
        StatusCode::OK
    );
    let audit: Value = app.get_json(&admin, &format!("/v1/audit?target_id={id}")).await;
    let ends =
        audit["data"].as_array().unwrap().iter().filter(|e| e["action"] == "key.end_grace").count();
    assert_eq!(ends, 1);
    let (reader, secret) = app.new_client("reader", &["keymint:keys:read"]).await;
    let reader = app.access_token(&reader, &secret).await;
    let refused = post(&app, &reader, &format!("/v1/keys/{id}/end-grace")).await;
    assert_problem(refused, StatusCode::FORBIDDEN, "insufficient-scope").await;
}

async fn a_dry_run_edit_answers_the_change_and_its_risks_and_saves_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let key = app.create_key(json!({"name": "svc", "scopes": ["read:a", "write:b"]})).await;
    let id = key["id"].as_str().unwrap();
    let edit = json!({"scopes": ["read:a"], "allowed_cidrs": ["0.0.0.0/0"]});
    let preview: Value = app
        .patch_with(&admin, &format!("/v1/keys/{id}?dry_run=true"), &edit)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(preview["dry_run"], true);
    assert_eq!(preview["scopes"], json!(["read:a"]), "the key as it would be");
    assert_eq!(preview["changes"]["scopes"]["from"], json!(["read:a", "write:b"]));
    let warnings = preview["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w.as_str().unwrap().contains("removing write:b")));
    assert!(warnings.iter().any(|w| w.as_str().unwrap().contains("0.0.0.0/0 allows every")));
    let stored: Value = app.get_json(&admin, &format!("/v1/keys/{id}")).await;
    assert_eq!(stored["scopes"], json!(["read:a", "write:b"]), "nothing saved");
    assert_eq!(stored["updated_at"], key["updated_at"]);

    let saved: Value =
        app.patch_with(&admin, &format!("/v1/keys/{id}"), &edit).await.json().await.unwrap();
    assert_eq!(saved["dry_run"], false);
    assert_eq!(saved["warnings"], preview["warnings"], "the same warnings when saving");
    assert_eq!(saved["scopes"], json!(["read:a"]));
    let bad = app.patch_with(&admin, &format!("/v1/keys/{id}?dry_run=maybe"), &edit).await;
    assert_problem(bad, StatusCode::BAD_REQUEST, "malformed-request").await;
}

on_both_backends!(
    a_dry_run_edit_answers_the_change_and_its_risks_and_saves_nothing,
    ending_the_grace_stops_the_old_secret_and_its_tokens_at_once,
    each_state_allows_or_refuses_a_token,
    rotation_without_grace_stops_the_old_secret_at_once,
    rotation_with_grace_accepts_both_secrets_until_the_grace_ends,
    edits_report_what_changed_and_take_effect_on_the_next_request,
);
