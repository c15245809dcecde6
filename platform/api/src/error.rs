//! The API's one error type. Every failure that reaches a client carries a stable code
//! from [`ErrorCode`]; internal details stay in the server log.

use vitrine_authz::AuthzError;
use vitrine_core::{CoreError, ErrorCode};
use vitrine_storage::StorageError;

///
/// Deliberately not `Display`: async-graphql converts any `Display` error with `?`, which
/// would drop the code. Resolvers go through [`ApiError::into_graphql`] instead.
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

impl ApiError {
    /// The one place GraphQL errors get their `extensions.code`.
    pub fn into_graphql(self) -> async_graphql::Error {
        use async_graphql::ErrorExtensions;
        let code = self.code.as_str();
        async_graphql::Error::new(self.message).extend_with(|_, ext| ext.set("code", code))
    }
}

/// `result.gql()?` in resolvers: converts with the code kept.
pub trait GqlResult<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GqlResult<T> for ApiResult<T> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(ApiError::into_graphql)
    }
}
