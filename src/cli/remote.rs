//! Remote mode: admin commands sent to a running keymint's `/v1` API, with an
//! access token the CLI obtains from its `/oauth/token` with the admin's key and
//! renews itself (shortly before it expires, or when the server refuses it).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use base64::Engine;

use crate::apikeys::secret::{random_base62, Secret};
use crate::clock::Clock;
use crate::oauth::assertion::ASSERTION_TYPE;
use crate::signing::{Algorithm, SigningKey};

/// How long the CLI waits for the server to answer one request.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A token is renewed this long before it expires, so a request never carries one
/// that expires on the way.
const RENEW_MARGIN: Duration = Duration::from_secs(30);

/// An admin key's credentials, and where they were found (said in errors).
pub struct Credentials {
    pub client_id: String,
    pub proof: ClientProof,
    pub origin: String,
}

/// How the CLI proves it holds the admin key.
pub enum ClientProof {
    /// The key's secret (`client_secret_basic`).
    Secret(Secret),
    /// A private key whose public half the admin key carries (`private_key_jwt`):
    /// each token request sends an assertion signed with it, naming `kid` if given.
    PrivateKey { key: SigningKey, kid: Option<String> },
    /// A person's session (`keymint login --sso`): its refresh token, exchanged
    /// for a short-lived token of the person's (`client_id` is `keymint-cli`).
    Session(Secret),
}

impl ClientProof {
    /// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`): P-256
    /// (ES256), Ed25519 (EdDSA) or RSA of 2048 bits or more (RS256).
    pub fn key_file(path: &std::path::Path, kid: Option<String>) -> anyhow::Result<ClientProof> {
        let fail = |why: &str| anyhow::anyhow!("private key {}: {why}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| fail(&e.to_string()))?;
        if text.contains("-----BEGIN EC PRIVATE KEY") || text.contains("-----BEGIN RSA PRIVATE KEY")
        {
            return Err(fail(
                "give it as PKCS#8 (`openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.p8`)",
            ));
        }
        let body: String = text
            .lines()
            .skip_while(|l| !l.starts_with("-----BEGIN PRIVATE KEY-----"))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .ok()
            .filter(|der| !der.is_empty())
            .ok_or_else(|| fail("not a PEM `PRIVATE KEY` (PKCS#8)"))?;
        let key = Algorithm::ALL
            .into_iter()
            .find_map(|alg| SigningKey::from_pkcs8(alg, &der).ok())
            .ok_or_else(|| fail("not a P-256, Ed25519 or RSA (2048+ bits) private key"))?;
        Ok(ClientProof::PrivateKey { key, kid })
    }
}

/// A keymint server and the key the CLI acts as there.
pub struct Remote {
    base: String,
    credentials: Credentials,
    http: reqwest::Client,
    token: tokio::sync::Mutex<Option<Token>>,
    /// The server's issuer, from its discovery document (read once, when an
    /// assertion first needs it).
    issuer: tokio::sync::OnceCell<String>,
}

struct Token {
    value: String,
    renew_at: Instant,
}

impl Token {
    /// A token answered at `now` lasting `lifetime` is renewed [`RENEW_MARGIN`]
    /// before it ends (at once when it lasts less than that).
    fn new(value: String, now: Instant, lifetime: Duration) -> Token {
        Token { value, renew_at: now + lifetime.saturating_sub(RENEW_MARGIN) }
    }

