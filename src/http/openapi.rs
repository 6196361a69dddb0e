//! The OpenAPI 3.1 document, generated from the handlers' annotations (see
//! [`super::routes()`]) and served at `/openapi.json`.
//!
//! [`complete`] adds what every operation of a door can answer without each
//! handler repeating it: on `/v1`, the problem documents of the bearer door, body
//! parsing, validation and outages; on `/oauth`, the RFC 6749 errors. The body
//! schemas below describe JSON that handlers build by hand.

use std::sync::Arc;

use axum::Json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
    }
}

/// The document's header; the paths come from the routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "keymint",
        description = "OAuth 2.0 authorization server that turns API keys into short-lived JWTs. \
                       /v1 errors are RFC 9457 problem details; /oauth errors follow RFC 6749."
    ),
    modifiers(&BearerAuth),
    components(schemas(schemas::Problem, schemas::OAuthErrorBody))
)]
pub struct ApiDoc;

/// What every operation of a door may answer, beyond its own documented answers.
fn door_errors(path: &str, has_body: bool) -> Vec<(u16, &'static str)> {
    let mut errors = Vec::new();
    if path.starts_with("/v1/") {
        errors.extend([
            (400, "Malformed request: a body or query that cannot be parsed, or a repeated Authorization header"),
            (401, "The access token is missing or invalid (WWW-Authenticate: Bearer)"),
            (403, "The token lacks the management scope this needs"),
            (422, "A field is invalid; `errors` names it"),
            (503, "The database is unavailable (Retry-After)"),
        ]);
        if path.contains('{') {
            errors.push((404, "Not found, or not in the caller's workspace"));
        }
        if has_body {
            errors.extend([
                (408, "The request took too long"),
                (413, "The body is too large"),
                (415, "The body must be JSON"),
            ]);
        }
    } else if path.starts_with("/oauth/") {
        errors.extend([
            (400, "invalid_request: missing, repeated or malformed parameters"),
            (401, "invalid_client: client authentication failed"),
            (408, "invalid_request: the request did not complete in time"),
            (413, "invalid_request: the body is too large"),
            (429, "temporarily_unavailable: too many failed attempts (Retry-After)"),
            (503, "temporarily_unavailable: retry shortly (Retry-After)"),
        ]);
    }
    errors
}

/// Adds each door's common answers to every operation, and gives every error
/// answer its body schema (problem details on `/v1`, RFC 6749 on `/oauth`).
pub fn complete(api: &mut utoipa::openapi::OpenApi) {
    for (path, item) in api.paths.paths.iter_mut() {
        let (media, schema) = if path.starts_with("/oauth/") {
            ("application/json", "OAuthErrorBody")
        } else {
            ("application/problem+json", "Problem")
        };
        let operations =
            [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
        for operation in operations.into_iter().flatten() {
            add_errors(operation, path, media, schema);
            // Handler names repeat across resources (`list`, `get`): prefix the tag so
            // every operation id is unique, as generated clients need.
            if let (Some(tag), Some(id)) =
                (operation.tags.as_ref().and_then(|t| t.first()), operation.operation_id.as_mut())
            {
                *id = format!("{}_{id}", tag.replace('-', "_"));
            }
        }
    }
}

fn add_errors(operation: &mut Operation, path: &str, media: &str, schema: &str) {
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                media,
                ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build(),
            )
            .build()
    };
    let responses = &mut operation.responses.responses;
    for (status, description) in door_errors(path, operation.request_body.is_some()) {
        responses.entry(status.to_string()).or_insert_with(|| RefOr::T(error(description)));
    }
    for (status, response) in responses.iter_mut() {
        if let RefOr::T(response) = response {
            let is_error = status.starts_with('4') || status.starts_with('5');
            if is_error && response.content.is_empty() {
                *response = error(&response.description);
            }
        }
    }
}

/// `GET /openapi.json`.
pub async fn serve(api: Arc<utoipa::openapi::OpenApi>) -> Json<utoipa::openapi::OpenApi> {
    Json((*api).clone())
}

/// JSON bodies that handlers build by hand, described for the document.
pub mod schemas {
    use serde::Serialize;
    use serde_json::Value;
    use utoipa::ToSchema;

    use crate::apikeys::KeyView;
    use crate::signing::SigningKeyView;
    use crate::workspaces::WorkspaceView;

