//! `POST /oauth/token`: a real OAuth client gets tokens that a real JWT library
//! verifies against the served JWKS; every malformed request gets its RFC 6749 error.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_oauth_error, spawn_app, Backend, TestApp};
use crate::on_both_backends;

/// Verifies `token` the way a resource server would: JWKS over HTTP, algorithm
/// pinned, `iss`, `aud` and `exp` checked.
pub async fn verify_with_jwks(app: &TestApp, token: &str, audience: &str) -> Value {
    let jwks: JwkSet =
        reqwest::get(app.url("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
    let header = decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, Algorithm::ES256);
    let kid = header.kid.expect("kid");
    let jwk = jwks.find(&kid).expect("the signing key is published");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[&app.issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "iat"]);
    decode::<Value>(token, &key, &validation).expect("token verifies").claims
}

async fn oauth2_crate_gets_tokens_with_basic_and_post_that_verify_against_the_jwks(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (id, secret) =
        app.new_client("billing", &["read:invoices/*", "write:invoices/drafts"]).await;
    let http = oauth2::reqwest::ClientBuilder::new()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let client = BasicClient::new(ClientId::new(id.clone()))
            .set_client_secret(ClientSecret::new(secret.clone()))
            .set_auth_type(auth.clone())
            .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap());
        let response = client
            .exchange_client_credentials()
            .add_scope(Scope::new("read:invoices/42".into()))
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("{auth:?}: {e:?}"));
        assert_eq!(response.token_type().as_ref(), "bearer");
        assert_eq!(response.expires_in().map(|d| d.as_secs()), Some(600));
        let scopes: Vec<String> =
            response.scopes().unwrap().iter().map(|s| s.to_string()).collect();
        assert_eq!(scopes, ["read:invoices/42"]);

        let claims =
            verify_with_jwks(&app, response.access_token().secret(), "https://api.example.test")
                .await;
        assert_eq!(claims["sub"], id.as_str());
        assert_eq!(claims["client_id"], id.as_str());
        assert_eq!(claims["scope"], "read:invoices/42");
        assert_eq!(claims["environment"], "production");
        assert_eq!(claims["key_type"], "access");
        assert!(claims["workspace_id"].as_str().unwrap().starts_with("ws_"));
        let (iat, nbf, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["nbf"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert_eq!(exp, iat + 600);
        assert_eq!(nbf, iat);
        // As docs/api.md and the README say: 30 base62 characters.
        let jti = claims["jti"].as_str().unwrap();
        assert!(jti.len() == 30 && jti.chars().all(|c| c.is_ascii_alphanumeric()), "{jti}");
        let docs = include_str!("../../docs/api.md");
        assert!(docs.contains("| `jti` | string | a unique token id, 30 base62 characters"));
        let readme = include_str!("../../README.md");
        let example = readme.split("\"jti\": \"").nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(example.len(), 30, "the README's example token");
    }
}

async fn success_response_is_exactly_rfc6749_section_5_1(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.new_client("shape", &["read:a"]).await;
    let response = app.token_post(&id, &secret, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: Value = response.json().await.unwrap();
    let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["access_token", "expires_in", "scope", "token_type"]);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "read:a");
}

async fn every_jti_is_unique(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.new_client("jti", &["read:a"]).await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let token = app.access_token(&id, &secret).await;
        let claims = verify_with_jwks(&app, &token, "https://api.example.test").await;
        assert!(seen.insert(claims["jti"].as_str().unwrap().to_string()));
    }
}

