//! One GraphQL type per built-in block kind's configuration, and the enums they use.
//! Field names and defaults follow the engine's own configuration types (serde names
//! are the JSON's, GraphQL's are their camelCase); `blocks` turns them into that JSON and
//! back, and its tests check every kind round-trips.

use async_graphql::{Enum, InputObject, Json, SimpleObject};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::CellValue;
use crate::report::AggregateFunction;

/// A column type, as declared in a source or cast to by `select`.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    Text,
    #[graphql(name = "INT64")]
    Int64,
    #[graphql(name = "FLOAT64")]
    Float64,
    Boolean,
    Date,
    /// Microseconds, without a time zone.
    Timestamp,
}

/// The format of a file a block reads or writes.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Csv,
    /// JSON Lines: one object per line.
    Jsonl,
    Parquet,
    /// Arrow IPC file.
    Arrow,
}

/// What reading a CSV file does with a line that does not fit the columns.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Stop at the first bad line and say which.
    Fail,
    /// Leave bad lines out and report how many (and the first few) in the block's notes.
    Skip,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinHow {
    Inner,
    Left,
    Right,
    Full,
}

/// Which of the instance's own logs an `instance_log` block reads.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceLogKind {
    /// Every audit event: who did what to which object, with its outcome.
    Audit,
    /// Every run of a scheduled task: its task, status, cause and duration.
    TaskRuns,
}

/// A column and its type.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "DeclaredColumnInput")]
pub struct DeclaredColumn {
    pub name: String,
    #[graphql(name = "type")]
    #[serde(rename = "type")]
    pub ty: ColumnType,
}

/// How a CSV file is read.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "CsvOptionsInput")]
pub struct CsvOptions {
    #[graphql(default = true)]
    pub header: bool,
    /// One ASCII character.
    #[graphql(default_with = "\",\".to_owned()")]
    pub delimiter: String,
    #[graphql(default_with = "OnError::Fail")]
    pub on_error: OnError,
    /// Declared column types; without them, types are inferred from the first rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<DeclaredColumn>>,
}

/// `csv_source`: a CSV file of a resource location granted to the project's folder.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "CsvSourceConfigInput")]
pub struct CsvSourceConfig {
    /// The resource location's name.
    pub location: String,
    /// The file, relative to the location's root.
    pub path: String,
    #[graphql(default = true)]
    pub header: bool,
    /// One ASCII character.
    #[graphql(default_with = "\",\".to_owned()")]
    pub delimiter: String,
    #[graphql(default_with = "OnError::Fail")]
    pub on_error: OnError,
    /// Declared column types; without them, types are inferred from the first rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<DeclaredColumn>>,
}

/// `jsonl_source`, `parquet_source` and `arrow_source`: a file of a resource location.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "FileSourceConfigInput")]
pub struct FileSourceConfig {
    /// The resource location's name.
    pub location: String,
    /// The file, relative to the location's root.
    pub path: String,
}

/// `upload_source`: a file uploaded with `uploadFile`.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "UploadSourceConfigInput")]
pub struct UploadSourceConfig {
    /// The id `uploadFile` returned.
    pub upload: String,
    pub format: FileFormat,
    /// For a CSV file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvOptions>,
}

/// `inline_rows`: a small table written in the workflow.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "InlineRowsConfigInput")]
pub struct InlineRowsConfig {
    /// At least one.
    pub columns: Vec<DeclaredColumn>,
    /// Each row has one value per column.
    pub rows: Vec<Vec<Option<CellValue>>>,
}

/// `instance_log`: the instance's audit log or task runs (admins only).
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "InstanceLogConfigInput")]
pub struct InstanceLogConfig {
    pub log: InstanceLogKind,
    /// How far back, in days (1 to 366).
    #[graphql(default = 30)]
    pub days: u32,
}

/// `database_source`: a table or a query of a data connection. Give `table` or `query`.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "DatabaseSourceConfigInput")]
pub struct DatabaseSourceConfig {
    /// The connection's name, often `${parameter}` so each instance picks its own.
    pub connection: String,
    /// `name` or `schema.name`, read whole (RESTRICTED_QUERIER connection role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// One SQL statement returning rows, run read-only (QUERIER connection role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
}

