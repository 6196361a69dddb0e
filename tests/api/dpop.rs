//! DPoP (RFC 9449): tokens bound to the client's key, proofs checked in full.

use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::assertions::ClientKey;
use crate::helpers::{assert_oauth_error, spawn_app, spawn_app_with, Backend, TestApp};
use crate::on_both_backends;

/// The RFC 7638 thumbprint of a P-256 public JWK.
pub fn thumbprint(jwk: &Value) -> String {
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
}

/// A proof's claims for `method` and `url`, issued now.
fn claims(app: &TestApp, method: &str, url: &str) -> Value {
    json!({"jti": keymint::apikeys::secret::random_base62(22), "htm": method, "htu": url,
        "iat": app.clock_now()})
}

/// A proof signed by `key` with its public JWK in the header.
fn proof(key: &ClientKey, claims: &Value) -> String {
    proof_with(key, claims, |_| {})
}

/// A proof whose header `edit` changed first.
fn proof_with(key: &ClientKey, claims: &Value, edit: impl FnOnce(&mut Value)) -> String {
    let mut header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk});
    edit(&mut header);
    key.sign_raw(&header, claims)
}

async fn token(app: &TestApp, id: &str, secret: &str, proofs: &[&str]) -> Response {
    let mut request = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")]);
    for p in proofs {
        request = request.header("DPoP", *p);
    }
    request.send().await.unwrap()
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn a_proof_binds_the_token_to_the_clients_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.new_client("dpop-client", &["read:a"]).await;
    let key = ClientKey::new(None);
    let endpoint = app.url("/oauth/token");
    let first = proof(&key, &claims(&app, "POST", &endpoint));
    let response = token(&app, &id, &secret, &[&first]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let access_token = body["access_token"].as_str().unwrap();
    assert_eq!(payload(access_token)["cnf"]["jkt"], thumbprint(&key.jwk));

    // Introspection reports the binding.
    let rs = crate::introspection::Introspector::new(&app).await;
    let answer = rs.active(&app, access_token).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["token_type"], "DPoP");
    assert_eq!(answer["cnf"]["jkt"], thumbprint(&key.jwk));

    // Without a proof, the same client gets a plain Bearer token.
    let bearer: Value = token(&app, &id, &secret, &[]).await.json().await.unwrap();
    assert_eq!(bearer["token_type"], "Bearer");
    assert!(payload(bearer["access_token"].as_str().unwrap()).get("cnf").is_none());

    // Every part of a proof is checked.
    let stranger = ClientKey::new(None);
    // Each bad proof, with what its refusal says.
    let mut bad: Vec<(String, &str)> = vec![(first.clone(), "used before")];
    bad.push((proof(&key, &claims(&app, "GET", &endpoint)), "htm"));
    bad.push((proof(&key, &claims(&app, "POST", &app.url("/oauth/revoke"))), "htu is not"));
    let with_query = format!("{endpoint}?x=1");
    bad.push((proof(&key, &claims(&app, "POST", &with_query)), "no query"));
    let mut old = claims(&app, "POST", &endpoint);
    old["iat"] = json!(app.clock_now() - 300);
    bad.push((proof(&key, &old), "iat"));
    let mut ahead = claims(&app, "POST", &endpoint);
    ahead["iat"] = json!(app.clock_now() + 300);
    bad.push((proof(&key, &ahead), "iat"));
    let mut no_jti = claims(&app, "POST", &endpoint);
    no_jti.as_object_mut().unwrap().remove("jti");
    bad.push((proof(&key, &no_jti), "claims"));
    let fresh = || claims(&app, "POST", &endpoint);
    bad.push((proof_with(&key, &fresh(), |h| h["typ"] = json!("JWT")), "typ"));
    bad.push((proof_with(&key, &fresh(), |h| h["jwk"] = Value::Null), "no jwk"));
    let theirs = key.jwk.clone();
    bad.push((proof_with(&stranger, &fresh(), |h| h["jwk"] = theirs), "signature"));
    let d = key.jwk["x"].clone();
    bad.push((proof_with(&key, &fresh(), |h| h["jwk"]["d"] = d), "not a public key"));
    let kid = json!("elsewhere");
    bad.push((proof_with(&key, &fresh(), |h| h["jku"] = kid), "key-location"));
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD
            .encode(json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk}).to_string()),
        URL_SAFE_NO_PAD.encode(fresh().to_string())
    );
    bad.push((none, "not allowed"));
    let mut hmac_header = Header::new(Algorithm::HS256);
    hmac_header.typ = Some("dpop+jwt".into());
    let hmac_key = EncodingKey::from_secret(key.jwk.to_string().as_bytes());
    bad.push((jsonwebtoken::encode(&hmac_header, &fresh(), &hmac_key).unwrap(), "not allowed"));
    for (p, why) in bad {
        let response = token(&app, &id, &secret, &[&p]).await;
        let body =
            assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
        let said = body["error_description"].as_str().unwrap();
        assert!(said.contains(why), "expected {why:?}: {body}");
    }
    let (a, b) = (proof(&key, &fresh()), proof(&key, &fresh()));
    let response = token(&app, &id, &secret, &[&a, &b]).await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
}

