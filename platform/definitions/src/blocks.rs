//! A block's configuration as GraphQL types, one per built-in kind. A block written with
//! `configuration: {filter: {condition: "…"}}` is the same block as the JSON
//! `{kind: "filter", config: {condition: "…"}}`: the typed input is turned into that JSON
//! and parsed by [`BlockConfig::parse`], the one set of rules. What a client reads back is
//! [`BlockConfig::to_json`], every default written out.

use async_graphql::{Enum, InputObject, Json, OneofObject, OutputType, SimpleObject};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::report::AggregateFunction;
use crate::{CellValue, from_json, to_json};
use vitrine_services::values::BlockConfig;
use vitrine_services::{ApiError, ApiResult};

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
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "PluginConfigInput")]
pub struct PluginConfig {
    /// The plugin's name.
    pub plugin: String,
    /// An exact published version (`1.2.0`), so publishing a newer one never changes
    /// what the workflow does.
    pub version: String,
    /// The plugin's own settings: free-form by design, checked against the JSON Schema
    /// the plugin declares (`Plugin.configSchema`).
    #[graphql(default_with = "Json(json!({}))")]
    pub settings: Json<Value>,
    /// A shorter time limit than the instance's, for this block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit_ms: Option<u64>,
}

/// The kinds, each with its field of [`BlockConfiguration`] and
/// [`BlockConfigurationInput`] and its type; the output struct, the one-of input and the
/// conversions are generated from this one list, so they cannot disagree.
macro_rules! configurations {
    ($($kind:literal => $variant:ident($ty:ty), $field:ident;)*) => {
        /// A block's configuration: exactly one field is set, the block's kind's.
        #[derive(SimpleObject, Default, Debug)]
        pub struct BlockConfiguration {
            $(pub $field: Option<$ty>,)*
        }

        /// A block's kind and configuration: set exactly one field, named after the kind
        /// (`csvSource` for `csv_source`).
        #[derive(OneofObject)]
        pub enum BlockConfigurationInput {
            $($variant($ty),)*
        }

        impl BlockConfigurationInput {
            /// The kind, as a workflow's JSON names it, and its configuration as JSON.
            pub fn into_parts(self) -> ApiResult<(&'static str, Value)> {
                match self {
                    $(Self::$variant(c) => Ok(($kind, to_json($kind, &c)?)),)*
                }
            }
        }

        impl BlockConfiguration {
            /// The typed configuration of a block as parsed (defaults written out).
            fn of_parsed(kind: &str, config: Value) -> ApiResult<Self> {
                let mut out = BlockConfiguration::default();
                match kind {
                    $($kind => out.$field = Some(from_json($kind, config)?),)*
                    other => {
                        return Err(ApiError::internal(
                            "block configuration",
                            format!("no GraphQL type for the kind `{other}`"),
                        ))
                    }
                }
                Ok(out)
            }
        }

        #[cfg(test)]
        impl BlockConfiguration {
            /// The fields set, as JSON, with their kinds.
            fn set(&self) -> Vec<(&'static str, Value)> {
                let mut out = Vec::new();
                $(if let Some(c) = &self.$field {
                    out.push(($kind, serde_json::to_value(c).unwrap()));
                })*
                out
            }
        }

        /// A kind's field of `BlockConfigurationInput` and the GraphQL type it takes.
        pub fn configuration_field(kind: &str) -> Option<(String, String)> {
            match kind {
                $($kind => Some((
                    camel(stringify!($field)),
                    <$ty as OutputType>::type_name().into_owned(),
                )),)*
                _ => None,
            }
        }
    };
}

configurations! {
    "csv_source" => CsvSource(CsvSourceConfig), csv_source;
    "jsonl_source" => JsonlSource(FileSourceConfig), jsonl_source;
    "parquet_source" => ParquetSource(FileSourceConfig), parquet_source;
    "arrow_source" => ArrowSource(FileSourceConfig), arrow_source;
    "upload_source" => UploadSource(UploadSourceConfig), upload_source;
    "inline_rows" => InlineRows(InlineRowsConfig), inline_rows;
    "instance_log" => InstanceLog(InstanceLogConfig), instance_log;
    "sql" => Sql(SqlConfig), sql;
    "filter" => Filter(FilterConfig), filter;
    "select" => Select(SelectConfig), select;
    "join" => Join(JoinConfig), join;
    "aggregate" => Aggregate(AggregateConfig), aggregate;
    "sort" => Sort(SortConfig), sort;
    "union" => Union(UnionConfig), union;
    "formula" => Formula(FormulaConfig), formula;
    "publish" => Publish(PublishConfig), publish;
    "write_file" => WriteFile(WriteFileConfig), write_file;
    "plugin" => Plugin(PluginConfig), plugin;
}