async fn wrong_secret_unknown_id_malformed_and_revoked_keys_get_the_same_invalid_client(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.new_client("victim", &["read:a"]).await;
    let (other_id, other_secret) = app.new_client("other", &["read:a"]).await;
    let mut bodies = Vec::new();

    // A well-formed secret of another key, presented under this id.
    let wrong = app.token_basic(&id, &other_secret, &[]).await;
    // An unknown id with a well-formed secret for it.
    let unknown_id = "AAAAAAAAAAAAAAAA";
    let forged = keymint::apikeys::secret::generate(unknown_id, "production");
    let unknown = app.token_basic(unknown_id, forged.expose(), &[]).await;
    // The right secret with one character changed: the checksum fails.
    let mut tampered = secret.clone().into_bytes();
    let last = tampered.len() - 10;
    tampered[last] = if tampered[last] == b'a' { b'b' } else { b'a' };
    let malformed = app.token_basic(&id, std::str::from_utf8(&tampered).unwrap(), &[]).await;
    // A legacy-looking wrong secret.
    let legacy = app.token_post(&other_id, "not-the-secret-at-all", &[]).await;

    for response in [wrong, unknown, malformed] {
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Basic realm="keymint", charset="UTF-8""#
        );
        bodies.push(assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await);
    }
    // Authenticated in the body: no Basic challenge (RFC 6749 section 5.2 asks for one
    // only when the client used the Authorization header).
    assert!(legacy.headers().get("www-authenticate").is_none());
    bodies.push(assert_oauth_error(legacy, StatusCode::UNAUTHORIZED, "invalid_client").await);

    let admin = app.admin_token().await;
    let revoke = app.post_with(&admin, &format!("/v1/keys/{id}/revoke"), &json!({})).await;
    assert_eq!(revoke.status(), StatusCode::OK);
    let revoked = app.token_basic(&id, &secret, &[]).await;
    bodies.push(assert_oauth_error(revoked, StatusCode::UNAUTHORIZED, "invalid_client").await);
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "one answer for every failure: {bodies:?}");
    // The other key is unaffected.
    assert_eq!(app.token_basic(&other_id, &other_secret, &[]).await.status(), StatusCode::OK);
}

