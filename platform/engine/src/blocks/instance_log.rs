//! The `instance_log` source block: the instance's own audit log, or its task runs, as a
//! dataset, so audit dashboards are ordinary reports. Rows come from storage as JSON
//! (see [`rows`]) and are decoded against a fixed schema, so an empty log still has its
//! columns. Who may read it is the services' rule (admins), checked when a workflow
//! holding one is saved or run.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::BlockOutput;
use crate::{EngineError, EngineResult};

/// Longest look back.
pub const MAX_DAYS: u32 = 366;
/// Most rows one block reads.
pub const MAX_ROWS: usize = 1_000_000;

/// Which log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// Every audit event: who did what to which object, with its outcome.
    Audit,
    /// Every run of a scheduled task: its task, status, cause and duration.
    TaskRuns,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceLog {
    pub log: LogKind,
    /// How far back, in days (default 30).
    #[serde(default = "thirty")]
    #[schemars(range(min = 1, max = 366))]
    pub days: u32,
}

fn thirty() -> u32 {
    30
}

impl InstanceLog {
    pub(super) fn check(&self) -> Result<(), (String, String)> {
        if !(1..=MAX_DAYS).contains(&self.days) {
            return Err(("config.days".into(), format!("between 1 and {MAX_DAYS}")));
        }
        Ok(())
    }

    /// The dataset's columns, whatever the rows.
    pub fn schema(&self) -> SchemaRef {
        let text = |n: &str| Field::new(n, DataType::Utf8, true);
        let int = |n: &str| Field::new(n, DataType::Int64, true);
        let mut fields = vec![text("at"), text("day"), int("at_ms")];
        match self.log {
            LogKind::Audit => fields
                .extend(["actor", "action", "object", "outcome", "address", "detail"].map(text)),
            LogKind::TaskRuns => {
                fields.extend(["task", "status", "cause", "message"].map(text));
                fields.extend(["projects", "duration_ms"].map(int));
            }
        }
        Arc::new(Schema::new(fields))
    }
}

/// Storage rows (each with `at_ms`) as the block's JSON source: `at` (RFC 3339, UTC) and
/// `day` (`YYYY-MM-DD`) added for grouping.
pub fn rows(mut rows: Vec<Value>) -> Bytes {
    for r in &mut rows {
        let at = r["at_ms"].as_i64().unwrap_or_default();
        let t = chrono::DateTime::from_timestamp_millis(at).unwrap_or_default();
        r["at"] = json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        r["day"] = json!(t.format("%Y-%m-%d").to_string());
    }
    Bytes::from(serde_json::to_vec(&rows).unwrap_or_else(|_| b"[]".to_vec()))
}

/// Decodes what [`rows`] made against the log's schema.
pub(super) fn decode(c: &InstanceLog, bytes: &[u8]) -> EngineResult<BlockOutput> {
    let schema = c.schema();
    let rows: Vec<serde_json::Map<String, Value>> = serde_json::from_slice(bytes)
        .map_err(|e| EngineError::Internal(format!("instance log rows: {e}")))?;
    let mut decoder = datafusion::arrow::json::ReaderBuilder::new(schema.clone())
        .with_coerce_primitive(true)
        .build_decoder()?;
    decoder.serialize(&rows)?;
    let batch = decoder.flush()?;
    Ok(BlockOutput {
        schema,
        batches: batch.into_iter().collect(),
        notes: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_log_keeps_its_columns_and_rows_get_their_day() {
        let c = InstanceLog {
            log: LogKind::Audit,
            days: 7,
        };
        let out = decode(&c, &rows(vec![])).unwrap();
        assert_eq!(out.schema.fields().len(), 9);
        let bytes = rows(vec![
            json!({"at_ms": 86_400_000 + 5, "actor": "ann", "action": "auth.login",
            "object": "user:1", "outcome": "ok", "address": null, "detail": ""}),
        ]);
        let out = decode(&c, &bytes).unwrap();
        assert_eq!(out.batches[0].num_rows(), 1);
        let text: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(text[0]["day"], "1970-01-02");
        assert!(
            InstanceLog {
                log: LogKind::TaskRuns,
                days: 0
            }
            .check()
            .is_err()
        );
    }
}
