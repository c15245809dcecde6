//! What a client can learn of each built-in block kind before writing a workflow: what
//! it does, its input ports, and a JSON Schema of its configuration. The schemas are
//! derived from the very types [`BlockConfig::parse`](super::BlockConfig::parse) reads,
//! so they cannot drift from what is accepted; the few checks beyond a schema (a one-byte
//! delimiter, a non-empty column list) are said in the descriptions.

use schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings};
use serde_json::Value;

use super::{
    Aggregate, CsvSource, FileSource, Filter, Formula, InlineRows, Join, PluginBlock, Ports,
    Publish, Select, Sort, Sql, Union, UploadSource, WriteFile, database::DatabaseSource,
    instance_log::InstanceLog,
};

/// One built-in kind, as the API lists it.
#[derive(Debug, Clone)]
pub struct KindInfo {
    pub name: &'static str,
    pub description: &'static str,
    pub inputs: Ports,
    /// JSON Schema (draft 2020-12) of the block's `config`.
    pub config_schema: Value,
}

fn schema<T: JsonSchema>() -> Value {
    let generator = SchemaGenerator::new(SchemaSettings::draft2020_12());
    serde_json::to_value(generator.into_root_schema_for::<T>()).unwrap_or_default()
}

/// The input ports of a kind (`None` for an unknown kind).
pub fn ports_of(kind: &str) -> Option<Ports> {
    Some(match kind {
        "csv_source" | "jsonl_source" | "parquet_source" | "arrow_source" | "upload_source"
        | "inline_rows" | "instance_log" | "database_source" => Ports::None,
        "sql" => Ports::Named { min: 1 },
        "union" => Ports::Named { min: 2 },
        "join" => Ports::Fixed(&["left", "right"]),
        "plugin" => Ports::Plugin,
        "filter" | "select" | "aggregate" | "sort" | "formula" | "publish" | "write_file" => {
            Ports::Fixed(&["in"])
        }
        _ => return None,
    })
}

/// Every built-in kind, in the order of [`super::KINDS`].
pub fn kinds() -> Vec<KindInfo> {
    let kind = |name: &'static str, description: &'static str, config_schema: Value| KindInfo {
        name,
        description,
        inputs: ports_of(name).unwrap_or(Ports::None),
        config_schema,
    };
    vec![
        kind(
            "csv_source",
            "Reads a CSV file of a resource location granted to the project's folder. `delimiter` is one byte.",
            schema::<CsvSource>(),
        ),
        kind(
            "jsonl_source",
            "Reads a JSON Lines file of a resource location.",
            schema::<FileSource>(),
        ),
        kind(
            "parquet_source",
            "Reads a Parquet file of a resource location.",
            schema::<FileSource>(),
        ),
        kind(
            "arrow_source",
            "Reads an Arrow IPC file of a resource location.",
            schema::<FileSource>(),
        ),
        kind(
            "upload_source",
            "Reads a file uploaded with `uploadFile`, by the id it returned.",
            schema::<UploadSource>(),
        ),
        kind(
            "inline_rows",
            "A small table written in the workflow: declared columns (at least one) and rows of JSON values.",
            schema::<InlineRows>(),
        ),
        kind(
            "instance_log",
            "The instance's audit log or task runs as a table (admins only).",
            schema::<InstanceLog>(),
        ),
        kind(
            "database_source",
            "Reads a table (`table`, RESTRICTED_QUERIER connection role) or a query (`query`, QUERIER) of a data connection, usually named through a `${parameter}`. Give one of the two. Read again at every run.",
            schema::<DatabaseSource>(),
        ),
        kind(
            "sql",
            "A SQL query in which each input is a table named by its port.",
            schema::<Sql>(),
        ),
        kind(
            "filter",
            "Keeps the rows a SQL boolean expression holds for.",
            schema::<Filter>(),
        ),
        kind(
            "select",
            "Keeps, renames and casts columns.",
            schema::<Select>(),
        ),
        kind(
            "join",
            "Joins `left` and `right` on key columns.",
            schema::<Join>(),
        ),
        kind(
            "aggregate",
            "Groups rows and computes measures.",
            schema::<Aggregate>(),
        ),
        kind(
            "sort",
            "Orders rows, optionally keeping the first `limit`.",
            schema::<Sort>(),
        ),
        kind(
            "union",
            "Stacks inputs with the same columns, optionally without duplicates.",
            schema::<Union>(),
        ),
        kind(
            "formula",
            "Adds a column computed by a SQL expression.",
            schema::<Formula>(),
        ),
        kind(
            "publish",
            "Publishes its input as a named dataset of the project.",
            schema::<Publish>(),
        ),
        kind(
            "write_file",
            "Writes its input to a file of a resource location granted for WRITE.",
            schema::<WriteFile>(),
        ),
        kind(
            "plugin",
            "Runs a published plugin block, pinned to one version; `settings` follow the plugin's own `configSchema`.",
            schema::<PluginBlock>(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::{BlockConfig, KINDS};

    #[test]
    fn every_kind_is_described_and_its_schema_is_what_parse_accepts() {
        let kinds = kinds();
        let names: Vec<&str> = kinds.iter().map(|k| k.name).collect();
        assert_eq!(names, KINDS);
        for k in &kinds {
            let validator = jsonschema::validator_for(&k.config_schema)
                .unwrap_or_else(|e| panic!("{}: {e}", k.name));
            assert!(!k.description.is_empty());
            assert_eq!(k.config_schema["type"], "object", "{}", k.name);
            // A misspelt field is refused by the schema as by the parser.
            let mut wrong = serde_json::json!({"colum": "x"});
            if k.name == "csv_source" {
                wrong = serde_json::json!({"location": "files", "path": "a.csv", "delimter": ";"});
            }
            assert!(!validator.is_valid(&wrong), "{}", k.name);
            assert!(BlockConfig::parse(k.name, &wrong).is_err(), "{}", k.name);
        }
        // Configurations the parser accepts pass their schema.
        for (kind, config) in [
            (
                "csv_source",
                serde_json::json!({"location": "files", "path": "a.csv", "columns": [{"name": "id", "type": "int64"}]}),
            ),
            (
                "aggregate",
                serde_json::json!({"group_by": ["region"], "measures": [{"column": "sales", "function": "sum", "name": "sales"}]}),
            ),
            (
                "join",
                serde_json::json!({"how": "left", "on": [{"left": "id", "right": "id"}]}),
            ),
            (
                "plugin",
                serde_json::json!({"plugin": "zscore", "version": "1.0.0", "settings": {"column": "x"}}),
            ),
            (
                "instance_log",
                serde_json::json!({"log": "task_runs", "days": 7}),
            ),
            (
                "database_source",
                serde_json::json!({"connection": "${db}", "table": "public.orders", "max_rows": 1000}),
            ),
        ] {
            assert!(BlockConfig::parse(kind, &config).is_ok(), "{kind}");
            let k = kinds.iter().find(|k| k.name == kind).unwrap();
            let validator = jsonschema::validator_for(&k.config_schema).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&config)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{kind}: {errors:?}");
        }
    }
}
