//! One list of requests every resource server here must answer alike, over real
//! HTTP against a real keymint: the example API built with `keymint-verify`
//! (`crates/keymint-verify/examples/resource_server.rs`) and the recipes of
//! docs/resource-servers.md (`recipes.rs`). Each server serves the same routes:
//!
//! - `GET /agents` needs `read:agents/*`;
//! - `GET /agents/{id}` needs `read:agents/{id}`, `PUT /agents/{id}` `write:agents/{id}`;
//! - `GET /me` needs any valid token.
//!
//! Each runs with introspection on, so a revoked token is refused at once and
//! a raw API key is accepted.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::assertions::ClientKey;
use crate::helpers::{start_instance, Backend, TestApp};

crate::on_both_backends!(
    the_example_api_answers_every_case_of_the_list,
    behind_a_proxy_proofs_name_the_public_origin,
);

/// The audience every resource server of the list is configured with.
pub const AUDIENCE: &str = "https://api.example.test";

/// keymint, and the tokens and keys the list presents.
pub struct Fixture {
    pub app: TestApp,
    /// A key holding `keymint:introspect`, for the resource servers.
    pub introspector: (String, String),
    /// `read:agents/*`.
    reader: (String, String),
    reader_token: String,
    /// `write:agents/7`.
    seven_token: String,
    expired: String,
    other_audience: String,
    other_issuer: String,
    /// `read:agents/*`, bound to `dpop_key`.
    bound: String,
    dpop_key: ClientKey,
    _other: TestApp,
}

async fn key(app: &TestApp, name: &str, body: Value) -> (String, String) {
    let mut body = body;
    body["name"] = json!(name);
    let created = app.create_key(body).await;
    let text = |k: &str| created[k].as_str().unwrap().to_string();
    (text("client_id"), text("client_secret"))
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn part(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

impl Fixture {
    pub async fn new(backend: Backend) -> Fixture {
        let app = crate::helpers::spawn_app(backend).await;
        let introspector = key(&app, "agents-api", json!({"scopes": ["keymint:introspect"]})).await;
        let reader = key(
            &app,
            "reader",
            json!({"scopes": ["read:agents/*"],
                "audiences": [AUDIENCE, "https://other-api.example.test"]}),
        )
        .await;
        let reader_token = app.access_token(&reader.0, &reader.1).await;
        let seven = key(&app, "seven", json!({"scopes": ["write:agents/7"]})).await;
        let seven_token = app.access_token(&seven.0, &seven.1).await;

        // Issued 11 minutes ago: expired a minute past the leeway.
        app.clock.advance(-660);
        let expired = app.access_token(&reader.0, &reader.1).await;
        app.clock.advance(660);

        let response = app
            .token_basic(&reader.0, &reader.1, &[("audience", "https://other-api.example.test")])
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let other_audience =
            response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();

        // Another instance on the same database, under another issuer URL.
        let other = start_instance(app.db.clone(), &[]).await;
        let other_issuer = other.access_token(&reader.0, &reader.1).await;

        let dpop_key = ClientKey::new(None);
        let bound_key = key(&app, "bound", json!({"scopes": ["read:agents/*"]})).await;
        // keymint checks the proof's iat against its own (manual) clock, which
        // stands still while the fixture is built: a proof dated by the wall clock
        // would be "ahead" once building took more than a few seconds.
        let proof = proof_at(&dpop_key, "POST", &app.url("/oauth/token"), None, app.clock_now());
        let response = app
            .client
            .post(app.url("/oauth/token"))
            .basic_auth(&bound_key.0, Some(&bound_key.1))
            .header("DPoP", proof)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bound =
            response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
        assert!(part(&bound, 1)["cnf"]["jkt"].is_string(), "a DPoP-bound token");

        Fixture {
            app,
            introspector,
            reader,
            reader_token,
            seven_token,
            expired,
            other_audience,
            other_issuer,
            bound,
            dpop_key,
            _other: other,
        }
    }

    /// The reader's token with `header` in place of its own, signature kept.
    fn reheaded(&self, header: Value) -> String {
        let parts: Vec<&str> = self.reader_token.split('.').collect();
        format!("{}.{}.{}", b64(&header), parts[1], parts[2])
    }

    /// The reader's claims under `header`, signed by `sign`.
    fn forged(&self, header: Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
        let input = format!("{}.{}", b64(&header), b64(&part(&self.reader_token, 1)));
        let signature = sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    async fn public_jwk(&self, kid: &str) -> Value {
        let jwks = self.app.public_json("/.well-known/jwks.json").await;
        jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid).unwrap().clone()
    }
}

/// A DPoP proof for `method url`, bound to `token` when given, issued now by
/// the wall clock (the resource servers' clock).
fn proof(key: &ClientKey, method: &str, url: &str, token: Option<&str>) -> String {
    let now = keymint::clock::Clock::now(&keymint::clock::SystemClock);
    proof_at(key, method, url, token, now)
}

/// A DPoP proof for `method url`, bound to `token` when given, issued at `iat`.
fn proof_at(key: &ClientKey, method: &str, url: &str, token: Option<&str>, iat: i64) -> String {
    let mut claims = json!({"jti": keymint::apikeys::secret::random_base62(22), "htm": method,
        "htu": url, "iat": iat});
    if let Some(token) = token {
        claims["ath"] = json!(keymint_verify::dpop::ath(token));
    }
    key.sign_raw(&json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk}), &claims)
}

