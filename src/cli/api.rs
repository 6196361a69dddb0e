//! How admin commands reach keymint: through its `/v1` API, either over HTTP(S) to
//! a running server (remote mode, as the admin's key) or in process on the
//! database itself (local mode, as `cli`). Both give the same JSON and the same
//! problem documents, so a command prints the same, and fails the same, in both.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::remote::Remote;
use crate::app::App;
use crate::config::Config;
use crate::http::local::InProcess;
use crate::store::schema::Opening;

/// The `/v1` API, wherever it is.
pub struct Api {
    transport: Transport,
}

enum Transport {
    /// An app opened on the database, its API called in process.
    Local { app: Arc<App>, api: InProcess },
    /// A server's API (boxed: it holds the admin key's credentials).
    Remote(Box<Remote>),
}

/// A request the API refused: its problem document (RFC 9457).
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    /// The problem type without its `urn:keymint:problem:` prefix, e.g. `not-found`.
    pub kind: String,
    pub detail: String,
    /// For a validation problem, the invalid field and why.
    pub field: Option<(String, String)>,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some((field, reason)) => write!(f, "{field}: {reason}"),
            None => f.write_str(&self.detail),
        }
    }
}

impl std::error::Error for Refusal {}

impl Refusal {
    fn new(status: StatusCode, body: &[u8]) -> Refusal {
        let problem: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let text = |v: &Value| v.as_str().map(str::to_string);
        let kind = text(&problem["type"])
            .map(|t| t.trim_start_matches(crate::http::error::PROBLEM_TYPE_PREFIX).to_string());
        let detail = text(&problem["detail"]).unwrap_or_else(|| {
            format!("the server answered {status} {}", String::from_utf8_lossy(body).trim())
        });
        let first = &problem["errors"][0];
        let field = text(&first["field"]).zip(text(&first["reason"]));
        Refusal { status, kind: kind.unwrap_or_default(), detail, field }
    }
}

/// Query parameters; those without a value are left out.
pub type Query<'a> = [(&'a str, Option<String>)];

impl Api {
    /// Local mode on the database `config` names, which must exist.
    pub async fn local(config: Config) -> anyhow::Result<Api> {
        let app =
            App::open_with(config, Arc::new(crate::clock::SystemClock), Opening::SAME).await?;
        let api = InProcess::new(app.clone());
        Ok(Api { transport: Transport::Local { app, api } })
    }

    /// Remote mode.
    pub fn remote(remote: Remote) -> Api {
        Api { transport: Transport::Remote(Box::new(remote)) }
    }

    /// The app of local mode (for the commands that are local only).
    pub fn local_app(&self) -> Option<&Arc<App>> {
        match &self.transport {
            Transport::Local { app, .. } => Some(app),
            Transport::Remote(_) => None,
        }
    }

    /// Where the commands act, for errors to say what to check: `--database-url
    /// sqlite://keymint.db` or `--server https://...`.
    pub fn place(&self) -> String {
        match &self.transport {
            Transport::Local { app, .. } => {
                format!("--database-url {}", crate::store::redact_url(&app.config.database_url))
            }
            Transport::Remote(remote) => format!("--server {}", remote.base()),
        }
    }

    /// Who commands act as, and where: `{"mode", "server" | "database", "actor",
    /// "scopes"}` (`keymint whoami`). Remotely this checks the credentials.
    pub async fn whoami(&self) -> anyhow::Result<Value> {
        Ok(match &self.transport {
            Transport::Local { app, .. } => serde_json::json!({
                "mode": "local",
                "database": crate::store::redact_url(&app.config.database_url),
                "actor": "cli",
                "scopes": crate::vocab::scope::ManagementScope::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>(),
            }),
            Transport::Remote(remote) => {
                let grant = remote.check().await?;
                serde_json::json!({
                    "mode": "remote",
                    "server": remote.base(),
                    "actor": remote.client_id(),
                    "credentials": remote.origin(),
                    "scopes": grant.scope.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
                })
            }
        })
    }

    pub async fn get(&self, path: &str, query: &Query<'_>) -> anyhow::Result<Value> {
        self.send(Method::GET, path, query, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(Method::POST, path, &[], Some(body)).await
    }

    /// Sends one request; a 2xx answers its JSON body (`null` when empty), any
    /// other status a [`Refusal`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &Query<'_>,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut target = path.to_string();
        let pairs: Vec<(&str, &str)> =
            query.iter().filter_map(|(k, v)| v.as_deref().map(|v| (*k, v))).collect();
        if !pairs.is_empty() {
            target = format!("{target}?{}", serde_urlencoded::to_string(&pairs)?);
        }
        let body = body.map(|b| serde_json::to_vec(&b)).transpose()?;
        let (status, bytes) = match &self.transport {
            Transport::Local { api, .. } => api.send(method, &target, body).await?,
            Transport::Remote(remote) => remote.send(method, &target, body).await?,
        };
        if !status.is_success() {
            return Err(Refusal::new(status, &bytes).into());
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&bytes)?)
    }
}
