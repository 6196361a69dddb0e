//! Workspaces and roles: a workspace admin reaches its own workspace only.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, Backend};
use crate::on_both_backends;

async fn a_workspace_admin_sees_and_changes_its_own_workspace_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let platform = app.admin_token().await;
    let ws: Value = app.post_json(&platform, "/v1/workspaces", &json!({"name": "tenant-b"})).await;
    let ws_b = ws["id"].as_str().unwrap();
    let (a_key, _) = app.new_client("in-default", &["read:a"]).await;

    let b_admin = app
        .create_key(json!({"name": "b-admin", "workspace_id": ws_b, "scopes": ["keymint:keys:write", "keymint:audit:read"]}))
        .await;
    let b_token = app
        .access_token(b_admin["id"].as_str().unwrap(), b_admin["client_secret"].as_str().unwrap())
        .await;

    // Creating without workspace_id lands in the caller's own workspace.
    let own = app.post_with(&b_token, "/v1/keys", &json!({"name": "b-service"})).await;
    assert_eq!(own.status(), StatusCode::CREATED);
    let own: Value = own.json().await.unwrap();
    assert_eq!(own["workspace_id"], ws_b);

    let listed: Value = app.get_json(&b_token, "/v1/keys?status=all").await;
    let workspaces: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["workspace_id"].as_str().unwrap())
        .collect();
    assert!(!workspaces.is_empty() && workspaces.iter().all(|w| *w == ws_b), "{workspaces:?}");

    // Another workspace's key is a 404, for every verb.
    assert_problem(
        app.get_with(&b_token, &format!("/v1/keys/{a_key}")).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert_problem(
        app.post_with(&b_token, &format!("/v1/keys/{a_key}/revoke"), &json!({})).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert_problem(
        app.delete_with(&b_token, &format!("/v1/keys/{a_key}")).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let untouched = app.app.store.find_key(&a_key).await.unwrap().expect("not deleted");
    assert_eq!(untouched.status, keymint::store::KeyStatus::Active, "not revoked");
    let default_ws = untouched.workspace_id;
    let keys_before = app.app.store.count_keys(&Default::default()).await.unwrap();
    let elsewhere = app
        .post_with(&b_token, "/v1/keys", &json!({"name": "x", "workspace_id": default_ws}))
        .await;
    assert_problem(elsewhere, StatusCode::NOT_FOUND, "not-found").await;
    assert_eq!(app.app.store.count_keys(&Default::default()).await.unwrap(), keys_before);

    // Every read across another workspace is a 404 too, never an empty answer.
    for read in ["/v1/keys", "/v1/usage", "/v1/audit", "/v1/hygiene"] {
        let path = format!("{read}?workspace_id={default_ws}");
        let problem =
            assert_problem(app.get_with(&b_token, &path).await, StatusCode::NOT_FOUND, "not-found")
                .await;
        assert!(problem["detail"].as_str().unwrap().contains("workspace"), "{path}: {problem}");
        let own = format!("{read}?workspace_id={ws_b}");
        assert_eq!(app.get_with(&b_token, &own).await.status(), StatusCode::OK, "{own}");
    }

    // No escalation: it cannot grant a management scope it does not hold, nor manage workspaces.
    let escalate = app
        .post_with(
            &b_token,
            "/v1/keys",
            &json!({"name": "y", "scopes": ["keymint:workspaces:admin"]}),
        )
        .await;
    assert_problem(escalate, StatusCode::FORBIDDEN, "insufficient-scope").await;
    let new_ws = app.post_with(&b_token, "/v1/workspaces", &json!({"name": "mine"})).await;
    assert_problem(new_ws, StatusCode::FORBIDDEN, "insufficient-scope").await;
    let seen: Value = app.get_json(&b_token, "/v1/workspaces").await;
    assert_eq!(seen["data"].as_array().unwrap().len(), 1);

    // Its audit view holds only its workspace's events.
    let audit: Value = app.get_json(&b_token, "/v1/audit").await;
    assert!(audit["data"].as_array().unwrap().iter().all(|e| e["workspace_id"] == ws_b), "{audit}");

    // The platform admin still sees both.
    let all: Value = app.get_json(&platform, "/v1/keys?status=all&limit=100").await;
    let ids: Vec<&str> =
        all["data"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&a_key.as_str()) && ids.contains(&own["id"].as_str().unwrap()));
}

async fn a_read_only_admin_reads_but_cannot_change(backend: Backend) {
    let app = spawn_app(backend).await;
    let (target, _) = app.new_client("target", &["read:a"]).await;
    let (id, secret) = app.new_client("auditor", &["keymint:keys:read"]).await;
    let token = app.access_token(&id, &secret).await;
    assert_eq!(app.get_with(&token, &format!("/v1/keys/{target}")).await.status(), StatusCode::OK);
    assert_eq!(
        app.get_with(&token, &format!("/v1/keys/{target}/usage")).await.status(),
        StatusCode::OK
    );
    for path in ["revoke", "deactivate", "rotate"] {
        let refused = app.post_with(&token, &format!("/v1/keys/{target}/{path}"), &json!({})).await;
        assert_problem(refused, StatusCode::FORBIDDEN, "insufficient-scope").await;
    }
    assert_problem(
        app.delete_with(&token, &format!("/v1/keys/{target}")).await,
        StatusCode::FORBIDDEN,
        "insufficient-scope",
    )
    .await;
    assert_problem(
        app.get_with(&token, "/v1/audit").await,
        StatusCode::FORBIDDEN,
        "insufficient-scope",
    )
    .await;
    let after = app.app.store.find_key(&target).await.unwrap().expect("not deleted");
    assert_eq!(after.status, keymint::store::KeyStatus::Active, "not revoked or deactivated");
    assert_eq!(after.rotated_at, None, "not rotated");
}

async fn an_admin_token_stops_working_when_its_key_is_revoked(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.new_client("ops", &["keymint:keys:read"]).await;
    let token = app.access_token(&id, &secret).await;
    assert_eq!(app.get_with(&token, "/v1/keys").await.status(), StatusCode::OK);
    let admin = app.admin_token().await;
    app.post_with(&admin, &format!("/v1/keys/{id}/revoke"), &json!({})).await;
    assert_problem(
        app.get_with(&token, "/v1/keys").await,
        StatusCode::UNAUTHORIZED,
        "invalid-token",
    )
    .await;
}

on_both_backends!(
    a_workspace_admin_sees_and_changes_its_own_workspace_only,
    a_read_only_admin_reads_but_cannot_change,
    an_admin_token_stops_working_when_its_key_is_revoked,
);
