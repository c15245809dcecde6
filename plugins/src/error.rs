use vitrine_core::ErrorCode;

/// Everything that can go wrong with a plugin, from upload to a finished run. Each
/// variant maps to one stable code; messages are for the workflow's author.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The file is not a component implementing `vitrine:block`, or wants imports
    /// plugins are not given, or describes itself wrongly.
    #[error("{0}")]
    Invalid(String),
    /// A configuration does not match the plugin's schema; the message names the field.
    #[error("{0}")]
    InvalidConfig(String),
    #[error("the block ran past its time limit of {0} ms and was stopped")]
    Timeout(u64),
    #[error("the block tried to use more than its memory limit of {0} MiB")]
    Memory(usize),
    #[error("the block crashed: {0}")]
    Crashed(String),
    #[error("the block returned bad output: {0}")]
    BadOutput(String),
    /// The block's own error, as it worded it.
    #[error("{0}")]
    Failed(String),
    #[error("plugin host: {0}")]
    Internal(String),
}

impl PluginError {
    pub fn code(&self) -> ErrorCode {
        match self {
            PluginError::Invalid(_) => ErrorCode::InvalidPlugin,
            PluginError::InvalidConfig(_) => ErrorCode::InvalidWorkflow,
            PluginError::Timeout(_) => ErrorCode::PluginTimeout,
            PluginError::Memory(_) => ErrorCode::PluginMemory,
            PluginError::Crashed(_) => ErrorCode::PluginCrashed,
            PluginError::BadOutput(_) => ErrorCode::PluginBadOutput,
            PluginError::Failed(_) => ErrorCode::PluginFailed,
            PluginError::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<arrow_schema::ArrowError> for PluginError {
    fn from(e: arrow_schema::ArrowError) -> Self {
        PluginError::Internal(e.to_string())
    }
}

pub type PluginResult<T> = Result<T, PluginError>;
