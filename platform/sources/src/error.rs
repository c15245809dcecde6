use vitrine_core::ErrorCode;

/// Everything reading from a database source can fail with. Messages name the
/// connection's host and database, never its password; a database's own refusal keeps
/// its SQLSTATE so an administrator can look it up.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    /// A setting of the connection is wrong (an empty host, a port of 0); names the field.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The server could not be reached, refused TLS, or refused the sign-in.
    #[error("{0}")]
    Connect(String),
    /// The database refused or failed the query.
    #[error("{0}")]
    Query(String),
    /// A column's type has no faithful Arrow form; the message says how to cast it.
    #[error("{0}")]
    Type(String),
    /// A value could not be represented in its column's Arrow type (a numeric too large,
    /// a multi-dimensional array).
    #[error("{0}")]
    Value(String),
    /// The read passed its row or time limit.
    #[error("{0}")]
    Limit(String),
    #[error("cancelled")]
    Cancelled,
}

pub type SourceResult<T> = Result<T, SourceError>;

impl SourceError {
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        SourceError::Invalid {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    /// The stable code of the catalogue.
    pub fn code(&self) -> ErrorCode {
        match self {
            SourceError::Invalid { .. } => ErrorCode::InvalidInput,
            SourceError::Connect(_) => ErrorCode::SourceConnectFailed,
            SourceError::Query(_) => ErrorCode::SourceQueryFailed,
            SourceError::Type(_) => ErrorCode::SourceTypeUnsupported,
            SourceError::Value(_) => ErrorCode::InvalidData,
            SourceError::Limit(_) => ErrorCode::SourceLimit,
            SourceError::Cancelled => ErrorCode::Cancelled,
        }
    }
}
