//! A whole request's credentials: the `Authorization` header's scheme and token,
//! and the DPoP proof a bound token needs (RFC 9449 section 7).

use crate::claims::Claims;
use crate::dpop::{check_proof, Target};
use crate::error::{Error, Scheme};
use crate::verifier::Verifier;

/// What a request carries, as a framework hands it over.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// The `DPoP` header, if any (a request with two is refused before this).
    pub dpop: Option<&'a str>,
    /// The HTTP method.
    pub method: &'a str,
    /// The URL clients called, without query or fragment (what a DPoP proof's
    /// `htu` names).
    pub url: &'a str,
}

/// The scheme and token of an `Authorization` header: `None` when it names
/// another scheme (the request then carries no token for us).
pub fn credentials(authorization: &str) -> Option<(Scheme, &str)> {
    let (scheme, token) = authorization.split_once(' ')?;
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return None;
    };
    Some((scheme, token.trim()))
}

impl Verifier {
    /// Verifies a request: a token sent with `Bearer` must not be DPoP-bound; a
    /// bound token must come with `DPoP` and a proof for this method and URL,
    /// signed by the key the token is bound to, never seen before
    /// ([`Verifier::with_replay_store`]).
    ///
    /// ```no_run
    /// # async fn run(verifier: keymint_verify::verifier::Verifier) {
    /// use keymint_verify::request::Request;
    ///
    /// let request = Request {
    ///     authorization: Some("DPoP eyJ..."),
    ///     dpop: Some("eyJ..."),
    ///     method: "GET",
    ///     url: "https://api.example.com/agents/42",
    /// };
    /// match verifier.verify_request(request).await {
    ///     Ok(claims) => println!("{} calls", claims.client_id),
    ///     Err(e) => println!("{} {:?}", e.status(), e.challenges(None)),
    /// }
    /// # }
    /// ```
    pub async fn verify_request(&self, request: Request<'_>) -> Result<Claims, Error> {
        let (scheme, token) =
            request.authorization.and_then(credentials).ok_or(Error::MissingToken)?;
        if token.is_empty() || token.contains(char::is_whitespace) {
            return Err(Error::InvalidRequest(
                "the Authorization header holds no single token".into(),
            ));
        }
        let claims = self.verify(token).await?;
        match (&claims.cnf, scheme) {
            (None, Scheme::Bearer) => Ok(claims),
            (None, Scheme::Dpop) => Err(Error::InvalidToken(
                "this token is not DPoP-bound: send it with Authorization: Bearer".into(),
            )),
            (Some(_), Scheme::Bearer) => Err(Error::InvalidToken(
                "this token is DPoP-bound: send it with Authorization: DPoP and a DPoP proof"
                    .into(),
            )),
            (Some(cnf), Scheme::Dpop) => {
                let proof = request.dpop.ok_or_else(|| {
                    Error::InvalidDpopProof("a DPoP-bound token needs a DPoP proof header".into())
                })?;
                let target =
                    Target { method: request.method, url: request.url, access_token: Some(token) };
                let now = self.now();
                let proof = check_proof(proof, target, now)
                    .map_err(|why| Error::InvalidDpopProof(why.to_string()))?;
                if proof.jkt != cnf.jkt {
                    return Err(Error::InvalidDpopProof(
                        "the proof is signed by another key than the token's".into(),
                    ));
                }
                let key = format!("{}:{}", proof.jkt, proof.jti);
                match self.replay.first_use(&key, proof.remember_until(), now).await {
                    Ok(true) => Ok(claims),
                    Ok(false) => Err(Error::InvalidDpopProof("the proof was used before".into())),
                    Err(why) => Err(Error::Unavailable(format!("the replay store failed: {why}"))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_read_case_blind_and_others_are_not_ours() {
        assert_eq!(credentials("Bearer abc"), Some((Scheme::Bearer, "abc")));
        assert_eq!(credentials("bearer abc"), Some((Scheme::Bearer, "abc")));
        assert_eq!(credentials("DPoP abc"), Some((Scheme::Dpop, "abc")));
        assert_eq!(credentials("Basic dXNlcjpwYXNz"), None);
        assert_eq!(credentials("Bearer"), None);
    }
}
