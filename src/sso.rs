//! The organisation's OpenID provider, as the console's sign-in uses it: the
//! authorization code flow with PKCE (S256), `state` and `nonce`, through the
//! `openidconnect` crate, which checks the ID token fully (signature with an
//! allow-listed algorithm, `iss`, `aud`, `azp`, `exp`, `nonce`; `iat` is checked
//! here against keymint's clock).
//!
//! Every request to the provider goes through one bounded client: `https`, or `http` to a
//! loopback address only; no redirects; 5 seconds; at most 256 KiB. Discovery is
//! read from `--sso-issuer` and kept 5 minutes; it is read again at once when an
//! ID token names a key the provider did not publish before.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};

use crate::apikeys::secret::Secret;
use crate::clock::Clock;

/// The `--sso-*` settings.
#[derive(Clone)]
pub struct SsoConfig {
    /// The provider's issuer URL; discovery is read from it.
    pub issuer: String,
    pub client_id: String,
    /// The client secret (`--sso-client-secret`), or the file holding it.
    pub client_secret: Option<Secret>,
    pub client_secret_file: Option<std::path::PathBuf>,
    /// The ID token claim that lists a person's groups.
    pub groups_claim: String,
    /// Groups whose members are platform admins.
    pub admin_groups: Vec<String>,
}

impl std::fmt::Debug for SsoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("groups_claim", &self.groups_claim)
            .field("admin_groups", &self.admin_groups)
            .finish_non_exhaustive()
    }
}

/// How long discovery (and the provider's keys) is used before it is read again.
pub const KEEP_SECONDS: i64 = 300;
/// The longest a request to the provider may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer accepted from the provider.
pub const MAX_BYTES: usize = 256 * 1024;
/// How far in the future an ID token's `iat` may be (clock skew), in seconds.
const IAT_LEEWAY_SECONDS: i64 = 60;
/// The oldest `iat` accepted: a token issued longer ago than this is refused
/// even if the provider gave it a longer life.
const IAT_MAX_AGE_SECONDS: i64 = 600;

/// The algorithms an ID token may be signed with: asymmetric ones only (an HMAC
/// token would be signed with the client secret, which is not a provider's proof).
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// A client made from the provider's discovery document.
type DiscoveredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Who the provider says signed in, from a verified ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    /// The groups claim (`--sso-groups-claim`), when the token carries one.
    pub groups: Vec<String>,
}

/// A sign-in under way: what the callback must match. Kept sealed for the
/// browser that began it, and used once.
#[derive(Serialize, Deserialize)]
pub struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    /// The console page to land on once signed in.
    #[serde(default)]
    pub next: String,
}

impl Pending {
    /// Whether `state` is the one this sign-in sent, compared in constant time.
    pub fn state_matches(&self, state: &str) -> bool {
        use subtle::ConstantTimeEq;
        state.len() == self.state.len() && bool::from(state.as_bytes().ct_eq(self.state.as_bytes()))
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending([REDACTED])")
    }
}

/// Why a sign-in through the provider failed. The words are for logs and for the
/// person; none carries a token or a secret.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("the identity provider could not be reached or answered wrongly: {0}")]
    Provider(String),
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    #[error("the identity provider's ID token was not accepted: {0}")]
    IdToken(String),
}

/// The provider, as configured by `--sso-*`. One per process.
pub struct Provider {
    config: SsoConfig,
    client_secret: Secret,
    redirect_uri: RedirectUrl,
    http: Bounded,
    clock: Arc<dyn Clock>,
    metadata: Mutex<Option<(CoreProviderMetadata, i64)>>,
}

