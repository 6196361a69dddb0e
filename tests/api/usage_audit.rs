//! Usage counts, last use, pagination under concurrent creation, and the audit log.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, Backend, TestApp};
use crate::on_both_backends;

async fn usage_counts_match_the_exchanges_made(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.new_client("counted", &["read:a"]).await;
    let (other, other_secret) = app.new_client("other", &["read:a"]).await;
    let walled = app
        .create_key(
            json!({"name": "walled", "scopes": ["read:a"], "allowed_cidrs": ["10.0.0.0/8"]}),
        )
        .await;
    // More tokens than the admin key gets while setting this up.
    for _ in 0..8 {
        assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK);
    }
    for _ in 0..2 {
        assert_eq!(
            app.token_basic(&id, &other_secret, &[]).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let scoped = app.token_basic(&id, &secret, &[("scope", "write:z")]).await;
    assert_eq!(scoped.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.token_post(&other, &other_secret, &[]).await.status(), StatusCode::OK);
    let walled_id = walled["id"].as_str().unwrap();
    let walled_secret = walled["client_secret"].as_str().unwrap();
    assert_eq!(
        app.token_basic(walled_id, walled_secret, &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let admin = app.admin_token().await;
    app.post_with(&admin, &format!("/v1/keys/{id}/deactivate"), &json!({})).await;
    assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::UNAUTHORIZED);

    let usage: Value = app.get_json(&admin, &format!("/v1/keys/{id}/usage")).await;
    let today = format!("{}T00:00:00Z", keymint::clock::day(app.clock_now()));
    assert_eq!(usage["granularity"], "day");
    let days = usage["data"].as_array().unwrap();
    assert_eq!(days.len(), 30, "every day of the default range, empty ones too");
    let counts = json!({"issued": 8, "failed": 4, "refused": {"wrong_secret": 2,
        "address_not_allowed": 0, "scope_refused": 1, "key_inactive": 1, "throttled": 0},
        "verified": 0, "exchanged": 0});
    assert_eq!(
        days.last().unwrap(),
        &json!({"start": today, "issued": 8, "failed": 4,
        "refused": counts["refused"], "verified": 0, "exchanged": 0})
    );
    assert_eq!(days[0]["issued"], 0);
    assert_eq!(usage["total"], counts);

    let hourly: Value = app
        .get_with(&admin, &format!("/v1/keys/{id}/usage?granularity=hour"))
        .await
        .json()
        .await
        .unwrap();
    let hours = hourly["data"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    assert_eq!(hours.last().unwrap()["issued"], 8, "the current hour holds them");
    assert_eq!(hourly["total"], counts);

    let walled_usage: Value = app.get_json(&admin, &format!("/v1/keys/{walled_id}/usage")).await;
    assert_eq!(walled_usage["total"]["refused"]["address_not_allowed"], 1);

    let all: Value = app.get_json(&admin, "/v1/usage").await;
    let day = all["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(day["start"], today.as_str());
    // 8 + 1 client tokens and the admin's own tokens.
    assert!(day["issued"].as_i64().unwrap() >= 9);
    assert_eq!(day["failed"], 5);
    assert_eq!(all["top_keys"][0]["key_id"], id.as_str(), "{all}");
    assert_eq!(all["top_keys"][0]["name"], "counted");
    assert_eq!(all["top_refused"][0]["key_id"], id.as_str());
    assert_eq!(all["top_refused"][0]["failed"], 4);
    assert_eq!(all["top_refused"][1]["key_id"], walled_id);

    let key: Value = app.get_json(&admin, &format!("/v1/keys/{id}")).await;
    assert!(key["last_used_at"].is_string());
    assert_eq!(key["last_used_ip"], "127.0.0.1");
}

async fn usage_ranges_are_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let backwards = "/v1/usage?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z";
    let problem = assert_problem(
        app.get_with(&admin, backwards).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert!(problem.to_string().contains("from"), "{problem}");
    let too_long = "/v1/usage?granularity=hour&from=2026-01-01T00:00:00Z&to=2026-11-01T00:00:00Z";
    let problem = assert_problem(
        app.get_with(&admin, too_long).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert!(problem.to_string().contains("granularity=day"), "{problem}");
    let minute = app.get_with(&admin, "/v1/usage?granularity=minute").await;
    assert_eq!(minute.status(), StatusCode::BAD_REQUEST);
    let window: Value = app
        .get_with(
            &admin,
            "/v1/usage?granularity=hour&from=2026-11-01T10:30:00Z&to=2026-11-01T13:00:00Z",
        )
        .await
        .json()
        .await
        .unwrap();
    let starts: Vec<&str> =
        window["data"].as_array().unwrap().iter().map(|b| b["start"].as_str().unwrap()).collect();
    assert_eq!(starts, ["2026-11-01T10:00:00Z", "2026-11-01T11:00:00Z", "2026-11-01T12:00:00Z"]);
    assert_eq!(
        (window["from"].as_str(), window["to"].as_str()),
        (Some("2026-11-01T10:00:00Z"), Some("2026-11-01T13:00:00Z"))
    );
}

/// The preview (`dry_run`) of setting key `id`'s allowed ranges to `cidrs`.
async fn preview_ranges(app: &TestApp, admin: &str, id: &str, cidrs: Value) -> Value {
    let path = format!("/v1/keys/{id}?dry_run=true");
    let response = app.patch_with(admin, &path, &json!({"allowed_cidrs": cidrs})).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()
}

async fn an_edit_preview_counts_the_recent_exchanges_a_narrower_range_refuses(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.new_client("callers", &["read:a"]).await;
    for _ in 0..3 {
        assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK);
    }
    let admin = app.admin_token().await;
    let preview = |cidrs: Value| preview_ranges(&app, &admin, &id, cidrs);
    let narrowed = preview(json!(["10.0.0.0/8"])).await;
    assert_eq!(
        narrowed["callers_refused"],
        json!({"days": 7, "exchanges": 3, "addresses": [{"address": "127.0.0.1", "exchanges": 3}]})
    );
    let warnings = narrowed["warnings"].to_string();
    assert!(warnings.contains("3 tokens issued in the last 7 days"), "{warnings}");
    assert!(warnings.contains("127.0.0.1"), "{warnings}");
    let kept = preview(json!(["127.0.0.0/8"])).await;
    assert_eq!(kept["callers_refused"], Value::Null, "every recent caller is still allowed");
    let key: Value = app.get_json(&admin, &format!("/v1/keys/{id}")).await;
    assert_eq!(key["allowed_cidrs"], json!([]), "a preview saves nothing");
}

async fn an_edit_preview_warns_only_of_callers_the_old_ranges_allowed(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, &["--trusted-proxies", "127.0.0.1/32"]).await;
    let (id, secret) = app.new_client("behind-a-proxy", &["read:a"]).await;
    let token_from = |address: &'static str| {
        let request = app
            .client
            .post(app.url("/oauth/token"))
            .basic_auth(&id, Some(&secret))
            .header("X-Forwarded-For", address)
            .form(&[("grant_type", "client_credentials")]);
        async move { request.send().await.unwrap().status() }
    };
    for address in ["10.50.1.1", "10.50.1.1", "192.0.2.7"] {
        assert_eq!(token_from(address).await, StatusCode::OK);
    }
    let admin = app.admin_token().await;
    let path = format!("/v1/keys/{id}");
    let saved = app.patch_with(&admin, &path, &json!({"allowed_cidrs": ["10.50.0.0/16"]})).await;
    assert_eq!(saved.status(), StatusCode::OK);
    let preview = |cidrs: Value| preview_ranges(&app, &admin, &id, cidrs);
    // Wider: 192.0.2.7 is outside both, refused already; nothing to warn of.
    let widened = preview(json!(["10.0.0.0/8"])).await;
    assert_eq!(widened["callers_refused"], Value::Null, "{widened}");
    let warnings = widened["warnings"].to_string();
    assert!(!warnings.contains("narrower"), "widening is not narrowing: {warnings}");
    // Narrower: only the caller it newly refuses is counted.
    let narrowed = preview(json!(["10.50.1.0/24"])).await;
    assert_eq!(narrowed["callers_refused"], Value::Null, "10.50.1.1 is still allowed");
    assert!(narrowed["warnings"].to_string().contains("narrower IP ranges"), "{narrowed}");
    let narrowed = preview(json!(["10.50.0.0/24"])).await;
    assert_eq!(
        narrowed["callers_refused"],
        json!({"days": 7, "exchanges": 2, "addresses": [{"address": "10.50.1.1", "exchanges": 2}]})
    );
    assert!(narrowed["warnings"].to_string().contains("narrower IP ranges"), "{narrowed}");
}

async fn usage_survives_a_clean_shutdown(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.new_client("flushed", &["read:a"]).await;
    for _ in 0..4 {
        app.token_basic(&id, &secret, &[]).await;
    }
    let app = app.restart().await;
    assert_eq!(app.stored_issued(&id).await, 4, "counted before the restart, flushed at shutdown");
}

async fn pagination_visits_every_key_once_while_keys_are_created(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let mut existing = HashSet::new();
    for i in 0..23 {
        let body =
            app.post_with(&admin, "/v1/keys", &json!({"name": format!("page-{i:02}")})).await;
        let body: Value = body.json().await.unwrap();
        existing.insert(body["id"].as_str().unwrap().to_string());
    }
    existing.insert(app.admin_id.clone());
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut created_during = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/keys?limit=5&cursor={c}"),
            None => "/v1/keys?limit=5".to_string(),
        };
        let page: Value = app.get_json(&admin, &path).await;
        seen.extend(
            page["data"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap().to_string()),
        );
        // Keys created between pages.
        let created = app
            .post_with(&admin, "/v1/keys", &json!({"name": format!("late-{created_during}")}))
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        created_during += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(created_during < 50, "pagination does not end");
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no key twice");
    assert!(existing.iter().all(|id| unique.contains(id)), "every key that existed was visited");

    let bad = app.get_with(&admin, "/v1/keys?cursor=%%%").await;
    assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let bad = app.get_with(&admin, "/v1/keys?cursor=bm90LWEtY3Vyc29y").await;
    assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
}

async fn listing_filters_by_status_environment_type_and_creator(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    app.create_key(json!({"name": "Prod Gateway", "type": "gateway"})).await;
    app.create_key(json!({"name": "Staging Worker", "environment": "staging"})).await;
    let (gone, _) = app.new_client("Old Worker", &[]).await;
    app.post_with(&admin, &format!("/v1/keys/{gone}/deactivate"), &json!({})).await;

    let names = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap().to_string())
            .collect()
    };
    let worker: Value = app.get_json(&admin, "/v1/keys?q=WORKER").await;
    assert_eq!(names(&worker), ["Staging Worker"], "default status is active; search ignores case");
    let inactive: Value = app.get_json(&admin, "/v1/keys?status=inactive").await;
    assert_eq!(names(&inactive), ["Old Worker"]);
    let staging: Value = app.get_json(&admin, "/v1/keys?environment=staging").await;
    assert_eq!(names(&staging), ["Staging Worker"]);
    let gateways: Value = app.get_json(&admin, "/v1/keys?type=gateway").await;
    assert_eq!(names(&gateways), ["Prod Gateway"]);
    let mine: Value = app
        .get_with(&admin, &format!("/v1/keys?created_by={}&status=all", app.admin_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["data"].as_array().unwrap().len(), 3);
    let bad = app.get_with(&admin, "/v1/keys?status=sleeping").await;
    assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
}

