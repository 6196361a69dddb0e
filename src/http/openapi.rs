//! The OpenAPI 3.1 document, generated from the handlers' annotations and served
//! at `/openapi.json`.

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
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// keymint's API.
#[derive(OpenApi)]
#[openapi(
    info(title = "keymint", description = "OAuth 2.0 authorization server for API keys"),
    paths(
        super::oauth::token,
        super::well_known::jwks,
        super::well_known::metadata,
        super::health::healthz,
        super::health::readyz,
        super::admin::keys::create,
        super::admin::keys::list,
        super::admin::keys::get,
        super::admin::keys::revoke,
        super::admin::workspaces::create,
        super::admin::workspaces::list,
        super::admin::workspaces::get,
        super::admin::workspaces::rename,
        super::admin::workspaces::delete,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
