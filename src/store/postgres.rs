//! PostgreSQL backend: the production store that several instances share.
//! Migrations run under sqlx's advisory lock, so instances starting together
//! migrate once.

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{Pool, Postgres};

/// A [`super::Store`] on a PostgreSQL database.
pub struct PostgresStore {
    pool: Pool<Postgres>,
    /// The `LISTEN keymint_changes` connection, opened on first use.
    listener: tokio::sync::Mutex<Option<PgListener>>,
}

/// The channel every change is announced on.
const CHANNEL: &str = "keymint_changes";

impl PostgresStore {
    /// Connects to `url` and applies `migrations/postgres`.
    pub(super) async fn open(url: &str, opening: super::Opening) -> anyhow::Result<Self> {
        // One connection first: its error says what is wrong (refused, unknown
        // database, password), where a pool would only time out.
        let options: sqlx::postgres::PgConnectOptions = url.parse().map_err(|e| {
            anyhow::anyhow!("invalid PostgreSQL URL {}: {e}", super::redact_url(url))
        })?;
        {
            use sqlx::Connection;
            match sqlx::PgConnection::connect_with(&options).await {
                Ok(conn) => conn.close().await.ok(),
                Err(e) => return Err(connect_error(url, &options, e)),
            };
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // Open at start, so the first requests after it (keys loaded into the
            // cache) do not each wait for a connection's TLS handshake.
            .min_connections(MIN_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(5))
            // A connection in use moments ago is handed out as it is; one idle for
            // a while is checked first (the server may have closed it), and a dead
            // one is replaced before anyone sees it. Checking every one would cost
            // every batch of key loads or JWT ids a second round trip.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    use sqlx::Connection;
                    if meta.idle_for >= CHECK_IDLE_AFTER {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(queries::prepare_key_loads)
            .connect_with(options)
            .await
            .with_context(|| {
                format!("cannot connect to PostgreSQL at {}", super::redact_url(url))
            })?;
        let found = schema_queries::found(&pool).await.context("reading the schema version")?;
        let migrate = match super::schema::plan(url, opening, &known(), found.as_ref()) {
            Ok(migrate) => migrate,
            Err(e) => {
                pool.close().await;
                return Err(e);
            }
        };
        if migrate {
            let mut migrator = sqlx::migrate!("migrations/postgres");
            // Migrations newer than these were checked by `plan`: all expands.
            migrator.set_ignore_missing(true);
            migrator.run(&pool).await.context("applying PostgreSQL migrations")?;
        }
        Ok(PostgresStore { pool, listener: tokio::sync::Mutex::new(None) })
    }
}

/// Connections the pool keeps open, used or not.
const MIN_CONNECTIONS: u32 = 4;

/// A pooled connection idle this long is checked before it is handed out.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);

/// Why a connection to `url` failed, said once, with what to do.
/// The versions of this keymint's migrations.
fn known() -> Vec<i64> {
    sqlx::migrate!("migrations/postgres").iter().map(|m| m.version).collect()
}

/// Which of keymint's bookkeeping tables exist.
const TABLES: &str = "SELECT to_regclass('_sqlx_migrations') IS NOT NULL, \
    to_regclass('schema_compatibility') IS NOT NULL";

fn connect_error(
    url: &str,
    options: &sqlx::postgres::PgConnectOptions,
    e: sqlx::Error,
) -> anyhow::Error {
    let at = super::redact_url(url);
    let (host, port) = (options.get_host(), options.get_port());
    let why = match &e {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => format!(
            "the connection to {host}:{port} was refused: is PostgreSQL running there, and \
             is --database-url right?"
        ),
        sqlx::Error::Io(io) => format!("{host}:{port}: {io}{}", certificate_hint(&io.to_string())),
        sqlx::Error::Tls(tls) => {
            format!("{host}:{port}: {tls}{}", certificate_hint(&tls.to_string()))
        }
        sqlx::Error::Database(db) if db.code().as_deref() == Some("3D000") => format!(
            "{}; create it (createdb {}) or check --database-url",
            db.message(),
            options.get_database().unwrap_or_default()
        ),
        sqlx::Error::Database(db) if db.code().as_deref() == Some("28P01") => {
            format!("{}; check the user and password in --database-url", db.message())
        }
        sqlx::Error::Database(db) => db.message().to_string(),
        other => other.to_string(),
    };
    anyhow::anyhow!("cannot connect to PostgreSQL at {at}: {why}")
}

/// What to do about a server certificate that `sslmode=verify-full` (or
/// `verify-ca`) refused, from the TLS error's text.
fn certificate_hint(error: &str) -> &'static str {
    if error.contains("UnknownIssuer") {
        "; keymint does not trust the CA that signed PostgreSQL's certificate: name that \
         CA's certificate with sslrootcert=/path/to/root.crt in --database-url (a managed \
         database's provider publishes it)"
    } else if error.contains("not valid for name") {
        "; connect by a host name the certificate holds (it names them above), or use \
         sslmode=verify-ca to check the CA only"
    } else {
        ""
    }
}

impl PostgresStore {
    async fn begin_tx(&self) -> Result<sqlx::Transaction<'_, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    async fn close_pool(&self) {
        if let Some(listener) = self.listener.lock().await.take() {
            drop(listener);
        }
        self.pool.close().await;
    }

