use vitrine_core::ErrorCode;
use vitrine_storage::StorageError;

/// Everything the engine can fail with. Each variant maps to one stable code.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The workflow does not hold together; names the block and the field.
    #[error("block `{block}`, {field}: {reason}")]
    Workflow {
        block: String,
        field: String,
        reason: String,
    },
    /// A field of a report, tile or query is wrong; `field` is a path such as
    /// `tabs[0].tiles[2].query.measures[1].column`.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// Input data does not read as declared.
    #[error("{0}")]
    Data(String),
    /// DataFusion refused or failed a query; the message is DataFusion's own.
    #[error("{0}")]
    Query(String),
    /// A path escapes its location, or a location is not granted to the project.
    #[error("{0}")]
    Path(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Storage(String, ErrorCode),
    /// An outside database refused the connection or the read; the code says how.
    #[error("{0}")]
    Source(String, ErrorCode),
    /// A plugin was refused, or a plugin block failed; the code says how.
    #[error("{0}")]
    Plugin(String, ErrorCode),
    /// A plugin block's call failed; `notes` hold the first lines of its log.
    #[error("{message}")]
    PluginRun {
        message: String,
        code: ErrorCode,
        notes: Vec<String>,
    },
    /// A bug or an environment failure; details are for the log.
    #[error("{0}")]
    Internal(String),
}

pub type EngineResult<T> = Result<T, EngineError>;

impl EngineError {
    pub fn workflow(block: &str, field: &str, reason: impl Into<String>) -> Self {
        EngineError::Workflow {
            block: block.to_owned(),
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        EngineError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            EngineError::Workflow { .. } => ErrorCode::InvalidWorkflow,
            EngineError::Invalid { .. } => ErrorCode::InvalidInput,
            EngineError::Data(_) => ErrorCode::InvalidData,
            EngineError::Query(_) => ErrorCode::QueryFailed,
            EngineError::Path(_) => ErrorCode::PathRefused,
            EngineError::NotFound(_) => ErrorCode::NotFound,
            EngineError::Conflict(_) => ErrorCode::Conflict,
            EngineError::Cancelled => ErrorCode::Cancelled,
            EngineError::Storage(_, code)
            | EngineError::Source(_, code)
            | EngineError::Plugin(_, code)
            | EngineError::PluginRun { code, .. } => *code,
            EngineError::Internal(_) => ErrorCode::Internal,
        }
    }
}

/// A definition's shape rule, checked in core: the same field and reason.
impl From<vitrine_core::CoreError> for EngineError {
    fn from(e: vitrine_core::CoreError) -> Self {
        EngineError::invalid(e.field, e.reason)
    }
}

impl From<vitrine_plugins::PluginError> for EngineError {
    fn from(e: vitrine_plugins::PluginError) -> Self {
        EngineError::Plugin(e.to_string(), e.code())
    }
}

impl From<StorageError> for EngineError {
    fn from(e: StorageError) -> Self {
        EngineError::Storage(e.to_string(), e.code())
    }
}

impl From<datafusion::error::DataFusionError> for EngineError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as D;
        // Arrow decode failures inside a query are data problems; the rest is the query's.
        match e.find_root() {
            D::ArrowError(a, _) => {
                let message = a.to_string();
                // A regular expression in the query that does not compile is the query's.
                if message.contains(REGEX_FAILED) {
                    EngineError::Query(regex_words(&message))
                } else {
                    EngineError::Data(message)
                }
            }
            D::ResourcesExhausted(m) => EngineError::Query(format!("resources exhausted: {m}")),
            root => EngineError::Query(without_dumps(&strip_df_prefix(&root.to_string()))),
        }
    }
}

impl From<datafusion::arrow::error::ArrowError> for EngineError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        EngineError::Data(e.to_string())
    }
}

impl From<opendal::Error> for EngineError {
    fn from(e: opendal::Error) -> Self {
        let what = format!("`{}`", e.message());
        store_error(e, &what)
    }
}

