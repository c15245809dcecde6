//! Built-in block kinds: their configuration (parsed strictly, so a misspelt field is an
//! error naming it) and their execution over DataFusion.

pub(crate) mod bounded;
pub mod catalogue;
pub mod database;
pub(crate) mod exec;
pub(crate) mod files;
mod in_order;
pub mod instance_log;
pub(crate) mod ipc_parts;
pub(crate) mod ipc_threads;
mod yielding;

pub use exec::{BlockInput, BlockOutput, execute};
pub use files::{FileFormat, compress_ipc, decode_file, decode_ipc, encode_file};

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::ColumnType;

/// The input ports a kind declares.
#[derive(Debug, Clone, Copy)]
pub enum Ports {
    None,
    Fixed(&'static [&'static str]),
    /// The ports the block's plugin declares.
    Plugin,
    /// Any number (at least `min`) of author-named ports; SQL sees each as a table.
    Named {
        min: usize,
    },
}

/// A block's configuration, parsed for its kind. Serialised (untagged) it is the
/// configuration with every default filled in: what the API shows a client.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum BlockConfig {
    CsvSource(CsvSource),
    JsonlSource(FileSource),
    ParquetSource(FileSource),
    ArrowSource(FileSource),
    UploadSource(UploadSource),
    InlineRows(InlineRows),
    /// The instance's audit log or task runs (admins only; see [`instance_log`]).
    InstanceLog(instance_log::InstanceLog),
    /// A table or query of an outside database (see [`database`]).
    DatabaseSource(database::DatabaseSource),
    Sql(Sql),
    Filter(Filter),
    Select(Select),
    Join(Join),
    Aggregate(Aggregate),
    Sort(Sort),
    Union(Union),
    Formula(Formula),
    Publish(Publish),
    WriteFile(WriteFile),
    Plugin(PluginBlock),
}

/// Every built-in kind, in the order the API lists them.
pub const KINDS: &[&str] = &[
    "csv_source",
    "jsonl_source",
    "parquet_source",
    "arrow_source",
    "upload_source",
    "inline_rows",
    "instance_log",
    "database_source",
    "sql",
    "filter",
    "select",
    "join",
    "aggregate",
    "sort",
    "union",
    "formula",
    "publish",
    "write_file",
    "plugin",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Stop at the first bad line and say which.
    #[default]
    Fail,
    /// Leave bad lines out and report how many (and the first few) in the block's notes.
    Skip,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnDecl {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColumnType,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    #[serde(default = "yes")]
    pub header: bool,
    #[serde(default = "comma")]
    pub delimiter: String,
    #[serde(default)]
    pub on_error: OnError,
    /// Declared column types; without them types are inferred from the first rows.
    #[serde(default)]
    pub columns: Option<Vec<ColumnDecl>>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: true,
            delimiter: ",".into(),
            on_error: OnError::Fail,
            columns: None,
        }
    }
}

