//! Token exchange (RFC 8693) and the JWT bearer grant (RFC 7523 section 2.1).
//!
//! - **Delegation**: a key trades a keymint access token it received (the subject
//!   token) for a narrower one to call the next service. Scopes and audiences only
//!   narrow: each requested one must be covered by the subject token and by the
//!   calling key. `exp` is never later than the subject token's; `act` names the
//!   calling key, with the subject token's own `act` nested under it, at most
//!   [`MAX_ACT_DEPTH`] deep. The new token's id starts with the subject token's
//!   (`{subject jti}.{random}`), so revoking the subject token, or rotating away
//!   the secret that minted it, ends every token derived from it. A DPoP-bound
//!   subject token is exchanged only with a DPoP proof, which binds the new token.
//! - **Federation**: a platform token ([`super::federation`]) gets the token of
//!   the key whose federated credentials trust it, with no secret.

use std::net::IpAddr;

use serde_json::{json, Value};

use super::dpop::{self, DpopError, Target};
use super::{decide, Claims, Confirmation, ExchangeError, Issued, TokenRequest, TokenService};
use crate::apikeys::secret::random_base62;
use crate::apikeys::{self, Authenticated};
use crate::vocab::scope::{self, Scope};
use crate::vocab::Outcome;

/// `grant_type` of token exchange (RFC 8693).
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// `grant_type` of the JWT bearer grant (RFC 7523 section 2.1).
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// A keymint access token, as a subject or actor token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// A JWT from a platform issuer, as a subject token.
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
/// Most actors one token's `act` chain names (the calling key included).
pub const MAX_ACT_DEPTH: usize = 4;

/// Why an exchange was refused: RFC 8693 section 2.2.2's `invalid_request` for
/// a subject or actor token that is invalid or unacceptable (RFC 7523's
/// `invalid_grant` for the JWT bearer grant); the reason goes to the log.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unacceptable(pub &'static str);

/// How many actors `act` names.
fn depth(act: Option<&Value>) -> usize {
    let mut n = 0;
    let mut next = act;
    while let Some(a) = next {
        n += 1;
        next = a.get("act");
    }
    n
}

impl TokenService {
    /// The DPoP proof of a token request, checked, if one was sent: before the
    /// client is known (it costs no database work); its `jti` is used once the
    /// client is ([`TokenService::bind_as_required`]), so strangers cannot fill
    /// the table.
    pub(super) fn token_endpoint_proof(
        &self,
        request: &TokenRequest,
    ) -> Result<Option<dpop::Proof>, ExchangeError> {
        let Some(text) = &request.dpop else { return Ok(None) };
        let url = self.token_endpoint();
        let target = Target { method: "POST", url: &url, access_token: None };
        Ok(Some(dpop::check(text, target, self.clock.now(), self.dpop_nonces.as_ref())?))
    }

    /// A key that requires DPoP gets no token without a proof (counted as a
    /// refusal); a proof's `jti` is used once.
    pub(super) async fn bind_as_required(
        &self,
        key: &crate::store::KeyRecord,
        proof: Option<&dpop::Proof>,
    ) -> Result<(), ExchangeError> {
        match proof {
            Some(p) => self.use_proof(p).await,
            None if key.dpop_bound => {
                self.usage.count(&key.id, Some(&key.workspace_id), Outcome::ScopeRefused);
                Err(DpopError::Invalid(
                    "this client's tokens must be DPoP-bound: send a DPoP proof",
                )
                .into())
            }
            None => Ok(()),
        }
    }

    /// Signs `claims` and counts the exchange for `key`.
    async fn sign_exchanged(
        &self,
        claims: Claims,
        key: &crate::store::KeyRecord,
        ip: Option<IpAddr>,
    ) -> Result<Issued, ExchangeError> {
        let now = self.clock.now();
        let body = serde_json::to_vec(&claims).map_err(|e| ExchangeError::Internal(Box::new(e)))?;
        let access_token =
            self.keyring.current().sign(&body).map_err(|e| ExchangeError::Internal(Box::new(e)))?;
        self.usage.used(key, Outcome::Exchanged, ip, false);
        Ok(Issued {
            access_token,
            token_type: if claims.cnf.is_some() { "DPoP" } else { "Bearer" },
            expires_in: claims.exp - now,
            scope: claims.scope,
            issued_token_type: Some(ACCESS_TOKEN_TYPE),
        })
    }

