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
    /// The input field a validation error is about, as its message names it first
    /// (`actions[1].recipients: …` → `actions[1].recipients`; a workflow's `block `a`,
    /// config.limit: …` → `blocks[a].config.limit`): GraphQL's `extensions.path`.
    pub fn field_path(&self) -> Option<String> {
        if !matches!(
            self.code,
            ErrorCode::InvalidInput | ErrorCode::InvalidWorkflow | ErrorCode::InvalidPolicy
        ) {
            return None;
        }
        let (head, _) = self.message.split_once(": ")?;
        let (head, block) = match head
            .strip_prefix("workflow: ")
            .unwrap_or(head)
            .strip_prefix("block `")
        {
            Some(rest) => {
                let (id, field) = rest.split_once("`, ")?;
                (field, Some(id))
            }
            None => (head, None),
        };
        let path_char = |c: char| c.is_ascii_alphanumeric() || "_.[]".contains(c);
        let first = head.chars().next()?;
        if !(first.is_ascii_alphabetic() && head.chars().all(path_char)) {
            return None;
        }
        Some(match block {
            Some(id) => format!("blocks[{id}].{head}"),
            None => head.to_owned(),
        })
    }

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

#[cfg(test)]
mod paths {
    use super::*;

    #[test]
    fn validation_errors_name_their_field() {
        let path = |code, m: &str| ApiError::new(code, m).field_path();
        let invalid = ErrorCode::InvalidInput;
        assert_eq!(
            path(invalid, "actions[1].recipients: not an address").as_deref(),
            Some("actions[1].recipients")
        );
        assert_eq!(
            path(
                ErrorCode::InvalidWorkflow,
                "block `b`, config.limit: expected a number"
            )
            .as_deref(),
            Some("blocks[b].config.limit")
        );
        assert_eq!(path(invalid, "the password is too short"), None);
        assert_eq!(path(invalid, "a b: c"), None);
        assert_eq!(path(ErrorCode::Forbidden, "rights.edit: no"), None);
    }
}
