//! Request extraction: the client address (behind trusted proxies), JSON bodies and
//! query strings that fail as problem details, and the management caller.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use ipnet::IpNet;
use serde::de::DeserializeOwned;

use super::error::Problem;
use crate::app::App;
use crate::oauth::Bearer;
use crate::oauth::{Presented, VerifyError};
use crate::sessions::SessionError;
use crate::vocab::Actor;

/// The client's address: the socket peer, unless the peer is a trusted proxy; then
/// the rightmost `X-Forwarded-For` (or `Forwarded: for=`) address that is not itself
/// a trusted proxy, so a value the client wrote on the left never counts.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("forwarded") {
        let Ok(text) = value.to_str() else { continue };
        for element in text.split(',') {
            for pair in element.split(';') {
                let Some((name, v)) = pair.trim().split_once('=') else {
                    continue;
                };
                if name.eq_ignore_ascii_case("for") {
                    if let Some(ip) = parse_forwarded_node(v.trim()) {
                        hops.push(ip);
                    }
                }
            }
        }
    }
    if hops.is_empty() {
        for value in headers.get_all("x-forwarded-for") {
            let Ok(text) = value.to_str() else { continue };
            hops.extend(text.split(',').filter_map(|s| s.trim().parse::<IpAddr>().ok()));
        }
    }
    hops.into_iter().rev().find(|ip| !is_trusted(ip)).unwrap_or(peer)
}

/// `for=` node of RFC 7239: `192.0.2.1`, `"192.0.2.1:443"`, `"[2001:db8::1]:443"`.
fn parse_forwarded_node(value: &str) -> Option<IpAddr> {
    let v = value.trim_matches('"');
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    v.parse().ok().or_else(|| v.rsplit_once(':')?.0.parse().ok())
}

/// Why the `Authorization` header of a request cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationError {
    /// More than one `Authorization` header: a proxy could read another one than we do.
    Repeated,
    /// Not `<scheme> <credentials>` in visible ASCII.
    Malformed,
}

/// The request's one `Authorization` header as `(scheme, credentials)`, the scheme
/// lowercased (schemes are case-insensitive, RFC 9110 section 11.1); `None` when
/// absent. Every front door reads credentials through this one function.
pub fn authorization(headers: &HeaderMap) -> Result<Option<(String, &str)>, AuthorizationError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(AuthorizationError::Repeated);
    }
    let text = value.to_str().map_err(|_| AuthorizationError::Malformed)?;
    let (scheme, credentials) = text.trim().split_once(' ').ok_or(AuthorizationError::Malformed)?;
    let credentials = credentials.trim();
    if scheme.is_empty() || credentials.is_empty() {
        return Err(AuthorizationError::Malformed);
    }
    Ok(Some((scheme.to_ascii_lowercase(), credentials)))
}

/// The client address of a request, as [`client_ip`] decides.
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<Arc<App>> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Ok(ClientIp(peer.map(|p| client_ip(p, &parts.headers, &app.config.trusted_proxies))))
    }
}

/// A JSON body; any failure is a problem document naming the path of the bad field.
pub struct ApiJson<T>(pub T);

/// Reads a JSON body: the content type must be JSON, the body must parse, and a
/// failure names the path of the bad field.
async fn read_json<T: DeserializeOwned, S: Send + Sync>(
    req: Request,
    state: &S,
    empty: Option<fn() -> T>,
) -> Result<T, Problem> {
    let is_json = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(|v| {
        let mime = v.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        mime == "application/json" || mime.ends_with("+json")
    });
    let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(e.status(), "payload-too-large", "The body is too large", e.body_text())
        } else {
            Problem::malformed(format!("could not read the body: {}", e.body_text()))
        }
    })?;
    match (empty, is_json) {
        (Some(default), _) if bytes.is_empty() => return Ok(default()),
        (_, Some(true)) => {}
        _ => return Err(unsupported_media_type()),
    }
    json_body(&bytes)
}

/// Parses a `/v1` JSON body: exactly one JSON object (whitespace around it allowed),
/// a failure naming the path of the bad field. Only an object: serde would also
/// read a struct from an array of its fields in order (`[true]` as
/// `{"emergency": true}`), a shape no client means and the schema does not allow.
#[expect(
    clippy::result_large_err,
    reason = "the error is the answer itself, built once for a refused request, like every extractor's"
)]
pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Problem::malformed("the body must be one JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let detail = if path == "." || path.is_empty() {
            format!("invalid JSON body: {inner}")
        } else {
            format!("invalid JSON body at {path}: {inner}")
        };
        if inner.is_data() {
            Problem {
                extra: Some((
                    "errors",
                    serde_json::json!([{"field": path, "reason": inner.to_string()}]),
                )),
                ..Problem::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "validation",
                    "A field is invalid",
                    detail,
                )
            }
        } else {
            Problem::malformed(detail)
        }
    })?;
    // Exactly one JSON value: anything after it but whitespace is refused, so no
    // reader can see a different request than the one applied.
    de.end().map_err(|e| Problem::malformed(format!("invalid JSON body: {e}")))?;
    Ok(value)
}

