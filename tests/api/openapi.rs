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
    ("get", "/v1/hygiene"),
    ("get", "/v1/audit"),
    ("post", "/v1/workspaces"),
    ("get", "/v1/workspaces"),
    ("get", "/v1/workspaces/{id}"),
    ("patch", "/v1/workspaces/{id}"),
    ("delete", "/v1/workspaces/{id}"),
    ("get", "/v1/workspaces/{id}/key-policy"),
    ("put", "/v1/workspaces/{id}/key-policy"),
    ("get", "/v1/workspaces/{id}/scope-catalog"),
    ("put", "/v1/workspaces/{id}/scope-catalog"),
    ("get", "/v1/role-bindings"),
    ("post", "/v1/role-bindings"),
    ("delete", "/v1/role-bindings/{id}"),
    ("get", "/v1/people"),
    ("post", "/v1/people/{id}/sign-out"),
    ("post", "/oauth/device_authorization"),
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
            "put" => &item.put,
            _ => unreachable!(),
        };
        assert!(op.is_some(), "{method} {path} is not documented");
    }
    // And every documented operation is served: neither 405 nor the 404 of a
    // route that does not exist (an `{id}` that names nothing is another 404).
    let admin = app.admin_token().await;
    let mut probed = 0;
    for (path, item) in paths {
        for (method, op) in [
            ("get", &item.get),
            ("post", &item.post),
            ("patch", &item.patch),
            ("put", &item.put),
            ("delete", &item.delete),
        ] {
            if op.is_none() {
                continue;
            }
            probed += 1;
            let url = app.url(&path.replace("{id}", "AAAAAAAAAAAAAAAA"));
            let request = app.client.request(method.to_uppercase().parse().unwrap(), url);
            let response = request.bearer_auth(&admin).send().await.unwrap();
            let status = response.status();
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            let body = response.text().await.unwrap();
            assert!(!body.contains("no such endpoint"), "{method} {path} is not routed: {body}");
        }
    }
    assert!(probed >= ROUTES.len(), "every documented operation probed ({probed})");
}

/// Every `$ref` in `value`.
fn refs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", serde_json::Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

async fn the_openapi_document_is_structurally_valid_and_complete(backend: Backend) {
    let app = spawn_app(backend).await;
    let spec: serde_json::Value =
        reqwest::get(app.url("/openapi.json")).await.unwrap().json().await.unwrap();
    let schemas = spec["components"]["schemas"].as_object().expect("component schemas");
    let mut all_refs = Vec::new();
    refs(&spec, &mut all_refs);
    for r in &all_refs {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{r}"));
        assert!(schemas.contains_key(name), "{r} does not resolve");
    }
    let mut operation_ids = std::collections::HashSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for op in item.as_object().unwrap().values() {
            let id = op["operationId"].as_str().expect("every operation has an id");
            assert!(operation_ids.insert(id.to_string()), "operation id {id} repeats");
        }
        let template: Vec<&str> =
            path.split('{').skip(1).filter_map(|p| p.split('}').next()).collect();
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{method} {path}");
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for p in &params {
                let name = p["name"].as_str().unwrap();
                match p["in"].as_str().unwrap() {
                    "path" => {
                        assert!(
                            template.contains(&name),
                            "{at}: path parameter {name} not in the path"
                        );
                        assert_eq!(p["required"], true, "{at}: path parameters are required");
                    }
                    "query" => assert_ne!(p["required"], true, "{at}: {name} is optional"),
                    other => panic!("{at}: parameter {name} in {other}"),
                }
                assert!(p["schema"].is_object(), "{at}: {name} has no schema");
            }
            for name in &template {
                assert!(
                    params.iter().any(|p| p["name"] == *name && p["in"] == "path"),
                    "{at}: {{{name}}} is not declared"
                );
            }
            if let Some(body) = op.get("requestBody") {
                let content = body["content"].as_object().expect("request body content");
                assert!(content.values().all(|c| c["schema"].is_object()), "{at}: untyped body");
            }
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.keys().any(|s| s.starts_with('2')), "{at}: no success answer");
            for (status, response) in responses {
                assert!(response["description"].is_string(), "{at} {status}: no description");
                let typed = response["content"]
                    .as_object()
                    .is_some_and(|c| c.values().all(|m| m["schema"].is_object()));
                if status != "204" {
                    assert!(typed, "{at} {status}: the answer has no body schema");
                }
            }
            let expected: &[&str] = if path.starts_with("/v1/") {
                &["400", "401", "403", "422", "503"]
            } else if path.starts_with("/oauth/") {
                &["400", "401", "429", "503"]
            } else {
                &[]
            };
            for status in expected {
                assert!(responses.contains_key(*status), "{at}: {status} is not documented");
            }
        }
    }
    // The key object is typed, with the product's field names.
    let key = &schemas["KeyView"]["properties"];
    for field in
        ["id", "workspace_id", "name", "scopes", "allowed_cidrs", "status", "masked_secret"]
    {
        assert!(key[field].is_object(), "KeyView.{field}");
    }
    assert!(schemas["TokenForm"]["properties"]["grant_type"].is_object());
}

on_both_backends!(
    the_openapi_document_parses_and_covers_every_route,
    the_openapi_document_is_structurally_valid_and_complete
);
