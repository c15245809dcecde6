use std::fmt;

/// Calls `$m!` with the catalogue of error codes (doc lines, then `Variant = "WIRE_NAME",`),
/// so the Rust enum here, the GraphQL enum in `vitrine-api` and the docs page are made
/// from one list.
#[macro_export]
macro_rules! for_each_error_code {
    ($m:ident) => {
        $m! {
            /// The request carries no valid credentials.
            Unauthenticated = "UNAUTHENTICATED",
            /// The caller is known but may not do this.
            Forbidden = "FORBIDDEN",
            /// The object does not exist, or the caller may not know that it exists.
            NotFound = "NOT_FOUND",
            /// A field failed validation; the message names the field.
            InvalidInput = "INVALID_INPUT",
            /// The object exists already (a slug, a username, a group name).
            Conflict = "CONFLICT",
            /// The change would break a rule of the permission model (the folder floor).
            PolicyViolation = "POLICY_VIOLATION",
            /// An imported policy file is malformed or contradicts itself.
            InvalidPolicy = "INVALID_POLICY",
            /// A folder still holds something and the caller did not ask to recurse.
            NotEmpty = "NOT_EMPTY",
            /// Username or password is wrong (deliberately not saying which).
            InvalidCredentials = "INVALID_CREDENTIALS",
            /// Too many attempts; retry later.
            RateLimited = "RATE_LIMITED",
            /// A cookie-authenticated mutation without a matching CSRF token.
            CsrfRejected = "CSRF_REJECTED",
            /// The account is disabled.
            AccountDisabled = "ACCOUNT_DISABLED",
            /// The API token was revoked or expired, or is read-only and the request writes.
            TokenRejected = "TOKEN_REJECTED",
            /// The instance has no administrator yet, or has one already (setup flow).
            SetupState = "SETUP_STATE",
            /// A GraphQL request exceeds depth, complexity, alias, batch or size limits.
            QueryTooLarge = "QUERY_TOO_LARGE",
            /// Something failed inside Vitrine; details are in the server log only.
            Internal = "INTERNAL",
            /// A dependency (database, artifact store) is not reachable.
            Unavailable = "UNAVAILABLE",
            /// A workflow does not hold together: a cycle, a dangling input, an unknown block kind
            /// or bad block configuration. The message names the block and the field.
            InvalidWorkflow = "INVALID_WORKFLOW",
            /// Input data cannot be read as declared (a malformed CSV line, a type mismatch).
            InvalidData = "INVALID_DATA",
            /// A query (SQL, a tile query, a filter expression) was refused by the query engine.
            QueryFailed = "QUERY_FAILED",
            /// A path escapes its resource location, or names a location that was not granted.
            PathRefused = "PATH_REFUSED",
            /// The work was cancelled before it finished.
            Cancelled = "CANCELLED",
            /// An uploaded plugin is not a component implementing `vitrine:block`, asks for
            /// something plugins are not given, or describes itself wrongly.
            InvalidPlugin = "INVALID_PLUGIN",
            /// A plugin block ran past its time limit and was stopped.
            PluginTimeout = "PLUGIN_TIMEOUT",
            /// A plugin block tried to use more memory than its limit.
            PluginMemory = "PLUGIN_MEMORY",
            /// A plugin block trapped: a panic, a stack overflow, an invalid operation.
            PluginCrashed = "PLUGIN_CRASHED",
            /// A plugin block returned output that breaks the contract or its declared schema.
            PluginBadOutput = "PLUGIN_BAD_OUTPUT",
            /// A plugin block declined or failed, with its own message.
            PluginFailed = "PLUGIN_FAILED",
            /// A share link (or one recipient's access) is unknown, revoked, expired or paused.
            LinkNotValid = "LINK_NOT_VALID",
            /// A share link is locked after repeated wrong passwords, until its manager unlocks it.
            LinkLocked = "LINK_LOCKED",
            /// A report edit would show a share link's audience data it could not see before, and
            /// the project refuses such edits.
            ExposureRefused = "EXPOSURE_REFUSED",
            /// A project bundle or report file is malformed, hostile, of an unknown format
            /// version, or refers to something it does not contain.
            InvalidBundle = "INVALID_BUNDLE",
            /// A push was refused: the origin has revisions the working copy has not pulled.
            OriginMoved = "ORIGIN_MOVED",
            /// A pull was refused: the working copy has changes not pushed to its origin.
            UnpushedChanges = "UNPUSHED_CHANGES",
            /// Another Vitrine instance (a working copy's origin) could not be reached or
            /// answered with an error.
            RemoteFailed = "REMOTE_FAILED",
            /// An outbound request (webhook, working-copy origin) was refused: its address is
            /// loopback, private or link-local and no admin allowed that host.
            OutboundRefused = "OUTBOUND_REFUSED",
            /// An identity provider's sign-in answer was refused: unknown, used or expired state,
            /// wrong issuer, audience or nonce, a bad or expired signature, or a user the
            /// provider's provisioning rule does not admit.
            SignInRefused = "SIGN_IN_REFUSED",
            /// The instance takes changes to this project's content only through a working-copy
            /// push: its Project Editor switch is off (a production instance).
            EditingOff = "EDITING_OFF",
            /// A data connection's database could not be reached, refused TLS, or refused
            /// the connection's user; the message says which, and never holds the password.
            SourceConnectFailed = "SOURCE_CONNECT_FAILED",
            /// A data connection's database refused or failed a query; the message is the
            /// database's own, with its SQLSTATE.
            SourceQueryFailed = "SOURCE_QUERY_FAILED",
            /// A column read from a data connection has a type with no faithful Arrow form;
            /// the message names the column and the cast that reads it (`::text`).
            SourceTypeUnsupported = "SOURCE_TYPE_UNSUPPORTED",
            /// A read from a data connection passed its row or time limit and was stopped.
            SourceLimit = "SOURCE_LIMIT",
        }
    };
}

macro_rules! define_error_code {
    ($($(#[doc = $doc:literal])* $variant:ident = $code:literal,)*) => {
        /// The one catalogue of stable error codes. Clients match on these strings (GraphQL
        /// `extensions.code`, JSON `code` of HTTP routes); renaming one is a breaking change.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in catalogue order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The stable wire form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }

            /// What the code means, from the catalogue's own words.
            pub fn description(self) -> String {
                let lines: &[&str] = match self {
                    $(ErrorCode::$variant => &[$($doc),*],)*
                };
                lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ")
            }
        }
    };
}

for_each_error_code!(define_error_code);

impl ErrorCode {
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
            ErrorCode::RemoteFailed | ErrorCode::SourceConnectFailed => 502,
            ErrorCode::SourceQueryFailed | ErrorCode::SourceTypeUnsupported => 422,
            ErrorCode::SourceLimit => 422,
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
