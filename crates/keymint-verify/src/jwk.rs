//! Public keys from outside (a JWK Set, RFC 7517): a client's keys for
//! `private_key_jwt`, a DPoP proof's key, keymint's JWKS as a resource server
//! reads it. Each is checked member by member before it is stored or used: a known key type and curve, coordinates of
//! the right length, no private members, an algorithm from the allow-list that
//! fits the key. Keys are built from their components, never through a library's
//! JWK type (`jsonwebtoken::jwk::Jwk::thumbprint` panics on some hostile input).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

/// The signing algorithms a client assertion may use: asymmetric only (never
/// `none`, never HMAC, which a public key would turn into a shared secret).
pub const ASSERTION_ALGS: [Algorithm; 9] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// The allow-list's names, as discovery lists them (with `Ed25519`, RFC 9864).
pub fn assertion_alg_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = ASSERTION_ALGS.iter().map(|a| alg_name(*a)).collect();
    names.insert(3, "Ed25519");
    names
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
    }
}

/// Most keys one set may hold.
pub const MAX_KEYS: usize = 10;
/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (bounds the cost of a verification).
const MAX_RSA_BITS: usize = 8192;

/// Members that only a private or symmetric key has.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// One public key, checked: its type (with curve) and its `kid`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    P256,
    P384,
    Ed25519,
    Rsa,
}

impl Kind {
    /// Whether `alg` signs with a key of this kind.
    fn fits(&self, alg: Algorithm) -> bool {
        match self {
            Kind::P256 => alg == Algorithm::ES256,
            Kind::P384 => alg == Algorithm::ES384,
            Kind::Ed25519 => alg == Algorithm::EdDSA,
            Kind::Rsa => matches!(
                alg,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ),
        }
    }
}

/// Why a JWK Set is refused, naming the member (`jwks.keys[0].crv`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct JwksError {
    /// The member refused, e.g. `jwks.keys[0].crv`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> JwksError {
    JwksError { field: field.into(), message: message.into() }
}

/// A checked JWK Set, as stored (public members only, in a fixed order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeys {
    keys: Vec<(Kind, Map<String, Value>)>,
}

fn text<'a>(jwk: &'a Map<String, Value>, name: &str, field: &str) -> Result<&'a str, JwksError> {
    match jwk.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(refuse(format!("{field}.{name}"), "must be a non-empty string")),
        None => Err(refuse(format!("{field}.{name}"), "is missing")),
    }
}

/// A base64url member decoded, with its length in bytes checked.
fn bytes(
    jwk: &Map<String, Value>,
    name: &str,
    field: &str,
    len: std::ops::RangeInclusive<usize>,
) -> Result<Vec<u8>, JwksError> {
    let value = text(jwk, name, field)?;
    let decoded = URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| refuse(format!("{field}.{name}"), "must be base64url without padding"))?;
    if !len.contains(&decoded.len()) {
        return Err(refuse(format!("{field}.{name}"), "has the wrong length for this key type"));
    }
    Ok(decoded)
}

