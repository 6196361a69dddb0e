//! keymint's integration tests: one binary, real HTTP on real ports, both backends.
#![expect(clippy::unwrap_used, reason = "a test fails by panicking")]

mod helpers;

mod assertions;
mod binary;
mod browser;
mod browser_sso;
mod cli;
mod cluster;
mod console;
mod devices;
mod discovery;
mod door;
mod dpop;
mod hostile;
mod introspection;
mod isolation;
mod key_policy;
mod layering;
mod leaks;
mod lifecycle;
mod management;
mod openapi;
mod operations;
mod outage;
mod people;
mod policy;
mod processes;
mod raw_keys;
mod recipes;
mod refusals;
mod resource_conformance;
mod resource_server;
mod restart;
mod role_bindings;
mod secret_prefix;
mod secrets;
mod shapes;
mod shared_limits;
mod signing;
mod store_contract;
mod token;
mod usage_audit;
mod usage_durability;
mod webhooks;
