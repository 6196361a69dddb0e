//! The HTTP surface: router, tower layers (trace without query strings or headers,
//! timeout, body limit) and the server loop with graceful shutdown.

pub mod admin;
pub mod error;
pub mod extract;
pub mod health;
pub mod oauth;
pub mod openapi;
pub mod well_known;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::app::App;
use error::Problem;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// A request taking longer than this is answered 408 and dropped.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The full router.
pub fn router(app: Arc<App>) -> Router {
    let oauth = Router::new().route(
        "/oauth/token",
        post(oauth::token).fallback(oauth::post_only),
    );
    let v1 = Router::new()
        .route("/v1/keys", post(admin::keys::create).get(admin::keys::list))
        .route("/v1/keys/{id}", get(admin::keys::get))
        .route("/v1/keys/{id}/revoke", post(admin::keys::revoke))
        .route(
            "/v1/workspaces",
            post(admin::workspaces::create).get(admin::workspaces::list),
        )
        .route(
            "/v1/workspaces/{id}",
            get(admin::workspaces::get)
                .patch(admin::workspaces::rename)
                .delete(admin::workspaces::delete),
        )
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this resource does not accept that method",
            )
        });
    Router::new()
        .merge(oauth)
        .merge(v1)
        .route("/.well-known/jwks.json", get(well_known::jwks))
        .route("/.well-known/oauth-authorization-server", get(well_known::metadata))
        .route("/.well-known/openid-configuration", get(well_known::metadata))
        .route("/openapi.json", get(openapi::serve))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(|| async { Problem::not_found("no such endpoint") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(
            // Spans name the method and path only: query strings and headers may hold secrets.
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
            }),
        )
        .with_state(app)
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = router(app).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
}

/// [`serve`], logging a failure instead of returning it (for spawned servers).
pub async fn serve_until(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    if let Err(e) = serve(app, listener, shutdown).await {
        tracing::error!(error = %e, "server stopped with an error");
    }
}
