//! The failed-authentication limit across instances: on PostgreSQL every instance
//! counts into one shared window, so attempts split across instances reach one
//! limit (each instance learns of the others' failures with its own next one).

use reqwest::StatusCode;

use crate::helpers::{spawn_app_with, Backend};
use crate::on_postgres_only;

async fn failures_split_across_instances_reach_one_limit() {
    let a = spawn_app_with(Backend::Postgres, &["--auth-failures-per-ip", "4"]).await;
    let b = a.spawn_peer().await;
    let (id, _secret) = a.new_client("guessed", &["read:a"]).await;
    let wrong = |n: u32| format!("legacy-guess-{n}");
    // Two failures on each instance: four in all, the limit.
    for (n, app) in [&a, &b, &a, &b].into_iter().enumerate() {
        let status = app.token_basic(&id, &wrong(n as u32), &[]).await.status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    // B counted the fourth: it is locked out at once, without asking the database.
    assert_eq!(b.token_basic(&id, &wrong(10), &[]).await.status(), StatusCode::TOO_MANY_REQUESTS);
    // A last counted the third; its next failure shows it the shared count.
    assert_eq!(a.token_basic(&id, &wrong(11), &[]).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(a.token_basic(&id, &wrong(12), &[]).await.status(), StatusCode::TOO_MANY_REQUESTS);
    // Five failures got through, not the eight two separate counts would allow.
    let (failures,): (i64,) =
        sqlx::query_as("SELECT failures FROM auth_failures WHERE subject = 'ip:127.0.0.1'")
            .fetch_one(&sqlx::PgPool::connect(&a.db.url).await.unwrap())
            .await
            .unwrap();
    assert_eq!(failures, 5);
}

on_postgres_only!(postgres: failures_split_across_instances_reach_one_limit);