async fn a_key_that_requires_dpop_gets_no_bearer_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .create_key(
            json!({"name": "bound", "scopes": ["read:a"], "dpop_bound_access_tokens": true}),
        )
        .await;
    assert_eq!(created["dpop_bound_access_tokens"], true);
    let (id, secret) =
        (created["client_id"].as_str().unwrap(), created["client_secret"].as_str().unwrap());
    let response = token(&app, id, secret, &[]).await;
    let body = assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
    assert!(body["error_description"].as_str().unwrap().contains("DPoP"), "{body}");
    let key = ClientKey::new(None);
    let response =
        token(&app, id, secret, &[&proof(&key, &claims(&app, "POST", &app.url("/oauth/token")))])
            .await;
    assert_eq!(response.status(), StatusCode::OK);

    // The requirement is an edit away, either way.
    let admin = app.admin_token().await;
    let edited: Value = app
        .patch_with(&admin, &format!("/v1/keys/{id}"), &json!({"dpop_bound_access_tokens": false}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(edited["changes"]["dpop_bound_access_tokens"], json!({"from": true, "to": false}));
    assert_eq!(token(&app, id, secret, &[]).await.status(), StatusCode::OK);
}

async fn server_nonces_are_required_when_asked_for_and_shared_by_instances(backend: Backend) {
    let app = spawn_app_with(backend, &["--dpop-nonces"]).await;
    let peer = app.spawn_peer().await;
    let (id, secret) = app.new_client("nonce-client", &["read:a"]).await;
    let key = ClientKey::new(None);
    let endpoint = app.url("/oauth/token");
    let response =
        token(&app, &id, &secret, &[&proof(&key, &claims(&app, "POST", &endpoint))]).await;
    let nonce = response.headers()["dpop-nonce"].to_str().unwrap().to_string();
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "use_dpop_nonce").await;
    let mut with_nonce = claims(&app, "POST", &endpoint);
    with_nonce["nonce"] = json!(nonce);
    let response = token(&app, &id, &secret, &[&proof(&key, &with_nonce)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("dpop-nonce"), "every answer hands out the nonce");
    // The other instance accepts the nonce this one handed out (same master key),
    // but not the proof this one already accepted.
    let replayed = proof(&key, &with_nonce);
    with_nonce["jti"] = json!("another-jti");
    let response = token(&peer, &id, &secret, &[&proof(&key, &with_nonce)]).await;
    assert_eq!(response.status(), StatusCode::OK, "a nonce from the other instance");
    let response = token(&peer, &id, &secret, &[&replayed]).await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
    let mut forged = claims(&app, "POST", &endpoint);
    forged["nonce"] = json!("1.AAAAAAAAAAAAAAAAAAAAAA");
    let response = token(&app, &id, &secret, &[&proof(&key, &forged)]).await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "use_dpop_nonce").await;

    // keymint's own API asks for the nonce too (RFC 9449 section 9).
    let mut admin_claims = claims(&app, "POST", &endpoint);
    admin_claims["nonce"] = json!(nonce);
    let admin = token(&app, &app.admin_id, &app.admin_secret, &[&proof(&key, &admin_claims)]).await;
    let admin: Value = admin.json().await.unwrap();
    let bound = admin["access_token"].as_str().unwrap();
    let keys_url = app.url("/v1/keys");
    let ath = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, bound.as_bytes()).as_ref());
    let list = |nonce: Option<&str>| {
        let mut c = claims(&app, "GET", &keys_url);
        c["ath"] = json!(ath);
        if let Some(nonce) = nonce {
            c["nonce"] = json!(nonce);
        }
        let request = app
            .client
            .get(&keys_url)
            .header("Authorization", format!("DPoP {bound}"))
            .header("DPoP", proof(&key, &c));
        async move { request.send().await.unwrap() }
    };
    let asked = list(None).await;
    assert_eq!(asked.status(), StatusCode::UNAUTHORIZED);
    let challenge = asked.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(challenge.starts_with("DPoP ") && challenge.contains("use_dpop_nonce"), "{challenge}");
    let nonce = asked.headers()["dpop-nonce"].to_str().unwrap().to_string();
    let problem: Value = asked.json().await.unwrap();
    assert_eq!(problem["type"], "urn:keymint:problem:use-dpop-nonce");
    assert_eq!(list(Some(&nonce)).await.status(), StatusCode::OK);
}

