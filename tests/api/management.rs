//! `/v1`: the management API's door and the key endpoints.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, Backend};
use crate::on_both_backends;

async fn v1_needs_a_keymint_token_with_management_scopes(backend: Backend) {
    let app = spawn_app(backend).await;
    let none = app.client.get(app.url("/v1/keys")).send().await.unwrap();
    let challenge = none.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert_problem(none, StatusCode::UNAUTHORIZED, "invalid-token").await;

    let garbage = app.get_with("not-a-jwt", "/v1/keys").await;
    assert_problem(garbage, StatusCode::UNAUTHORIZED, "invalid-token").await;

    let (id, secret) = app.new_client("plain", &["read:a"]).await;
    let plain = app.access_token(&id, &secret).await;
    let forbidden = app.get_with(&plain, "/v1/keys").await;
    assert_problem(forbidden, StatusCode::FORBIDDEN, "insufficient-scope").await;

    // A token of a key holding only a read management scope can read but not write.
    let (rid, rsecret) = app.new_client("reader", &["keymint:keys:read"]).await;
    let reader = app.access_token(&rid, &rsecret).await;
    assert_eq!(app.get_with(&reader, "/v1/keys").await.status(), StatusCode::OK);
    let write = app.post_with(&reader, "/v1/keys", &json!({"name": "nope"})).await;
    let challenge = write.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(challenge.contains("insufficient_scope"));
    assert_problem(write, StatusCode::FORBIDDEN, "insufficient-scope").await;
}

async fn keys_are_created_listed_read_and_revoked(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let created = app
        .post_with(
            &admin,
            "/v1/keys",
            &json!({
                "name": "Checkout Service", "description": "payments", "environment": "staging",
                "type": "gateway", "scopes": ["read:orders/*"], "allowed_cidrs": ["10.0.0.0/8"],
                "audiences": ["https://orders.example"], "expires_in": "30d"
            }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["client_id"], id);
    assert!(created["client_secret"].as_str().unwrap().starts_with("km_test_"));
    assert_eq!(created["status"], "active");
    assert_eq!(created["type"], "gateway");
    assert_eq!(created["environment"], "staging");
    assert_eq!(created["created_by"], app.admin_id.as_str());
    assert!(created["masked_secret"].as_str().unwrap().starts_with("km_test_****"));

    let got: Value = app.get_json(&admin, &format!("/v1/keys/{id}")).await;
    assert_eq!(got["name"], "Checkout Service");
    assert!(got.get("client_secret").is_none() && got.get("secret").is_none());

    let list: Value = app.get_json(&admin, "/v1/keys?q=checkout").await;
    let ids: Vec<&str> =
        list["data"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [id]);

    let revoked = app.post_with(&admin, &format!("/v1/keys/{id}/revoke"), &json!({})).await;
    assert_eq!(revoked.status(), StatusCode::OK);
    let revoked: Value = revoked.json().await.unwrap();
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["revoked_by"], app.admin_id.as_str());
    // Idempotent.
    let again = app.post_with(&admin, &format!("/v1/keys/{id}/revoke"), &json!({})).await;
    assert_eq!(again.status(), StatusCode::OK);
    // Default listing shows active keys; status=revoked shows it.
    let active: Value = app.get_json(&admin, "/v1/keys?q=checkout").await;
    assert!(active["data"].as_array().unwrap().is_empty());
    let listed: Value = app.get_json(&admin, "/v1/keys?status=revoked").await;
    assert_eq!(listed["data"][0]["id"], id);
}