impl BlockConfiguration {
    /// A saved block's configuration, typed: parsed for its kind as a run would parse it.
    pub fn of(kind: &str, config: &Value) -> ApiResult<Self> {
        let parsed = BlockConfig::parse(kind, config).map_err(|(field, reason)| {
            ApiError::internal(
                "block configuration",
                format!("a saved `{kind}` block no longer parses: {field}: {reason}"),
            )
        })?;
        BlockConfiguration::of_parsed(kind, parsed.to_json())
    }
}

/// `csv_source` → `csvSource`.
pub(super) fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_services::values::BLOCK_KINDS;

    /// One configuration per built-in kind, written as a JSON client would, leaving
    /// defaults out where it may.
    fn samples() -> Vec<(&'static str, Value)> {
        vec![
            (
                "csv_source",
                json!({"location": "files", "path": "a.csv",
                "columns": [{"name": "x", "type": "string"}]}),
            ),
            (
                "jsonl_source",
                json!({"location": "files", "path": "a.jsonl"}),
            ),
            (
                "parquet_source",
                json!({"location": "files", "path": "a.parquet"}),
            ),
            (
                "arrow_source",
                json!({"location": "files", "path": "a.arrow"}),
            ),
            (
                "upload_source",
                json!({"upload": "u1", "format": "csv",
                "csv": {"delimiter": ";", "on_error": "skip"}}),
            ),
            (
                "inline_rows",
                json!({"columns": [{"name": "n", "type": "int64"},
                {"name": "s", "type": "text"}], "rows": [[1, "a"], [null, "b"]]}),
            ),
            ("instance_log", json!({"log": "task_runs"})),
            ("sql", json!({"query": "select * from a"})),
            ("filter", json!({"condition": "x > 1"})),
            (
                "select",
                json!({"columns": [{"column": "x", "rename": "y", "cast": "float64"},
                {"column": "z"}]}),
            ),
            ("join", json!({"on": [{"left": "a", "right": "b"}]})),
            (
                "aggregate",
                json!({"group_by": ["r"], "measures": [
                {"function": "count", "name": "n"},
                {"column": "s", "function": "count_distinct", "name": "d"}]}),
            ),
            (
                "sort",
                json!({"by": [{"column": "x", "descending": true}], "limit": 5}),
            ),
            ("union", json!({})),
            ("formula", json!({"name": "y", "expression": "x * 2"})),
            ("publish", json!({"dataset": "sales"})),
            (
                "write_file",
                json!({"location": "out", "path": "a.parquet", "format": "parquet"}),
            ),
            (
                "plugin",
                json!({"plugin": "zscore", "version": "1.0.0",
                "settings": {"column": "x", "nested": {"k": null}}, "time_limit_ms": 500}),
            ),
        ]
    }

    #[test]
    fn every_kind_has_a_typed_configuration() {
        let untyped: Vec<_> = (BLOCK_KINDS.iter())
            .filter(|k| configuration_field(k).is_none())
            .collect();
        assert!(
            untyped.is_empty(),
            "kinds without a GraphQL type: {untyped:?}"
        );
        let sampled: Vec<_> = samples().into_iter().map(|(k, _)| k).collect();
        assert_eq!(sampled, BLOCK_KINDS, "a sample per kind, in order");
        assert_eq!(
            configuration_field("csv_source"),
            Some(("csvSource".into(), "CsvSourceConfig".into()))
        );
    }

    /// What a client reads is the parsed configuration with its defaults, in today's
    /// words; sent back typed, it parses to the very same configuration.
    #[test]
    fn a_configuration_read_typed_and_sent_back_is_the_same_block() {
        for (kind, sample) in samples() {
            let parsed = BlockConfig::parse(kind, &sample).unwrap().to_json();
            let typed = BlockConfiguration::of(kind, &sample).unwrap();
            let set = typed.set();
            assert_eq!(set.len(), 1, "{kind}: one field set");
            let (k, sent) = set.into_iter().next().unwrap();
            assert_eq!(k, kind);
            let again = BlockConfig::parse(kind, &sent).unwrap().to_json();
            assert_eq!(again, parsed, "{kind}");
        }
        let csv = BlockConfiguration::of("csv_source", &samples()[0].1).unwrap();
        let csv = csv.csv_source.unwrap();
        assert!(csv.header, "a default is written out");
        assert_eq!(csv.delimiter, ",");
        assert_eq!(
            csv.columns.unwrap()[0].ty,
            ColumnType::Text,
            "`string` reads as TEXT"
        );
    }

    #[test]
    fn a_saved_configuration_that_no_longer_parses_is_an_internal_error() {
        let e = BlockConfiguration::of("filter", &json!({"condition": 3})).unwrap_err();
        assert_eq!(e.code, vitrine_core::ErrorCode::Internal);
    }
}
