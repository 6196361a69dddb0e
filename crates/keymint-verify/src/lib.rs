//! What a resource server shares with keymint, so the two can never disagree:
//! keymint's scope grammar and the rules by which a granted scope covers a
//! requested one (`scope`; keymint's server depends on this crate for it), and a
//! [`verifier::Verifier`] that checks keymint's access tokens as RFC 9068 says.
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
