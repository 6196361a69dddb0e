//! The management API under `/v1`: one file per resource. Every handler takes the
//! authenticated [`Caller`](super::extract::Caller), calls one domain function and
//! maps the result; errors are problem details.

pub mod audit;
pub mod keys;
pub mod people;
pub mod role_bindings;
pub mod signing_keys;
pub mod usage;
pub mod webhooks;
pub mod workspaces;
