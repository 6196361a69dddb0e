//! Usage that must not be lost or misreported: a flush under way at shutdown, the
//! counts of a key deleted before they were written, and the hour under way.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{captured_logs, spawn_app_with, wait_until, Backend, TableLock, TestApp};
use crate::{on_both_backends, on_postgres_only};

/// Issues `n` tokens to a new key, then waits until the periodic flush has taken
/// them out of memory and is stuck on `lock`.
async fn tokens_in_a_stuck_flush(app: &TestApp, name: &str, n: usize) -> (String, TableLock) {
    let (id, secret) = app.new_client(name, &["read:a"]).await;
    app.app.usage.flush().await.unwrap();
    let lock = TableLock::take(&app.db, "usage_log").await;
    for _ in 0..n {
        assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK);
    }
    let usage = app.app.usage.clone();
    wait_until(Duration::from_secs(10), "a flush takes the tokens and waits", || {
        let usage = usage.clone();
        async move { usage.in_flight().tally.issued >= n as i64 }
    })
    .await;
    (id, lock)
}

async fn a_flush_under_way_at_shutdown_is_finished_and_loses_nothing(backend: Backend) {
    let app = spawn_app_with(backend, &["--usage-flush-interval", "1"]).await;
    let (id, lock) = tokens_in_a_stuck_flush(&app, "counted", 50).await;
    // The shutdown starts while the flush waits for the lock, which is then released.
    let restarting = tokio::spawn(app.restart());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!restarting.is_finished(), "the shutdown waits for the flush under way");
    lock.release().await;
    let app = restarting.await.unwrap();
    assert_eq!(app.stored_issued(&id).await, 50, "every token counted before the shutdown");
}

async fn usage_a_shutdown_cannot_write_is_logged_with_its_numbers(backend: Backend) {
    let app =
        spawn_app_with(backend, &["--usage-flush-interval", "1", "--request-timeout", "1"]).await;
    let (id, lock) = tokens_in_a_stuck_flush(&app, "lost", 37).await;
    let restarting = tokio::spawn(app.restart());
    // Held past the shutdown's limit (--request-timeout): the flush is abandoned.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    lock.release().await;
    let app = restarting.await.unwrap();
    let logs = captured_logs();
    let line = logs
        .lines()
        .find(|l| {
            l.contains("could not flush usage counters at shutdown")
                && l.contains("lost 37 tokens issued")
        })
        .unwrap_or_else(|| panic!("the loss is logged with its numbers:\n{logs}"));
    assert!(line.contains("not written within 1 s"), "and why: {line}");
    assert_eq!(app.stored_issued(&id).await, 0, "what the log says was lost was lost");
}

async fn a_deleted_keys_counts_are_kept(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    let admin = app.admin_token().await;
    let (id, secret) = app.new_client("short-lived", &["read:a"]).await;
    for _ in 0..3 {
        assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK);
    }
    // Deleted while its counts are still in memory.
    let deleted = app.delete_with(&admin, &format!("/v1/keys/{id}")).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let usage: Value = app.get_json(&admin, "/v1/usage").await;
    let top = usage["top_keys"].as_array().unwrap();
    let entry = top.iter().find(|k| k["key_id"] == id.as_str());
    let entry = entry.unwrap_or_else(|| panic!("the deleted key's tokens are counted: {usage}"));
    assert_eq!(entry["issued"], 3, "{entry}");
    assert_eq!(entry["name"], Value::Null, "a deleted key has no name: {entry}");
    assert_eq!(app.stored_issued(&id).await, 3);
}

async fn the_hour_under_way_is_counted_from_its_first_second(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    let (id, secret) = app.new_client("on-the-hour", &["read:a"]).await;
    // The service clock stands on the first second of an hour (a read at
    // hh:00:00.4 sees hh:00:00).
    let now = app.clock_now();
    app.clock.advance(3_600 - now.rem_euclid(3_600));
    let admin = app.admin_token().await;
    let hour = keymint::clock::rfc3339(app.clock_now());
    assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK);
    let path = format!("/v1/keys/{id}/usage?granularity=hour");
    let usage: Value = app.get_json(&admin, &path).await;
    let last = usage["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["start"], hour.as_str(), "the hour under way is the last bucket: {usage}");
    assert_eq!(last["issued"], 1, "{usage}");
    // An explicit end within that first second covers it too.
    let to = format!("{}.400Z", hour.trim_end_matches('Z'));
    let path = format!("/v1/keys/{id}/usage?granularity=hour&to={to}");
    let usage: Value = app.get_json(&admin, &path).await;
    assert_eq!(usage["total"]["issued"], 1, "{usage}");
}

