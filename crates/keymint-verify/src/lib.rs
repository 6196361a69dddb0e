//! Verify keymint's access tokens in a resource server (the API a client calls
//! with a keymint token), by the same rules keymint's server applies, because it
//! uses this crate for them:
//!
//! - [`verifier::Verifier`]: made once from keymint's issuer URL and this API's
//!   audience; checks tokens as RFC 9068 says against a JWKS it keeps by
//!   `Cache-Control`, fetches again for an unknown `kid` at a bounded rate and
//!   keeps using while keymint is down;
//! - [`request`]: a whole request's credentials, with DPoP-bound tokens and
//!   their proofs (RFC 9449, [`dpop`]), each proof used once;
//! - [`introspection`]: optional, so a revoked token is refused within seconds,
//!   and raw API keys are accepted while clients move to tokens;
//! - [`scope`]: keymint's scope grammar (`read:agents/*`, `/**`, read < write <
//!   admin) and the rule by which a granted scope covers a requested one;
//! - `axum` (feature `axum`): `RequireScope`, a tower layer, and `Token`, the
//!   extractor, answering refusals as RFC 6750 says ([`error::Error`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), keymint_verify::error::Error> {
//! use keymint_verify::request::Request;
//! use keymint_verify::verifier::Verifier;
//!
//! let verifier = Verifier::discover("https://keymint.example.com", "https://api.example.com").await?;
//! let request = Request {
//!     authorization: Some("Bearer eyJ..."),
//!     dpop: None,
//!     method: "GET",
//!     url: "https://api.example.com/agents/42",
//! };
//! match verifier.verify_request(request).await.and_then(|c| c.require("read:agents/42").map(|()| c)) {
//!     Ok(claims) => println!("{} reads agent 42", claims.client_id),
//!     Err(refused) => println!("{} {:?}", refused.status(), refused.challenges(None)),
//! }
//! # Ok(()) }
//! ```
//!
//! Scopes alone:
//!
//! ```
//! use keymint_verify::scope::{any_covers, parse_list, Scope};
//!
//! let granted = parse_list("read:agents/* write:prompts/**").unwrap();
//! assert!(any_covers(&granted, &Scope::parse("read:agents/42").unwrap()));
//! assert!(any_covers(&granted, &Scope::parse("read:prompts/a/b").unwrap()));
//! assert!(!any_covers(&granted, &Scope::parse("write:agents/42").unwrap()));
//! ```

#[cfg(feature = "axum")]
pub mod axum;
pub mod claims;
pub mod dpop;
pub mod error;
pub mod http;
pub mod introspection;
pub mod jwk;
pub mod jws;
pub mod request;
pub mod scope;
pub mod verifier;
