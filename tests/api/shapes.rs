//! The shapes clients and scripts rely on, as snapshots (`insta`): the token
//! response, the key object, problem details and the discovery document. Values
//! that change from run to run (ids, secrets, times, ports) are redacted.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend};
use crate::on_both_backends;

async fn responses_keep_their_documented_shapes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.new_client("shape", &["read:reports/**"]).await;

    let token: Value = app.token_basic(&id, &secret, &[]).await.json().await.unwrap();
    insta::assert_json_snapshot!("token_response", token, { ".access_token" => "[token]" });

    let admin = app.admin_token().await;
    let key: Value = app.get_json(&admin, &format!("/v1/keys/{id}")).await;
    insta::assert_json_snapshot!("key_object", key, {
        ".id" => "[key id]",
        ".workspace_id" => "[workspace id]",
        ".masked_secret" => "[masked]",
        ".created_by" => "[admin id]",
        ".created_at" => "[time]",
        ".updated_at" => "[time]",
        ".last_used_at" => "[time]",
        ".last_used_ip" => "[address]",
    });

    let missing = app.get_with(&admin, "/v1/keys/AAAAAAAAAAAAAAAA").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    insta::assert_json_snapshot!("problem_not_found", missing.json::<Value>().await.unwrap());
    let invalid = app.post_with(&admin, "/v1/keys", &json!({"name": ""})).await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    insta::assert_json_snapshot!("problem_validation", invalid.json::<Value>().await.unwrap());

    let metadata: Value = reqwest::get(app.url("/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = metadata.to_string().replace(&app.issuer, "http://[issuer]");
    let metadata: Value = serde_json::from_str(&text).unwrap();
    insta::assert_json_snapshot!("discovery", metadata);
}

on_both_backends!(responses_keep_their_documented_shapes);
