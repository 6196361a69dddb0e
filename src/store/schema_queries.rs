//! What a database holds of keymint's schema, read the same way on both backends
//! (compiled once for each, as `queries.rs` is); `TABLES` is the backend's way of
//! asking which of `_sqlx_migrations` and `schema_compatibility` exist.

use sqlx::Pool;

use super::{Db, TABLES};
use crate::store::schema::Found;

/// What the database holds of keymint's schema (`None`: no keymint tables).
pub(super) async fn found(pool: &Pool<Db>) -> Result<Option<Found>, sqlx::Error> {
    let (migrations, compatibility): (bool, bool) = sqlx::query_as(TABLES).fetch_one(pool).await?;
    if !migrations {
        return Ok(None);
    }
    let applied: Vec<(i64,)> = sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success")
        .fetch_all(pool)
        .await?;
    let expand: Vec<(i64, bool)> = if compatibility {
        sqlx::query_as("SELECT version, expand FROM schema_compatibility").fetch_all(pool).await?
    } else {
        Vec::new()
    };
    Ok(Some(Found {
        applied: applied.into_iter().map(|(v,)| v).collect(),
        expand: expand.into_iter().collect(),
    }))
}
