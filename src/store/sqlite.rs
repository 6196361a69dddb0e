//! SQLite backend: the embedded default. WAL journal, a busy timeout so concurrent
//! writers wait instead of failing, the file created if missing, foreign keys on,
//! and a small page cache per connection ([`PAGE_CACHE_KIB`]).

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};

/// Each connection's page cache, in KiB (SQLite's default is 2 000). The kernel
/// already caches the file, and the hot path reads keys from memory, so a larger
/// cache per connection would hold the same pages up to eight times over: with
/// eight connections the default came to 12 MB at the peak of a cold start.
pub const PAGE_CACHE_KIB: u32 = 512;

/// A [`super::Store`] on a SQLite file.
pub struct SqliteStore {
    pool: Pool<Sqlite>,
}

impl SqliteStore {
    /// Opens the database at `url` (creating it if `opening` allows) and applies
    /// `migrations/sqlite`.
    pub(super) async fn open(url: &str, opening: super::Opening) -> anyhow::Result<Self> {
        let create = opening.create;
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("invalid SQLite URL {url:?}"))?
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", format!("-{PAGE_CACHE_KIB}"))
            .foreign_keys(true);
        // SQLite has no advisory locks: processes starting together on one file take
        // turns through an OS file lock beside it while they create the file, switch
        // it to WAL and migrate it, so each migration runs once.
        let file = options.get_filename();
        let in_memory = file.as_os_str().is_empty() || file.to_string_lossy().contains(":memory:");
        if !create && !in_memory && !file.exists() {
            return Err(super::no_database(url, "the file does not exist"));
        }
        let lock_path = format!("{}-migrate-lock", file.display());
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("cannot open {lock_path}"))?;
        let lock = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
            .await
            .context("waiting for the migration lock")?
            .with_context(|| format!("cannot lock {lock_path}"))?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            // A connection to a file does not go away by itself: no ping (a round
            // trip to the connection's thread) before each use.
            .test_before_acquire(false)
            .after_connect(queries::prepare_key_loads)
            // A failed COMMIT (disk full) can leave a connection that believes it is
            // still in a transaction; it must never go back to the pool, or every
            // later BEGIN on it fails. Only a connection that is in one is checked
            // (the depth rises only by a BEGIN its caller saw answered): the ping
            // first lets a queued ROLLBACK run, so the rest cost no round trip to
            // the connection's thread.
            .after_release(|conn, _| {
                Box::pin(async move {
                    use sqlx::Connection;
                    if !conn.is_in_transaction() {
                        return Ok(true);
                    }
                    conn.ping().await?;
                    if conn.is_in_transaction() {
                        tracing::warn!("closing a database connection left inside a transaction");
                        return Ok(false);
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open SQLite database {url:?}"))?;
        let found = schema_queries::found(&pool).await.context("reading the schema version")?;
        let migrate = super::schema::plan(url, opening, &known(), found.as_ref());
        let migrated = match migrate {
            Ok(true) => {
                let mut migrator = sqlx::migrate!("migrations/sqlite");
                // Migrations newer than these were checked by `plan`: all expands.
                migrator.set_ignore_missing(true);
                migrator.run(&pool).await.context("applying SQLite migrations")
            }
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        };
        drop(lock);
        if let Err(e) = migrated {
            pool.close().await;
            return Err(e);
        }
        Ok(SqliteStore { pool })
    }
}

/// The versions of this keymint's migrations.
fn known() -> Vec<i64> {
    sqlx::migrate!("migrations/sqlite").iter().map(|m| m.version).collect()
}

/// Which of keymint's bookkeeping tables exist.
const TABLES: &str = "SELECT \
    EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'), \
    EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_compatibility')";

impl SqliteStore {
    /// Write transactions take the write lock up front (`BEGIN IMMEDIATE`), so a
    /// read-then-write never fails with "database is locked"; it waits (busy timeout).
    async fn begin_tx(&self) -> Result<sqlx::Transaction<'_, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// Checkpoints the WAL into the main file and closes every connection, so the
    /// database file alone is a complete copy.
    async fn close_pool(&self) {
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await {
            tracing::warn!(error = %crate::report::Chain(&e), "could not checkpoint the SQLite WAL at shutdown");
        }
        self.pool.close().await;
    }

    /// SQLite has no notifications; the feed polls.
    async fn wait_for_notification(&self, timeout: Duration) -> super::StoreResult<bool> {
        tokio::time::sleep(timeout).await;
        Ok(false)
    }
}

// What `queries.rs` needs to know of this backend.
type This = SqliteStore;
type Db = Sqlite;
const BACKEND: &str = "sqlite";
/// SQLite has no notifications; other processes poll the change feed.
const NOTIFY: Option<&str> = None;
/// SQLite has one writer at a time, so change ids commit in order by themselves.
const SERIALIZE: Option<&str> = None;
/// SQLite in WAL mode does not wait for the disk at each commit already.
const RELAXED_COMMIT: Option<&str> = None;
/// SQLite has one writer at a time: roll-ups of usage cannot overlap.
const ROLLUP_LOCK: Option<&str> = None;
/// SQLite has one writer at a time, from the fold's first statement (`BEGIN
/// IMMEDIATE`): no append can fall between its reads and its delete.
const FOLD_ISOLATION: Option<&str> = None;
/// SQLite has one writer at a time: folds cannot overlap.
const FOLD_LOCK: Option<&str> = None;
/// SQLite has one writer at a time: a claim cannot race another.
const SKIP_LOCKED: &str = "";

/// A derived table `v` with `columns` (name, SQL type), read from a JSON array of
/// arrays bound as `$1` (one array per row, values in column order).
fn json_rows(columns: &[(&str, &str)]) -> String {
    let fields: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, (name, _))| format!("json_extract(value, '$[{i}]') AS {name}"))
        .collect();
    format!("(SELECT {} FROM json_each($1)) AS v", fields.join(", "))
}

/// The derived table `v` of `bulk`'s columns, read from one JSON array of rows in `$1`.
fn bulk_source(bulk: &super::bulk::Bulk) -> String {
    let columns: Vec<(&str, &str)> =
        bulk.0.iter().map(|(name, column)| (*name, column.sql_type())).collect();
    json_rows(&columns)
}

/// Binds `bulk` as [`bulk_source`] reads it.
fn bind_bulk<'q>(
    query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    bulk: super::bulk::Bulk,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    query.bind(bulk.json_text())
}

