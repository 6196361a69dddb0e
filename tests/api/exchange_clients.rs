//! Token exchange driven by clients no one here wrote: Authlib asks for
//! delegated and federated tokens (interop/python/exchange_client.py), PyJWT and
//! jose (interop/node/verify_tokens.mjs) verify them against keymint's JWKS, and
//! the refusals reach Authlib as the RFCs' error codes. The platform issuer is
//! the one of `exchange.rs`. Dependencies come from `interop/install`.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::exchange::{Platform, SUBJECT};
use crate::helpers::{spawn_app_with, Backend, TestApp};

crate::on_both_backends_when!(
    keymint_interop_installed,
    "exchange client tests skipped: run interop/install",
    "exchange client or PostgreSQL run skipped: interop/install not run or TEST_DATABASE_URL not set",
    authlib_exchanges_tokens_that_pyjwt_and_jose_verify,
);

const AUDIENCE: &str = "https://invoices.example.test";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

async fn key(app: &TestApp, body: Value) -> (String, String) {
    let created = app.create_key(body).await;
    let text = |k: &str| created[k].as_str().unwrap_or_default().to_string();
    (text("client_id"), text("client_secret"))
}

/// Runs `program script` with `vars`; its standard output as JSON.
fn run(program: &Path, script: &Path, vars: &[(&str, &str)]) -> Value {
    let output = Command::new(program)
        .arg(script)
        .current_dir(script.parent().unwrap())
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

async fn authlib_exchanges_tokens_that_pyjwt_and_jose_verify(backend: Backend) {
    let app = spawn_app_with(backend, &["--allow-private-jwks-uri"]).await;
    let platform = Platform::start().await;
    let (client, client_secret) = key(
        &app,
        json!({"name": "mobile", "scopes": ["read:invoices/*"],
        "audiences": [AUDIENCE], "claims": {"tenant": "acme"}}),
    )
    .await;
    let (gateway, gateway_secret) = key(
        &app,
        json!({"name": "gateway",
        "scopes": ["read:invoices/*"], "audiences": [AUDIENCE]}),
    )
    .await;
    let (workload, _) = key(&app, json!({"name": "ledger-job", "scopes": ["read:ledger/*"],
        "audiences": [AUDIENCE], "owner": "team-ledger",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": crate::assertions::ClientKey::new(None).jwks(),
        "federated_credentials": [{"issuer": platform.issuer, "subject": SUBJECT, "audiences": ["keymint"]}]})).await;
    let subject = app.access_token(&client, &client_secret).await;
    let now = app.clock_now();
    let platform_token = platform.token(SUBJECT, "keymint", now, |_| {});
    let stranger = platform.token("system:serviceaccount:default:other", "keymint", now, |_| {});

    let python = root().join("interop/python/.venv/bin/python");
    let answer = run(
        &python,
        &root().join("interop/python/exchange_client.py"),
        &[
            ("KEYMINT_ISSUER", &app.issuer),
            ("API_AUDIENCE", AUDIENCE),
            ("GATEWAY_ID", &gateway),
            ("GATEWAY_SECRET", &gateway_secret),
            ("SUBJECT_TOKEN", &subject),
            ("WORKLOAD_ID", &workload),
            ("PLATFORM_TOKEN", &platform_token),
            ("STRANGER_TOKEN", &stranger),
        ],
    );
    let delegated = &answer["delegated"];
    assert_eq!((&delegated["sub"], &delegated["client_id"]), (&json!(client), &json!(gateway)));
    assert_eq!(delegated["act"], json!({"sub": gateway}));
    assert_eq!(
        (&delegated["scope"], &delegated["tenant"]),
        (&json!("read:invoices/42"), &json!("acme"))
    );
    assert_eq!(answer["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token");
    for grant in ["federated", "exchanged"] {
        let claims = &answer[grant];
        assert_eq!(
            (&claims["sub"], &claims["scope"]),
            (&json!(workload), &json!("read:ledger/*")),
            "{grant}"
        );
        assert!(claims["exp"].as_i64().unwrap() <= now + 3600, "never outlives the platform token");
    }
    assert_eq!(answer["widened"], "invalid_scope");
    assert_eq!(answer["junk_subject"], "invalid_request", "RFC 8693 section 2.2.2");
    assert_eq!(answer["stranger"], "invalid_grant", "RFC 7523 section 3.1");
    assert_eq!(answer["stranger_exchanged"], "invalid_request");

    let tokens = answer["tokens"].to_string();
    let payloads = run(
        Path::new("node"),
        &root().join("interop/node/verify_tokens.mjs"),
        &[("KEYMINT_ISSUER", &app.issuer), ("API_AUDIENCE", AUDIENCE), ("TOKENS", &tokens)],
    );
    assert_eq!(payloads[0]["act"]["sub"], gateway.as_str(), "jose verifies the delegated token");
    assert_eq!(payloads[1]["sub"], workload.as_str(), "and the federated one");
}