impl PublicKeys {
    /// Checks a JWK Set from outside (`field` names it in errors, e.g. `jwks`).
    ///
    /// ```
    /// use keymint_verify::jwk::PublicKeys;
    /// use serde_json::json;
    ///
    /// let set = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "a",
    ///     "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    ///     "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]});
    /// let keys = PublicKeys::parse(&set, "jwks").unwrap();
    /// assert_eq!(keys.thumbprint().len(), 43);
    ///
    /// let secret = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]});
    /// let refused = PublicKeys::parse(&secret, "jwks").unwrap_err();
    /// assert_eq!(refused.field, "jwks.keys[0].k");
    /// ```
    pub fn parse(set: &Value, field: &str) -> Result<Self, JwksError> {
        let list = set
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| refuse(format!("{field}.keys"), "a JWK Set needs a keys array"))?;
        if list.is_empty() || list.len() > MAX_KEYS {
            return Err(refuse(format!("{field}.keys"), format!("give 1 to {MAX_KEYS} keys")));
        }
        let mut keys = Vec::with_capacity(list.len());
        for (i, jwk) in list.iter().enumerate() {
            let at = format!("{field}.keys[{i}]");
            let jwk = jwk.as_object().ok_or_else(|| refuse(&at, "must be a JSON object"))?;
            let key = Self::check_one(jwk, &at)?;
            if let Some(kid) = key.1.get("kid") {
                if keys.iter().any(|(_, k): &(Kind, Map<String, Value>)| k.get("kid") == Some(kid))
                {
                    return Err(refuse(format!("{at}.kid"), "is used by another key of the set"));
                }
            }
            keys.push(key);
        }
        Ok(PublicKeys { keys })
    }

    fn check_one(
        jwk: &Map<String, Value>,
        at: &str,
    ) -> Result<(Kind, Map<String, Value>), JwksError> {
        if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
            return Err(refuse(
                format!("{at}.{member}"),
                "a private or symmetric key member: give public keys only",
            ));
        }
        let mut kept = Map::new();
        let kty = text(jwk, "kty", at)?;
        let kind = match kty {
            "EC" => {
                let (kind, len) = match text(jwk, "crv", at)? {
                    "P-256" => (Kind::P256, 32),
                    "P-384" => (Kind::P384, 48),
                    _ => return Err(refuse(format!("{at}.crv"), "EC keys must be P-256 or P-384")),
                };
                bytes(jwk, "x", at, len..=len)?;
                bytes(jwk, "y", at, len..=len)?;
                for m in ["crv", "x", "y"] {
                    kept.insert(m.into(), jwk[m].clone());
                }
                kind
            }
            "OKP" => {
                if text(jwk, "crv", at)? != "Ed25519" {
                    return Err(refuse(format!("{at}.crv"), "OKP keys must be Ed25519"));
                }
                bytes(jwk, "x", at, 32..=32)?;
                for m in ["crv", "x"] {
                    kept.insert(m.into(), jwk[m].clone());
                }
                Kind::Ed25519
            }
            "RSA" => {
                let n = bytes(jwk, "n", at, MIN_RSA_BITS / 8..=MAX_RSA_BITS / 8)?;
                if n.first() == Some(&0) {
                    return Err(refuse(format!("{at}.n"), "must not start with a zero byte"));
                }
                let e = bytes(jwk, "e", at, 1..=8)?;
                if e.last().is_none_or(|b| b & 1 == 0) || e == [1] {
                    return Err(refuse(format!("{at}.e"), "is not a usable RSA exponent"));
                }
                for m in ["n", "e"] {
                    kept.insert(m.into(), jwk[m].clone());
                }
                Kind::Rsa
            }
            "oct" => return Err(refuse(format!("{at}.kty"), "symmetric keys are not accepted")),
            _ => return Err(refuse(format!("{at}.kty"), "must be EC, OKP or RSA")),
        };
        kept.insert("kty".into(), Value::from(kty));
        if let Some(alg) = jwk.get("alg") {
            let fits = alg.as_str().and_then(parse_alg).is_some_and(|a| kind.fits(a));
            if !fits {
                return Err(refuse(
                    format!("{at}.alg"),
                    format!("must be one of {} and fit the key", assertion_alg_names().join(", ")),
                ));
            }
            kept.insert("alg".into(), alg.clone());
        }
        match jwk.get("use") {
            None => {}
            Some(Value::String(u)) if u == "sig" => {
                kept.insert("use".into(), Value::from("sig"));
            }
            Some(_) => return Err(refuse(format!("{at}.use"), "must be sig")),
        }
        if let Some(kid) = jwk.get("kid") {
            match kid.as_str() {
                Some(k) if !k.is_empty() && k.len() <= 200 => {
                    kept.insert("kid".into(), kid.clone());
                }
                _ => return Err(refuse(format!("{at}.kid"), "must be 1-200 characters")),
            }
        }
        Ok((kind, kept))
    }

    /// One JWK from outside (a DPoP proof's `jwk` header), checked as a set of one.
    pub fn one(jwk: &Value) -> Result<Self, JwksError> {
        Self::parse(&serde_json::json!({ "keys": [jwk] }), "jwk")
    }

    /// The RFC 7638 thumbprint of the set's first key: base64url of the SHA-256 of
    /// its required members, in lexicographic order, without whitespace.
    pub fn thumbprint(&self) -> String {
        let Some((kind, jwk)) = self.keys.first() else { return String::new() };
        let s = |m: &str| jwk.get(m).and_then(Value::as_str).unwrap_or_default();
        // The members are checked base64url or fixed names: nothing to escape.
        let canonical = match kind {
            Kind::P256 | Kind::P384 => {
                format!(r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#, s("crv"), s("x"), s("y"))
            }
            Kind::Ed25519 => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, s("x")),
            Kind::Rsa => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e"), s("n")),
        };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    }

    /// Whether a key of the set has this `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|(_, k)| k.get("kid").and_then(Value::as_str) == Some(kid))
    }

    /// The set as stored and shown: `{"keys": [...]}` with public members only.
    pub fn to_json(&self) -> Value {
        let keys: Vec<Value> = self.keys.iter().map(|(_, k)| Value::Object(k.clone())).collect();
        serde_json::json!({ "keys": keys })
    }

    /// Reads a set this module stored (checked again: the database is outside too).
    pub fn from_stored(text: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(text).ok()?;
        Self::parse(&value, "jwks").ok()
    }

    /// The keys that may have signed with `alg` and, when given, `kid`: the one
    /// key with that `kid`, or every key of a fitting type when there is none.
    pub fn candidates(&self, alg: Algorithm, kid: Option<&str>) -> Vec<DecodingKey> {
        self.keys
            .iter()
            .filter(|(kind, jwk)| {
                kind.fits(alg)
                    && jwk
                        .get("alg")
                        .and_then(Value::as_str)
                        .is_none_or(|a| parse_alg(a) == Some(alg))
                    && kid.is_none_or(|kid| jwk.get("kid").and_then(Value::as_str) == Some(kid))
            })
            .filter_map(|(kind, jwk)| {
                let s = |m: &str| jwk.get(m).and_then(Value::as_str).unwrap_or_default();
                match kind {
                    Kind::P256 | Kind::P384 => DecodingKey::from_ec_components(s("x"), s("y")),
                    Kind::Ed25519 => DecodingKey::from_ed_components(s("x")),
                    Kind::Rsa => DecodingKey::from_rsa_components(s("n"), s("e")),
                }
                .ok()
            })
            .collect()
    }
}

