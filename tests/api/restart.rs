//! Restarting on the same database keeps signing keys, kids and admin keys.

use reqwest::StatusCode;

use crate::helpers::{spawn_app, Backend};
use crate::on_both_backends;
use crate::token::verify_with_jwks;

async fn tokens_and_admin_keys_survive_a_restart(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.new_client("survivor", &["read:a"]).await;
    let token = app.access_token(&id, &secret).await;
    let kid_before = app.app.keyring.current().kid().to_string();

    let app = app.restart().await;
    assert_eq!(app.app.keyring.current().kid(), kid_before, "the kid is stable");
    let claims = verify_with_jwks(&app, &token, "https://api.example.test").await;
    assert_eq!(claims["sub"], id.as_str());

    let admin = app.admin_token().await;
    let listed = app.get_with(&admin, "/v1/keys").await;
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK);
}

async fn a_wrong_master_key_is_refused_at_start_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let url = app.db.url.clone();
    let before = app.app.store.list_signing_keys().await.unwrap().len();
    let config = <keymint::cli::Cli as clap::Parser>::try_parse_from([
        "keymint",
        "--database-url",
        &url,
        "--master-key",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ])
    .unwrap()
    .settings()
    .into_config();
    let err = keymint::app::App::open(config, std::sync::Arc::new(keymint::clock::SystemClock))
        .await
        .err()
        .expect("a wrong master key must not start");
    assert!(format!("{err:#}").contains("wrong master key"), "{err:#}");
    assert_eq!(app.app.store.list_signing_keys().await.unwrap().len(), before);
}

on_both_backends!(
    tokens_and_admin_keys_survive_a_restart,
    a_wrong_master_key_is_refused_at_start_and_changes_nothing
);
