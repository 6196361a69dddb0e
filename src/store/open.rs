//! Opening the store a database URL names, and naming it in messages without
//! its password.

use std::sync::Arc;

use super::schema::Opening;
use super::{PostgresStore, SqliteStore, Store};

/// Opens the store named by `url` (`sqlite:` or `postgres:`), creating or
/// migrating its schema: what `serve` and `migrate` do.
pub async fn open(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    open_as(url, Opening::MIGRATE).await
}

/// Opens the keymint database at `url` only if it exists and its schema is this
/// keymint's: what admin commands use, so a mistyped URL is an error, not an empty
/// database that looks as if every key were gone, and a newer CLI never upgrades
/// the schema under running servers.
pub async fn open_existing(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    open_as(url, Opening::SAME).await
}

/// Opens the store at `url`, doing to its schema only what `opening` allows.
pub async fn open_with(url: &str, opening: Opening) -> anyhow::Result<Arc<dyn Store>> {
    open_as(url, opening).await
}

async fn open_as(url: &str, opening: Opening) -> anyhow::Result<Arc<dyn Store>> {
    // TLS to PostgreSQL uses aws-lc-rs, the crypto library of everything else here.
    // Already installed (by an earlier open) is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url, opening).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PostgresStore::open(url, opening).await?))
    } else {
        anyhow::bail!(
            "unsupported database URL scheme in {:?}: use sqlite:<path> or postgres://...",
            redact_url(url)
        )
    }
}

/// The error of an admin command pointed at a database keymint never set up.
pub(super) fn no_database(url: &str, why: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "no keymint database at {}: {why}. Check --database-url (KEYMINT_DATABASE_URL); \
         `keymint serve` or `keymint migrate` creates one. To manage a keymint running \
         elsewhere, give --server (or run `keymint login`)",
        redact_url(url)
    )
}

/// The URL with any password replaced, for error messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:[REDACTED]{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