async fn bad_input_gets_problem_details_naming_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let raw = app
        .client
        .post(app.url("/v1/keys"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(raw, StatusCode::BAD_REQUEST, "malformed-request").await;

    let unknown = app.post_with(&admin, "/v1/keys", &json!({"name": "x", "colour": "red"})).await;
    let body = assert_problem(unknown, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert!(body["detail"].as_str().unwrap().contains("unknown field `colour`"), "{body}");

    let wrong_type =
        app.post_with(&admin, "/v1/keys", &json!({"name": "x", "scopes": "read:a"})).await;
    let body = assert_problem(wrong_type, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(body["errors"][0]["field"], "scopes");

    for (field, body) in [
        ("allowed_cidrs[0]", json!({"name": "x", "allowed_cidrs": ["10.0.0.1/33"]})),
        ("allowed_cidrs[0]", json!({"name": "x", "allowed_cidrs": ["300.1.1.1/8"]})),
        ("scopes[0]", json!({"name": "x", "scopes": ["fly:agents"]})),
        ("expires_at", json!({"name": "x", "expires_at": "2001-01-01T00:00:00Z"})),
        ("expires_in", json!({"name": "x", "expires_in": "2w"})),
        ("secret", json!({"name": "x", "secret": "short"})),
        ("name", json!({"name": "  "})),
    ] {
        let response = app.post_with(&admin, "/v1/keys", &body).await;
        let problem =
            assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }

    app.create_key(json!({"name": "dup"})).await;
    let dup = app.post_with(&admin, "/v1/keys", &json!({"name": "dup"})).await;
    assert_problem(dup, StatusCode::CONFLICT, "conflict").await;

    let missing = app.get_with(&admin, "/v1/keys/AAAAAAAAAAAAAAAA").await;
    assert_problem(missing, StatusCode::NOT_FOUND, "not-found").await;

    let bad_query = app.get_with(&admin, "/v1/keys?limit=lots").await;
    assert_problem(bad_query, StatusCode::BAD_REQUEST, "malformed-request").await;
}

async fn an_imported_secret_works_like_a_generated_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let created =
        app.create_key(json!({"name": "legacy", "secret": "sk-legacy-2019-abcdefgh"})).await;
    assert_eq!(created["client_secret"], "sk-legacy-2019-abcdefgh");
    assert_eq!(created["masked_secret"], "****efgh");
    assert_eq!(created["imported"], true);
    let id = created["id"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(
            app.token_basic(id, "sk-legacy-2019-abcdefgh", &[]).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        app.token_basic(id, "sk-legacy-2019-abcdefgX", &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn workspaces_are_created_renamed_and_deleted_only_when_empty_or_forced(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let created = app.post_with(&admin, "/v1/workspaces", &json!({"name": "acme"})).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let ws: Value = created.json().await.unwrap();
    let ws_id = ws["id"].as_str().unwrap();
    let dup = app.post_with(&admin, "/v1/workspaces", &json!({"name": "acme"})).await;
    assert_problem(dup, StatusCode::CONFLICT, "conflict").await;

    let renamed = app
        .patch_with(&admin, &format!("/v1/workspaces/{ws_id}"), &json!({"name": "acme-corp"}))
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let listed: Value = app.get_json(&admin, "/v1/workspaces").await;
    let names: Vec<&str> =
        listed["data"].as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"acme-corp") && names.contains(&"default"), "{names:?}");

    app.create_key(json!({"name": "inside", "workspace_id": ws_id})).await;
    let refused = app.delete_with(&admin, &format!("/v1/workspaces/{ws_id}")).await;
    assert_problem(refused, StatusCode::CONFLICT, "conflict").await;
    let forced = app.delete_with(&admin, &format!("/v1/workspaces/{ws_id}?force=true")).await;
    assert_eq!(forced.status(), StatusCode::NO_CONTENT);
    let gone = app.get_with(&admin, &format!("/v1/workspaces/{ws_id}")).await;
    assert_problem(gone, StatusCode::NOT_FOUND, "not-found").await;
}

on_both_backends!(
    workspaces_are_created_renamed_and_deleted_only_when_empty_or_forced,
    v1_needs_a_keymint_token_with_management_scopes,
    keys_are_created_listed_read_and_revoked,
    bad_input_gets_problem_details_naming_the_field,
    an_imported_secret_works_like_a_generated_one,
);
