//! The token service: exchanges an authenticated API key for a signed access token,
//! and verifies keymint's own tokens (for `/v1` and introspection).

use std::net::IpAddr;
use std::sync::Arc;

use tracing::Instrument;

use crate::apikeys::cache::KeyCache;
use crate::apikeys::hashing::Hasher;
use crate::apikeys::secret::{self, random_base62, Secret};
use crate::apikeys::{self, AuthFailure, Authenticated};
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::oauth::dpop::{DpopError, Nonces, Presented};
use crate::oauth::jwks_uri::RemoteKeys;
use crate::oauth::limiter::{Blocked, FailureLimiter};
use crate::oauth::once::UsedIds;
use crate::oauth::{decide, Audience, Claims, Confirmation, Denial, Issuance, TokenRequest};
use crate::signing::Keyring;
use crate::store::Store;
use crate::usage::Usage;
use crate::vocab::scope::{ManagementScope, Scope};
use crate::vocab::Actor;
use crate::vocab::Outcome;

/// A successful exchange (RFC 6749 section 5.1).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Issued {
    pub access_token: String,
    /// `Bearer`, or `DPoP` for a token bound to the client's key (RFC 9449).
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    /// Token exchange only (RFC 8693 section 2.2.1): what was issued, an access token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

/// Who a management token speaks for.
#[derive(Debug)]
pub enum Bearer {
    /// An admin key, with the rights the token carries and the key still holds.
    Key(Actor),
    /// A person, through the session (by its hash) the token stands on.
    Person { person_id: String, session_hash: String },
}

