use vitrine_core::ErrorCode;

/// Everything a repository can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A unique index refused the write (slug, username, name taken).
    #[error("{0}")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("database error: {0}")]
    Database(String),
    #[error("artifact store error: {0}")]
    Artifacts(#[from] opendal::Error),
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    #[error("cannot open database at {url}: {reason}")]
    Open { url: String, reason: String },
}

/// Prefix of messages that SurrealQL scripts `THROW` when a uniqueness rule spanning
/// several tables fails; mapped to [`StorageError::Conflict`].
pub(crate) const CONFLICT_MARK: &str = "conflict: ";

pub type StorageResult<T> = Result<T, StorageError>;

impl StorageError {
    pub fn code(&self) -> ErrorCode {
        match self {
            StorageError::Conflict(_) => ErrorCode::Conflict,
            StorageError::NotFound(_) => ErrorCode::NotFound,
            StorageError::Open { .. } => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        }
    }
}

impl From<surrealdb::Error> for StorageError {
    fn from(e: surrealdb::Error) -> Self {
        let text = e.to_string();
        // SurrealDB reports unique-index violations only as text; they are the one
        // database error a caller can act on, so they get their own variant.
        if text.contains("already contains") || text.contains(CONFLICT_MARK) {
            StorageError::Conflict(text)
        } else {
            StorageError::Database(text)
        }
    }
}

impl From<serde_json::Error> for StorageError {
    fn from(e: serde_json::Error) -> Self {
        StorageError::Corrupt(e.to_string())
    }
}