async fn audit_records_actor_time_ip_target_and_changes_without_secrets(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let created =
        app.create_key(json!({"name": "audited", "secret": "audited-legacy-secret-1"})).await;
    let id = created["id"].as_str().unwrap();
    app.patch_with(&admin, &format!("/v1/keys/{id}"), &json!({"description": "now described"}))
        .await;
    let rotated: Value = app.post_json(&admin, &format!("/v1/keys/{id}/rotate"), &json!({})).await;
    let new_secret = rotated["client_secret"].as_str().unwrap();

    let page: Value = app
        .get_with(&admin, &format!("/v1/audit?target_id={id}&limit=2"))
        .await
        .json()
        .await
        .unwrap();
    let events = page["data"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["action"], "key.rotate");
    assert_eq!(events[1]["action"], "key.update");
    assert_eq!(events[1]["details"]["description"], json!({"from": "", "to": "now described"}));
    for e in events {
        assert_eq!(e["actor"], app.admin_id.as_str());
        assert_eq!(e["actor_ip"], "127.0.0.1");
        assert_eq!(e["target_type"], "key");
        assert!(e["at"].as_str().unwrap().ends_with('Z'));
    }
    let cursor = page["next_cursor"].as_str().expect("a third event remains");
    let rest: Value = app
        .get_with(&admin, &format!("/v1/audit?target_id={id}&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["data"][0]["action"], "key.create");
    assert_eq!(rest["next_cursor"], Value::Null);

    let by_action: Value = app.get_json(&admin, "/v1/audit?action=key.rotate").await;
    assert_eq!(by_action["data"].as_array().unwrap().len(), 1);

    let everything = app.get_with(&admin, "/v1/audit?limit=100").await.text().await.unwrap();
    for secret in ["audited-legacy-secret-1", new_secret, app.admin_secret.as_str()] {
        assert!(!everything.contains(secret), "a secret is in the audit log");
    }
}

async fn audit_filters_by_address_and_time_range(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let start = app.clock_now();
    app.clock.advance(100);
    app.create_key(serde_json::json!({"name": "later"})).await;
    let at = |s: i64| keymint::clock::rfc3339(s);
    let get = |query: String| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let page: serde_json::Value = app.get_json(&admin, &format!("/v1/audit?{query}")).await;
            page["data"].as_array().unwrap().iter().map(|e| e["action"].clone()).collect::<Vec<_>>()
        }
    };
    assert_eq!(get(format!("from={}", at(start + 50))).await, ["key.create"]);
    let all = get(String::new()).await;
    assert_eq!(get(format!("to={}", at(start + 50))).await.len(), all.len() - 1, "all but one");
    assert_eq!(get("actor_ip=127.0.0.1".into()).await, ["key.create"], "made over HTTP");
    assert!(get("actor_ip=203.0.113.9".into()).await.is_empty());
    let bad = app.get_with(&admin, "/v1/audit?from=yesterday").await;
    let problem = assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(problem["errors"][0]["field"], "from");
}

