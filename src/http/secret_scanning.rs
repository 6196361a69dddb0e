//! `POST /secret-scanning/github`: GitHub's secret-scanning partner endpoint.
//! GitHub posts the values it found in public that match this deployment's
//! pattern, signed; each is answered a true or false positive, and each true one
//! handled by the key's workspace (`apikeys::leaks`). An unsigned or forged
//! report changes nothing.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::apikeys::leaks::Found;
use crate::apikeys::secret::Secret;
use crate::app::App;
use crate::http::error::Problem;

/// Most values one report may hold.
const MAX_TOKENS: usize = 1000;

/// One value GitHub found.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Reported {
    /// The value found.
    pub token: String,
    /// The pattern's type name, as registered with GitHub.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where it was found.
    pub url: String,
    /// The kind of place (`content`, `commit`, `issue_description`, ...).
    pub source: String,
}

/// GitHub's answer format: each value by its SHA-256 (never echoed), with its label.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Labelled {
    /// The hex SHA-256 of the value reported.
    pub token_hash: String,
    pub token_type: String,
    /// `true_positive` (a secret of a key here) or `false_positive`.
    pub label: &'static str,
}

/// A refusal, as RFC 9457 problem details like the rest of keymint's API.
fn refused(status: StatusCode, why: &str) -> Response {
    let (kind, title) = match status {
        StatusCode::UNAUTHORIZED => ("invalid-signature", "The report is not signed by GitHub"),
        StatusCode::BAD_REQUEST => ("invalid-report", "The report is malformed"),
        _ => ("unavailable", "Retry later"),
    };
    Problem::new(status, kind, title, why.to_string()).into_response()
}

/// `POST /secret-scanning/github`.
#[utoipa::path(post, path = "/secret-scanning/github", tag = "secret-scanning",
    request_body(content = Vec<Reported>, description = "The values GitHub found, signed: the Github-Public-Key-Identifier header names the key, Github-Public-Key-Signature holds the base64 ECDSA P-256 SHA-256 signature of the raw body"),
    responses(
        (status = 200, description = "Each value, labelled", body = Vec<Labelled>),
        (status = 400, description = "Not a report"),
        (status = 401, description = "Unsigned, or not signed by a key GitHub publishes"),
        (status = 503, description = "The database is unavailable"),
    )
)]
pub async fn github(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(key_id), Some(signature)) =
        (header("github-public-key-identifier"), header("github-public-key-signature"))
    else {
        return refused(StatusCode::UNAUTHORIZED, "the report is not signed");
    };
    if let Err(why) = app.github_keys.verify(key_id, signature, &body).await {
        tracing::warn!(why, "a secret-scanning report was refused");
        return refused(StatusCode::UNAUTHORIZED, why);
    }
    let reported: Vec<Reported> = match serde_json::from_slice(&body) {
        Ok(list) => list,
        Err(_) => {
            return refused(StatusCode::BAD_REQUEST, "the body is not a list of reported tokens")
        }
    };
    if reported.len() > MAX_TOKENS {
        return refused(StatusCode::BAD_REQUEST, "a report holds at most 1000 tokens");
    }
    let mut answer = Vec::with_capacity(reported.len());
    for item in reported {
        let found = Found { reporter: "github", url: item.url, source: item.source };
        let value = Secret::new(item.token);
        let real = match app.keys.report_leak(&value, &found).await {
            Ok(real) => real,
            Err(e) => {
                tracing::warn!(error = %crate::report::Chain(&e), "a leaked key could not be handled");
                return refused(StatusCode::SERVICE_UNAVAILABLE, "retry later");
            }
        };
        answer.push(Labelled {
            token_hash: crate::apikeys::hashing::sha256_hex(value.expose()),
            token_type: item.kind,
            label: if real { "true_positive" } else { "false_positive" },
        });
    }
    Json(answer).into_response()
}