    /// Delegation: `caller` (authenticated) trades `subject_token` (and, if given,
    /// its own `actor_token`) for a narrower token.
    pub async fn delegate(
        &self,
        caller: &Authenticated,
        subject_token: &str,
        actor_token: Option<&str>,
        request: &TokenRequest,
        ip: Option<IpAddr>,
    ) -> Result<Issued, ExchangeError> {
        let result = self.delegated(caller, subject_token, actor_token, request, ip).await;
        self.measured(result)
    }

    async fn delegated(
        &self,
        caller: &Authenticated,
        subject_token: &str,
        actor_token: Option<&str>,
        request: &TokenRequest,
        ip: Option<IpAddr>,
    ) -> Result<Issued, ExchangeError> {
        let proof = self.token_endpoint_proof(request)?;
        let refuse = |why: &'static str| {
            tracing::info!(client_id = %caller.key.id, why, "token exchange refused");
            ExchangeError::Unacceptable(Unacceptable(why))
        };
        let subject = self
            .verify(subject_token, None)
            .map_err(|_| refuse("subject_token is not a valid keymint access token"))?;
        if subject.sid.is_some() {
            return Err(refuse("a person's token is not exchanged"));
        }
        if self.backing_key(&subject).await.map_err(unavailable)?.is_none() {
            return Err(refuse("subject_token was revoked, or its key is no longer active"));
        }
        if let Some(actor) = actor_token {
            let claims = self
                .verify(actor, None)
                .map_err(|_| refuse("actor_token is not a valid keymint access token"))?;
            if claims.client_id != caller.key.id
                || self.backing_key(&claims).await.map_err(unavailable)?.is_none()
            {
                return Err(refuse("actor_token is not an active token of the calling client"));
            }
        }
        if depth(subject.act.as_ref()) + 1 > MAX_ACT_DEPTH {
            return Err(refuse("the delegation chain is already at its maximum depth"));
        }
        if subject.cnf.is_some() && proof.is_none() {
            return Err(DpopError::Invalid(
                "the subject token is DPoP-bound: send a DPoP proof so the new token stays bound",
            )
            .into());
        }
        self.bind_as_required(&caller.key, proof.as_ref()).await?;
        let now = self.clock.now();
        // What the key may delegate: what a client-credentials request may get.
        let jti = format!("{}.{}", subject.jti, random_base62(apikeys::TOKEN_ID_LEN));
        let allowed =
            decide(&caller.key, &TokenRequest::default(), &self.settings, now, String::new())
                .map_err(ExchangeError::Denied)?;
        let audiences: Vec<String> = if caller.key.audiences.is_empty() {
            vec![self.settings.default_audience.clone()]
        } else {
            caller.key.audiences.clone()
        };
        let narrowed =
            narrow(&subject, &caller.key.scopes, &audiences, request).inspect_err(|_| {
                self.usage.count(
                    &caller.key.id,
                    Some(&caller.key.workspace_id),
                    Outcome::ScopeRefused,
                );
            })?;
        let mut act = json!({"sub": caller.key.id});
        if let Some(earlier) = &subject.act {
            act["act"] = earlier.clone();
        }
        let claims = Claims {
            client_id: caller.key.id.clone(),
            aud: narrowed.1,
            iat: now,
            nbf: now,
            exp: subject.exp.min(allowed.exp),
            jti,
            scope: narrowed.0,
            cnf: proof.map(|p| Confirmation { jkt: p.jkt }),
            act: Some(act),
            ..subject
        };
        self.sign_exchanged(claims, &caller.key, ip).await
    }

    /// Federation: the platform token `assertion` gets key `client_id`'s token.
    pub async fn federate(
        &self,
        client_id: &str,
        assertion: &str,
        request: &TokenRequest,
        ip: Option<IpAddr>,
    ) -> Result<Issued, ExchangeError> {
        let result = self.federated(client_id, assertion, request, ip).await;
        self.measured(result)
    }

    async fn federated(
        &self,
        client_id: &str,
        assertion: &str,
        request: &TokenRequest,
        ip: Option<IpAddr>,
    ) -> Result<Issued, ExchangeError> {
        let proof = self.token_endpoint_proof(request)?;
        let refuse = |why: &'static str| {
            tracing::info!(client_id = %crate::oauth::ascii(client_id), why, "workload federation refused");
            ExchangeError::Unacceptable(Unacceptable(why))
        };
        if !apikeys::valid_key_id(client_id) {
            return Err(refuse("client_id is not a key id"));
        }
        let key = self.keys.find(self.store.as_ref(), client_id).await.map_err(|e| {
            tracing::warn!(error = %crate::report::Chain(&e), "database error while finding a key");
            ExchangeError::Unavailable(e)
        })?;
        let Some(key) = key else { return Err(refuse("no such key")) };
        if key.federated.is_empty() {
            return Err(refuse("the key has no federated credentials"));
        }
        let now = self.clock.now();
        let verified =
            self.platforms.verify(&self.remote_keys, &key, assertion, now).await.map_err(
                |why| {
                    self.usage.count(&key.id, Some(&key.workspace_id), Outcome::WrongSecret);
                    refuse(why)
                },
            )?;
        if let Err(failure) = apikeys::usable(&key, now, ip) {
            if let apikeys::AuthFailure::KeyRefused { outcome, reason, .. } = failure {
                self.usage.count(&key.id, Some(&key.workspace_id), outcome);
                return Err(refuse(reason));
            }
            return Err(refuse("the key is not usable now"));
        }
        self.bind_as_required(&key, proof.as_ref()).await?;
        let auth = Authenticated { key: key.clone(), previous_secret: false };
        let jti = format!("{}{}", auth.secret_tag(), random_base62(apikeys::TOKEN_ID_LEN));
        let mut claims = decide(&key, request, &self.settings, now, jti).inspect_err(|_| {
            self.usage.count(&key.id, Some(&key.workspace_id), Outcome::ScopeRefused);
        })?;
        claims.exp = claims.exp.min(verified.exp);
        claims.cnf = proof.map(|p| Confirmation { jkt: p.jkt });
        self.sign_exchanged(claims, &key, ip).await
    }
}