/// A shutdown that meets a fold under way (held here by a lock on the hourly rows)
/// cuts the fold short: everything counted was flushed to the log, so nothing is
/// lost, and the log says so instead of reporting a loss.
async fn a_fold_cut_short_at_shutdown_loses_nothing() {
    let app = spawn_app_with(
        Backend::Postgres,
        &["--usage-flush-interval", "1", "--request-timeout", "1"],
    )
    .await;
    let (id, secret) = app.new_client("folded-later", &["read:a"]).await;
    for _ in 0..5 {
        assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK);
    }
    let lock = TableLock::take(&app.db, "usage_hours").await;
    // The next background fold is due, and waits on the lock once it has flushed.
    app.clock.advance(61);
    let usage = app.app.usage.clone();
    wait_until(Duration::from_secs(10), "the tokens flushed to the log", || {
        let usage = usage.clone();
        async move { usage.unwritten().is_empty() }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let restarting = tokio::spawn(app.restart());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    lock.release().await;
    let app = restarting.await.unwrap();
    let logs = captured_logs();
    assert!(
        logs.contains("stopped a usage fold under way; nothing counted is lost"),
        "the shutdown says what it cut short:\n{logs}"
    );
    assert_eq!(app.stored_issued(&id).await, 5, "every token, folded by the next fold");
}

/// Counts `n` issued tokens for each of `ids` straight into the aggregator.
fn count_issued(app: &TestApp, ids: impl Iterator<Item = String>, workspace_id: &str) {
    for id in ids {
        app.app.usage.count(&id, Some(workspace_id), keymint::vocab::Outcome::Issued);
    }
}

/// A flush of more keys than one write carries writes them in turns, each bounded
/// in memory; a turn the database refuses puts back what it and the turns after
/// it held, and only that, so every count is written exactly once.
async fn a_flush_of_many_keys_writes_each_count_once_when_a_turn_fails(backend: Backend) {
    let app = spawn_app_with(backend, &["--usage-flush-interval", "3600"]).await;
    let (real, _) = app.new_client("real", &["read:a"]).await;
    let workspace = app.app.store.find_key(&real).await.unwrap().unwrap().workspace_id;
    // Tokens the set-up issued (the admin's), counted and written first.
    app.app.usage.settle().await.unwrap();
    let before = issued_in(&app, &workspace).await;
    let sqlite = matches!(backend, Backend::Sqlite);
    let poison = if sqlite {
        "CREATE TRIGGER poison BEFORE INSERT ON usage_log WHEN NEW.key_id = 'poison' \
         BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
    } else {
        "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF NEW.key_id = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER poison BEFORE INSERT ON usage_log FOR EACH ROW EXECUTE FUNCTION poison()"
    };
    app.db.execute(poison).await;
    let keys = 25_000;
    count_issued(&app, (0..keys).map(|i| format!("bulk{i}")), &workspace);
    count_issued(&app, std::iter::once("poison".to_string()), &workspace);

    // Keys are taken in no set order: flush until a turn before the poisoned one
    // was written (each try puts everything unwritten back in a new order).
    for _ in 0..20 {
        assert!(app.app.usage.flush().await.is_err(), "the turn holding the poisoned row fails");
        if app.app.usage.unwritten().keys <= keys {
            break;
        }
    }
    let left = app.app.usage.unwritten();
    assert!(left.keys >= 1 && left.keys <= keys, "some turns written, the rest put back: {left:?}");
    assert_eq!(left.tally.issued, left.keys as i64, "each key put back once: {left:?}");

    app.db
        .execute(if sqlite { "DROP TRIGGER poison" } else { "DROP TRIGGER poison ON usage_log" })
        .await;
    app.app.usage.settle().await.unwrap();
    assert!(app.app.usage.unwritten().is_empty());
    let issued = issued_in(&app, &workspace).await - before;
    assert_eq!(issued, keys as i64 + 1, "every count written once");
}

/// Tokens issued in `workspace_id` in the last day, as the store reads them.
async fn issued_in(app: &TestApp, workspace_id: &str) -> i64 {
    let now = app.clock_now();
    let query = keymint::store::UsageQuery {
        granularity: keymint::store::Granularity::Hour,
        key_ids: vec![],
        workspace_id: Some(workspace_id.to_string()),
        owner: None,
        from: now - 86_400,
        to: now + 3_600,
    };
    let rows = app.app.store.usage(&query, keymint::store::UsageGroup::Bucket).await.unwrap();
    rows.iter().map(|r| r.tally.issued).sum()
}

on_postgres_only!(postgres_only: a_fold_cut_short_at_shutdown_loses_nothing);

on_both_backends!(
    a_flush_under_way_at_shutdown_is_finished_and_loses_nothing,
    usage_a_shutdown_cannot_write_is_logged_with_its_numbers,
    a_deleted_keys_counts_are_kept,
    the_hour_under_way_is_counted_from_its_first_second,
    a_flush_of_many_keys_writes_each_count_once_when_a_turn_fails,
);