impl Provider {
    /// The provider of `config`, whose callback is `<issuer>/console/sso/callback`.
    pub fn new(config: SsoConfig, issuer: &str, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        check_url(&config.issuer).map_err(|e| anyhow::anyhow!("--sso-issuer {e}"))?;
        if config.client_id.trim().is_empty() {
            anyhow::bail!("--sso-issuer needs --sso-client-id");
        }
        let client_secret = match (&config.client_secret, &config.client_secret_file) {
            (Some(secret), _) => secret.clone(),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("--sso-client-secret-file {}: {e}", path.display())
                })?;
                Secret::new(text.trim().to_string())
            }
            (None, None) => {
                anyhow::bail!("--sso-issuer needs --sso-client-secret or --sso-client-secret-file")
            }
        };
        let redirect_uri = RedirectUrl::new(format!("{issuer}/console/sso/callback"))?;
        let http = Bounded(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(TIMEOUT)
                .build()?,
        );
        Ok(Provider {
            config,
            client_secret,
            redirect_uri,
            http,
            clock,
            metadata: Mutex::new(None),
        })
    }

    /// The issuer keymint trusts.
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// The IdP groups whose members are platform admins.
    pub fn admin_groups(&self) -> &[String] {
        &self.config.admin_groups
    }

    /// Begins a sign-in: where to send the browser, and what its callback must match.
    pub async fn begin(&self) -> Result<(String, Pending), SsoError> {
        let client = self.client(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        let pending = Pending {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            next: String::new(),
        };
        Ok((url.to_string(), pending))
    }

    /// Finishes a sign-in: redeems `code` (with the PKCE verifier) and verifies
    /// the ID token against the nonce of `pending`.
    pub async fn finish(&self, pending: Pending, code: &str) -> Result<Identity, SsoError> {
        let client = self.client(false).await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| SsoError::Provider(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r) => {
                    SsoError::Refused(r.error().to_string())
                }
                e => SsoError::Provider(crate::report::Chain(&e).to_string()),
            })?;
        let id_token =
            response.id_token().ok_or(SsoError::IdToken("the provider sent none".into()))?;
        let nonce = Nonce::new(pending.nonce);
        let identity = match self.verify(&client, id_token, &nonce) {
            // A key the provider did not publish when discovery was read: read it
            // again, once.
            Err(ClaimsVerificationError::SignatureVerification(_)) if self.stale() => {
                let client = self.client(true).await?;
                self.verify(&client, id_token, &nonce)
            }
            verified => verified,
        };
        identity.map_err(|e| SsoError::IdToken(e.to_string()))
    }

    fn verify(
        &self,
        client: &DiscoveredClient,
        id_token: &openidconnect::core::CoreIdToken,
        nonce: &Nonce,
    ) -> Result<Identity, ClaimsVerificationError> {
        let now = self.clock.now();
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(ALLOWED_ALGS)
            .set_time_fn(move || chrono_at(now))
            .set_issue_time_verifier_fn(move |iat| {
                let iat = iat.timestamp();
                if iat > now + IAT_LEEWAY_SECONDS {
                    Err("issued in the future".into())
                } else if iat < now - IAT_MAX_AGE_SECONDS {
                    Err("issued too long ago".into())
                } else {
                    Ok(())
                }
            });
        let claims = id_token.claims(&verifier, nonce)?;
        Ok(Identity {
            issuer: claims.issuer().to_string(),
            subject: claims.subject().to_string(),
            email: claims.email().map(|e| e.to_string()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims.name().and_then(|n| n.get(None)).map(|n| n.to_string()),
            groups: groups(&id_token.to_string(), &self.config.groups_claim),
        })
    }

    /// A client over the provider's discovery, read again when older than
    /// [`KEEP_SECONDS`] or when `refresh`.
    async fn client(&self, refresh: bool) -> Result<DiscoveredClient, SsoError> {
        let now = self.clock.now();
        let cached = self.metadata.lock().ok().and_then(|m| m.clone());
        let metadata = match cached {
            Some((metadata, at)) if !refresh && now - at < KEEP_SECONDS => metadata,
            _ => {
                let issuer = IssuerUrl::new(self.config.issuer.clone())
                    .map_err(|e| SsoError::Provider(e.to_string()))?;
                let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
                    .await
                    .map_err(|e| SsoError::Provider(crate::report::Chain(&e).to_string()))?;
                if let Ok(mut m) = self.metadata.lock() {
                    *m = Some((metadata.clone(), now));
                }
                metadata
            }
        };
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.client_secret.expose().to_string())),
        )
        .set_redirect_uri(self.redirect_uri.clone()))
    }

    /// Whether discovery is old enough to be read again for a missing key (at most
    /// every 10 seconds, so tokens naming unknown keys cannot make keymint fetch
    /// in a loop).
    fn stale(&self) -> bool {
        let now = self.clock.now();
        self.metadata.lock().ok().and_then(|m| m.as_ref().map(|(_, at)| now - at >= 10))
            == Some(true)
    }
}

fn chrono_at(unix: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(unix, 0).unwrap_or_default()
}

/// The groups claim `name` of a verified ID token: a list of strings (or one string).
fn groups(id_token: &str, name: &str) -> Vec<String> {
    let payload = id_token.split('.').nth(1).unwrap_or_default();
    let claims: serde_json::Value = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    match claims.get(name) {
        Some(serde_json::Value::Array(items)) => {
            items.iter().filter_map(|g| g.as_str()).map(str::to_string).collect()
        }
        Some(serde_json::Value::String(one)) => vec![one.clone()],
        _ => vec![],
    }
}

/// Whether `url` may be fetched: `https`, or `http` to a loopback address
/// (127.0.0.0/8, ::1); no credentials, query or fragment.
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("is not a URL: {e}"))?;
    let loopback = parsed
        .host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|h| h.parse::<IpAddr>().ok())
        .is_some_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err(format!("{url:?} must be https (http only on a loopback address)")),
        _ => return Err(format!("{url:?} must be an https URL")),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("{url:?} must not carry credentials"));
    }
    if parsed.fragment().is_some() {
        return Err(format!("{url:?} must not have a fragment"));
    }
    Ok(())
}

/// A failed request to the provider.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(String);

/// keymint's HTTP client for the provider: every request through [`fetch`].
struct Bounded(reqwest::Client);

impl<'c> openidconnect::AsyncHttpClient<'c> for Bounded {
    type Error = FetchError;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<openidconnect::HttpResponse, FetchError>>
                + Send
                + 'c,
        >,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(fetch(self.0.clone(), request))
    }
}

/// One request to the provider, within the bounds above.
async fn fetch(
    http: reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, FetchError> {
    check_url(&request.uri().to_string()).map_err(FetchError)?;
    let request =
        reqwest::Request::try_from(request).map_err(|e| FetchError(format!("bad request: {e}")))?;
    let host = request.url().host_str().unwrap_or_default().to_string();
    let mut response = http
        .execute(request)
        .await
        .map_err(|e| FetchError(format!("{host}: {}", crate::report::Chain(&e))))?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| FetchError(format!("{host}: {e}")))?
    {
        if body.len() + chunk.len() > MAX_BYTES {
            return Err(FetchError(format!("{host} answered more than 256 KiB")));
        }
        body.extend_from_slice(&chunk);
    }
    let mut answer = openidconnect::http::Response::new(body);
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    Ok(answer)
}