fn unsupported_media_type() -> Problem {
    Problem::new(
        axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "The body must be JSON",
        "send Content-Type: application/json",
    )
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        read_json(req, state, None).await.map(ApiJson)
    }
}

/// A JSON body that may be absent (then `T::default()`).
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        read_json(req, state, Some(T::default)).await.map(OptionalJson)
    }
}

/// A query string; unknown or malformed parameters are a 400 problem.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| Problem::malformed(format!("invalid query string: {e}")))
    }
}

/// The authenticated management caller (`Authorization: Bearer <keymint token>`).
pub struct Caller(pub Actor);

/// The actor of a request made in process by the local CLI (`keymint keys ...` on
/// the database itself), which holds no token. Only code in this process can put
/// it in a request's extensions: nothing received from the network can.
#[derive(Debug, Clone)]
pub struct LocalCaller(pub Actor);

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        if let Some(LocalCaller(actor)) = parts.extensions.get::<LocalCaller>() {
            return Ok(Caller(actor.clone()));
        }
        let ClientIp(ip) = ClientIp::from_request_parts(parts, app).await.unwrap_or(ClientIp(None));
        let missing = || Problem::invalid_token("send Authorization: Bearer <access token>");
        let proofs: Vec<&str> =
            parts.headers.get_all("dpop").iter().filter_map(|v| v.to_str().ok()).collect();
        if proofs.len() > 1 {
            return Err(Problem::malformed("send at most one DPoP header"));
        }
        let (token, presented) = match authorization(&parts.headers) {
            Ok(Some((scheme, token))) if scheme == "bearer" => (token, Presented::Bearer),
            Ok(Some((scheme, token))) if scheme == "dpop" => {
                let presented = Presented::Dpop {
                    proof: proofs.first().copied(),
                    method: parts.method.as_str(),
                    path: parts.uri.path(),
                };
                (token, presented)
            }
            Ok(_) | Err(AuthorizationError::Malformed) => return Err(missing()),
            Err(AuthorizationError::Repeated) => {
                return Err(Problem::malformed("send exactly one Authorization header"))
            }
        };
        match app.tokens.management_actor(token, presented, ip).await {
            Ok(Bearer::Key(actor)) => Ok(Caller(actor)),
            Ok(Bearer::Person { person_id, session_hash }) => {
                match app.sessions.person_by_token(&person_id, &session_hash, ip).await {
                    Ok(actor) => Ok(Caller(actor)),
                    Err(SessionError::Ended) => Err(Problem::invalid_token(
                        "this token's session has ended, or no role reaches its person any \
                         more: run keymint login --sso again",
                    )),
                    Err(_) => {
                        Err(Problem::unavailable("the database is unavailable; retry shortly"))
                    }
                }
            }
            Err(VerifyError::Invalid(why)) => Err(Problem::invalid_token(&why)),
            Err(VerifyError::Insufficient(why)) => Err(Problem::insufficient_scope(why)),
            Err(VerifyError::Unavailable(_)) => {
                Err(Problem::unavailable("the database is unavailable; retry shortly"))
            }
            Err(VerifyError::UseDpopNonce(nonce)) => Err(Problem::use_dpop_nonce(nonce)),
            Err(VerifyError::Busy) => {
                Err(Problem::unavailable("secret verification is saturated; retry shortly"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let h = headers(&[("x-forwarded-for", "10.0.0.1")]);
        let ip = client_ip("203.0.113.5".parse().unwrap(), &h, &["192.0.2.0/24".parse().unwrap()]);
        assert_eq!(ip, "203.0.113.5".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_counts() {
        let trusted = ["192.0.2.0/24".parse().unwrap()];
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 192.0.2.9")]);
        let ip = client_ip("192.0.2.1".parse().unwrap(), &h, &trusted);
        assert_eq!(ip, "198.51.100.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn forwarded_header_is_understood() {
        let trusted = ["192.0.2.0/24".parse().unwrap()];
        let h = headers(&[("forwarded", r#"for=6.6.6.6, for="[2001:db8::7]:443";proto=https"#)]);
        let ip = client_ip("192.0.2.1".parse().unwrap(), &h, &trusted);
        assert_eq!(ip, "2001:db8::7".parse::<IpAddr>().unwrap());
    }
}