/// Whether `alg` is on the allow-list.
pub fn allowed(alg: Algorithm) -> bool {
    ASSERTION_ALGS.contains(&alg)
}

/// The allow-listed algorithm `name` names: a name of the list, or `Ed25519`
/// (RFC 9864's fully-specified name for EdDSA with Ed25519, which some clients
/// send).
pub fn parse_alg(name: &str) -> Option<Algorithm> {
    if name == "Ed25519" {
        return Some(Algorithm::EdDSA);
    }
    ASSERTION_ALGS.iter().copied().find(|a| alg_name(*a) == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    #[test]
    fn a_public_ec_key_is_kept_with_its_public_members_only() {
        let set = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": X, "y": Y, "kid": "a",
            "alg": "ES256", "use": "sig", "ext": true}]});
        let keys = PublicKeys::parse(&set, "jwks").unwrap();
        assert_eq!(
            keys.to_json(),
            json!({"keys": [{"kty": "EC", "crv": "P-256", "x": X, "y": Y, "kid": "a",
                "alg": "ES256", "use": "sig"}]})
        );
        assert_eq!(keys.candidates(Algorithm::ES256, Some("a")).len(), 1);
        assert_eq!(keys.candidates(Algorithm::ES256, None).len(), 1, "no kid: every fitting key");
        assert!(keys.candidates(Algorithm::ES256, Some("b")).is_empty());
        assert!(keys.candidates(Algorithm::ES384, None).is_empty(), "P-256 signs ES256 only");
        assert!(keys.candidates(Algorithm::HS256, None).is_empty());
    }

    #[test]
    fn hostile_and_private_keys_are_refused_naming_the_member() {
        let cases = [
            (json!({"kty": "EC", "crv": "Ed25519", "x": X, "y": Y}), "jwks.keys[0].crv"),
            (json!({"kty": "EC", "crv": "P-256", "x": X}), "jwks.keys[0].y"),
            (json!({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": Y}), "jwks.keys[0].x"),
            (json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "d": X}), "jwks.keys[0].d"),
            (json!({"kty": "oct", "k": "c2VjcmV0"}), "jwks.keys[0].k"),
            (json!({"kty": "oct"}), "jwks.keys[0].kty"),
            (json!({"kty": "OKP", "crv": "X25519", "x": X}), "jwks.keys[0].crv"),
            (json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}), "jwks.keys[0].n"),
            (
                json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "alg": "HS256"}),
                "jwks.keys[0].alg",
            ),
            (
                json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "alg": "none"}),
                "jwks.keys[0].alg",
            ),
            (
                json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "alg": "RS256"}),
                "jwks.keys[0].alg",
            ),
            (
                json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "use": "enc"}),
                "jwks.keys[0].use",
            ),
            (json!({"kty": 7}), "jwks.keys[0].kty"),
            (json!("EC"), "jwks.keys[0]"),
        ];
        for (jwk, field) in cases {
            let err = PublicKeys::parse(&json!({"keys": [jwk]}), "jwks").unwrap_err();
            assert_eq!(err.field, field, "{jwk}: {err}");
        }
        assert_eq!(PublicKeys::parse(&json!({"keys": []}), "jwks").unwrap_err().field, "jwks.keys");
        assert_eq!(PublicKeys::parse(&json!([]), "jwks").unwrap_err().field, "jwks.keys");
        let twice = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": X, "y": Y, "kid": "a"},
            {"kty": "EC", "crv": "P-256", "x": X, "y": Y, "kid": "a"}]});
        assert_eq!(PublicKeys::parse(&twice, "jwks").unwrap_err().field, "jwks.keys[1].kid");
    }

    #[test]
    fn the_thumbprint_is_rfc_7638s() {
        // RFC 7638 section 3.1's example key and thumbprint.
        let jwk = json!({"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
        let keys = PublicKeys::one(&jwk).unwrap();
        assert_eq!(keys.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn the_allow_list_has_no_symmetric_algorithm() {
        assert!(
            !allowed(Algorithm::HS256) && !allowed(Algorithm::HS384) && !allowed(Algorithm::HS512)
        );
        assert!(
            allowed(Algorithm::ES256) && allowed(Algorithm::EdDSA) && allowed(Algorithm::PS256)
        );
    }
}