async fn the_management_api_takes_a_bound_token_only_with_its_proof(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = ClientKey::new(None);
    let endpoint = app.url("/oauth/token");
    let response = token(
        &app,
        &app.admin_id,
        &app.admin_secret,
        &[&proof(&key, &claims(&app, "POST", &endpoint))],
    )
    .await;
    let admin: Value = response.json().await.unwrap();
    let bound = admin["access_token"].as_str().unwrap();
    let keys_url = app.url("/v1/keys");
    let ath = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, bound.as_bytes()).as_ref());
    let get = |scheme: &str, proof: Option<String>| {
        let mut request =
            app.client.get(&keys_url).header("Authorization", format!("{scheme} {bound}"));
        if let Some(p) = proof {
            request = request.header("DPoP", p);
        }
        async move { request.send().await.unwrap() }
    };
    let for_list = || {
        let mut c = claims(&app, "GET", &keys_url);
        c["ath"] = json!(ath);
        c
    };
    assert_eq!(get("Bearer", None).await.status(), StatusCode::UNAUTHORIZED, "as a Bearer token");
    assert_eq!(get("DPoP", None).await.status(), StatusCode::UNAUTHORIZED, "without a proof");
    let good = proof(&key, &for_list());
    assert_eq!(get("DPoP", Some(good.clone())).await.status(), StatusCode::OK);
    assert_eq!(get("DPoP", Some(good)).await.status(), StatusCode::UNAUTHORIZED, "replayed");
    let stranger = ClientKey::new(None);
    let response = get("DPoP", Some(proof(&stranger, &for_list()))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "another key");
    let mut no_ath = for_list();
    no_ath.as_object_mut().unwrap().remove("ath");
    assert_eq!(get("DPoP", Some(proof(&key, &no_ath))).await.status(), StatusCode::UNAUTHORIZED);
    // An unbound token is not accepted with the DPoP scheme, even with a proof
    // that is right in every other way (its key, this request, the token's ath).
    let plain = app.admin_token().await;
    let mut c = claims(&app, "GET", &keys_url);
    c["ath"] =
        json!(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, plain.as_bytes()).as_ref()));
    let response = app
        .client
        .get(&keys_url)
        .header("Authorization", format!("DPoP {plain}"))
        .header("DPoP", proof(&key, &c))
        .send()
        .await
        .unwrap();
    let problem =
        crate::helpers::assert_problem(response, StatusCode::UNAUTHORIZED, "invalid-token");
    assert_eq!(
        problem.await["detail"],
        "this token is not DPoP-bound: send it with Authorization: Bearer"
    );
    assert_eq!(get("DPoP", Some(proof(&key, &for_list()))).await.status(), StatusCode::OK);
}

on_both_backends!(
    a_proof_binds_the_token_to_the_clients_key,
    a_key_that_requires_dpop_gets_no_bearer_token,
    server_nonces_are_required_when_asked_for_and_shared_by_instances,
    the_management_api_takes_a_bound_token_only_with_its_proof,
);
