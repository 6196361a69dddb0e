//! The HTTP surface: router, tower layers (trace without query strings or headers,
//! timeout, body limit) and the server loop with graceful shutdown.
//!
//! Routes are registered through `utoipa-axum`, so every route is in the OpenAPI
//! document by construction.

pub mod admin;
pub mod console;
pub mod error;
pub mod extract;
pub mod health;
pub mod local;
pub mod oauth;
pub mod openapi;
pub mod secret_scanning;
mod server;
pub mod well_known;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::App;
use error::{OAuthError, Problem};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every documented route, and the OpenAPI document they make; the operations
/// routes (`/healthz`, `/readyz`, `/metrics`) among them unless `--admin-listen`
/// serves them on a port of their own (the document names them either way).
/// The API's routes, the discovery documents' apart (see `discovery`), and the
/// OpenAPI document of all of them.
pub fn routes(
    with_operations: bool,
) -> (Router<Arc<App>>, Router<Arc<App>>, utoipa::openapi::OpenApi) {
    use admin::{audit, keys, people, role_bindings, signing_keys, usage, webhooks, workspaces};
    let (router, mut api) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(oauth::token))
        .routes(routes!(oauth::device_authorization))
        .routes(routes!(oauth::introspect))
        .routes(routes!(oauth::revoke))
        .routes(routes!(secret_scanning::github))
        .routes(routes!(keys::create, keys::list))
        .routes(routes!(keys::get, keys::update, keys::delete))
        .routes(routes!(keys::rotate))
        .routes(routes!(keys::end_grace))
        .routes(routes!(keys::activate))
        .routes(routes!(keys::deactivate))
        .routes(routes!(keys::revoke))
        .routes(routes!(usage::key_usage))
        .routes(routes!(usage::workspace_usage))
        .routes(routes!(usage::hygiene))
        .routes(routes!(audit::list))
        .routes(routes!(signing_keys::list))
        .routes(routes!(signing_keys::rotate))
        .routes(routes!(role_bindings::create, role_bindings::list))
        .routes(routes!(role_bindings::delete))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::rotate))
        .routes(routes!(webhooks::test))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::resend))
        .routes(routes!(people::list))
        .routes(routes!(people::sign_out))
        .routes(routes!(workspaces::create, workspaces::list))
        .routes(routes!(workspaces::get, workspaces::rename, workspaces::delete))
        .routes(routes!(workspaces::key_policy, workspaces::set_key_policy))
        .routes(routes!(workspaces::scope_catalog, workspaces::set_scope_catalog))
        .split_for_parts();
    let (operations, operations_api) = operations().split_for_parts();
    api.merge(operations_api);
    let (discovery, discovery_api) = discovery().split_for_parts();
    api.merge(discovery_api);
    openapi::complete(&mut api);
    let router = if with_operations { router.merge(operations) } else { router };
    (router, discovery, api)
}

/// The discovery documents (the JWKS and the metadata), which every resource
/// server's library fetches: read from memory (the JWKS pre-encoded), served
/// beside the API's layers rather than through them (no body to limit, no time to
/// bound, no request span), with only their latency recorded.
fn discovery() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(well_known::jwks))
        .routes(routes!(well_known::metadata))
        .routes(routes!(well_known::openid_configuration))
}

/// The operations routes: liveness, readiness and metrics.
fn operations() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
}

/// The router of `--admin-listen`: the operations routes only, with the public
/// router's latency histogram and request spans.
pub fn operations_router(app: Arc<App>) -> Router {
    let (routes, _) = operations().split_for_parts();
    routes
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(|| async { Problem::not_found("no such endpoint") })
        .layer(axum::middleware::from_fn_with_state(app.clone(), record_latency))
        .layer(trace_layer())
        .with_state(app)
}

/// Spans name the method and path only: query strings and headers may hold
/// secrets. One line per request, when it is answered (status and latency), at
/// debug level under `tower_http`: none at the start of the request.
fn trace_layer() -> TraceLayer<Classifier, fn(&Request) -> tracing::Span, (), Answered> {
    TraceLayer::new_for_http()
        .make_span_with(request_span as fn(&Request) -> tracing::Span)
        .on_request(())
        .on_response(Answered)
}

/// How tower-http classifies answers (5xx as failures).
type Classifier =
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>;

/// The span of one request. With traces on, it is also an OpenTelemetry server
/// span named by its route, with the HTTP semantic conventions' attributes, that
/// continues the caller's trace (`traceparent`).
fn request_span(req: &Request) -> tracing::Span {
    let (method, path) = (req.method(), req.uri().path());
    if !crate::telemetry::enabled() {
        return tracing::info_span!("request", method = %method, path = %path);
    }
    let route = req.extensions().get::<axum::extract::MatchedPath>().map(|p| p.as_str());
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    };
    let span = tracing::info_span!(
        "request",
        method = %method,
        path = %path,
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        url.path = %path,
        network.protocol.version = protocol_version(req.version()),
    );
    if let Some(route) = route {
        span.record("http.route", route);
    }
    crate::telemetry::continue_trace(&span, req.headers());
    span
}