/// What a case expects: a status, and for a refusal the challenge's scheme, its
/// error code (none for a request without a token) and the scope it names.
#[derive(Debug)]
struct Expect {
    status: StatusCode,
    scheme: &'static str,
    error: Option<&'static str>,
    scope: Option<&'static str>,
}

const OK: Expect = Expect { status: StatusCode::OK, scheme: "", error: None, scope: None };

fn refused(scheme: &'static str, error: &'static str) -> Expect {
    Expect { status: StatusCode::UNAUTHORIZED, scheme, error: Some(error), scope: None }
}

fn insufficient(scope: &'static str) -> Expect {
    Expect {
        status: StatusCode::FORBIDDEN,
        scheme: "Bearer",
        error: Some("insufficient_scope"),
        scope: Some(scope),
    }
}

/// The `name="value"` parameter of a challenge.
fn param<'a>(challenge: &'a str, name: &str) -> Option<&'a str> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let end = challenge[start..].find('"')? + start;
    Some(&challenge[start..end])
}

/// Sends one request to the server at `base` and checks its answer.
async fn case(
    fx: &Fixture,
    base: &str,
    name: &str,
    (method, path): (&str, &str),
    headers: &[(&str, String)],
    expect: Expect,
) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = fx.app.client.request(method, format!("{base}{path}"));
    for (header, value) in headers {
        request = request.header(*header, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let challenges: Vec<String> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status, expect.status, "{name}: {challenges:?} {body}");
    if expect.status == StatusCode::OK {
        return;
    }
    let challenge = challenges
        .iter()
        .find(|c| c.split(' ').next() == Some(expect.scheme))
        .unwrap_or_else(|| panic!("{name}: no {} challenge in {challenges:?}", expect.scheme));
    assert_eq!(param(challenge, "error"), expect.error, "{name}: {challenge}");
    assert_eq!(param(challenge, "scope"), expect.scope, "{name}: {challenge}");
}

