//! What can go wrong in the store, and how a management door reports it.

use std::sync::Arc;

/// The cause of a database failure, shared so that one failure can answer several
/// waiters (a batched load) without losing it.
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// Errors of the storage layer. The HTTP layer maps them to status codes.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist (404).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated, or the row changed under us (409).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The database could not be reached, or cannot work now (connection lost, pool
    /// exhausted, disk full, locked): worth a retry (503).
    #[error("database unavailable")]
    Unavailable(#[source] Cause),
    /// The database refused this statement or its values: retrying will not help
    /// (a bug, or input that should have been validated) (500).
    #[error("statement refused by the database")]
    Rejected(#[source] Cause),
    /// A stored value could not be decoded: a bug or a hand-edited row (500).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict("a row with the same unique value exists")
            }
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(err.to_string())
            }
            sqlx::Error::Database(db)
                if refused_statement(
                    db.code().as_deref(),
                    db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some(),
                ) =>
            {
                StoreError::Rejected(Arc::new(err))
            }
            sqlx::Error::Encode(_) | sqlx::Error::TypeNotFound { .. } => {
                StoreError::Rejected(Arc::new(err))
            }
            _ => StoreError::Unavailable(Arc::new(err)),
        }
    }
}

/// Whether a database error code says the statement itself was refused, as opposed
/// to the database being unable to work now. PostgreSQL: SQLSTATE classes 22 (data
/// exception, e.g. NUL in text), 23 (integrity) and 42 (syntax or access rule).
/// SQLite (primary result code): 1 (SQL error), 19 (constraint), 20 (type
/// mismatch), 25 (parameter out of range).
pub(super) fn refused_statement(code: Option<&str>, postgres: bool) -> bool {
    match code {
        Some(sqlstate) if postgres => matches!(sqlstate.get(..2), Some("22" | "23" | "42")),
        Some(sqlite) => sqlite.parse::<i64>().is_ok_and(|c| matches!(c & 0xff, 1 | 19 | 20 | 25)),
        None => false,
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// The database cannot work now, for a reason described in `why`.
    pub fn unavailable(why: &str) -> StoreError {
        StoreError::Unavailable(Arc::new(std::io::Error::other(why.to_string())))
    }
}

/// A store failure as a management door reports it: not found and conflicts as
/// they are, the database being down as unavailable, anything else internal.
impl From<StoreError> for crate::vocab::ManageError {
    fn from(e: StoreError) -> Self {
        use crate::vocab::ManageError;
        match e {
            StoreError::NotFound => ManageError::NotFound("resource"),
            StoreError::Conflict(why) => ManageError::Conflict(why.to_string()),
            e @ (StoreError::Corrupt(_) | StoreError::Rejected(_)) => {
                ManageError::Internal(Box::new(e))
            }
            e @ StoreError::Unavailable(_) => ManageError::Unavailable(Box::new(e)),
        }
    }
}
