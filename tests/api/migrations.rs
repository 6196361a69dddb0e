//! Migrations that move data: a database written by the previous release keeps
//! every count it held once it is upgraded.

use crate::helpers::{Backend, TestDatabase};

crate::on_both_backends!(daily_usage_written_beside_hours_is_not_counted_twice_after_the_upgrade);

/// Applies the migrations of `backend` up to and including `last` to `db`, as the
/// release whose newest migration that is would.
pub async fn apply_migrations_up_to(db: &TestDatabase, backend: Backend, last: i64) {
    let name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(name);
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(source).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let version: i64 = file.split('_').next().unwrap().parse().unwrap();
        if version <= last {
            std::fs::copy(&path, dir.path().join(&file)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    match backend {
        Backend::Sqlite => {
            let options = db.url.parse::<sqlx::sqlite::SqliteConnectOptions>().unwrap();
            let pool =
                sqlx::SqlitePool::connect_with(options.create_if_missing(true)).await.unwrap();
            migrator.run(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            migrator.run(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

async fn daily_usage_written_beside_hours_is_not_counted_twice_after_the_upgrade(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let day = 1_893_456_000;
    // As the previous release left it: day 1 complete in hours and in its daily row;
    // day 0 with its first hour already expired (only the later hour kept).
    let seed = format!(
        "INSERT INTO workspaces (id, name, created_at) VALUES ('ws', 'ws', 0); \
         INSERT INTO usage_hours (key_id, workspace_id, start, issued, failed) VALUES \
         ('k', 'ws', {h0}, 2, 0), ('k', 'ws', {d1}, 3, 1), ('k', 'ws', {h1}, 4, 0); \
         INSERT INTO usage_days (key_id, workspace_id, start, issued, failed) VALUES \
         ('k', 'ws', {day}, 7, 1), ('k', 'ws', {d1}, 7, 1), ('k', 'ws', {old}, 9, 0)",
        h0 = day + 3_600,
        d1 = day + 86_400,
        h1 = day + 86_400 + 3_600,
        old = day - 86_400,
    );
    let expected = [(day - 86_400, 9, 0), (day, 7, 1), (day + 86_400, 7, 1)];
    let query = keymint::store::UsageQuery {
        granularity: keymint::store::Granularity::Day,
        key_ids: vec!["k".into()],
        workspace_id: None,
        owner: None,
        from: day - 86_400,
        to: day + 2 * 86_400,
    };
    apply_migrations_up_to(&db, backend, 24).await;
    db.execute(&seed).await;
    let store = keymint::store::open(&db.url).await.expect("the upgrade applies");
    let days = store.usage(&query, keymint::store::UsageGroup::Bucket).await.unwrap();
    let totals: Vec<(i64, i64, i64)> =
        days.iter().map(|r| (r.start, r.tally.issued, r.tally.failed)).collect();
    assert_eq!(totals, expected, "each day's total is what the previous release showed");
    store.close().await;
}