fn yes() -> bool {
    true
}
fn comma() -> String {
    ",".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvSource {
    pub location: String,
    pub path: String,
    #[serde(default = "yes")]
    pub header: bool,
    #[serde(default = "comma")]
    pub delimiter: String,
    #[serde(default)]
    pub on_error: OnError,
    #[serde(default)]
    pub columns: Option<Vec<ColumnDecl>>,
}

impl CsvSource {
    pub fn options(&self) -> CsvOptions {
        CsvOptions {
            header: self.header,
            delimiter: self.delimiter.clone(),
            on_error: self.on_error,
            columns: self.columns.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    pub location: String,
    pub path: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadSource {
    /// The id `uploadFile` returned.
    pub upload: String,
    pub format: FileFormat,
    #[serde(default)]
    pub csv: Option<CsvOptions>,
}

/// A custom block: a published plugin, pinned to one version so publishing a newer one
/// never changes what a workflow does.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginBlock {
    pub plugin: String,
    pub version: String,
    /// The plugin's own configuration, checked against the schema it declares.
    #[serde(default = "empty_object")]
    pub settings: Value,
    /// A shorter time limit than the instance's, for this block.
    #[serde(default)]
    pub time_limit_ms: Option<u64>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InlineRows {
    pub columns: Vec<ColumnDecl>,
    pub rows: Vec<Vec<Value>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sql {
    pub query: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// A SQL boolean expression over the input's columns.
    pub condition: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectColumn {
    pub column: String,
    #[serde(default)]
    pub rename: Option<String>,
    #[serde(default)]
    pub cast: Option<ColumnType>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Select {
    pub columns: Vec<SelectColumn>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JoinHow {
    Inner,
    Left,
    Right,
    Full,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinKey {
    pub left: String,
    pub right: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Join {
    #[serde(default = "inner")]
    pub how: JoinHow,
    pub on: Vec<JoinKey>,
}

fn inner() -> JoinHow {
    JoinHow::Inner
}

pub use vitrine_core::report::AggFunction;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AggMeasure {
    /// Absent only for `count` (count of rows).
    #[serde(default)]
    pub column: Option<String>,
    pub function: AggFunction,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Aggregate {
    #[serde(default)]
    pub group_by: Vec<String>,
    pub measures: Vec<AggMeasure>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SortKey {
    pub column: String,
    #[serde(default)]
    pub descending: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sort {
    pub by: Vec<SortKey>,
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Union {
    #[serde(default)]
    pub distinct: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Formula {
    pub name: String,
    pub expression: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    pub dataset: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteFile {
    pub location: String,
    pub path: String,
    pub format: FileFormat,
}

type FieldError = (String, String);

fn parse<T: DeserializeOwned>(v: &Value) -> Result<T, FieldError> {
    let v = if v.is_null() {
        Value::Object(Default::default())
    } else {
        v.clone()
    };
    serde_json::from_value(v).map_err(|e| ("config".to_owned(), vitrine_core::json_words(&e)))
}

fn nonempty(field: &str, s: &str) -> Result<(), FieldError> {
    if s.trim().is_empty() {
        Err((format!("config.{field}"), "must not be empty".into()))
    } else {
        Ok(())
    }
}

impl BlockConfig {
    /// Parses a block's configuration for its kind; errors carry the field's path.
    pub fn parse(kind: &str, v: &Value) -> Result<BlockConfig, FieldError> {
        let c = match kind {
            "csv_source" => {
                let c: CsvSource = parse(v)?;
                check_delimiter(&c.delimiter)?;
                BlockConfig::CsvSource(c)
            }
            "jsonl_source" => BlockConfig::JsonlSource(parse(v)?),
            "parquet_source" => BlockConfig::ParquetSource(parse(v)?),
            "arrow_source" => BlockConfig::ArrowSource(parse(v)?),
            "upload_source" => {
                let c: UploadSource = parse(v)?;
                if let Some(o) = &c.csv {
                    check_delimiter(&o.delimiter)?;
                }
                BlockConfig::UploadSource(c)
            }
            "inline_rows" => {
                let c: InlineRows = parse(v)?;
                if c.columns.is_empty() {
                    return Err((
                        "config.columns".into(),
                        "declare at least one column".into(),
                    ));
                }
                for (i, r) in c.rows.iter().enumerate() {
                    if r.len() != c.columns.len() {
                        return Err((
                            format!("config.rows[{i}]"),
                            format!("has {} values for {} columns", r.len(), c.columns.len()),
                        ));
                    }
                }
                BlockConfig::InlineRows(c)
            }
            "instance_log" => {
                let c: instance_log::InstanceLog = parse(v)?;
                c.check()?;
                BlockConfig::InstanceLog(c)
            }
            "database_source" => {
                let c: database::DatabaseSource = parse(v)?;
                c.check()?;
                BlockConfig::DatabaseSource(c)
            }
            "sql" => {
                let c: Sql = parse(v)?;
                nonempty("query", &c.query)?;
                BlockConfig::Sql(c)
            }
            "filter" => {
                let c: Filter = parse(v)?;
                nonempty("condition", &c.condition)?;
                BlockConfig::Filter(c)
            }
            "select" => {
                let c: Select = parse(v)?;
                if c.columns.is_empty() {
                    return Err(("config.columns".into(), "select at least one column".into()));
                }
                BlockConfig::Select(c)
            }
            "join" => {
                let c: Join = parse(v)?;
                if c.on.is_empty() {
                    return Err(("config.on".into(), "name at least one key pair".into()));
                }
                BlockConfig::Join(c)
            }
            "aggregate" => {
                let c: Aggregate = parse(v)?;
                for (i, m) in c.measures.iter().enumerate() {
                    if m.column.is_none() && m.function != AggFunction::Count {
                        return Err((
                            format!("config.measures[{i}].column"),
                            "only `count` may omit the column".into(),
                        ));
                    }
                }
                if c.measures.is_empty() && c.group_by.is_empty() {
                    return Err(("config.measures".into(), "give a measure or a group".into()));
                }
                BlockConfig::Aggregate(c)
            }
            "sort" => {
                let c: Sort = parse(v)?;
                if c.by.is_empty() {
                    return Err(("config.by".into(), "sort by at least one column".into()));
                }
                BlockConfig::Sort(c)
            }
            "union" => BlockConfig::Union(parse(v)?),
            "formula" => {
                let c: Formula = parse(v)?;
                nonempty("name", &c.name)?;
                nonempty("expression", &c.expression)?;
                BlockConfig::Formula(c)
            }
            "publish" => {
                let c: Publish = parse(v)?;
                crate::text::check_ident(&c.dataset)
                    .map_err(|r| ("config.dataset".to_owned(), r))?;
                BlockConfig::Publish(c)
            }
            "write_file" => BlockConfig::WriteFile(parse(v)?),
            "plugin" => {
                let c: PluginBlock = parse(v)?;
                nonempty("plugin", &c.plugin)?;
                semver::Version::parse(&c.version).map_err(|e| {
                    (
                        "config.version".to_owned(),
                        format!("`{}` is not an exact semantic version: {e}", c.version),
                    )
                })?;
                if c.time_limit_ms == Some(0) {
                    return Err(("config.time_limit_ms".into(), "must be positive".into()));
                }
                BlockConfig::Plugin(c)
            }
            other => {
                return Err((
                    "kind".into(),
                    format!(
                        "unknown block kind `{other}`; built-in kinds are {}",
                        KINDS.join(", ")
                    ),
                ));
            }
        };
        Ok(c)
    }

    /// The configuration as JSON with every default written out (`header: true`), in
    /// today's words (`text`, never the older `string`).
    pub fn to_json(&self) -> Value {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_value(self).expect("a block configuration serialises")
    }

    pub fn input_ports(&self) -> Ports {
        catalogue::ports_of(self.kind()).unwrap_or(Ports::None)
    }

    /// The kind's name, as a workflow writes it.
    pub fn kind(&self) -> &'static str {
        match self {
            BlockConfig::CsvSource(_) => "csv_source",
            BlockConfig::JsonlSource(_) => "jsonl_source",
            BlockConfig::ParquetSource(_) => "parquet_source",
            BlockConfig::ArrowSource(_) => "arrow_source",
            BlockConfig::UploadSource(_) => "upload_source",
            BlockConfig::InlineRows(_) => "inline_rows",
            BlockConfig::InstanceLog(_) => "instance_log",
            BlockConfig::DatabaseSource(_) => "database_source",
            BlockConfig::Sql(_) => "sql",
            BlockConfig::Filter(_) => "filter",
            BlockConfig::Select(_) => "select",
            BlockConfig::Join(_) => "join",
            BlockConfig::Aggregate(_) => "aggregate",
            BlockConfig::Sort(_) => "sort",
            BlockConfig::Union(_) => "union",
            BlockConfig::Formula(_) => "formula",
            BlockConfig::Publish(_) => "publish",
            BlockConfig::WriteFile(_) => "write_file",
            BlockConfig::Plugin(_) => "plugin",
        }
    }

    /// A source's file, when it reads one from a resource location.
    pub fn location_file(&self) -> Option<(&str, &str, FileFormat)> {
        match self {
            BlockConfig::CsvSource(c) => Some((&c.location, &c.path, FileFormat::Csv)),
            BlockConfig::JsonlSource(c) => Some((&c.location, &c.path, FileFormat::Jsonl)),
            BlockConfig::ParquetSource(c) => Some((&c.location, &c.path, FileFormat::Parquet)),
            BlockConfig::ArrowSource(c) => Some((&c.location, &c.path, FileFormat::Arrow)),
            _ => None,
        }
    }
}

fn check_delimiter(d: &str) -> Result<(), FieldError> {
    if d.len() == 1 && d.is_ascii() {
        Ok(())
    } else {
        Err((
            "config.delimiter".into(),
            "must be one ASCII character".into(),
        ))
    }
}