    /// An RFC 9457 problem document; `type` is a stable `urn:keymint:problem:*` URN.
    #[derive(Serialize, ToSchema)]
    pub struct Problem {
        #[schema(example = "urn:keymint:problem:validation")]
        r#type: String,
        title: String,
        status: u16,
        detail: String,
        /// For a 422: the invalid fields.
        errors: Option<Vec<FieldProblem>>,
    }

    /// One invalid field of a 422.
    #[derive(Serialize, ToSchema)]
    pub struct FieldProblem {
        field: String,
        reason: String,
    }

    /// An RFC 6749 section 5.2 error.
    #[derive(Serialize, ToSchema)]
    pub struct OAuthErrorBody {
        #[schema(example = "invalid_client")]
        error: String,
        error_description: Option<String>,
    }

    /// The form of `POST /oauth/device_authorization` (RFC 8628 section 3.1).
    #[derive(Serialize, ToSchema)]
    pub struct DeviceAuthorizationForm {
        /// `keymint-cli`: the device flow signs the keymint CLI in as a person.
        #[schema(example = "keymint-cli")]
        client_id: String,
    }

    /// The form of `POST /oauth/token` (RFC 6749 section 4.4.2). Client credentials
    /// go in `Authorization: Basic` or in `client_id` and `client_secret`, not both.
    #[derive(Serialize, ToSchema)]
    pub struct TokenForm {
        /// `client_credentials`; or token exchange (RFC 8693) or the JWT bearer
        /// grant (RFC 7523), see docs/api.md.
        #[schema(
            pattern = "^(client_credentials|urn:ietf:params:oauth:grant-type:token-exchange|urn:ietf:params:oauth:grant-type:jwt-bearer)$",
            example = "client_credentials"
        )]
        grant_type: String,
        /// The key; for federation (no secret), the key the platform token acts as.
        #[schema(min_length = 1)]
        client_id: Option<String>,
        #[schema(min_length = 1)]
        client_secret: Option<String>,
        /// Space-separated subset of the key's scopes; absent means all of them.
        scope: Option<String>,
        /// RFC 8707 target; one of the key's audiences. May repeat.
        resource: Option<Vec<String>>,
        /// Like `resource`. May repeat.
        audience: Option<Vec<String>>,
        /// Token exchange: a keymint access token (delegation) or a platform JWT
        /// (federation).
        #[schema(min_length = 1)]
        subject_token: Option<String>,
        /// `urn:ietf:params:oauth:token-type:access_token` or `...:jwt`.
        subject_token_type: Option<String>,
        /// Delegation: an active token of the calling key.
        actor_token: Option<String>,
        /// `urn:ietf:params:oauth:token-type:access_token`.
        actor_token_type: Option<String>,
        /// The JWT bearer grant: the platform JWT.
        assertion: Option<String>,
    }

    /// The form of `POST /oauth/introspect` (RFC 7662) and `POST /oauth/revoke` (RFC 7009).
    #[derive(Serialize, ToSchema)]
    pub struct TokenParamForm {
        /// An access token, or (introspection) a raw API key.
        #[schema(min_length = 1)]
        token: String,
        /// `access_token`, `api_key` (a raw API key), or `refresh_token` (none exist).
        token_type_hint: Option<String>,
        /// Introspection of a raw API key: the address the key was presented from,
        /// checked against the key's allowed IP ranges and counted for the limits.
        client_ip: Option<String>,
        #[schema(min_length = 1)]
        client_id: Option<String>,
        #[schema(min_length = 1)]
        client_secret: Option<String>,
    }

    /// An RFC 7662 introspection answer: `{"active": false}`, or the token's claims,
    /// or for a raw API key (`token_type: api_key`) its `client_id`, `scope`,
    /// `workspace_id`, `environment`, `key_type` and `exp` (when it expires). Both
    /// carry the key's `owner` when it has one, and its own `claims` at the top level.
    #[derive(Serialize, ToSchema)]
    pub struct Introspection {
        active: bool,
        token_type: Option<String>,
        iss: Option<String>,
        sub: Option<String>,
        client_id: Option<String>,
        #[schema(value_type = Option<Object>)]
        aud: Option<Value>,
        iat: Option<i64>,
        nbf: Option<i64>,
        exp: Option<i64>,
        jti: Option<String>,
        scope: Option<String>,
        workspace_id: Option<String>,
        environment: Option<String>,
        key_type: Option<String>,
        /// A DPoP-bound token's binding: `{"jkt": "<RFC 7638 thumbprint>"}`.
        #[schema(value_type = Option<Object>)]
        cnf: Option<Value>,
        /// The key's owner, when it has one.
        owner: Option<String>,
        /// A token from token exchange: the key that asked (`{"sub": ...}`),
        /// earlier actors nested under `act` (RFC 8693 section 4.1).
        #[schema(value_type = Option<Object>)]
        act: Option<Value>,
    }

    /// A key with its secret: the create and rotate answers, the only ones with one.
    #[derive(Serialize, ToSchema)]
    pub struct RevealedKey {
        #[serde(flatten)]
        key: KeyView,
        /// The key id, as OAuth clients name it.
        client_id: String,
        /// The secret, shown this once.
        client_secret: String,
        /// What the admin should know about the key as created: a range that lets
        /// every address in, scopes outside the workspace's catalog (empty on rotate).
        warnings: Vec<String>,
    }

    /// A rotation's answer: the key, its new secret, and when the old one stops.
    #[derive(Serialize, ToSchema)]
    pub struct RotatedKey {
        #[serde(flatten)]
        revealed: RevealedKey,
        previous_secret_expires_at: Option<String>,
    }

    /// An edit's answer: the key, and `{field: {from, to}}` for each change.
    #[derive(Serialize, ToSchema)]
    pub struct UpdatedKey {
        #[serde(flatten)]
        key: KeyView,
        /// `{field: {from, to}}` for each field that changed (or would change).
        #[schema(value_type = Object)]
        changes: Value,
        /// What the change may break at once: narrower scopes, IP ranges or
        /// audiences, an earlier expiry, a range that lets every address in.
        warnings: Vec<String>,
        /// When the allowed IP ranges narrow: the key's callers of the last 7 days
        /// that the new ranges refuse, and how many tokens they got (null otherwise).
        callers_refused: Option<crate::usage::CallersRefused>,
        /// `true` when nothing was saved (`?dry_run=true`).
        dry_run: bool,
    }

    #[derive(Serialize, ToSchema)]
    pub struct WorkspaceList {
        data: Vec<WorkspaceView>,
    }

    #[derive(Serialize, ToSchema)]
    pub struct PersonList {
        data: Vec<crate::people::PersonView>,
    }

    /// What ending a person's sessions did.
    #[derive(Serialize, ToSchema)]
    pub struct SignedOut {
        /// How many sessions ended.
        sessions_ended: u64,
    }

    #[derive(Serialize, ToSchema)]
    pub struct WebhookList {
        data: Vec<crate::webhooks::WebhookView>,
    }

    #[derive(Serialize, ToSchema)]
    pub struct DeliveryList {
        data: Vec<crate::webhooks::DeliveryView>,
    }

    #[derive(Serialize, ToSchema)]
    pub struct RoleBindingList {
        data: Vec<crate::access::RoleBindingView>,
    }

    #[derive(Serialize, ToSchema)]
    pub struct SigningKeyList {
        data: Vec<SigningKeyView>,
    }

    /// A JSON Web Key Set (RFC 7517 section 5): public keys only.
    #[derive(Serialize, ToSchema)]
    pub struct Jwks {
        #[schema(value_type = Vec<Object>)]
        keys: Vec<Value>,
    }

    /// Authorization server metadata (RFC 8414 section 2).
    #[derive(Serialize, ToSchema)]
    pub struct Metadata {
        issuer: String,
        token_endpoint: String,
        jwks_uri: String,
        introspection_endpoint: String,
        revocation_endpoint: String,
        grant_types_supported: Vec<String>,
        token_endpoint_auth_methods_supported: Vec<String>,
        scopes_supported: Option<Vec<String>>,
    }

    /// An RFC 7009 revocation answer: an empty object, whatever was revoked.
    #[derive(Serialize, ToSchema)]
    pub struct Revoked {}

    /// `/healthz`.
    #[derive(Serialize, ToSchema)]
    pub struct Health {
        #[schema(example = "ok")]
        status: String,
    }

    /// `/readyz`.
    #[derive(Serialize, ToSchema)]
    pub struct Readiness {
        #[schema(example = "ready")]
        status: String,
        #[schema(example = "ok")]
        database: String,
        /// `in sync`, or `resyncing` after the change feed could not be read.
        #[schema(example = "in sync")]
        change_feed: String,
        signing_key: String,
    }
}
