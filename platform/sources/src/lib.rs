//! Database sources: reading a table or a query from an outside database into Arrow
//! record batches, as a workflow's source block does (issue 24).
//!
//! Where it sits: below the engine (which runs source blocks) and the services (which test
//! connections an administrator defines), beside `vitrine-storage`; it depends on
//! `vitrine-core` alone and holds no state. A connection's settings come in as a
//! [`ConnectionSpec`] with the password already unsealed; this crate never stores,
//! prints or logs it.
//!
//! One kind exists: PostgreSQL ([`postgres`]). A kind is a module with `check`, `test`
//! and `read` over its own settings struct, and one arm in each `match` below; nothing
//! else in Vitrine names a kind.

mod error;
pub mod postgres;

use std::fmt;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::stream::BoxStream;

pub use error::{SourceError, SourceResult};

/// A password (or any credential) that never shows in `Debug` output or logs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"…\"" })
    }
}

/// How a connection uses TLS, with libpq's meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, plain otherwise; the certificate is not checked.
    Prefer,
    /// TLS or nothing; the certificate is not checked (encryption against eavesdropping,
    /// not against an impostor).
    Require,
    /// TLS with a certificate from a public authority that names the host.
    VerifyFull,
}

impl TlsMode {
    pub const ALL: [TlsMode; 4] = [
        TlsMode::Disable,
        TlsMode::Prefer,
        TlsMode::Require,
        TlsMode::VerifyFull,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyFull => "verify-full",
        }
    }

    pub fn parse(s: &str) -> SourceResult<TlsMode> {
        TlsMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                SourceError::invalid(
                    "tls",
                    format!("`{s}` is not one of disable, prefer, require, verify-full"),
                )
            })
    }
}

/// What a connection is, by kind, with its password unsealed.
#[derive(Debug, Clone)]
pub enum ConnectionSpec {
    Postgres(postgres::PostgresSpec),
}

/// What is read: a whole table (or view), or one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadTarget {
    /// `schema.name` or `name`; quoted by the source, never pasted into SQL as is.
    Table(String),
    /// One statement that returns rows; run read-only.
    Query(String),
}

/// Bounds of one read. Passing a bound fails the read ([`SourceError::Limit`]) rather
/// than handing a block a silently cut table.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    pub max_rows: u64,
    pub timeout: Duration,
    /// Rows per record batch.
    pub batch_rows: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_rows: 50_000_000,
            timeout: Duration::from_secs(15 * 60),
            batch_rows: 64 * 1024,
        }
    }
}

/// What a successful connection test reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// The server's own version string (`PostgreSQL 15.8 …`).
    pub version: String,
    pub tls: bool,
}

/// The batches of one read, each of `schema`. Dropping the stream stops the read and
/// asks the server to cancel the query.
pub struct BatchStream {
    pub schema: SchemaRef,
    pub batches: BoxStream<'static, SourceResult<RecordBatch>>,
}

impl fmt::Debug for BatchStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchStream")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl ConnectionSpec {
    /// Checks the settings without connecting.
    pub fn check(&self) -> SourceResult<()> {
        match self {
            ConnectionSpec::Postgres(p) => p.check(),
        }
    }

    /// Connects, signs in and asks the server's version: the "test connection" button.
    pub async fn test(&self) -> SourceResult<ServerInfo> {
        match self {
            ConnectionSpec::Postgres(p) => postgres::test(p).await,
        }
    }

    /// Starts reading `target`; the schema is known before the first row arrives.
    pub async fn read(&self, target: &ReadTarget, limits: ReadLimits) -> SourceResult<BatchStream> {
        match self {
            ConnectionSpec::Postgres(p) => postgres::read(p, target, limits).await,
        }
    }
}