    /// Waits for a `NOTIFY` on the change channel. A lost connection is an error (the
    /// caller resyncs, since notifications sent meanwhile are gone); the next call
    /// reconnects.
    async fn wait_for_notification(&self, timeout: Duration) -> super::StoreResult<bool> {
        let mut slot = self.listener.lock().await;
        if slot.is_none() {
            let mut listener = PgListener::connect_with(&self.pool).await?;
            listener.listen(CHANNEL).await?;
            *slot = Some(listener);
        }
        let Some(listener) = slot.as_mut() else {
            return Ok(false);
        };
        match tokio::time::timeout(timeout, listener.try_recv()).await {
            Err(_elapsed) => Ok(false),
            Ok(Ok(Some(_))) => Ok(true),
            Ok(Ok(None)) => {
                *slot = None;
                Err(super::StoreError::unavailable("the notification connection was lost"))
            }
            Ok(Err(e)) => {
                *slot = None;
                Err(e.into())
            }
        }
    }
}

// What `queries.rs` needs to know of this backend.
type This = PostgresStore;
type Db = Postgres;
const BACKEND: &str = "postgres";
/// Every change is announced on [`CHANNEL`].
const NOTIFY: Option<&str> = Some("SELECT pg_notify('keymint_changes', $1)");
/// Held until commit: transactions that write changes commit in id order.
const SERIALIZE: Option<&str> = Some("SELECT pg_advisory_xact_lock(7205759403792793)");
/// Last-use marks commit without waiting for their WAL to reach the disk: a
/// database crash may lose the last fraction of a second of them (a key's last use
/// shows a moment earlier), never a counter, and each of a flush's hundreds of
/// small transactions stops paying a disk flush.
const RELAXED_COMMIT: Option<&str> = Some("SET LOCAL synchronous_commit = off");
/// Roll-ups of hourly usage into days run one at a time across instances (a
/// second one waits, then finds the hours already moved).
const ROLLUP_LOCK: Option<&str> = Some("LOCK TABLE usage_days IN SHARE ROW EXCLUSIVE MODE");
/// A fold of the usage log sees one snapshot: what it deletes is exactly what it
/// added up, while instances go on appending.
const FOLD_ISOLATION: Option<&str> = Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
/// Folds run one at a time across instances. Taken before the fold's first read
/// (so its snapshot follows the fold before it); appends do not wait for it.
const FOLD_LOCK: Option<&str> = Some("LOCK TABLE usage_folds IN SHARE ROW EXCLUSIVE MODE");
/// Instances claiming webhook deliveries at once each take rows the others did not.
const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";

/// A derived table `v` with `columns` (name, SQL type), read from a JSON array of
/// arrays bound as `$1` (one array per row, values in column order).
fn json_rows(columns: &[(&str, &str)]) -> String {
    let fields: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, (name, ty))| format!("CAST(e->>{i} AS {ty}) AS {name}"))
        .collect();
    format!("(SELECT {} FROM jsonb_array_elements(CAST($1 AS JSONB)) AS e) AS v", fields.join(", "))
}

/// Appends `bulk`'s rows to `table` with one `COPY`: the cheapest way PostgreSQL
/// has to take many rows (no statement per row, no arrays to unpack).
async fn append_bulk(
    conn: &mut sqlx::PgConnection,
    table: &str,
    bulk: super::bulk::Bulk,
) -> Result<(), sqlx::Error> {
    let data = bulk.copy_text();
    let statement = format!("COPY {table} ({}) FROM STDIN", bulk.names().join(", "));
    let mut copy = conn.copy_in_raw(&statement).await?;
    copy.send(data).await?;
    copy.finish().await?;
    Ok(())
}

#[path = "schema_queries.rs"]
#[expect(clippy::duplicate_mod, reason = "compiled once for each backend's types")]
mod schema_queries;

#[path = "queries.rs"]
#[expect(clippy::duplicate_mod, reason = "one body of SQL, compiled once for each backend's types")]
mod queries;
