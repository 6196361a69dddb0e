//! A resource server behind keymint: an "agents" API whose routes ask for
//! keymint scopes.
//!
//! ```sh
//! KEYMINT_ISSUER=http://127.0.0.1:8080 API_AUDIENCE=https://api.example.com \
//!     cargo run -p keymint-verify --features axum --example resource_server
//! ```
//!
//! - `GET /agents` needs `read:agents/*`: every agent (a route-wide scope, the
//!   layer checks it);
//! - `GET /agents/{id}` needs `read:agents/{id}` and `PUT /agents/{id}`
//!   `write:agents/{id}` (scopes that depend on the path: the handler checks them,
//!   so a token for agent 7 alone reads agent 7);
//! - `GET /me` needs any valid token and says whose it is.
//!
//! With `KEYMINT_INTROSPECT_ID` and `KEYMINT_INTROSPECT_SECRET` (a key holding
//! `keymint:introspect`), revoked tokens are refused within seconds and raw API
//! keys are accepted too.

use std::sync::Arc;

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use keymint_verify::axum::{RequireScope, Token};
use keymint_verify::verifier::{Error, Verifier};
use serde_json::{json, Value};

/// The API's routes, each behind the scope it needs.
pub fn router(verifier: Arc<Verifier>) -> Router {
    let all = Router::new()
        .route("/agents", get(list_agents))
        .route_layer(RequireScope::new(verifier.clone(), "read:agents/*"));
    let each = Router::new()
        .route("/agents/{id}", get(read_agent).put(write_agent))
        .route("/me", get(me))
        .route_layer(RequireScope::any_scope(verifier));
    all.merge(each)
}

async fn list_agents(Token(claims): Token) -> Json<Value> {
    Json(json!({ "agents": ["7", "42"], "read_by": claims.client_id }))
}

async fn read_agent(Token(claims): Token, Path(id): Path<String>) -> Result<Json<Value>, Error> {
    claims.require(&format!("read:agents/{id}"))?;
    Ok(Json(json!({ "agent": id, "read_by": claims.client_id })))
}

async fn write_agent(Token(claims): Token, Path(id): Path<String>) -> Result<Json<Value>, Error> {
    claims.require(&format!("write:agents/{id}"))?;
    Ok(Json(json!({ "agent": id, "written_by": claims.client_id })))
}

async fn me(Token(claims): Token) -> Json<Value> {
    Json(json!({
        "client_id": claims.client_id,
        "workspace_id": claims.workspace_id,
        "scope": claims.scope,
        "raw_key": claims.raw_key,
    }))
}

/// The verifier the environment describes.
pub async fn verifier_from_env() -> Result<Verifier, Error> {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let verifier = Verifier::discover(&var("KEYMINT_ISSUER"), &var("API_AUDIENCE")).await?;
    match (std::env::var("KEYMINT_INTROSPECT_ID"), std::env::var("KEYMINT_INTROSPECT_SECRET")) {
        (Ok(id), Ok(secret)) => verifier.with_introspection(&id, &secret),
        _ => Ok(verifier),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let verifier = Arc::new(verifier_from_env().await?);
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("agents API on http://{listen}");
    axum::serve(listener, router(verifier)).await?;
    Ok(())
}
