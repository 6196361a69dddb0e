//! Workspace key policies through `/v1` (the CLI's are in `binary.rs`, the
//! console's in `console.rs`): set by platform admins, checked on every create and
//! edit, each refusal naming the policy.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, Backend};
use crate::on_both_backends;

async fn a_key_policy_guards_creates_and_edits_and_names_itself(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let ws = app.post_json(&admin, "/v1/workspaces", &json!({"name": "strict"})).await;
    let ws_id = ws["id"].as_str().unwrap();
    let path = format!("/v1/workspaces/{ws_id}/key-policy");
    let none: Value = app.get_json(&admin, &path).await;
    assert_eq!(none, json!({}), "no policy until one is set");

    let policy = json!({
        "default_expires_in": "7d", "max_lifetime_days": 30, "expiry_editable": false,
        "require_scope": true, "allow_wildcard_ranges": false,
    });
    let put = app.client.put(app.url(&path)).bearer_auth(&admin).json(&policy).send().await;
    assert_eq!(put.unwrap().status(), StatusCode::OK);
    let read: Value = app.get_json(&admin, &path).await;
    assert_eq!(read, policy);

    let create = |body: Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let mut body = body;
            body["workspace_id"] = json!(ws_id);
            app.post_with(&admin, "/v1/keys", &body).await
        }
    };
    refused_by(
        "expires_at",
        "max_lifetime_days: 30",
        create(json!({"name": "long", "scopes": ["read:a"], "expires_in": "90d"})).await,
    )
    .await;
    refused_by("scopes", "require_scope", create(json!({"name": "bare"})).await).await;
    refused_by(
        "allowed_cidrs",
        "refuses 0.0.0.0/0",
        create(json!({"name": "open", "scopes": ["read:a"], "allowed_cidrs": ["0.0.0.0/0"]})).await,
    )
    .await;
    // No expiry given: the policy's default applies.
    let made = create(json!({"name": "fine", "scopes": ["read:a"]})).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let made: Value = made.json().await.unwrap();
    let expires = keymint::clock::parse_rfc3339(made["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires, app.clock_now() + 7 * 86_400);
    let id = made["id"].as_str().unwrap();
    let edit =
        app.patch_with(&admin, &format!("/v1/keys/{id}"), &json!({"expires_in": "1d"})).await;
    refused_by("expires_at", "expiry_editable: false", edit).await;
    let dry = app
        .patch_with(&admin, &format!("/v1/keys/{id}?dry_run=true"), &json!({"scopes": []}))
        .await;
    refused_by("scopes", "require_scope", dry).await;

    // Other workspaces are not bound by it.
    let free = app.post_with(&admin, "/v1/keys", &json!({"name": "free"})).await;
    assert_eq!(free.status(), StatusCode::CREATED);

    // Only platform admins set a policy, and only a sound one.
    let bad = json!({"default_expires_in": "90d", "max_lifetime_days": 30});
    let refused_put = app.client.put(app.url(&path)).bearer_auth(&admin).json(&bad).send().await;
    let problem =
        assert_problem(refused_put.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(problem["errors"][0]["field"], "default_expires_in");
    let (team, secret) = app.new_client("team", &["keymint:keys:write"]).await;
    let team = app.access_token(&team, &secret).await;
    let forbidden = app.client.put(app.url(&path)).bearer_auth(&team).json(&json!({})).send().await;
    assert_eq!(forbidden.unwrap().status(), StatusCode::FORBIDDEN);
    let audit: Value = app
        .get_with(&admin, &format!("/v1/audit?action=workspace.key_policy&target_id={ws_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["data"][0]["details"]["key_policy"]["to"], policy);
}

/// Asserts a 422 problem naming `field`, its text containing `words`.
async fn a_scope_catalog_flags_typos_and_the_policy_can_refuse_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let ws = app.post_json(&admin, "/v1/workspaces", &json!({"name": "catalogued"})).await;
    let ws_id = ws["id"].as_str().unwrap();
    let path = format!("/v1/workspaces/{ws_id}/scope-catalog");
    let none = json!({"resources": []});
    assert_eq!(app.get_with(&admin, &path).await.json::<Value>().await.unwrap(), none);
    let put = |body: Value| {
        let (app, admin, path) = (&app, admin.clone(), path.clone());
        async move {
            app.client.put(app.url(&path)).bearer_auth(&admin).json(&body).send().await.unwrap()
        }
    };
    refused_by(
        "resources[0].name",
        "not a resource path",
        put(json!({"resources": [{"name": "agents/*"}]})).await,
    )
    .await;
    refused_by(
        "resources[0].actions",
        "read, write, admin",
        put(json!({"resources": [{"name": "agents", "actions": ["delete"]}]})).await,
    )
    .await;
    let catalog = json!({"resources": [
        {"name": "agents", "description": "AI agents", "actions": ["read", "write"]},
        {"name": "prompts", "actions": ["read", "write", "admin"]}
    ]});
    assert_eq!(put(catalog.clone()).await.status(), StatusCode::OK);
    assert_eq!(app.get_with(&admin, &path).await.json::<Value>().await.unwrap(), catalog);

    let create = |name: &str, scopes: Value| {
        let (app, admin) = (&app, admin.clone());
        let body = json!({"name": name, "workspace_id": ws_id, "scopes": scopes});
        async move { app.post_with(&admin, "/v1/keys", &body).await }
    };
    let typo = create("typo", json!(["read:agents/**", "read:agnets/*", "admin:agents/x"])).await;
    assert_eq!(typo.status(), StatusCode::CREATED, "a warning, not a refusal");
    let typo: Value = typo.json().await.unwrap();
    assert_eq!(
        typo["warnings"],
        json!([
            "not in the workspace's scope catalog, perhaps a typo: read:agnets/*, admin:agents/x"
        ])
    );
    let fine: Value =
        create("fine", json!(["write:prompts/welcome", "read:*"])).await.json().await.unwrap();
    assert_eq!(fine["warnings"], json!([]));
    // An edit that brings a typo in is flagged in its preview too.
    let id = fine["id"].as_str().unwrap();
    let preview: Value = app
        .patch_with(
            &admin,
            &format!("/v1/keys/{id}?dry_run=true"),
            &json!({"scopes": ["write:promtps/x"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        preview["warnings"].to_string().contains("perhaps a typo: write:promtps/x"),
        "{preview}"
    );

    let policy = format!("/v1/workspaces/{ws_id}/key-policy");
    let strict = app
        .client
        .put(app.url(&policy))
        .bearer_auth(&admin)
        .json(&json!({"catalog_scopes_only": true}))
        .send()
        .await;
    assert_eq!(strict.unwrap().status(), StatusCode::OK);
    refused_by(
        "scopes",
        "catalog_scopes_only: true",
        create("strict", json!(["read:agnets/*"])).await,
    )
    .await;
    assert_eq!(create("strict", json!(["read:agents/x"])).await.status(), StatusCode::CREATED);
    let audit: Value = app
        .get_with(&admin, &format!("/v1/audit?action=workspace.scope_catalog&target_id={ws_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["data"][0]["details"]["scope_catalog"]["to"], catalog);
}

async fn refused_by(field: &str, words: &str, response: reqwest::Response) {
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    assert!(problem.to_string().contains(words), "{problem}");
}

on_both_backends!(
    a_key_policy_guards_creates_and_edits_and_names_itself,
    a_scope_catalog_flags_typos_and_the_policy_can_refuse_them,
);