/// Why no token was issued.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error(transparent)]
    Auth(#[from] AuthFailure),
    #[error(transparent)]
    Denied(#[from] Denial),
    /// The DPoP proof is missing (the key requires one), invalid, or lacks a nonce.
    #[error(transparent)]
    Dpop(#[from] DpopError),
    /// A subject, actor or platform token that is invalid or not acceptable
    /// (token exchange, the JWT bearer grant).
    #[error(transparent)]
    Unacceptable(#[from] crate::oauth::exchange::Unacceptable),
    /// The store failed while recording the proof's `jti`.
    #[error("database unavailable")]
    Unavailable(#[source] crate::store::StoreError),
    /// The claims could not be encoded or signed (a bug or a broken key).
    #[error("the token could not be made: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Why a presented access token is not accepted.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{0}")]
    Invalid(String),
    /// A valid token that is not for the management API (no management scope).
    #[error("{0}")]
    Insufficient(String),
    /// The store failed (logged once where it happened, with this cause).
    #[error("database unavailable")]
    Unavailable(#[source] crate::store::StoreError),
    /// Secret verification is saturated (raw-key checks): retry shortly.
    #[error("secret verification is saturated")]
    Busy,
    /// The DPoP proof lacks a current server nonce (`--dpop-nonces`): retry with
    /// this one (RFC 9449 section 9).
    #[error("a DPoP nonce is required")]
    UseDpopNonce(String),
}

/// How a client proves it holds a key: the key's secret, or (`private_key_jwt`)
/// an assertion signed by one of the key's public keys.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    Secret(&'a Secret),
    Assertion(&'a str),
}

/// Tolerated clock difference when checking `exp` and `nbf`.
pub const CLOCK_LEEWAY_SECONDS: i64 = 5;

/// Issues and verifies tokens. One per process; built by `App::open`.
pub struct TokenService {
    pub store: Arc<dyn Store>,
    pub keys: Arc<KeyCache>,
    pub hasher: Arc<Hasher>,
    pub keyring: Arc<Keyring>,
    pub clock: Arc<dyn Clock>,
    pub usage: Arc<Usage>,
    pub limiter: FailureLimiter,
    pub metrics: Arc<Metrics>,
    pub settings: Issuance,
    /// Server nonces for DPoP proofs, when the operator requires them.
    pub dpop_nonces: Option<Nonces>,
    /// JWT ids used once (assertions, DPoP proofs), shared by instances.
    pub used_ids: UsedIds,
    /// Public keys clients publish at their `jwks_uri`.
    pub remote_keys: RemoteKeys,
    /// Where the platform issuers of federated credentials publish their keys.
    pub platforms: crate::oauth::federation::Platforms,
    /// Revoked tokens, held in memory.
    pub revoked: Arc<crate::oauth::revoked::Revoked>,
}

impl TokenService {
    /// Authenticates a client (token, introspection and revocation endpoints alike)
    /// by its secret or a signed assertion: refused unchecked while its key id or
    /// address is over the failure limit; every failure is counted for the limits
    /// and for usage, and audited for known keys. A refusal is answered no sooner
    /// than the limiter's delay after the attempt began.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        proof: Proof<'_>,
        ip: Option<IpAddr>,
    ) -> Result<Authenticated, AuthFailure> {
        let began = tokio::time::Instant::now();
        let result = self.check_client(client_id, proof, ip).await;
        if let Err(
            AuthFailure::Refused(_) | AuthFailure::KeyRefused { .. } | AuthFailure::Throttled(_),
        ) = &result
        {
            tokio::time::sleep_until(began + self.limiter.delay()).await;
        }
        result
    }

    /// [`Self::authenticate_client`] answering at once: for raw-key verification,
    /// where the caller is a resource server asking about a value someone else
    /// presented, and a pause would hold the resource server's own requests.
    pub(crate) async fn check_client(
        &self,
        client_id: &str,
        proof: Proof<'_>,
        ip: Option<IpAddr>,
    ) -> Result<Authenticated, AuthFailure> {
        let now = self.clock.now();
        // Only secrets that could match an imported value, and assertions, count
        // against the key.
        let per_key = match proof {
            Proof::Secret(secret) => {
                (!secret::looks_generated(secret.expose())).then_some(client_id)
            }
            Proof::Assertion(_) => Some(client_id),
        };
        match self.limiter.check(per_key, ip, now) {
            Ok(()) => {}
            // An address over its limit may be a shared NAT or gateway: its neighbours
            // whose keys this instance holds and checks in microseconds keep working
            // (a generated secret, or an assertion, whose jti is single use). Guessing
            // at imported secrets, and unknown ids (which would reach the database),
            // stay refused.
            Err(Blocked::Address(_))
                if self.keys.peek(client_id).is_some_and(|k| match proof {
                    Proof::Secret(secret) => k
                        .credential
                        .current()
                        .is_some_and(|s| self.hasher.is_cheap(&s.hash, secret)),
                    Proof::Assertion(_) => k.credential.public_keys().is_some(),
                }) => {}
            Err(blocked) => {
                if apikeys::valid_key_id(client_id) {
                    self.usage.count(client_id, None, Outcome::Throttled);
                }
                return Err(AuthFailure::Throttled(blocked.seconds()));
            }
        }
        let store = self.store.as_ref();
        let result = match proof {
            Proof::Secret(secret) => {
                apikeys::authenticate(&self.keys, store, &self.hasher, client_id, secret, now, ip)
                    .await
            }
            Proof::Assertion(assertion) => {
                self.check_assertion(client_id, assertion, now, ip).await
            }
        };
        match &result {
            Err(AuthFailure::KeyRefused { reason, outcome, workspace_id }) => {
                self.limiter.failed(per_key, ip, now).await;
                self.usage.count(client_id, Some(workspace_id), *outcome);
                self.usage.refused(client_id, workspace_id, ip, reason);
            }
            // No such key (or one that cannot be read): counted as a wrong secret,
            // which is dropped when written unless the id is a key.
            Err(AuthFailure::Refused(_)) => {
                self.limiter.failed(per_key, ip, now).await;
                if apikeys::valid_key_id(client_id) {
                    self.usage.count(client_id, None, Outcome::WrongSecret);
                }
            }
            Ok(auth) => {
                if let Proof::Secret(secret) = proof {
                    self.index_secret(auth, secret).await;
                }
            }
            _ => {}
        }
        result
    }

    /// The token endpoint's URL, as discovery publishes it (and DPoP's `htu` names).
    pub fn token_endpoint(&self) -> String {
        format!("{}/oauth/token", self.settings.issuer)
    }

    /// Makes an imported secret that just authenticated findable by its value
    /// (raw-key verification) when it is not yet: imported before lookups existed,
    /// or under another master key. One write, the first time only.
    async fn index_secret(&self, auth: &Authenticated, secret: &Secret) {
        let Some(current) = auth.key.credential.current() else {
            return;
        };
        if !current.imported || auth.previous_secret || secret::looks_generated(secret.expose()) {
            return;
        }
        let lookup = self.hasher.lookup(secret);
        if current.lookup.as_deref() == Some(lookup.as_str()) {
            return;
        }
        match self.store.set_secret_lookup(&auth.key.id, &lookup).await {
            Ok(()) => self.keys.invalidate(&auth.key.id),
            Err(e) => {
                tracing::warn!(error = %crate::report::Chain(&e), "could not index an imported secret; will retry")
            }
        }
    }

    /// The client-credentials grant (RFC 6749 section 4.4).
    pub async fn exchange(
        &self,
        client_id: &str,
        proof: Proof<'_>,
        request: &TokenRequest,
        ip: Option<IpAddr>,
    ) -> Result<Issued, ExchangeError> {
        let result = self.issue(client_id, proof, request, ip).await;
        self.measured(result)
    }

    /// `result` of a token request, counted in the metrics: a token issued, or
    /// the refusal by its reason.
    pub(super) fn measured(
        &self,
        result: Result<Issued, ExchangeError>,
    ) -> Result<Issued, ExchangeError> {
        match &result {
            Ok(_) => {
                self.metrics.tokens_issued.inc();
            }
            Err(ExchangeError::Auth(failure)) => {
                if matches!(failure, AuthFailure::Unavailable(_)) {
                    self.metrics.database_errors.inc();
                }
                self.metrics.refused(failure.metric_reason());
            }
            Err(ExchangeError::Denied(Denial::InvalidScope(_))) => {
                self.metrics.refused("invalid_scope")
            }
            Err(ExchangeError::Denied(Denial::InvalidTarget(_))) => {
                self.metrics.refused("invalid_target")
            }
            Err(ExchangeError::Internal(_)) => self.metrics.refused("internal"),
            Err(ExchangeError::Unacceptable(_)) => self.metrics.refused("invalid_grant"),
            Err(ExchangeError::Dpop(_)) => self.metrics.refused("invalid_dpop_proof"),
            Err(ExchangeError::Unavailable(_)) => {
                self.metrics.database_errors.inc();
                self.metrics.refused("database unavailable")
            }
        }
        result
    }

    async fn issue(
        &self,
        client_id: &str,
        proof: Proof<'_>,
        request: &TokenRequest,
        ip: Option<IpAddr>,
    ) -> Result<Issued, ExchangeError> {
        // The proof is checked before the client (it costs no database work); its
        // jti is used once the client is known, so strangers cannot fill the table.
        // Each step is a span of its own (debug level: free unless traces are on).
        let dpop = self.token_endpoint_proof(request)?;
        let auth = self
            .authenticate_client(client_id, proof, ip)
            .instrument(tracing::debug_span!("authenticate"))
            .await?;
        let now = self.clock.now();
        let decided = async {
            self.bind_as_required(&auth.key, dpop.as_ref()).await?;
            let jti = format!("{}{}", auth.secret_tag(), random_base62(apikeys::TOKEN_ID_LEN));
            let mut claims =
                decide(&auth.key, request, &self.settings, now, jti).inspect_err(|_| {
                    let workspace = Some(auth.key.workspace_id.as_str());
                    self.usage.count(&auth.key.id, workspace, Outcome::ScopeRefused);
                })?;
            claims.cnf = dpop.map(|p| Confirmation { jkt: p.jkt });
            Ok::<_, ExchangeError>(claims)
        };
        let claims = decided.instrument(tracing::debug_span!("decide")).await?;
        let access_token = tracing::debug_span!("sign").in_scope(|| {
            let body =
                serde_json::to_vec(&claims).map_err(|e| ExchangeError::Internal(Box::new(e)))?;
            self.keyring.current().sign(&body).map_err(|e| ExchangeError::Internal(Box::new(e)))
        })?;
        tracing::debug_span!("store")
            .in_scope(|| self.usage.issued(&auth.key, ip, auth.previous_secret));
        Ok(Issued {
            access_token,
            token_type: if claims.cnf.is_some() { "DPoP" } else { "Bearer" },
            expires_in: claims.exp - now,
            scope: claims.scope,
            issued_token_type: None,
        })
    }

    /// Verifies one of keymint's own access tokens (for `audience`, if given): signature by a
    /// published key with its pinned algorithm, `typ: at+jwt`, `iss`, `aud`, `exp`,
    /// `nbf`, and no key-location headers (`jku`, `x5u`, `jwk`, `x5c`).
    pub fn verify(&self, token: &str, audience: Option<&str>) -> Result<Claims, VerifyError> {
        let invalid = |why: &str| VerifyError::Invalid(why.to_string());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed token"))?;
        // The header checks resource servers make too (keymint-verify).
        let kid = keymint_verify::verifier::check_header(&header).map_err(invalid)?;
        let (alg, key) =
            self.keyring.verifier(kid).ok_or_else(|| invalid("unknown signing key"))?;
        if header.alg != alg.jwt() {
            return Err(invalid("algorithm does not match the signing key"));
        }
        let mut validation = jsonwebtoken::Validation::new(alg.jwt());
        validation.set_issuer(&[&self.settings.issuer]);
        match audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "nbf"]);
        // Time is checked below against the service's clock (injectable), not here.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| VerifyError::Invalid(format!("token rejected: {}", e.kind_name())))?;
        let now = self.clock.now();
        if data.claims.exp <= now - CLOCK_LEEWAY_SECONDS {
            return Err(invalid("token expired"));
        }
        if data.claims.nbf > now + CLOCK_LEEWAY_SECONDS {
            return Err(invalid("token not yet valid"));
        }
        Ok(data.claims)
    }

    /// A management token for a person's session `sid` (the CLI signed in as a
    /// person): `scopes` are their role's, `workspace_id` where it applies.
    pub fn issue_for_person(
        &self,
        person: &Actor,
        sid: &str,
        client_id: &str,
    ) -> Result<Issued, ExchangeError> {
        let now = self.clock.now();
        let scope: Vec<&str> = person.scopes.iter().map(|s| s.as_str()).collect();
        let claims = Claims {
            iss: self.settings.issuer.clone(),
            sub: person.id.clone(),
            client_id: client_id.to_string(),
            aud: Audience::One(self.settings.management_audience.clone()),
            iat: now,
            nbf: now,
            exp: now + self.settings.ttl_seconds,
            jti: random_base62(apikeys::TOKEN_ID_LEN + 8),
            scope: scope.join(" "),
            workspace_id: person.workspace_id.clone().unwrap_or_default(),
            environment: String::new(),
            key_type: "person".into(),
            cnf: None,
            sid: Some(sid.to_string()),
            email: person.email.clone(),
            act: None,
            extra: serde_json::Map::new(),
        };
        let body = serde_json::to_vec(&claims).map_err(|e| ExchangeError::Internal(Box::new(e)))?;
        let access_token =
            self.keyring.current().sign(&body).map_err(|e| ExchangeError::Internal(Box::new(e)))?;
        Ok(Issued {
            access_token,
            token_type: "Bearer",
            expires_in: claims.exp - now,
            scope: claims.scope,
            issued_token_type: None,
        })
    }

    /// The management caller behind a bearer token: the token must be valid for the
    /// management audience. A key's token: the key must still be active, and the
    /// management scopes are those the token carries and the key still holds. A
    /// person's token: who the person is now is for their session to say
    /// ([`Bearer::Person`]).
    pub async fn management_actor(
        &self,
        token: &str,
        presented: Presented<'_>,
        ip: Option<IpAddr>,
    ) -> Result<Bearer, VerifyError> {
        let claims = self.verify(token, None)?;
        self.check_binding(&claims, token, presented).await?;
        if !claims.aud.contains(&self.settings.management_audience) {
            return Err(VerifyError::Insufficient(
                "this token is not for the management API: its key holds no management scope"
                    .into(),
            ));
        }
        if let Some(sid) = claims.sid {
            return Ok(Bearer::Person { person_id: claims.sub, session_hash: sid });
        }
        let Some(key) = self.backing_key(&claims).await? else {
            return Err(VerifyError::Invalid(
                "this token's key is gone or no longer active, its secret was rotated, \
                 or the token was revoked"
                    .into(),
            ));
        };
        // The token's management scopes that its key still holds.
        let carried = claims.scope.split(' ').filter_map(ManagementScope::parse);
        Actor::for_key(&key, carried, ip).map(Bearer::Key).ok_or_else(|| {
            VerifyError::Insufficient(
                "the token carries no management scope (keymint:introspect is not one)".into(),
            )
        })
    }
}

impl TokenService {
    /// RFC 7662 for `caller`, which must hold `keymint:introspect`: the claims of
    /// `token` and its key if it is active now, else `None`. A token is inactive
    /// when it does not verify, was revoked, or its key is gone, no longer active,
    /// or no longer holds the secret that minted it ([`apikeys::token_backed`]).
    pub async fn introspect(
        &self,
        caller: &Authenticated,
        token: &str,
    ) -> Result<Option<(Claims, Arc<crate::store::KeyRecord>)>, VerifyError> {
        if !caller.key.scopes.contains(&Scope::Management(ManagementScope::Introspect)) {
            return Err(VerifyError::Insufficient(
                "introspection needs the keymint:introspect scope".into(),
            ));
        }
        let Ok(claims) = self.verify(token, None) else {
            return Ok(None);
        };
        Ok(self.backing_key(&claims).await?.map(|key| (claims, key)))
    }

    /// The key behind a verified token of ours, if the token still stands: the key
    /// exists and is active, the secret that minted the token still works
    /// ([`apikeys::token_backed`]), and the token was not revoked. `/v1` and
    /// introspection ask this one question, so they give one answer.
    pub(super) async fn backing_key(
        &self,
        claims: &Claims,
    ) -> Result<Option<Arc<crate::store::KeyRecord>>, VerifyError> {
        let key = self.keys.find(self.store.as_ref(), &claims.sub).await.map_err(store_failed)?;
        let Some(key) = key else { return Ok(None) };
        if !apikeys::token_backed(&key, &claims.jti, claims.iat, self.clock.now()) {
            return Ok(None);
        }
        // A token from token exchange ends with every token it came from
        // (`{subject jti}.{random}`, [`crate::oauth::exchange`]), and with the key
        // that asked for it.
        let mut lineage = Vec::new();
        let mut end = 0;
        for part in claims.jti.split('.') {
            end += part.len();
            lineage.push(&claims.jti[..end]);
            end += 1;
        }
        if self.revoked.any(&lineage).await.map_err(store_failed)? {
            return Ok(None);
        }
        if claims.act.is_some() && claims.client_id != claims.sub {
            let actor = self.keys.find(self.store.as_ref(), &claims.client_id).await;
            let now = self.clock.now();
            match actor.map_err(store_failed)? {
                Some(k) if apikeys::key_status(&k, now) == crate::store::KeyStatus::Active => {}
                _ => return Ok(None),
            }
        }
        Ok(Some(key))
    }

    /// RFC 7009: `client` revokes its own `token` until it would have expired. Any
    /// other token (invalid, expired, another client's) is left alone, silently.
    pub async fn revoke(&self, client: &Authenticated, token: &str) -> Result<(), VerifyError> {
        let Ok(claims) = self.verify(token, None) else {
            return Ok(());
        };
        if claims.client_id != client.key.id {
            return Ok(());
        }
        self.store
            .revoke_token(&claims.jti, &claims.client_id, claims.exp, self.clock.now())
            .await
            .map_err(store_failed)?;
        // At once here; other instances learn it from the change feed.
        self.revoked.insert(&claims.jti, claims.exp);
        Ok(())
    }
}

/// A store failure while checking a token: logged here, once, with its cause.
fn store_failed(e: crate::store::StoreError) -> VerifyError {
    tracing::warn!(error = %crate::report::Chain(&e), "database error while checking an access token");
    VerifyError::Unavailable(e)
}

trait KindName {
    fn kind_name(&self) -> &'static str;
}

impl KindName for jsonwebtoken::errors::Error {
    fn kind_name(&self) -> &'static str {
        use jsonwebtoken::errors::ErrorKind as K;
        match self.kind() {
            K::InvalidSignature => "bad signature",
            K::ExpiredSignature => "expired",
            K::ImmatureSignature => "not yet valid",
            K::InvalidIssuer => "wrong issuer",
            K::InvalidAudience => "wrong audience",
            K::InvalidAlgorithm => "wrong algorithm",
            K::MissingRequiredClaim(_) => "missing claim",
            _ => "malformed",
        }
    }
}
