//! A key's public keys (a JWK Set, RFC 7517), for `private_key_jwt` client
//! authentication and DPoP: checked member by member by the `keymint-verify`
//! crate, which resource servers use for the same keys.

pub use keymint_verify::jwk::*;
