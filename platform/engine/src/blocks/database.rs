//! `database_source`: a table or a query of an outside database, read through one of
//! the instance's data connections into Arrow batches (see `vitrine-sources`). The
//! connection is named in the configuration, usually through a `${parameter}` so that
//! each instance (production, test) reads its own database with the same workflow.

use futures::TryStreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vitrine_sources::{ConnectionSpec, ReadLimits, ReadTarget};

use super::{BlockOutput, FieldError};
use crate::{EngineError, EngineResult};

/// Longest a read may be given by its block; the engine's own block limit also applies.
const MAX_TIMEOUT_SECONDS: u64 = 24 * 3600;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSource {
    /// The data connection's name (`createDataConnection`), often `${parameter}`.
    pub connection: String,
    /// A table or view read whole: `name` or `schema.name`. Give this or `query`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// One SQL statement returning rows, run read-only (needs the QUERIER connection
    /// role). Give this or `table`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Fails the read past this many rows (at most the engine's block limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<u64>,
    /// Fails the read past this many seconds (at most the engine's block limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
}

impl DatabaseSource {
    pub(super) fn check(&self) -> Result<(), FieldError> {
        let field = |f: &str, r: &str| Err((format!("config.{f}"), r.to_owned()));
        if self.connection.trim().is_empty() {
            return field("connection", "must name a data connection");
        }
        match (&self.table, &self.query) {
            (Some(_), Some(_)) | (None, None) => {
                return field("table", "give either `table` or `query`, not both");
            }
            (Some(t), None) if t.trim().is_empty() => return field("table", "must not be empty"),
            (None, Some(q)) if q.trim().is_empty() => return field("query", "must not be empty"),
            _ => {}
        }
        if self.max_rows == Some(0) {
            return field("max_rows", "must be positive");
        }
        match self.timeout_seconds {
            Some(0) => field("timeout_seconds", "must be positive"),
            Some(s) if s > MAX_TIMEOUT_SECONDS => field(
                "timeout_seconds",
                &format!("must be at most {MAX_TIMEOUT_SECONDS}"),
            ),
            _ => Ok(()),
        }
    }

    /// Whether the block runs free SQL (rather than reading a named table).
    pub fn is_free_sql(&self) -> bool {
        self.query.is_some()
    }

    /// The query when given, else the table (`check` makes sure one is).
    pub fn target(&self) -> ReadTarget {
        match &self.query {
            Some(q) => ReadTarget::Query(q.clone()),
            None => ReadTarget::Table(self.table.clone().unwrap_or_default()),
        }
    }
}

/// Reads the block's table or query through `spec`, within the block's limits and the
/// engine's.
pub(crate) async fn read(
    c: &DatabaseSource,
    spec: &ConnectionSpec,
    engine: &crate::EngineLimits,
) -> EngineResult<BlockOutput> {
    let limits = ReadLimits {
        max_rows: c
            .max_rows
            .unwrap_or(u64::MAX)
            .min(engine.block_max_rows as u64),
        timeout: c
            .timeout_seconds
            .map(std::time::Duration::from_secs)
            .unwrap_or(engine.block_time_limit)
            .min(engine.block_time_limit),
        ..ReadLimits::default()
    };
    let stream = spec.read(&c.target(), limits).await?;
    let schema = stream.schema.clone();
    let batches: Vec<_> = stream.batches.try_collect().await?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    Ok(BlockOutput {
        schema,
        batches,
        notes: vec![format!(
            "read {rows} rows from data connection `{}`",
            c.connection
        )],
    })
}

impl From<vitrine_sources::SourceError> for EngineError {
    fn from(e: vitrine_sources::SourceError) -> Self {
        match e {
            vitrine_sources::SourceError::Invalid { field, reason } => {
                EngineError::invalid(format!("connection.{field}"), reason)
            }
            vitrine_sources::SourceError::Cancelled => EngineError::Cancelled,
            other => EngineError::Source(other.to_string(), other.code()),
        }
    }
}
