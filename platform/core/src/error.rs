use std::fmt;

/// The one catalogue of stable error codes. Clients match on these strings (GraphQL
/// `extensions.code`, JSON `code` of HTTP routes); renaming one is a breaking change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The request carries no valid credentials.
    Unauthenticated,
    /// The caller is known but may not do this.
    Forbidden,
    /// The object does not exist, or the caller may not know that it exists.
    NotFound,
    /// A field failed validation; the message names the field.
    InvalidInput,
    /// The object exists already (a slug, a username, a group name).
    Conflict,
    /// The change would break a rule of the permission model (the folder floor).
    PolicyViolation,
    /// An imported policy file is malformed or contradicts itself.
    InvalidPolicy,
    /// A folder still holds something and the caller did not ask to recurse.
    NotEmpty,
    /// Username or password is wrong (deliberately not saying which).
    InvalidCredentials,
    /// Too many attempts; retry later.
    RateLimited,
    /// A cookie-authenticated mutation without a matching CSRF token.
    CsrfRejected,
    /// The account is disabled.
    AccountDisabled,
    /// The API token was revoked or expired, or is read-only and the request writes.
    TokenRejected,
    /// The instance has no administrator yet, or has one already (setup flow).
    SetupState,
    /// A GraphQL request exceeds depth, complexity, alias, batch or size limits.
    QueryTooLarge,
    /// Something failed inside Vitrine; details are in the server log only.
    Internal,
    /// A dependency (database, artifact store) is not reachable.
    Unavailable,
    /// A workflow does not hold together: a cycle, a dangling input, an unknown block kind
    /// or bad block configuration. The message names the block and the field.
    InvalidWorkflow,
    /// Input data cannot be read as declared (a malformed CSV line, a type mismatch).
    InvalidData,
    /// A query (SQL, a tile query, a filter expression) was refused by the query engine.
    QueryFailed,
    /// A path escapes its resource location, or names a location that was not granted.
    PathRefused,
    /// The work was cancelled before it finished.
    Cancelled,
    /// An uploaded plugin is not a component implementing `vitrine:block`, asks for
    /// something plugins are not given, or describes itself wrongly.
    InvalidPlugin,
    /// A plugin block ran past its time limit and was stopped.
    PluginTimeout,
    /// A plugin block tried to use more memory than its limit.
    PluginMemory,
    /// A plugin block trapped: a panic, a stack overflow, an invalid operation.
    PluginCrashed,
    /// A plugin block returned output that breaks the contract or its declared schema.
    PluginBadOutput,
    /// A plugin block declined or failed, with its own message.
    PluginFailed,
    /// A share link (or one recipient's access) is unknown, revoked, expired or paused.
    LinkNotValid,
    /// A share link is locked after repeated wrong passwords, until its manager unlocks it.
    LinkLocked,
    /// A report edit would show a share link's audience data it could not see before, and
    /// the project refuses such edits.
    ExposureRefused,
    /// A project bundle or report file is malformed, hostile, of an unknown format
    /// version, or refers to something it does not contain.
    InvalidBundle,
    /// A push was refused: the origin has revisions the working copy has not pulled.
    OriginMoved,
    /// A pull was refused: the working copy has changes not pushed to its origin.
    UnpushedChanges,
    /// Another Vitrine instance (a working copy's origin) could not be reached or
    /// answered with an error.
    RemoteFailed,
    /// An outbound request (webhook, working-copy origin) was refused: its address is
    /// loopback, private or link-local and no admin allowed that host.
    OutboundRefused,
    /// An identity provider's sign-in answer was refused: unknown, used or expired state,
    /// wrong issuer, audience or nonce, a bad or expired signature, or a user the
    /// provider's provisioning rule does not admit.
    SignInRefused,
    /// The instance takes changes to this project's content only through a working-copy
    /// push: its Project Editor switch is off (a production instance).
    EditingOff,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 38] = [
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::InvalidInput,
        ErrorCode::Conflict,
        ErrorCode::PolicyViolation,
        ErrorCode::InvalidPolicy,
        ErrorCode::NotEmpty,
        ErrorCode::InvalidCredentials,
        ErrorCode::RateLimited,
        ErrorCode::CsrfRejected,
        ErrorCode::AccountDisabled,
        ErrorCode::TokenRejected,
        ErrorCode::SetupState,
        ErrorCode::QueryTooLarge,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
        ErrorCode::InvalidWorkflow,
        ErrorCode::InvalidData,
        ErrorCode::QueryFailed,
        ErrorCode::PathRefused,
        ErrorCode::Cancelled,
        ErrorCode::InvalidPlugin,
        ErrorCode::PluginTimeout,
        ErrorCode::PluginMemory,
        ErrorCode::PluginCrashed,
        ErrorCode::PluginBadOutput,
        ErrorCode::PluginFailed,
        ErrorCode::LinkNotValid,
        ErrorCode::LinkLocked,
        ErrorCode::ExposureRefused,
        ErrorCode::InvalidBundle,
        ErrorCode::OriginMoved,
        ErrorCode::UnpushedChanges,
        ErrorCode::RemoteFailed,
        ErrorCode::OutboundRefused,
        ErrorCode::SignInRefused,
        ErrorCode::EditingOff,
    ];

    /// The stable wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::InvalidInput => "INVALID_INPUT",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::PolicyViolation => "POLICY_VIOLATION",
            ErrorCode::InvalidPolicy => "INVALID_POLICY",
            ErrorCode::NotEmpty => "NOT_EMPTY",
            ErrorCode::InvalidCredentials => "INVALID_CREDENTIALS",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::CsrfRejected => "CSRF_REJECTED",
            ErrorCode::AccountDisabled => "ACCOUNT_DISABLED",
            ErrorCode::TokenRejected => "TOKEN_REJECTED",
            ErrorCode::SetupState => "SETUP_STATE",
            ErrorCode::QueryTooLarge => "QUERY_TOO_LARGE",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::InvalidWorkflow => "INVALID_WORKFLOW",
            ErrorCode::InvalidData => "INVALID_DATA",
            ErrorCode::QueryFailed => "QUERY_FAILED",
            ErrorCode::PathRefused => "PATH_REFUSED",
            ErrorCode::Cancelled => "CANCELLED",
            ErrorCode::InvalidPlugin => "INVALID_PLUGIN",
            ErrorCode::PluginTimeout => "PLUGIN_TIMEOUT",
            ErrorCode::PluginMemory => "PLUGIN_MEMORY",
            ErrorCode::PluginCrashed => "PLUGIN_CRASHED",
            ErrorCode::PluginBadOutput => "PLUGIN_BAD_OUTPUT",
            ErrorCode::PluginFailed => "PLUGIN_FAILED",
            ErrorCode::LinkNotValid => "LINK_NOT_VALID",
            ErrorCode::LinkLocked => "LINK_LOCKED",
            ErrorCode::ExposureRefused => "EXPOSURE_REFUSED",
            ErrorCode::InvalidBundle => "INVALID_BUNDLE",
            ErrorCode::OriginMoved => "ORIGIN_MOVED",
            ErrorCode::UnpushedChanges => "UNPUSHED_CHANGES",
            ErrorCode::RemoteFailed => "REMOTE_FAILED",
            ErrorCode::OutboundRefused => "OUTBOUND_REFUSED",
            ErrorCode::SignInRefused => "SIGN_IN_REFUSED",
            ErrorCode::EditingOff => "EDITING_OFF",
        }
    }

    /// The HTTP status used when this code is the whole answer of a non-GraphQL route.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::Unauthenticated | ErrorCode::InvalidCredentials => 401,
            ErrorCode::TokenRejected | ErrorCode::AccountDisabled => 401,
            ErrorCode::SignInRefused => 401,
            ErrorCode::Forbidden | ErrorCode::CsrfRejected => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict | ErrorCode::NotEmpty | ErrorCode::SetupState => 409,
            ErrorCode::InvalidInput | ErrorCode::InvalidPolicy => 400,
            ErrorCode::InvalidWorkflow | ErrorCode::InvalidData => 400,
            ErrorCode::QueryFailed => 400,
            ErrorCode::PathRefused => 403,
            ErrorCode::Cancelled => 409,
            ErrorCode::InvalidPlugin => 400,
            ErrorCode::PluginTimeout | ErrorCode::PluginMemory | ErrorCode::PluginCrashed => 422,
            ErrorCode::PluginBadOutput | ErrorCode::PluginFailed => 422,
            ErrorCode::PolicyViolation => 422,
            ErrorCode::LinkNotValid => 410,
            ErrorCode::LinkLocked => 423,
            ErrorCode::ExposureRefused => 409,
            ErrorCode::InvalidBundle => 400,
            ErrorCode::OriginMoved | ErrorCode::UnpushedChanges => 409,
            ErrorCode::RemoteFailed => 502,
            ErrorCode::OutboundRefused | ErrorCode::EditingOff => 403,
            ErrorCode::QueryTooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Validation failures of core newtypes; each names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct CoreError {
    /// The field's path as the caller wrote it: `name`, `trigger`, `actions[2].location`.
    pub field: std::borrow::Cow<'static, str>,
    pub reason: String,
}

impl CoreError {
    pub fn new(
        field: impl Into<std::borrow::Cow<'static, str>>,
        reason: impl Into<String>,
    ) -> Self {
        CoreError {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidInput
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_upper_snake() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(s.chars().all(|c| c.is_ascii_uppercase() || c == '_'), "{s}");
        }
    }
}
