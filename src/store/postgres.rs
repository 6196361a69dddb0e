//! PostgreSQL backend: the production store that several instances share.
//! Migrations run under sqlx's advisory lock, so instances starting together
//! migrate once.

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Pool, Postgres};

/// A [`super::Store`] on a PostgreSQL database.
pub struct PostgresStore {
    pool: Pool<Postgres>,
}

impl PostgresStore {
    /// Connects to `url` and applies `migrations/postgres`.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .with_context(|| {
                format!("cannot connect to PostgreSQL at {}", super::redact_url(url))
            })?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .context("applying PostgreSQL migrations")?;
        Ok(PostgresStore { pool })
    }
}

super::sql::impl_store!(PostgresStore, Postgres, "postgres");
