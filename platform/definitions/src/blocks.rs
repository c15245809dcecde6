//! A block's configuration as GraphQL types, one per built-in kind. A block written with
//! `configuration: {filter: {condition: "…"}}` is the same block as the JSON
//! `{kind: "filter", config: {condition: "…"}}`: the typed input is turned into that JSON
//! and parsed by [`BlockConfig::parse`], the one set of rules. What a client reads back is
//! [`BlockConfig::to_json`], every default written out.

use async_graphql::{OneofObject, OutputType, SimpleObject};
use serde_json::Value;

pub use crate::configs::*;
use crate::{from_json, to_json};
use vitrine_services::values::BlockConfig;
use vitrine_services::{ApiError, ApiResult};

/// The kinds, each with its field of [`BlockConfiguration`] and
/// [`BlockConfigurationInput`] and its output and input types (one type serves as both
/// but for `plugin`); the output struct, the one-of input and the
/// conversions are generated from this one list, so they cannot disagree.
macro_rules! configurations {
    ($($kind:literal => $variant:ident($ty:ty, $input:ty), $field:ident;)*) => {
        /// A block's configuration: exactly one field is set, the block's kind's.
        #[derive(SimpleObject, Default, Debug)]
        pub struct BlockConfiguration {
            $(pub $field: Option<$ty>,)*
        }

        /// A block's kind and configuration: set exactly one field, named after the kind
        /// (`csvSource` for `csv_source`).
        #[derive(OneofObject)]
        pub enum BlockConfigurationInput {
            $($variant($input),)*
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
    "csv_source" => CsvSource(CsvSourceConfig, CsvSourceConfig), csv_source;
    "jsonl_source" => JsonlSource(FileSourceConfig, FileSourceConfig), jsonl_source;
    "parquet_source" => ParquetSource(FileSourceConfig, FileSourceConfig), parquet_source;
    "arrow_source" => ArrowSource(FileSourceConfig, FileSourceConfig), arrow_source;
    "upload_source" => UploadSource(UploadSourceConfig, UploadSourceConfig), upload_source;
    "inline_rows" => InlineRows(InlineRowsConfig, InlineRowsConfig), inline_rows;
    "instance_log" => InstanceLog(InstanceLogConfig, InstanceLogConfig), instance_log;
    "database_source" => DatabaseSource(DatabaseSourceConfig, DatabaseSourceConfig), database_source;
    "sql" => Sql(SqlConfig, SqlConfig), sql;
    "filter" => Filter(FilterConfig, FilterConfig), filter;
    "select" => Select(SelectConfig, SelectConfig), select;
    "join" => Join(JoinConfig, JoinConfig), join;
    "aggregate" => Aggregate(AggregateConfig, AggregateConfig), aggregate;
    "sort" => Sort(SortConfig, SortConfig), sort;
    "union" => Union(UnionConfig, UnionConfig), union;
    "formula" => Formula(FormulaConfig, FormulaConfig), formula;
    "publish" => Publish(PublishConfig, PublishConfig), publish;
    "write_file" => WriteFile(WriteFileConfig, WriteFileConfig), write_file;
    "plugin" => Plugin(PluginConfig, PluginConfigInput), plugin;
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
    use serde_json::json;
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
            (
                "database_source",
                json!({"connection": "${db}", "query": "select 1", "max_rows": 10}),
            ),
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
    fn a_plugin_block_sent_without_settings_gets_empty_ones() {
        let input = BlockConfigurationInput::Plugin(PluginConfigInput {
            plugin: "zscore".into(),
            version: "1.0.0".into(),
            settings: None,
            time_limit_ms: None,
        });
        let (kind, config) = input.into_parts().unwrap();
        assert_eq!(config, json!({"plugin": "zscore", "version": "1.0.0"}));
        let read = BlockConfiguration::of(kind, &config)
            .unwrap()
            .plugin
            .unwrap();
        assert_eq!(read.settings.0, json!({}));
        assert_eq!(read.time_limit_ms, None);
    }

    #[test]
    fn a_saved_configuration_that_no_longer_parses_is_an_internal_error() {
        let e = BlockConfiguration::of("filter", &json!({"condition": 3})).unwrap_err();
        assert_eq!(e.code, vitrine_core::ErrorCode::Internal);
    }
}
