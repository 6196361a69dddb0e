//! The HTTP API in process, for the CLI's local mode: the same router, handlers and
//! problem documents as over the network, the caller being [`Actor::cli`].

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use tower::ServiceExt;

use crate::app::App;
use crate::http::extract::LocalCaller;
use crate::vocab::Actor;

/// keymint's router, called without a network.
pub struct InProcess {
    router: axum::Router,
}

impl InProcess {
    pub fn new(app: Arc<App>) -> InProcess {
        InProcess { router: super::router(app) }
    }

    /// Sends one request to `target` (path and query) as `cli`, with a JSON body
    /// if given: the status and body of the answer.
    pub async fn send(
        &self,
        method: Method,
        target: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<(StatusCode, Vec<u8>)> {
        let mut request = axum::http::Request::builder().method(method).uri(target);
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let mut request = request.body(axum::body::Body::from(body.unwrap_or_default()))?;
        request.extensions_mut().insert(LocalCaller(Actor::cli()));
        let response = self.router.clone().oneshot(request).await?;
        let status = response.status();
        Ok((status, axum::body::to_bytes(response.into_body(), usize::MAX).await?.to_vec()))
    }
}
