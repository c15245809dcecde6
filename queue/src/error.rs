use vitrine_core::ErrorCode;

/// What the queue can fail with.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue backend {backend}: {message}")]
    Backend {
        backend: &'static str,
        message: String,
    },
    #[error("cannot encode job: {0}")]
    Encode(String),
    #[error(transparent)]
    Storage(#[from] vitrine_storage::StorageError),
}

pub type QueueResult<T> = Result<T, QueueError>;

impl QueueError {
    pub fn code(&self) -> ErrorCode {
        match self {
            QueueError::Backend { .. } => ErrorCode::Unavailable,
            QueueError::Encode(_) => ErrorCode::Internal,
            QueueError::Storage(e) => e.code(),
        }
    }

    pub(crate) fn sqlite(e: impl std::fmt::Display) -> Self {
        QueueError::Backend {
            backend: "sqlite",
            message: e.to_string(),
        }
    }

    pub(crate) fn redis(e: impl std::fmt::Display) -> Self {
        QueueError::Backend {
            backend: "redis",
            message: e.to_string(),
        }
    }
}