/// Appends `bulk`'s rows to `table` in one statement.
async fn append_bulk(
    conn: &mut sqlx::SqliteConnection,
    table: &str,
    bulk: super::bulk::Bulk,
) -> Result<(), sqlx::Error> {
    let names = bulk.names().join(", ");
    let sql = format!("INSERT INTO {table} ({names}) SELECT {names} FROM {}", bulk_source(&bulk));
    bind_bulk(sqlx::query(&sql), bulk).execute(conn).await?;
    Ok(())
}

#[path = "schema_queries.rs"]
#[expect(clippy::duplicate_mod, reason = "compiled once for each backend's types")]
mod schema_queries;

#[path = "queries.rs"]
#[expect(clippy::duplicate_mod, reason = "one body of SQL, compiled once for each backend's types")]
mod queries;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_connection_keeps_a_small_page_cache() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        let store = SqliteStore::open(&url, super::super::Opening::MIGRATE).await.expect("open");
        // Two connections held at once: the pragma is set on each, not only the first.
        let mut first = store.pool.acquire().await.expect("connection");
        let mut second = store.pool.acquire().await.expect("connection");
        for conn in [&mut first, &mut second] {
            let (size,): (i64,) =
                sqlx::query_as("PRAGMA cache_size").fetch_one(&mut **conn).await.expect("pragma");
            assert_eq!(size, -i64::from(PAGE_CACHE_KIB), "negative: KiB, not pages");
        }
    }
}
