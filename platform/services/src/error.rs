//! The API's one error type. Every failure that reaches a client carries a stable code
//! from [`ErrorCode`]; internal details stay in the server log.

use vitrine_authz::AuthzError;
use vitrine_core::{CoreError, ErrorCode};
use vitrine_storage::StorageError;

///
/// Deliberately not `Display`: async-graphql converts any `Display` error with `?`, which
/// would drop the code. Resolvers convert through `vitrine_api::GqlResult` instead.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidInput, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Forbidden, message)
    }
    pub fn not_found(what: &str) -> Self {
        ApiError::new(ErrorCode::NotFound, format!("{what} not found"))
    }
    pub fn unauthenticated() -> Self {
        ApiError::new(ErrorCode::Unauthenticated, "sign in or send an API token")
    }
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(context, error = %detail, "internal error");
        ApiError::new(ErrorCode::Internal, "internal error; see the server log")
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e.code() {
            ErrorCode::Internal => ApiError::internal("storage", &e),
            code => ApiError::new(code, e.to_string()),
        }
    }
}

impl From<AuthzError> for ApiError {
    fn from(e: AuthzError) -> Self {
        match e {
            AuthzError::Storage(s) => s.into(),
            AuthzError::Casbin(_) => ApiError::internal("authz", &e),
            other => ApiError::new(other.code(), other.to_string()),
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}