/// The scope and audience of a delegated token: those requested (or, when none
/// is, all the subject token carries that the caller may delegate), each covered
/// by the subject token and by the caller. Management scopes are never delegated.
fn narrow(
    subject: &Claims,
    caller_scopes: &[Scope],
    caller_audiences: &[String],
    request: &TokenRequest,
) -> Result<(String, super::Audience), ExchangeError> {
    use super::{ascii, Audience, Denial};
    let held: Vec<Scope> = subject.scope.split(' ').filter_map(|s| Scope::parse(s).ok()).collect();
    let delegable = |s: &Scope| {
        s.management().is_none()
            && scope::any_covers(&held, s)
            && scope::any_covers(caller_scopes, s)
    };
    let scopes: Vec<Scope> = match request.scope.as_deref() {
        Some(text) => {
            let requested = scope::parse_list(text).map_err(|(item, e)| {
                Denial::InvalidScope(format!("scope '{}' is invalid: {e}", ascii(&item)))
            })?;
            if let Some(wider) = requested.iter().find(|s| !delegable(s)) {
                return Err(Denial::InvalidScope(format!(
                    "scope '{}' is not covered by both the subject token and this client",
                    ascii(&wider.to_string())
                ))
                .into());
            }
            requested
        }
        None => held.iter().filter(|s| delegable(s)).cloned().collect(),
    };
    if scopes.is_empty() {
        return Err(Denial::InvalidScope(
            "no scope of the subject token may be delegated by this client".into(),
        )
        .into());
    }
    let may = |aud: &str| subject.aud.contains(aud) && caller_audiences.iter().any(|a| a == aud);
    let mut audiences: Vec<String> = Vec::new();
    for aud in &request.audiences {
        if !may(aud) {
            return Err(Denial::InvalidTarget(format!(
                "audience '{}' is not covered by both the subject token and this client",
                ascii(aud)
            ))
            .into());
        }
        if !audiences.contains(aud) {
            audiences.push(aud.clone());
        }
    }
    if audiences.is_empty() {
        let subject_audiences = match &subject.aud {
            Audience::One(a) => vec![a.clone()],
            Audience::Many(list) => list.clone(),
        };
        audiences = subject_audiences.into_iter().filter(|a| may(a)).collect();
    }
    let aud = match audiences.len() {
        0 => {
            return Err(Denial::InvalidTarget(
                "no audience of the subject token may be delegated by this client".into(),
            )
            .into())
        }
        1 => Audience::One(audiences.remove(0)),
        _ => Audience::Many(audiences),
    };
    let text: Vec<String> = scopes.iter().map(ToString::to_string).collect();
    Ok((text.join(" "), aud))
}

fn unavailable(e: super::VerifyError) -> ExchangeError {
    match e {
        super::VerifyError::Unavailable(e) => ExchangeError::Unavailable(e),
        other => ExchangeError::Internal(Box::new(other)),
    }
}
