//! Compact JWS from outside (client assertions; DPoP proofs), read by the
//! `keymint-verify` crate's rules, which resource servers share.

pub use keymint_verify::jws::*;
