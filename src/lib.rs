//! keymint: an OAuth 2.0 authorization server that turns long-lived API keys into
//! short-lived signed JWTs. See docs/ARCHITECTURE.md for how a request flows.

/// Role bindings: the rights people who sign in get.
pub mod access;
/// API keys: secret format, secret storage, client authentication, key lifecycle.
pub mod apikeys;
/// The assembled service that `serve` and the admin commands share.
pub mod app;
/// Reading the audit log.
pub mod audit;
/// The command line: `serve` and the admin commands.
pub mod cli;
/// Time, injectable for tests.
pub mod clock;
/// Settings from flags and `KEYMINT_*` variables.
pub mod config;
/// The CLI signing in as a person: the device authorization grant (RFC 8628).
pub mod devices;
/// The change feed: applies every instance's changes to this instance's memory.
pub mod feed;
/// The HTTP surface: router, handlers, errors, extraction.
pub mod http;
/// Prometheus metrics.
pub mod metrics;
/// Token issuance policy, scopes, and the token service.
pub mod oauth;
/// People who sign in through the identity provider, and the rights role
/// bindings give them.
pub mod people;
/// How errors are written to logs, with their causes.
pub mod report;
/// Console sessions: sign-in as a person or with an admin key, and what ends a session.
pub mod sessions;
/// Signing keys, the master key, the JWKS.
pub mod signing;
/// The organisation's OpenID provider: the code flow and ID token checks.
pub mod sso;
/// Persistence: the `Store` trait and its SQLite and PostgreSQL implementations.
pub mod store;
/// Traces over OpenTelemetry (OTLP), when the `OTEL_*` variables ask for them.
pub mod telemetry;
/// Usage accounting, batched off the request path.
pub mod usage;
/// The typed floor every module stands on: scopes, who acts, errors, outcomes.
pub mod vocab;
/// Webhooks: endpoints, the outbox's deliveries, Standard Webhooks signatures.
pub mod webhooks;
/// Workspaces (tenants).
pub mod workspaces;
