//! `/v1/role-bindings`: platform admins give roles to identity-provider groups and
//! to people by address, per workspace or for all; every change is audited, bad
//! bindings are refused naming their field, and no one else may touch them.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, Backend};
use crate::on_both_backends;

async fn platform_admins_bind_list_and_unbind_roles_and_each_change_is_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let ws: Value = app.post_json(&admin, "/v1/workspaces", &json!({"name": "support"})).await;
    let ws_id = ws["id"].as_str().unwrap();
    let admins = app
        .post_with(
            &admin,
            "/v1/role-bindings",
            &json!({"subject": "group:keymint-admins", "role": "platform-admin"}),
        )
        .await;
    assert_eq!(admins.status(), StatusCode::CREATED);
    let admins: Value = admins.json().await.unwrap();
    assert!(admins["id"].as_str().unwrap().starts_with("rb_"), "{admins}");
    assert_eq!(admins["workspace_id"], Value::Null, "every workspace");
    let reader: Value = app
        .post_json(
            &admin,
            "/v1/role-bindings",
            &json!({"subject": "email:Ana@Example.com", "role": "read-only", "workspace_id": ws_id}),
        )
        .await;
    assert_eq!(reader["subject"], "email:ana@example.com", "addresses compare in lower case");
    assert_eq!(
        (reader["role"].as_str(), reader["workspace_id"].as_str()),
        (Some("read-only"), Some(ws_id))
    );
    assert_eq!(reader["created_by"], app.admin_id);

    let listed: Value = app.get_json(&admin, "/v1/role-bindings").await;
    assert_eq!(listed["data"], json!([admins, reader]), "oldest first, as created");

    let again = app
        .post_with(
            &admin,
            "/v1/role-bindings",
            &json!({"subject": "email:ana@example.com", "role": "read-only", "workspace_id": ws_id}),
        )
        .await;
    assert_problem(again, StatusCode::CONFLICT, "conflict").await;

    let path = format!("/v1/role-bindings/{}", reader["id"].as_str().unwrap());
    assert_eq!(app.delete_with(&admin, &path).await.status(), StatusCode::NO_CONTENT);
    let gone = app.delete_with(&admin, &path).await;
    assert_problem(gone, StatusCode::NOT_FOUND, "not-found").await;
    let listed: Value = app.get_json(&admin, "/v1/role-bindings").await;
    assert_eq!(listed["data"], json!([admins]));

    let mut actions = Vec::new();
    for action in ["role_binding.create", "role_binding.delete"] {
        let page: Value = app.get_json(&admin, &format!("/v1/audit?action={action}")).await;
        for event in page["data"].as_array().unwrap() {
            assert_eq!(event["actor"], app.admin_id);
            actions.push((action, event["details"]["subject"].as_str().unwrap().to_string()));
        }
    }
    actions.sort();
    assert_eq!(
        actions,
        [
            ("role_binding.create", "email:ana@example.com".to_string()),
            ("role_binding.create", "group:keymint-admins".to_string()),
            ("role_binding.delete", "email:ana@example.com".to_string()),
        ]
    );
}

async fn bad_bindings_are_refused_naming_their_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    for (field, body) in [
        ("subject", json!({"subject": "ana@example.com", "role": "read-only"})),
        ("subject", json!({"subject": "email:ana", "role": "read-only"})),
        ("subject", json!({"subject": "group:", "role": "read-only"})),
        ("role", json!({"subject": "group:support", "role": "admin"})),
        (
            "workspace_id",
            json!({"subject": "group:ops", "role": "platform-admin", "workspace_id": "ws_000000000000"}),
        ),
    ] {
        let response = app.post_with(&admin, "/v1/role-bindings", &body).await;
        let problem =
            assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let unknown = app
        .post_with(
            &admin,
            "/v1/role-bindings",
            &json!({"subject": "group:ops", "role": "read-only", "workspace_id": "ws_000000000000"}),
        )
        .await;
    assert_problem(unknown, StatusCode::NOT_FOUND, "not-found").await;
    let malformed = app
        .post_with(
            &admin,
            "/v1/role-bindings",
            &json!({"subject": "group:ops", "role": "read-only", "workspace_id": "ws_\u{0}x"}),
        )
        .await;
    assert_problem(malformed, StatusCode::NOT_FOUND, "not-found").await;
    let extra = app
        .post_with(
            &admin,
            "/v1/role-bindings",
            &json!({"subject": "group:ops", "role": "read-only", "expires": "never"}),
        )
        .await;
    assert_problem(extra, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let listed: Value = app.get_json(&admin, "/v1/role-bindings").await;
    assert_eq!(listed["data"], json!([]), "nothing refused was stored");
}

async fn only_platform_admins_touch_role_bindings(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let made: Value = app
        .post_json(&admin, "/v1/role-bindings", &json!({"subject": "group:a", "role": "read-only"}))
        .await;
    let (id, secret) = app
        .new_client("ws-admin", &["keymint:keys:read", "keymint:keys:write", "keymint:audit:read"])
        .await;
    let ws_admin = app.access_token(&id, &secret).await;
    let path = format!("/v1/role-bindings/{}", made["id"].as_str().unwrap());
    for response in [
        app.get_with(&ws_admin, "/v1/role-bindings").await,
        app.post_with(
            &ws_admin,
            "/v1/role-bindings",
            &json!({"subject": "email:me@example.com", "role": "platform-admin"}),
        )
        .await,
        app.delete_with(&ws_admin, &path).await,
    ] {
        assert_problem(response, StatusCode::FORBIDDEN, "insufficient-scope").await;
    }
    let listed: Value = app.get_json(&admin, "/v1/role-bindings").await;
    assert_eq!(listed["data"], json!([made]), "unchanged");
}

async fn a_deleted_workspace_takes_its_bindings_with_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let ws: Value = app.post_json(&admin, "/v1/workspaces", &json!({"name": "short-lived"})).await;
    let ws_id = ws["id"].as_str().unwrap();
    let everywhere: Value = app
        .post_json(&admin, "/v1/role-bindings", &json!({"subject": "group:a", "role": "read-only"}))
        .await;
    app.post_json(
        &admin,
        "/v1/role-bindings",
        &json!({"subject": "group:a", "role": "workspace-admin", "workspace_id": ws_id}),
    )
    .await;
    let deleted = app.delete_with(&admin, &format!("/v1/workspaces/{ws_id}")).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let listed: Value = app.get_json(&admin, "/v1/role-bindings").await;
    assert_eq!(listed["data"], json!([everywhere]));
}

on_both_backends!(
    platform_admins_bind_list_and_unbind_roles_and_each_change_is_audited,
    bad_bindings_are_refused_naming_their_field,
    only_platform_admins_touch_role_bindings,
    a_deleted_workspace_takes_its_bindings_with_it,
);
