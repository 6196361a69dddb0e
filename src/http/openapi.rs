//! The OpenAPI 3.1 document, generated from the handlers' annotations (see
//! [`super::routes`]) and served at `/openapi.json`.

use std::sync::Arc;

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
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
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
pub async fn serve(api: Arc<utoipa::openapi::OpenApi>) -> Json<utoipa::openapi::OpenApi> {
    Json((*api).clone())
}
