//! Memory bounded by design: with more keys in use than the key cache may hold,
//! every key still gets its tokens over HTTP and the cache stays within its budget.

use reqwest::StatusCode;

use crate::helpers::{spawn_app_with, Backend};
use crate::on_both_backends;

on_both_backends!(more_keys_than_the_cache_holds_all_work_and_memory_stays_in_budget);

async fn more_keys_than_the_cache_holds_all_work_and_memory_stays_in_budget(backend: Backend) {
    let app = spawn_app_with(backend, &["--key-cache-mb", "1"]).await;
    let keys = 1_400;
    let mut clients = Vec::new();
    for i in 0..keys {
        clients.push(app.new_client(&format!("client-{i}"), &[]).await);
    }
    for round in 0..2 {
        for (id, secret) in &clients {
            let response = app.token_basic(id, secret, &[]).await;
            assert_eq!(response.status(), StatusCode::OK, "round {round}, key {id}");
        }
    }
    let cache = &app.app.cache;
    assert!(cache.weighed_bytes() <= 1 << 20, "{} bytes held", cache.weighed_bytes());
    assert!(cache.len() < keys, "{} of {keys} keys held: the budget evicts", cache.len());
    assert!(cache.len() > keys / 4, "only {} keys held", cache.len());
}