/// `sql`: a query in which each input is a table named by its port.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "SqlConfigInput")]
pub struct SqlConfig {
    pub query: String,
}

/// `filter`: keeps the rows a SQL boolean expression holds for.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "FilterConfigInput")]
pub struct FilterConfig {
    /// A SQL boolean expression over the input's columns.
    pub condition: String,
}

/// One column `select` keeps.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "SelectColumnInput")]
pub struct SelectColumn {
    pub column: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cast: Option<ColumnType>,
}

/// `select`: keeps, renames and casts columns.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "SelectConfigInput")]
pub struct SelectConfig {
    /// At least one.
    pub columns: Vec<SelectColumn>,
}

/// A pair of key columns, one from each side.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "JoinKeyInput")]
pub struct JoinKey {
    pub left: String,
    pub right: String,
}

/// `join`: joins the `left` and `right` inputs on key columns.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "JoinConfigInput")]
pub struct JoinConfig {
    #[graphql(default_with = "JoinHow::Inner")]
    pub how: JoinHow,
    /// At least one pair.
    pub on: Vec<JoinKey>,
}

/// One measure of an `aggregate` block.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "AggregateMeasureInput")]
pub struct AggregateMeasure {
    /// Left out only for COUNT, which then counts rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub function: AggregateFunction,
    /// The output column.
    pub name: String,
}

/// `aggregate`: groups rows and computes measures (a group or a measure at least).
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "AggregateConfigInput")]
pub struct AggregateConfig {
    #[graphql(default)]
    #[serde(default)]
    pub group_by: Vec<String>,
    pub measures: Vec<AggregateMeasure>,
}

/// One sort key of a `sort` block.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "SortKeyInput")]
pub struct SortKey {
    pub column: String,
    #[graphql(default)]
    #[serde(default)]
    pub descending: bool,
}

/// `sort`: orders rows, optionally keeping the first `limit`.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "SortConfigInput")]
pub struct SortConfig {
    /// At least one key.
    pub by: Vec<SortKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// `union`: the rows of every input (two or more, with the same columns).
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "UnionConfigInput")]
pub struct UnionConfig {
    /// Drop repeated rows.
    #[graphql(default)]
    #[serde(default)]
    pub distinct: bool,
}

/// `formula`: adds a column computed by a SQL expression.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "FormulaConfigInput")]
pub struct FormulaConfig {
    /// The new column.
    pub name: String,
    /// A SQL expression over the input's columns.
    pub expression: String,
}

/// `publish`: makes the input a dataset reports can show.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "PublishConfigInput")]
pub struct PublishConfig {
    /// The dataset's name: a-z, 0-9 and _, starting with a letter.
    pub dataset: String,
}

/// `write_file`: writes the input to a file of a resource location the project may write.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "WriteFileConfigInput")]
pub struct WriteFileConfig {
    pub location: String,
    pub path: String,
    pub format: FileFormat,
}

/// `plugin`: a published custom block, pinned to one version.
#[derive(SimpleObject, Clone, Debug, Serialize, Deserialize)]
pub struct PluginConfig {
    /// The plugin's name.
    pub plugin: String,
    /// An exact published version (`1.2.0`), so publishing a newer one never changes
    /// what the workflow does.
    pub version: String,
    /// The plugin's own settings: free-form by design, checked against the JSON Schema
    /// the plugin declares (`Plugin.configSchema`).
    pub settings: Json<Value>,
    /// A shorter time limit than the instance's, for this block.
    pub time_limit_ms: Option<u64>,
}

/// `plugin`: a published custom block, pinned to one version. (Apart from the output
/// type because `settings` may be left out here: a JSON default would read as text.)
#[derive(InputObject, Clone, Debug, Serialize)]
pub struct PluginConfigInput {
    /// The plugin's name.
    pub plugin: String,
    /// An exact published version (`1.2.0`).
    pub version: String,
    /// The plugin's own settings, checked against the JSON Schema the plugin declares
    /// (`Plugin.configSchema`); none when left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<Json<Value>>,
    /// A shorter time limit than the instance's, for this block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_limit_ms: Option<u64>,
}
