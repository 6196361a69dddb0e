//! The console's stylesheet and script, embedded in the binary: nothing is loaded
//! from another host, and the binary alone serves the whole console.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// `(name, content type, body)` of every asset.
const ASSETS: [(&str, &str, &str); 3] = [
    ("console.css", "text/css; charset=utf-8", include_str!("../../../assets/console.css")),
    ("console.js", "text/javascript; charset=utf-8", include_str!("../../../assets/console.js")),
    ("favicon.svg", "image/svg+xml", include_str!("../../../assets/favicon.svg")),
];

/// `GET /favicon.ico`, which browsers ask every host for: keymint's icon (SVG,
/// which browsers accept there by its content type).
pub async fn favicon() -> Response {
    serve(Path("favicon.svg".to_string())).await
}

/// `GET /console/assets/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => {
            ([(header::CONTENT_TYPE, *content_type)], *body).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