    fn fresh(&self, now: Instant) -> bool {
        now < self.renew_at
    }
}

/// What the token endpoint granted.
pub struct Grant {
    pub scope: String,
}

/// The base URL of a server as given to `--server`: `https://host[:port][/path]`, or
/// `http://` to this machine only (the admin's secret crosses the network).
pub fn server_url(given: &str) -> anyhow::Result<String> {
    let url = reqwest::Url::parse(given).map_err(|e| {
        anyhow::anyhow!("--server {given}: not a URL ({e}); e.g. https://keymint.example.com")
    })?;
    let host = url.host_str().unwrap_or_default();
    let local = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        "http" => anyhow::bail!(
            "--server {given}: use https://; http:// would send the admin key's secret \
             unencrypted (it is accepted for localhost only)"
        ),
        other => anyhow::bail!("--server {given}: {other}:// is not http(s)"),
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        anyhow::bail!("--server {given}: give the server's base URL only, without credentials, query or fragment");
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

impl Remote {
    /// A client of the server at `server` (checked by [`server_url`]).
    pub fn new(server: &str, credentials: Credentials) -> anyhow::Result<Remote> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("keymint-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Remote {
            base: server_url(server)?,
            credentials,
            http,
            token: Default::default(),
            issuer: Default::default(),
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The key the CLI acts as.
    pub fn client_id(&self) -> &str {
        &self.credentials.client_id
    }

    /// Where its credentials came from.
    pub fn origin(&self) -> &str {
        &self.credentials.origin
    }

    /// Sends a request to `path_and_query` under the base URL with a token, and
    /// answers the status and body. A refused token is renewed and the request
    /// sent once more: a 401 is answered before anything is done, so even a
    /// create is safe to repeat.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<(StatusCode, Vec<u8>)> {
        let mut renewed = false;
        loop {
            let token = self.token(renewed).await?;
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path_and_query}", self.base))
                .bearer_auth(token);
            if let Some(body) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let response = request.send().await.map_err(|e| self.unreachable(e))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !renewed {
                renewed = true;
                continue;
            }
            let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
            return Ok((status, bytes.to_vec()));
        }
    }

    /// The current token, or a new one when there is none, it is about to expire,
    /// or `renew` says the server refused it.
    async fn token(&self, renew: bool) -> anyhow::Result<String> {
        let mut held = self.token.lock().await;
        if let Some(token) = held.as_ref().filter(|t| !renew && t.fresh(Instant::now())) {
            return Ok(token.value.clone());
        }
        let (token, _) = self.exchange().await?;
        let value = token.value.clone();
        *held = Some(token);
        Ok(value)
    }

    /// Exchanges the credentials for a token (client credentials grant).
    async fn exchange(&self) -> anyhow::Result<(Token, Grant)> {
        let asked = Instant::now();
        let id = &self.credentials.client_id;
        let request = self.http.post(format!("{}/oauth/token", self.base));
        let request = match &self.credentials.proof {
            ClientProof::Secret(secret) => request
                .basic_auth(id, Some(secret.expose()))
                .form(&[("grant_type", "client_credentials")]),
            ClientProof::PrivateKey { key, kid } => {
                let assertion = self.assertion(key, kid.as_deref()).await?;
                request.form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", id),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", &assertion),
                ])
            }
            ClientProof::Session(refresh) => request.form(&[
                ("grant_type", "refresh_token"),
                ("client_id", crate::devices::CLI_CLIENT_ID),
                ("refresh_token", refresh.expose()),
            ]),
        };
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let text =
            |name: &str| body.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
        if !status.is_success() {
            let error = text("error");
            if error.is_empty() {
                anyhow::bail!(
                    "{} answered {status} at /oauth/token: is --server the address of a keymint?",
                    self.base
                );
            }
            let who = match self.credentials.proof {
                ClientProof::Session(_) => format!("the session of {}", self.credentials.client_id),
                _ => format!("the admin key {}", self.credentials.client_id),
            };
            anyhow::bail!(
                "{} refused {who} from {}: {error}: {}",
                self.base,
                self.credentials.origin,
                text("error_description")
            );
        }
        let value = text("access_token");
        if value.is_empty() {
            anyhow::bail!("{} answered no access_token at /oauth/token", self.base);
        }
        let lifetime = Duration::from_secs(body["expires_in"].as_u64().unwrap_or(60));
        Ok((Token::new(value, asked, lifetime), Grant { scope: text("scope") }))
    }

    /// A client assertion (RFC 7523) for the server's issuer, signed with `key`,
    /// living a minute, with a fresh `jti`.
    async fn assertion(&self, key: &SigningKey, kid: Option<&str>) -> anyhow::Result<String> {
        let issuer = self.issuer.get_or_try_init(|| self.discover_issuer()).await?;
        let now = crate::clock::SystemClock.now();
        let id = &self.credentials.client_id;
        let claims = serde_json::json!({"iss": id, "sub": id, "aud": issuer, "iat": now,
            "exp": now + 60, "jti": random_base62(22)});
        let mut header = serde_json::json!({"alg": key.alg().name(), "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = Value::from(kid);
        }
        Ok(key.sign_with_header(&header, claims.to_string().as_bytes())?)
    }

    /// The `issuer` the server's discovery document names.
    async fn discover_issuer(&self) -> anyhow::Result<String> {
        let discovery = format!("{}/.well-known/oauth-authorization-server", self.base);
        let response = self.http.get(&discovery).send().await.map_err(|e| self.unreachable(e))?;
        let body = response.bytes().await.map_err(|e| self.unreachable(e))?;
        let metadata: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        match metadata["issuer"].as_str() {
            Some(issuer) => Ok(issuer.to_string()),
            None => {
                anyhow::bail!("{discovery} names no issuer: is --server the address of a keymint?")
            }
        }
    }

    /// Checks the credentials: what the server grants them.
    pub async fn check(&self) -> anyhow::Result<Grant> {
        let (token, grant) = self.exchange().await?;
        *self.token.lock().await = Some(token);
        Ok(grant)
    }

    /// The error of a request that got no answer, saying what to check.
    fn unreachable(&self, e: reqwest::Error) -> anyhow::Error {
        let cause = crate::report::Chain(&e).to_string();
        let what = if e.is_timeout() {
            format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())
        } else if e.is_connect() {
            format!("cannot connect ({cause})")
        } else {
            cause
        };
        anyhow::anyhow!(
            "keymint at {} is unreachable: {what}; check --server and that `keymint serve` runs there",
            self.base
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_renewed_before_it_expires() {
        let now = Instant::now();
        let token = Token::new("t".into(), now, Duration::from_secs(600));
        assert!(token.fresh(now + Duration::from_secs(569)));
        assert!(!token.fresh(now + Duration::from_secs(570)), "30 s before the end");
        let short = Token::new("t".into(), now, Duration::from_secs(10));
        assert!(!short.fresh(now), "a token shorter than the margin is renewed each time");
    }

    #[test]
    fn a_server_is_https_or_this_machine() {
        assert_eq!(
            server_url("https://keymint.example.com/").unwrap(),
            "https://keymint.example.com"
        );
        assert_eq!(server_url("https://h.example/auth/").unwrap(), "https://h.example/auth");
        assert_eq!(server_url("http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(server_url("http://localhost:8080").unwrap(), "http://localhost:8080");
        assert_eq!(server_url("http://[::1]:8080").unwrap(), "http://[::1]:8080");
        assert!(server_url("http://keymint.example.com")
            .unwrap_err()
            .to_string()
            .contains("use https://"));
        assert!(server_url("keymint.example.com").unwrap_err().to_string().contains("not a URL"));
        assert!(server_url("ftp://h.example").unwrap_err().to_string().contains("not http(s)"));
        assert!(server_url("https://u:p@h.example")
            .unwrap_err()
            .to_string()
            .contains("base URL only"));
    }
}