async fn keys_to_review_are_listed_by_hygiene_check(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    app.create_key(
        json!({"name": "forever", "scopes": ["read:a"], "allowed_cidrs": ["10.0.0.0/8"]}),
    )
    .await;
    app.create_key(json!({
        "name": "bounded", "scopes": ["read:a"], "allowed_cidrs": ["0.0.0.0/0"], "expires_in": "30d"
    }))
    .await;
    let names = |check: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let page: Value = app
                .get_with(&admin, &format!("/v1/keys?hygiene={check}"))
                .await
                .json()
                .await
                .unwrap();
            let mut names: Vec<String> = page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["name"].as_str().unwrap().to_string())
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(names("never-expires").await, ["forever", "platform-admin"]);
    assert_eq!(names("any-address").await, ["bounded", "platform-admin"]);
    assert_eq!(names("never-used").await, ["bounded", "forever"], "the admin signed in");
    assert!(names("no-scope").await.is_empty());
    assert!(names("unused-90d").await.is_empty(), "all created today");
    let counts = |admin: String| {
        let app = &app;
        async move {
            let report: Value = app.get_json(&admin, "/v1/hygiene").await;
            let counts: Vec<(String, i64)> = report["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| (c["check"].as_str().unwrap().to_string(), c["keys"].as_i64().unwrap()))
                .collect();
            counts
        }
    };
    let expected = |unused: i64| {
        [
            ("never-expires", 2),
            ("never-used", 2),
            ("unused-90d", unused),
            ("any-address", 2),
            ("no-scope", 0),
        ]
        .map(|(c, n)| (c.to_string(), n))
        .to_vec()
    };
    assert_eq!(counts(admin.clone()).await, expected(0), "each check counts what it lists");
    app.clock.advance(91 * 86_400);
    let admin = app.admin_token().await;
    let after = counts(admin.clone()).await;
    assert_eq!(after[2], ("unused-90d".to_string(), 1), "{after:?}");
    let page: Value = app.get_json(&admin, "/v1/keys?hygiene=unused-90d").await;
    let stale: Vec<&str> =
        page["data"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(stale, ["forever"], "expired keys are not active; the admin was just used");
    for bad in ["messy", ""] {
        let bad = app.get_with(&admin, &format!("/v1/keys?hygiene={bad}")).await;
        let problem = assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        assert_eq!(problem["errors"][0]["field"], "hygiene");
    }
}

async fn keys_sort_by_last_use_creation_and_expiry_across_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_key(json!({"name": "sorted-a", "expires_in": "30d"})).await;
    app.clock.advance(1);
    let b = app.create_key(json!({"name": "sorted-b", "expires_in": "7d"})).await;
    app.clock.advance(1);
    let c = app.create_key(json!({"name": "sorted-c"})).await;
    let token = |key: &Value| {
        let (id, secret) =
            (key["client_id"].as_str().unwrap(), key["client_secret"].as_str().unwrap());
        (id.to_string(), secret.to_string())
    };
    let (id, secret) = token(&b);
    assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK);
    app.clock.advance(100);
    let (id, secret) = token(&c);
    assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK);
    let admin = app.admin_token().await;
    let order = |sort: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let mut names = Vec::new();
            let mut cursor = String::new();
            loop {
                let path = format!("/v1/keys?q=sorted-&sort={sort}&limit=1{cursor}");
                let page: Value = app.get_json(&admin, &path).await;
                names.extend(
                    page["data"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|k| k["name"].as_str().unwrap().to_string()),
                );
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = format!("&cursor={next}"),
                    None => break names,
                }
            }
        }
    };
    assert_eq!(order("last_used").await, ["sorted-a", "sorted-b", "sorted-c"], "never used first");
    assert_eq!(order("-last_used").await, ["sorted-c", "sorted-b", "sorted-a"]);
    assert_eq!(order("expires").await, ["sorted-b", "sorted-a", "sorted-c"], "never expiring last");
    assert_eq!(order("-expires").await, ["sorted-c", "sorted-a", "sorted-b"]);
    assert_eq!(order("-created").await, ["sorted-c", "sorted-b", "sorted-a"]);
    assert_eq!(order("created").await, ["sorted-a", "sorted-b", "sorted-c"]);
    let bad = app.get_with(&admin, "/v1/keys?sort=name").await;
    let problem = assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(problem["errors"][0]["field"], "sort");
}

on_both_backends!(
    keys_sort_by_last_use_creation_and_expiry_across_pages,
    keys_to_review_are_listed_by_hygiene_check,
    audit_filters_by_address_and_time_range,
    usage_counts_match_the_exchanges_made,
    usage_ranges_are_checked,
    an_edit_preview_counts_the_recent_exchanges_a_narrower_range_refuses,
    an_edit_preview_warns_only_of_callers_the_old_ranges_allowed,
    usage_survives_a_clean_shutdown,
    pagination_visits_every_key_once_while_keys_are_created,
    listing_filters_by_status_environment_type_and_creator,
    audit_records_actor_time_ip_target_and_changes_without_secrets,
);
