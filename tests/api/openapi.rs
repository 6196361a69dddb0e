//! The OpenAPI document: served, parses as OpenAPI 3.1, and covers every route.

use reqwest::StatusCode;

use crate::helpers::{spawn_app, Backend};
use crate::on_both_backends;

/// Every route of the product's interface, as (method, path).
const ROUTES: &[(&str, &str)] = &[
    ("post", "/oauth/token"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/.well-known/oauth-authorization-server"),
    ("get", "/.well-known/openid-configuration"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("post", "/v1/keys"),
    ("get", "/v1/keys"),
    ("get", "/v1/keys/{id}"),
    ("patch", "/v1/keys/{id}"),
    ("delete", "/v1/keys/{id}"),
    ("post", "/v1/keys/{id}/rotate"),
    ("post", "/v1/keys/{id}/activate"),
    ("post", "/v1/keys/{id}/deactivate"),
    ("post", "/v1/keys/{id}/revoke"),
    ("get", "/v1/keys/{id}/usage"),
    ("get", "/v1/usage"),
    ("get", "/v1/audit"),
    ("post", "/v1/workspaces"),
    ("get", "/v1/workspaces"),
    ("get", "/v1/workspaces/{id}"),
    ("patch", "/v1/workspaces/{id}"),
    ("delete", "/v1/workspaces/{id}"),
];

async fn the_openapi_document_parses_and_covers_every_route(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = reqwest::get(app.url("/openapi.json")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let spec = oas3::from_json(&text).expect("a valid OpenAPI 3.1 document");
    assert!(spec.openapi.starts_with("3.1"), "{}", spec.openapi);
    let paths = spec.paths.as_ref().expect("paths");
    for (method, path) in ROUTES {
        let item = paths.get(*path).unwrap_or_else(|| panic!("{path} is not documented"));
        let op = match *method {
            "get" => &item.get,
            "post" => &item.post,
            "patch" => &item.patch,
            "delete" => &item.delete,
            _ => unreachable!(),
        };
        assert!(op.is_some(), "{method} {path} is not documented");
    }
    // And every documented operation is served (not 404/405).
    for (path, item) in paths {
        for (method, op) in [
            ("get", &item.get),
            ("post", &item.post),
            ("patch", &item.patch),
            ("delete", &item.delete),
        ] {
            if op.is_none() {
                continue;
            }
            let url = app.url(&path.replace("{id}", "AAAAAAAAAAAAAAAA"));
            let request = app.client.request(method.to_uppercase().parse().unwrap(), url);
            let status = request.send().await.unwrap().status();
            assert!(
                status != StatusCode::NOT_FOUND || path.contains("{id}"),
                "{method} {path}: {status}"
            );
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        }
    }
}

on_both_backends!(the_openapi_document_parses_and_covers_every_route);