/// A store's failure about `what` (a file a block names): missing, unreadable, or a
/// directory is the workflow author's to fix; only a store that fails is UNAVAILABLE. The
/// message never carries the store's context, which names the server's paths and
/// services.
pub(crate) fn store_error(e: opendal::Error, what: &str) -> EngineError {
    use opendal::ErrorKind as K;
    use std::io::ErrorKind as Io;
    // The fs service reports some of these as "unexpected", with the OS error as source.
    let io = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind);
    match (e.kind(), io) {
        (K::NotFound, _) | (_, Some(Io::NotFound)) => EngineError::NotFound(format!("file {what}")),
        (K::PermissionDenied, _) | (_, Some(Io::PermissionDenied)) => {
            EngineError::Path(format!("{what} may not be read (permission denied)"))
        }
        (K::IsADirectory, _) | (_, Some(Io::IsADirectory)) => EngineError::Invalid {
            field: "path".into(),
            reason: format!("{what} is a directory; name a file"),
        },
        (K::NotADirectory, _) | (_, Some(Io::NotADirectory)) => EngineError::Invalid {
            field: "path".into(),
            reason: format!("{what}: a part of the path is a file, not a directory"),
        },
        (K::ConfigInvalid | K::Unsupported, _) => EngineError::Invalid {
            field: "definition".into(),
            reason: format!("the location cannot serve {what}: {}", e.message()),
        },
        _ => EngineError::Storage(
            format!("the location's storage failed on {what}: {}", e.message()),
            ErrorCode::Unavailable,
        ),
    }
}

/// DataFusion puts debug dumps of its plan in some messages (`AggregateFunction { func:
/// AggregateUDF { … } }`): each `Name { … }` group becomes `Name`, so the sentence stays
/// and the engine's internals go.
fn without_dumps(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find(" { ") {
        let before = &rest[..open];
        let named = before
            .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .is_some_and(|w| w.starts_with(|c: char| c.is_ascii_uppercase()));
        // The matching close brace of the group.
        let mut depth = 0;
        let close = rest[open + 1..].char_indices().find_map(|(i, c)| {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            (depth == 0).then_some(open + 1 + i)
        });
        match (named, close) {
            (true, Some(close)) => {
                out.push_str(before);
                rest = &rest[close + 1..];
            }
            _ => {
                out.push_str(&rest[..open + 3]);
                rest = &rest[open + 3..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// How DataFusion's regular expression functions begin a failure to compile.
const REGEX_FAILED: &str = "Regular expression did not compile: ";

/// DataFusion reports a regular expression that does not compile with the regex
/// crate's debug form (`CompiledTooBig(10485760)`, `Syntax("regex parse error:\n …")`):
/// said here in words.
fn regex_words(s: &str) -> String {
    let Some(at) = s.find(REGEX_FAILED) else {
        return s.to_owned();
    };
    let dump = &s[at + REGEX_FAILED.len()..];
    let words = if let Some(limit) = dump
        .strip_prefix("CompiledTooBig(")
        .and_then(|r| r.split(')').next())
    {
        format!(
            "it is too large once compiled (more than {limit} bytes); use fewer or smaller repetitions"
        )
    } else if let Some((message, _)) = dump
        .strip_prefix("Syntax(\"")
        .and_then(|r| r.rsplit_once("\")"))
    {
        let message = message.replace("\\n", " ").replace("\\\"", "\"");
        message.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        dump.to_owned()
    };
    format!("a regular expression does not compile: {words}")
}

/// DataFusion prefixes messages with the error class ("Error during planning: "); users
/// want the sentence, the class is already in the code.
fn strip_df_prefix(s: &str) -> String {
    for p in [
        "Error during planning: ",
        "Schema error: ",
        "SQL error: ",
        "Execution error: ",
        "This feature is not implemented: ",
    ] {
        if let Some(rest) = s.strip_prefix(p) {
            return rest.to_owned();
        }
    }
    s.to_owned()
}

#[cfg(test)]
mod words {
    use super::{regex_words, without_dumps};

    #[test]
    fn regular_expressions_that_do_not_compile_are_said_in_words() {
        assert_eq!(
            regex_words(
                "Compute error: Regular expression did not compile: CompiledTooBig(10485760)"
            ),
            "a regular expression does not compile: it is too large once compiled (more than 10485760 bytes); use fewer or smaller repetitions"
        );
        assert_eq!(
            regex_words(
                r#"Compute error: Regular expression did not compile: Syntax("regex parse error:\n    (a\n    ^\nerror: unclosed group")"#
            ),
            "a regular expression does not compile: regex parse error: (a ^ error: unclosed group"
        );
    }

    #[test]
    fn plan_dumps_leave_the_sentence() {
        assert_eq!(
            without_dumps(
                "Failed to coerce arguments of AggregateFunction { func: AggregateUDF { inner: Sum { signature: Signature { volatility: Immutable } } }, params: [] } for sum(Utf8)"
            ),
            "Failed to coerce arguments of AggregateFunction for sum(Utf8)"
        );
        assert_eq!(
            without_dumps("column `x` not found"),
            "column `x` not found"
        );
        assert_eq!(without_dumps("a { b } c"), "a { b } c");
    }
}