/// The HTTP version as the semantic conventions write it (`1.1`, `2`).
fn protocol_version(version: axum::http::Version) -> &'static str {
    use axum::http::Version;
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// When a response leaves: its status on the span (traces), then tower-http's
/// own line.
#[derive(Clone, Copy)]
struct Answered;

impl<B> tower_http::trace::OnResponse<B> for Answered {
    fn on_response(
        self,
        response: &axum::http::Response<B>,
        latency: Duration,
        span: &tracing::Span,
    ) {
        if crate::telemetry::enabled() {
            let status = response.status();
            span.record("http.response.status_code", status.as_u16());
            if status.is_server_error() {
                span.record("otel.status_code", "ERROR");
            }
        }
        tower_http::trace::DefaultOnResponse::default().on_response(response, latency, span)
    }
}

/// 405 in the endpoint's own error shape: RFC 6749 on `/oauth/*`, problem details elsewhere.
async fn method_not_allowed(uri: Uri) -> Response {
    if uri.path().starts_with("/oauth/") {
        OAuthError::method_not_allowed().into_response()
    } else {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "this resource does not accept that method",
        )
        .into_response()
    }
}

/// Answers 408 when a request with a body takes longer than `--request-timeout`
/// (a slow client or a stuck database). Reads of memory (JWKS, discovery, health)
/// skip the timer: it would cost them more than they cost themselves.
async fn limit_time(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    if matches!(request.method(), &axum::http::Method::GET | &axum::http::Method::HEAD) {
        return next.run(request).await;
    }
    let oauth = request.uri().path().starts_with("/oauth/");
    let limit = Duration::from_secs(u64::from(app.config.request_timeout));
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) if oauth => OAuthError::timeout().into_response(),
        Err(_) => Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "The request took too long",
            "the request did not complete in time; retry",
        )
        .into_response(),
    }
}

/// Records each request's latency under its route (not its raw path).
async fn record_latency(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let endpoint = request.extensions().get::<axum::extract::MatchedPath>().cloned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let endpoint = endpoint.as_ref().map_or("unmatched", |p| p.as_str());
    app.metrics.observe(endpoint, started.elapsed().as_secs_f64());
    response
}

/// The full router.
pub fn router(app: Arc<App>) -> Router {
    let (routes, discovery, api) = routes(app.config.admin_listen.is_none());
    let api = Arc::new(api);
    let discovery = discovery
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(app.clone(), record_latency));
    routes
        .route("/openapi.json", get(move || openapi::serve(api.clone())))
        .merge(console::router())
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(|| async { Problem::not_found("no such endpoint") })
        // One layer of the four, outermost first: each `Router::layer` boxes every
        // route again, and a request clones each box it passes through.
        .layer(
            tower::ServiceBuilder::new()
                .layer(trace_layer())
                .layer(axum::middleware::from_fn_with_state(app.clone(), limit_time))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
                .layer(axum::middleware::from_fn_with_state(app.clone(), record_latency)),
        )
        .merge(discovery)
        .with_state(app)
}

/// Where a server listens: the public port, and `--admin-listen`'s if set.
pub struct Listeners {
    pub public: tokio::net::TcpListener,
    pub admin: Option<tokio::net::TcpListener>,
}

impl From<tokio::net::TcpListener> for Listeners {
    fn from(public: tokio::net::TcpListener) -> Self {
        Listeners { public, admin: None }
    }
}

/// Serves `app` until `shutdown` resolves, then finishes in-flight requests on
/// every port and flushes usage counters.
pub async fn serve(
    app: Arc<App>,
    listeners: impl Into<Listeners>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let Listeners { public, admin } = listeners.into();
    let jobs = app.start_jobs();
    let timeout = Duration::from_secs(u64::from(app.config.request_timeout));
    // A request in flight ends within the request timeout (answered 408 at the
    // latest); a second more lets its answer leave.
    let drain = timeout + Duration::from_secs(1);
    let open = app.metrics.connections_open.clone();
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut stop = stop.clone();
        async move {
            let _ = stop.wait_for(|s| *s).await;
        }
    };
    let admin = admin.map(|listener| {
        let router = operations_router(app.clone());
        let open = open.clone();
        tokio::spawn(server::run(listener, router, timeout, drain, open, stopped()))
    });
    let public = server::run(public, router(app.clone()), timeout, drain, open, stopped());
    let signal = async move {
        shutdown.await;
        let _ = stopping.send(true);
    };
    tokio::join!(public, signal);
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    jobs.stop().await;
    Ok(())
}

/// [`serve`], logging a failure instead of returning it (for spawned servers).
pub async fn serve_until(
    app: Arc<App>,
    listeners: impl Into<Listeners>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    if let Err(e) = serve(app, listeners, shutdown).await {
        tracing::error!(error = %crate::report::Chain(&e), "server stopped with an error");
    }
}
