//! Typed GraphQL definitions of what a project holds: a report's tabs, tiles and
//! filters ([`report`]), a workflow's blocks with one configuration type per built-in kind
//! ([`blocks`], [`workflow`]). Client generators see real types where the API used to say
//! `JSON`.
//!
//! Where it sits: beside `vitrine-api`, which uses these types in its resolvers; it knows
//! the services (their errors, the engine's block parser they re-export), never storage
//! or HTTP. Types only: no resolver, no I/O.
//!
//! Each type is both the output and (with an `Input` suffix) the input form, so what a
//! client reads it can send back. An input is turned into the JSON the records' own
//! parsers read ([`vitrine_core::report::ReportDefinition`], [`BlockConfig`]), so there is
//! one set of rules and one set of error messages whichever form a client sent; an output
//! is read back from what those parsers produced, with every default written out.
//!
//! [`BlockConfig`]: vitrine_services::values::BlockConfig

pub mod blocks;
mod configs;
pub mod connections;
pub mod datasets;
pub mod kinds;
pub mod locations;
pub mod report;
pub mod workflow;

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use vitrine_services::ApiError;

/// A stored time (milliseconds since the epoch) as GraphQL shows it.
pub fn time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc
        .timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
}

/// One value of a column: a string, a number, a boolean or null. Dates and timestamps
/// are ISO 8601 text (`2024-03-31`, `2024-03-31T12:00:00Z`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CellValue(pub Value);

/// One value of a column: a string, a number, a boolean or null. Dates and timestamps
/// are ISO 8601 text (`2024-03-31`, `2024-03-31T12:00:00Z`).
#[Scalar(name = "CellValue")]
impl ScalarType for CellValue {
    fn parse(value: async_graphql::Value) -> InputValueResult<Self> {
        use async_graphql::Value as V;
        match value {
            V::Null | V::Number(_) | V::String(_) | V::Boolean(_) => value
                .into_json()
                .map(CellValue)
                .map_err(InputValueError::custom),
            V::Enum(name) => Ok(CellValue(Value::String(name.to_string()))),
            V::List(_) | V::Object(_) | V::Binary(_) => Err(InputValueError::custom(
                "a cell value is a string, a number, a boolean or null",
            )),
        }
    }

    fn to_value(&self) -> async_graphql::Value {
        async_graphql::Value::from_json(self.0.clone()).unwrap_or(async_graphql::Value::Null)
    }
}

/// Values as cells (a JSON null is a null cell).
pub fn cells(values: Vec<Value>) -> Vec<Option<CellValue>> {
    values
        .into_iter()
        .map(|v| (!v.is_null()).then_some(CellValue(v)))
        .collect()
}

/// Cells as values, for the services.
pub fn values(cells: Vec<Option<CellValue>>) -> Vec<Value> {
    cells.into_iter().map(value).collect()
}

/// One cell as a value.
pub fn value(cell: Option<CellValue>) -> Value {
    cell.map_or(Value::Null, |c| c.0)
}

/// Reads a typed output from the JSON a record holds. The JSON was produced by the
/// record's own serialiser, so a failure is this crate's bug, reported as internal.
fn from_json<T: DeserializeOwned>(what: &str, v: Value) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| ApiError::internal(what, e))
}

/// The JSON form of a typed input, for the records' parsers.
fn to_json<T: Serialize>(what: &str, v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::internal(what, e))
}
