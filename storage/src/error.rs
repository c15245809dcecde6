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

/// How many times [`retrying`] runs an operation again.
const RETRIES: u32 = 5;

/// Runs `op` again, after a short and growing pause, while it fails with a conflict
/// SurrealDB says can be retried: an optimistic transaction that lost a race to another
/// writer committed nothing, so running it again is safe.
pub(crate) async fn retrying<T, F, Fut>(mut op: F) -> StorageResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StorageResult<T>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Err(e) if e.is_retryable() && attempt < RETRIES => {
                attempt += 1;
                tracing::debug!(attempt, error = %e, "retrying after a transaction conflict");
                tokio::time::sleep(std::time::Duration::from_millis(2 << attempt)).await;
            }
            other => return other,
        }
    }
}

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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// What SurrealDB 3.3 answers to the loser of a write race, word for word.
    const LOST_RACE: &str = "There was a problem with the key-value store: Transaction conflict: \
        Write conflict, retry the transaction. This transaction can be retried";

    async fn failing(
        calls: &AtomicU32,
        failures: u32,
        error: fn() -> StorageError,
    ) -> StorageResult<u32> {
        let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call <= failures {
            Err(error())
        } else {
            Ok(call)
        }
    }

    #[tokio::test]
    async fn lost_races_are_run_again_and_other_errors_are_not() {
        let lost = || StorageError::Database(LOST_RACE.into());
        let calls = AtomicU32::new(0);
        assert_eq!(retrying(|| failing(&calls, 2, lost)).await.unwrap(), 3);

        // A race lost every time is given up after the last retry, with its error.
        let calls = AtomicU32::new(0);
        let err = retrying(|| failing(&calls, u32::MAX, lost))
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert_eq!(calls.load(Ordering::SeqCst), RETRIES + 1);

        // A taken slug is an answer, not a race: asked once.
        let calls = AtomicU32::new(0);
        let taken = || StorageError::Conflict("slug taken".into());
        let err = retrying(|| failing(&calls, 1, taken)).await.unwrap_err();
        assert!(matches!(err, StorageError::Conflict(_)), "{err}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