/// Runs the whole list against the resource server at `base`.
pub async fn the_list(fx: &Fixture, base: &str) {
    let bearer = |token: &str| vec![("Authorization", format!("Bearer {token}"))];
    let reader = bearer(&fx.reader_token);
    let seven = bearer(&fx.seven_token);
    let get = |path| ("GET", path);

    // Accepted, and scopes by keymint's rules.
    case(fx, base, "right scope", get("/agents/42"), &reader, OK).await;
    case(fx, base, "wildcard route", get("/agents"), &reader, OK).await;
    case(fx, base, "any valid token", get("/me"), &reader, OK).await;
    case(fx, base, "write implies read", get("/agents/7"), &seven, OK).await;
    case(fx, base, "write granted", ("PUT", "/agents/7"), &seven, OK).await;
    case(fx, base, "read only", ("PUT", "/agents/42"), &reader, insufficient("write:agents/42"))
        .await;
    case(fx, base, "another agent", get("/agents/42"), &seven, insufficient("read:agents/42"))
        .await;
    case(fx, base, "one is not all", get("/agents"), &seven, insufficient("read:agents/*")).await;

    // No token, or not one of ours.
    let none =
        Expect { status: StatusCode::UNAUTHORIZED, scheme: "Bearer", error: None, scope: None };
    case(fx, base, "no token", get("/agents/42"), &[], none).await;
    let basic = vec![("Authorization", "Basic dXNlcjpwYXNz".to_string())];
    let none =
        Expect { status: StatusCode::UNAUTHORIZED, scheme: "Bearer", error: None, scope: None };
    case(fx, base, "another scheme", get("/agents/42"), &basic, none).await;

    // Tokens that are not valid here.
    let invalid = || refused("Bearer", "invalid_token");
    case(fx, base, "expired", get("/agents/42"), &bearer(&fx.expired), invalid()).await;
    case(fx, base, "other audience", get("/agents/42"), &bearer(&fx.other_audience), invalid())
        .await;
    case(fx, base, "other issuer", get("/agents/42"), &bearer(&fx.other_issuer), invalid()).await;
    let header = part(&fx.reader_token, 0);
    let kid = header["kid"].as_str().unwrap();
    let none = fx.forged(json!({"alg": "none", "typ": "at+jwt", "kid": kid}), |_| vec![]);
    case(fx, base, "alg none", get("/agents/42"), &bearer(&none), invalid()).await;
    let public = fx.public_jwk(kid).await;
    let hmac = fx.forged(json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}), |data| {
        let key =
            aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, public.to_string().as_bytes());
        aws_lc_rs::hmac::sign(&key, data).as_ref().to_vec()
    });
    case(fx, base, "HMAC with the public key", get("/agents/42"), &bearer(&hmac), invalid()).await;
    let unknown = fx.reheaded(json!({"alg": "ES256", "typ": "at+jwt", "kid": "made-up"}));
    case(fx, base, "unknown kid", get("/agents/42"), &bearer(&unknown), invalid()).await;
    let mut widened = part(&fx.reader_token, 1);
    widened["scope"] = json!("write:agents/*");
    let parts: Vec<&str> = fx.reader_token.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], b64(&widened), parts[2]);
    case(fx, base, "changed claim", get("/agents/42"), &bearer(&tampered), invalid()).await;
    let mut retyped = header.clone();
    retyped["typ"] = json!("JWT");
    let retyped = fx.reheaded(retyped);
    case(fx, base, "typ JWT", get("/agents/42"), &bearer(&retyped), invalid()).await;

    // DPoP-bound tokens.
    let url = format!("{base}/agents/42");
    let bound = &fx.bound;
    case(fx, base, "bound token as Bearer", get("/agents/42"), &bearer(bound), invalid()).await;
    let dpop = vec![("Authorization", format!("DPoP {bound}"))];
    let no_proof = refused("DPoP", "invalid_dpop_proof");
    case(fx, base, "bound token without its proof", get("/agents/42"), &dpop, no_proof).await;
    let elsewhere = proof(&fx.dpop_key, "GET", &format!("{base}/agents/43"), Some(bound));
    let with = |p: &str| vec![dpop[0].clone(), ("DPoP", p.to_string())];
    let wrong_url = refused("DPoP", "invalid_dpop_proof");
    case(fx, base, "proof for another URL", get("/agents/42"), &with(&elsewhere), wrong_url).await;
    let stranger = proof(&ClientKey::new(None), "GET", &url, Some(bound));
    let other_key = refused("DPoP", "invalid_dpop_proof");
    case(fx, base, "proof by another key", get("/agents/42"), &with(&stranger), other_key).await;
    let unbound = proof(&fx.dpop_key, "GET", &url, None);
    let no_ath = refused("DPoP", "invalid_dpop_proof");
    case(fx, base, "proof without ath", get("/agents/42"), &with(&unbound), no_ath).await;
    let good = proof(&fx.dpop_key, "GET", &url, Some(bound));
    case(fx, base, "bound token with its proof", get("/agents/42"), &with(&good), OK).await;
    let replayed = refused("DPoP", "invalid_dpop_proof");
    case(fx, base, "the same proof again", get("/agents/42"), &with(&good), replayed).await;

    // Introspection: revocation bites at once; raw keys while clients migrate.
    let revoked = fx.app.access_token(&fx.reader.0, &fx.reader.1).await;
    let answer = fx
        .app
        .client
        .post(fx.app.url("/oauth/revoke"))
        .basic_auth(&fx.reader.0, Some(&fx.reader.1))
        .form(&[("token", revoked.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    case(fx, base, "revoked token", get("/agents/42"), &bearer(&revoked), invalid()).await;
    case(fx, base, "raw API key", get("/agents/42"), &bearer(&fx.reader.1), OK).await;
    // The last character changed: to `x`, or to `y` when it already is `x` (one
    // secret in 62 ends so, and would have been presented unchanged).
    let (kept, last) = fx.reader.1.split_at(fx.reader.1.len() - 1);
    let wrong_key = format!("{kept}{}", if last == "x" { "y" } else { "x" });
    case(fx, base, "wrong raw key", get("/agents/42"), &bearer(&wrong_key), invalid()).await;
    case(fx, base, "junk", get("/agents/42"), &bearer("not-a-token"), invalid()).await;
}

#[expect(dead_code, reason = "the example's main is not called here, its router is")]
#[path = "../../crates/keymint-verify/examples/resource_server.rs"]
mod example;

/// The example API on a port of its own, with `verifier`; its address.
async fn serve_example(verifier: keymint_verify::verifier::Verifier) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, example::router(std::sync::Arc::new(verifier))).await.unwrap();
    });
    base
}

async fn the_example_api_answers_every_case_of_the_list(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let verifier = keymint_verify::verifier::Verifier::discover(&fx.app.issuer, AUDIENCE)
        .await
        .unwrap()
        .with_introspection(&fx.introspector.0, &fx.introspector.1)
        .unwrap();
    let base = serve_example(verifier).await;
    the_list(&fx, &base).await;
}

async fn behind_a_proxy_proofs_name_the_public_origin(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let public = "https://agents.example.test";
    let verifier = keymint_verify::verifier::Verifier::discover(&fx.app.issuer, AUDIENCE)
        .await
        .unwrap()
        .with_origin(public);
    let base = serve_example(verifier).await;
    let bound = &fx.bound;
    let send = |htu: String| {
        let proof = proof(&fx.dpop_key, "GET", &htu, Some(bound));
        vec![("Authorization", format!("DPoP {bound}")), ("DPoP", proof)]
    };
    let public_url = send(format!("{public}/agents/42"));
    case(&fx, &base, "the public URL", ("GET", "/agents/42"), &public_url, OK).await;
    let inner_url = send(format!("{base}/agents/42"));
    let refused = refused("DPoP", "invalid_dpop_proof");
    case(&fx, &base, "the address behind the proxy", ("GET", "/agents/42"), &inner_url, refused)
        .await;
}
