//! Scopes: the grammar and matching live in the `keymint-verify` crate, which
//! resource servers use too, so keymint and the APIs behind it cannot disagree
//! on what a scope covers. See that crate's `scope` module and docs/scopes.md.

pub use keymint_verify::scope::*;
