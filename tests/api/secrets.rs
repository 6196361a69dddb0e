//! A secret appears in the create response and nowhere else: not in reads, not in
//! the database, not in the logs.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{captured_logs, spawn_app, Backend};
use crate::on_both_backends;

async fn the_secret_is_shown_once_and_never_logged_or_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_key(json!({"name": "once"})).await;
    let (id, secret) = (
        created["id"].as_str().unwrap().to_string(),
        created["client_secret"].as_str().unwrap().to_string(),
    );
    let imported =
        app.create_key(json!({"name": "imported", "secret": "imported-legacy-value-77"})).await;
    let imported_id = imported["id"].as_str().unwrap().to_string();

    // Exercise every path that handles the secrets, including failures.
    let token = app.access_token(&id, &secret).await;
    assert_eq!(
        app.token_post(&imported_id, "imported-legacy-value-77", &[]).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.token_post(&id, "imported-legacy-value-77", &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let _ = app
        .client
        .post(app.url(&format!("/oauth/token?client_secret={secret}")))
        .send()
        .await
        .unwrap();

    let admin = app.admin_token().await;
    let got = app.get_with(&admin, &format!("/v1/keys/{id}")).await.text().await.unwrap();
    let listed = app.get_with(&admin, "/v1/keys?status=all&limit=100").await.text().await.unwrap();
    for text in [&got, &listed] {
        assert!(!text.contains(&secret) && !text.contains("imported-legacy-value-77"));
        assert!(!text.contains("sha256:") && !text.contains("$argon2"), "a hash leaked");
    }

    // Stored: hashes only.
    let stored = app.app.store.find_key(&id).await.unwrap().unwrap();
    let hash = |key: &keymint::store::KeyRecord| key.credential.current().unwrap().hash.clone();
    assert!(!hash(&stored).contains(&secret));
    assert!(hash(&stored).starts_with("sha256:"));
    let stored = app.app.store.find_key(&imported_id).await.unwrap().unwrap();
    assert!(hash(&stored).starts_with("$argon2id$"));

    let logs = captured_logs();
    assert!(!logs.is_empty(), "logs are captured");
    for needle in [
        secret.as_str(),
        "imported-legacy-value-77",
        app.admin_secret.as_str(),
        token.as_str(),
        admin.as_str(),
    ] {
        assert!(!logs.contains(needle), "a secret or token was logged");
    }
}

on_both_backends!(the_secret_is_shown_once_and_never_logged_or_stored);