async fn malformed_requests_get_their_rfc6749_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.new_client("client", &["read:a"]).await;
    let form = "application/x-www-form-urlencoded";
    let creds = format!("client_id={id}&client_secret={secret}");

    let missing_grant = app.token_raw(form, &creds).await;
    assert_oauth_error(missing_grant, StatusCode::BAD_REQUEST, "invalid_request").await;

    let duplicate = app
        .token_raw(
            form,
            &format!("grant_type=client_credentials&grant_type=client_credentials&{creds}"),
        )
        .await;
    assert_oauth_error(duplicate, StatusCode::BAD_REQUEST, "invalid_request").await;

    let duplicate_secret = app
        .token_raw(form, &format!("grant_type=client_credentials&{creds}&client_secret=x"))
        .await;
    assert_oauth_error(duplicate_secret, StatusCode::BAD_REQUEST, "invalid_request").await;

    let unsupported = app.token_raw(form, &format!("grant_type=password&{creds}")).await;
    assert_oauth_error(unsupported, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;

    let json_body =
        app.token_raw("application/json", r#"{"grant_type":"client_credentials"}"#).await;
    assert_oauth_error(json_body, StatusCode::BAD_REQUEST, "invalid_request").await;

    let no_auth = app.token_raw(form, "grant_type=client_credentials").await;
    assert_oauth_error(no_auth, StatusCode::UNAUTHORIZED, "invalid_client").await;

    let both = app.token_basic(&id, &secret, &[("client_secret", &secret)]).await;
    assert_oauth_error(both, StatusCode::BAD_REQUEST, "invalid_request").await;

    let get = app.client.get(app.url("/oauth/token")).send().await.unwrap();
    assert_eq!(get.headers()["allow"], "POST");
    assert_oauth_error(get, StatusCode::METHOD_NOT_ALLOWED, "invalid_request").await;

    let in_query = app
        .client
        .post(app.url(&format!("/oauth/token?client_secret={secret}")))
        .form(&[("grant_type", "client_credentials"), ("client_id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_oauth_error(in_query, StatusCode::BAD_REQUEST, "invalid_request").await;

    let bad_scope = app.token_basic(&id, &secret, &[("scope", "write:a")]).await;
    assert_oauth_error(bad_scope, StatusCode::BAD_REQUEST, "invalid_scope").await;

    let bad_audience =
        app.token_basic(&id, &secret, &[("audience", "https://elsewhere.test")]).await;
    assert_oauth_error(bad_audience, StatusCode::BAD_REQUEST, "invalid_target").await;

    // Unknown parameters are ignored (RFC 6749 section 3.2).
    let extra = app.token_basic(&id, &secret, &[("unknown_param", "x")]).await;
    assert_eq!(extra.status(), StatusCode::OK);
}

async fn basic_credentials_are_form_urlencoded_inside_the_header(backend: Backend) {
    let app = spawn_app(backend).await;
    let body =
        app.create_key(json!({"name": "legacy", "secret": "legacy:secret+with%chars/1"})).await;
    let id = body["client_id"].as_str().unwrap();
    // token_basic form-encodes both parts, as RFC 6749 appendix B requires.
    let response = app.token_basic(id, "legacy:secret+with%chars/1", &[]).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.text().await);
    let response = app.token_post(id, "legacy:secret+with%chars/1", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn an_expiring_key_caps_its_tokens_and_stops_when_it_expires(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_key(json!({"name": "short-lived", "expires_in": "1h"})).await;
    let (id, secret) =
        (created["id"].as_str().unwrap(), created["client_secret"].as_str().unwrap());
    let key_expiry =
        keymint::clock::parse_rfc3339(created["expires_at"].as_str().unwrap()).unwrap();

    app.clock.advance(3600 - 120);
    let token = app.access_token(id, secret).await;
    let claims: Value = {
        let payload = token.split('.').nth(1).unwrap();
        use base64::Engine;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(claims["exp"].as_i64().unwrap(), key_expiry, "exp is capped at the key's expiry");

    app.clock.advance(120);
    let refused = app.token_basic(id, secret, &[]).await;
    assert_oauth_error(refused, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let admin = app.admin_token().await;
    let key: Value = app.get_json(&admin, &format!("/v1/keys/{id}")).await;
    assert_eq!(key["status"], "expired");
}

/// Scopes are parsed once, when a key is read: a stored scope that does not parse
/// stops the key (and says so to the admin), rather than being dropped from its
/// tokens while the rest are granted.
async fn a_stored_scope_that_does_not_parse_stops_the_key_instead_of_being_dropped(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.new_client("hand-edited", &["read:a", "write:b"]).await;
    let (other_id, other_secret) = app.new_client("untouched", &["read:a"]).await;
    app.db
        .execute(&format!(
            "UPDATE api_keys SET scopes = '[\"read:a\", \"write:b c\"]' WHERE id = '{id}'"
        ))
        .await;
    let refused = app.token_basic(&id, &secret, &[("scope", "read:a")]).await;
    assert_oauth_error(refused, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let admin = app.admin_token().await;
    let shown = app.get_with(&admin, &format!("/v1/keys/{id}")).await;
    assert_eq!(shown.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(shown.headers()["content-type"], "application/problem+json");
    assert_eq!(app.token_basic(&other_id, &other_secret, &[]).await.status(), StatusCode::OK);
}

on_both_backends!(
    a_stored_scope_that_does_not_parse_stops_the_key_instead_of_being_dropped,
    an_expiring_key_caps_its_tokens_and_stops_when_it_expires,
    oauth2_crate_gets_tokens_with_basic_and_post_that_verify_against_the_jwks,
    success_response_is_exactly_rfc6749_section_5_1,
    every_jti_is_unique,
    wrong_secret_unknown_id_malformed_and_revoked_keys_get_the_same_invalid_client,
    malformed_requests_get_their_rfc6749_errors,
    basic_credentials_are_form_urlencoded_inside_the_header,
);
