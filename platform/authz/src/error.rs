use vitrine_core::ErrorCode;
use vitrine_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The change would break the folder-floor rule or remove the last administrator.
    #[error("{0}")]
    Violation(String),
    #[error("{0}")]
    Invalid(String),
    /// A policy import was refused; the message lists every bad line.
    #[error("policy refused: {0}")]
    InvalidPolicy(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("policy engine error: {0}")]
    Casbin(String),
}

pub type AuthzResult<T> = Result<T, AuthzError>;

impl AuthzError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthzError::Forbidden(_) => ErrorCode::Forbidden,
            AuthzError::Violation(_) => ErrorCode::PolicyViolation,
            AuthzError::Invalid(_) => ErrorCode::InvalidInput,
            AuthzError::InvalidPolicy(_) => ErrorCode::InvalidPolicy,
            AuthzError::Storage(e) => e.code(),
            AuthzError::Casbin(_) => ErrorCode::Internal,
        }
    }
}

impl From<casbin::Error> for AuthzError {
    fn from(e: casbin::Error) -> Self {
        AuthzError::Casbin(e.to_string())
    }
}
