//! What went wrong with a management request, in words every door renders: a
//! field that is not valid, or a refusal of the whole request.

/// One invalid field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

/// An optional RFC 3339 time of a filter, as unix seconds.
pub fn instant(field: &str, value: Option<&str>) -> Result<Option<i64>, FieldError> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            crate::clock::parse_rfc3339(v).ok_or_else(|| FieldError {
                field: field.into(),
                reason: "must be an RFC 3339 time, e.g. 2026-11-30T12:00:00Z".into(),
            })
        })
        .transpose()
}

/// Field `field` is not valid, for `reason`.
pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), reason: reason.into() }
}

/// Errors of management operations; the HTTP layer maps each to a problem type.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("{0}")]
    Forbidden(String),
    #[error("the service is busy; retry shortly")]
    Busy,
    #[error("the database is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A fault of keymint's own (corrupt data, a refused statement): logged with its
    /// causes where it is mapped, answered generically.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}
