use vitrine_core::ErrorCode;

/// Everything a repository can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A unique index refused the write (slug, username, name taken).
    #[error("{0}")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A write was based on a read that another writer has since overtaken; nothing of it
    /// was written, and the caller reads again and retries.
    #[error("{0}")]
    Stale(String),
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
pub(crate) const CONFLICT_MARK: &str = "vitrine-conflict: ";

/// Prefix of messages a script `THROW`s when the state it was computed from moved on;
/// mapped to [`StorageError::Stale`].
pub(crate) const STALE_MARK: &str = "vitrine-stale: ";
/// Prefix of messages a script `THROW`s when the record it changes is gone; the rest
/// names the record kind, mapped to [`StorageError::NotFound`].
pub(crate) const GONE_MARK: &str = "vitrine-gone: ";

pub type StorageResult<T> = Result<T, StorageError>;

impl StorageError {
    /// An optimistic transaction lost a race with another writer; running it again is safe
    /// because nothing of it was committed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StorageError::Database(t) if t.contains("can be retried"))
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            StorageError::Conflict(_) | StorageError::Stale(_) => ErrorCode::Conflict,
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
        let after = |mark: &str| {
            text.find(mark).map(|i| {
                text[i + mark.len()..]
                    .trim_end_matches(['"', '\''])
                    .to_owned()
            })
        };
        if let Some(rest) = after(CONFLICT_MARK) {
            StorageError::Conflict(rest)
        } else if let Some(rest) = after(STALE_MARK) {
            StorageError::Stale(rest)
        } else if let Some(kind) = after(GONE_MARK) {
            StorageError::NotFound(match kind.as_str() {
                "report" => "report",
                "workflow" => "workflow",
                "recipient" => "recipient",
                "invitation" => "invitation",
                "owner address" => "owner address",
                _ => "record",
            })
        } else if text.contains("already contains") && text.contains("revision_number") {
            // Two commits passed the stale check at once; the index let one through.
            StorageError::Stale(text)
        } else if text.contains("already contains") {
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
