//! Databases for tests, and what injures them: another session's lock, a cut
//! connection.

use std::path::PathBuf;
use std::sync::Arc;

use super::Backend;

/// A database for one test, dropped (PostgreSQL) when the test ends.
pub struct TestDatabase {
    pub url: String,
    pg: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> TestDatabase {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => TestDatabase {
                url: format!("sqlite://{}", dir.path().join("keymint.db").display()),
                pg: None,
                _dir: dir,
            },
            Backend::Postgres => {
                use sqlx::Connection;
                let admin_url =
                    std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL is set");
                let name = format!(
                    "keymint_test_{}",
                    keymint::apikeys::secret::random_base62(12).to_lowercase()
                );
                let mut conn = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create database");
                conn.close().await.ok();
                let base = admin_url.split('?').next().unwrap_or(&admin_url);
                let url = format!("{}/{name}", &base[..base.rfind('/').expect("URL has a path")]);
                TestDatabase { url, pg: Some((admin_url, name)), _dir: dir }
            }
        }
    }

    /// The database at `url`, owned by someone else (nothing is dropped with it).
    pub fn at(url: String) -> TestDatabase {
        TestDatabase { url, pg: None, _dir: tempfile::tempdir().expect("temp dir") }
    }

    /// Sends this database's connections through 127.0.0.1:`port` (a [`DbProxy`]).
    pub fn route_through(&mut self, port: u16) {
        let (scheme, rest) = self.url.split_once("://").expect("URL has a scheme");
        let (authority, path) = rest.split_once('/').expect("URL has a path");
        let user = authority.rsplit_once('@').map(|(u, _)| format!("{u}@")).unwrap_or_default();
        self.url = format!("{scheme}://{user}127.0.0.1:{port}/{path}");
    }

    pub fn dir(&self) -> PathBuf {
        self._dir.path().to_path_buf()
    }

    /// Runs SQL (one statement, or several separated by `;`) on this database from
    /// a connection of its own, as another program (or another keymint version) would.
    pub async fn execute(&self, sql: &str) {
        use sqlx::Connection;
        if self.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.expect("connect");
            sqlx::raw_sql(sql).execute(&mut conn).await.expect("statement");
            conn.close().await.ok();
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.expect("connect");
            sqlx::raw_sql(sql).execute(&mut conn).await.expect("statement");
            conn.close().await.ok();
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.pg.take() else {
            return;
        };
        // Best effort, on a thread of its own: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// A TCP proxy in front of PostgreSQL that a test can cut and restore, to inject a
/// database outage.
pub struct DbProxy {
    pub port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
    cuts: tokio::sync::watch::Sender<u64>,
}

impl DbProxy {
    /// Proxies 127.0.0.1:<port> to `target` (host:port).
    pub async fn start(target: String) -> DbProxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (cuts, _) = tokio::sync::watch::channel(0u64);
        let (up2, cuts2) = (up.clone(), cuts.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let mut cut = cuts2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {} // cut: both sockets drop
                    }
                });
            }
        });
        DbProxy { port, up, cuts }
    }

    /// Drops every proxied connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A write lock held by another session, as a long transaction, a migration or a
/// backup holds one: keymint's writes to the locked table wait until it is released.
pub enum TableLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl TableLock {
    /// Locks `table` of `db` against writes (on SQLite, the whole file: SQLite
    /// has one writer at a time).
    pub async fn take(db: &TestDatabase, table: &str) -> TableLock {
        use sqlx::Connection;
        if db.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.expect("connect");
            sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await.expect("lock");
            TableLock::Sqlite(conn)
        } else {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::query("BEGIN").execute(&mut conn).await.expect("begin");
            sqlx::query(&format!("LOCK TABLE {table} IN EXCLUSIVE MODE"))
                .execute(&mut conn)
                .await
                .expect("lock");
            TableLock::Postgres(conn)
        }
    }

    /// Ends the transaction, releasing the lock.
    pub async fn release(self) {
        use sqlx::Connection;
        match self {
            TableLock::Sqlite(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.expect("release");
                conn.close().await.ok();
            }
            TableLock::Postgres(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.expect("release");
                conn.close().await.ok();
            }
        }
    }
}
