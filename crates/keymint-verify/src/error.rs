//! Why a request was not let through, and the answer RFC 6750 (and RFC 9449 for
//! DPoP) asks for: a status and a `WWW-Authenticate` challenge.

use crate::jwk::assertion_alg_names;

/// Why a token was not accepted, or the verifier could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The request carries no token (RFC 6750 section 3.1: a challenge with no
    /// error code).
    #[error("no access token: send Authorization: Bearer <token> or DPoP <token>")]
    MissingToken,
    /// The request is malformed, e.g. two tokens or an empty one (`invalid_request`).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The token is not valid here (`invalid_token`).
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The DPoP proof is missing or wrong (RFC 9449 `invalid_dpop_proof`).
    #[error("invalid DPoP proof: {0}")]
    InvalidDpopProof(String),
    /// The token is valid but lacks the scope asked for (`insufficient_scope`);
    /// holds the scope needed.
    #[error("insufficient scope: {0} is needed")]
    InsufficientScope(String),
    /// keymint could not be reached or answered wrongly, and nothing held helps
    /// (or the replay store failed).
    #[error("keymint unavailable: {0}")]
    Unavailable(String),
}

/// The authentication scheme a request used, or should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer` (RFC 6750).
    Bearer,
    /// `Authorization: DPoP` (RFC 9449).
    Dpop,
}

impl Error {
    /// The HTTP status to answer with: 400, 401, 403 or 503.
    pub fn status(&self) -> u16 {
        match self {
            Error::InvalidRequest(_) => 400,
            Error::MissingToken | Error::InvalidToken(_) | Error::InvalidDpopProof(_) => 401,
            Error::InsufficientScope(_) => 403,
            Error::Unavailable(_) => 503,
        }
    }

    /// The `WWW-Authenticate` challenges to answer with, one header each, for a
    /// request that used `scheme` (`None` when it sent no token: then both
    /// schemes are offered). A 503 has none.
    ///
    /// ```
    /// use keymint_verify::error::{Error, Scheme};
    ///
    /// let error = Error::InsufficientScope("read:agents/42".into());
    /// assert_eq!(
    ///     error.challenges(Some(Scheme::Bearer)),
    ///     [r#"Bearer error="insufficient_scope", error_description="insufficient scope: read:agents/42 is needed", scope="read:agents/42""#]
    /// );
    /// ```
    pub fn challenges(&self, scheme: Option<Scheme>) -> Vec<String> {
        let algs = format!(r#"algs="{}""#, assertion_alg_names().join(" "));
        let (code, extra) = match self {
            Error::MissingToken => {
                return match scheme {
                    Some(Scheme::Bearer) => vec!["Bearer".into()],
                    Some(Scheme::Dpop) => vec![format!("DPoP {algs}")],
                    None => vec!["Bearer".into(), format!("DPoP {algs}")],
                }
            }
            Error::Unavailable(_) => return Vec::new(),
            Error::InvalidRequest(_) => ("invalid_request", None),
            Error::InvalidToken(_) => ("invalid_token", None),
            Error::InvalidDpopProof(_) => ("invalid_dpop_proof", None),
            Error::InsufficientScope(scope) => ("insufficient_scope", Some(quoted(scope))),
        };
        let scheme = match (self, scheme) {
            (Error::InvalidDpopProof(_), _) | (_, Some(Scheme::Dpop)) => "DPoP",
            _ => "Bearer",
        };
        let mut challenge = format!(
            r#"{scheme} error="{code}", error_description="{}""#,
            quoted(&self.to_string())
        );
        if let Some(scope) = extra {
            challenge.push_str(&format!(r#", scope="{scope}""#));
        }
        if scheme == "DPoP" {
            challenge.push_str(&format!(", {algs}"));
        }
        vec![challenge]
    }
}

/// `text` as the inside of an RFC 7230 quoted string: printable ASCII, with no
/// `"` or `\` (replaced), so no header can be broken by what a token said.
fn quoted(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c == ' ' || c.is_ascii_graphic() => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_the_status_and_challenge_rfc_6750_gives_it() {
        assert_eq!(Error::MissingToken.status(), 401);
        assert_eq!(Error::MissingToken.challenges(Some(Scheme::Bearer)), ["Bearer"]);
        let both = Error::MissingToken.challenges(None);
        assert_eq!(both[0], "Bearer");
        assert!(both[1].starts_with("DPoP algs=\"ES256 "), "{both:?}");
        let invalid = Error::InvalidToken("token expired".into());
        assert_eq!(invalid.status(), 401);
        assert_eq!(
            invalid.challenges(Some(Scheme::Bearer)),
            [r#"Bearer error="invalid_token", error_description="invalid token: token expired""#]
        );
        assert!(
            invalid.challenges(Some(Scheme::Dpop))[0].starts_with("DPoP error=\"invalid_token\"")
        );
        let proof = Error::InvalidDpopProof("htu is not this endpoint".into());
        assert!(proof.challenges(Some(Scheme::Bearer))[0]
            .starts_with("DPoP error=\"invalid_dpop_proof\""));
        assert_eq!(Error::InsufficientScope("read:x".into()).status(), 403);
        assert_eq!(Error::InvalidRequest("two tokens".into()).status(), 400);
        assert_eq!(Error::Unavailable("down".into()).status(), 503);
        assert!(Error::Unavailable("down".into()).challenges(None).is_empty());
    }

    #[test]
    fn what_a_token_says_cannot_break_the_header() {
        let error = Error::InvalidToken("a \"quoted\" \\ line\r\nInjected: yes".into());
        let challenge = &error.challenges(Some(Scheme::Bearer))[0];
        assert!(!challenge.contains(['\r', '\n', '\\']), "{challenge}");
        assert_eq!(challenge.matches('"').count(), 4, "{challenge}");
    }
}
