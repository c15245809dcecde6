//! Report definitions: tabs of tiles, each tile a query over one dataset, plus report
//! filters that apply to every tile whose dataset has the filtered column. The shape
//! rules that need no data are here, so a definition is validated once, on the way in,
//! and records hold it typed; running the queries is the engine's.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::CoreError;

type Checked<T> = Result<T, CoreError>;

/// The field and reason of a definition that breaks a shape rule.
fn invalid(field: impl Into<String>, reason: impl Into<String>) -> CoreError {
    CoreError::new(field.into(), reason)
}

/// Block ids, port names, dataset names, tab, tile and filter ids become SQL table names
/// or keys: keep them plain identifiers.
pub fn check_ident(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` must be 1-63 characters of a-z, 0-9 and _, starting with a letter"
        ))
    }
}

/// An aggregate function, of a tile's measure or an aggregate block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AggFunction {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    CountDistinct,
}

impl AggFunction {
    /// Its name in output column names (`sum_sales`) and SQL.
    pub fn label(self) -> &'static str {
        match self {
            AggFunction::Sum => "sum",
            AggFunction::Avg => "avg",
            AggFunction::Min => "min",
            AggFunction::Max => "max",
            AggFunction::Count => "count",
            AggFunction::CountDistinct => "count_distinct",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportDefinition {
    #[serde(default)]
    pub tabs: Vec<Tab>,
    #[serde(default)]
    pub filters: Vec<ReportFilter>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tab {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub tiles: Vec<Tile>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TileKind {
    Table,
    Bar,
    Line,
    Area,
    Pie,
    Kpi,
    Pivot,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tile {
    pub id: String,
    pub title: String,
    pub kind: TileKind,
    pub query: TileQuery,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    #[serde(default)]
    pub column: Option<String>,
    pub function: AggFunction,
    /// Output column name; defaults to `function_column`.
    #[serde(default)]
    pub name: Option<String>,
}

impl Measure {
    pub fn output_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| match &self.column {
            Some(c) => format!("{}_{c}", self.function.label()),
            None => "count".into(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Between,
    Contains,
    IsNull,
    NotNull,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub column: String,
    pub op: FilterOp,
    #[serde(default)]
    pub values: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderBy {
    pub column: String,
    #[serde(default)]
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TileQuery {
    pub dataset: String,
    #[serde(default)]
    pub dimensions: Vec<String>,
    #[serde(default)]
    pub measures: Vec<Measure>,
    #[serde(default)]
    pub filters: Vec<Condition>,
    #[serde(default)]
    pub sort: Vec<OrderBy>,
    #[serde(default)]
    pub limit: Option<usize>,
}

impl TileQuery {
    /// A query with measures shows aggregates; one without shows rows.
    pub fn is_aggregate(&self) -> bool {
        !self.measures.is_empty()
    }
}

/// A filter control on the report: a column, an operator (`in` or `between`) and its
/// default values. Viewers change the values; the URL carries them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportFilter {
    pub id: String,
    pub label: String,
    pub column: String,
    /// Limit the filter to tiles over this dataset; by default every tile whose dataset
    /// has the column.
    #[serde(default)]
    pub dataset: Option<String>,
    #[serde(default = "in_op")]
    pub op: FilterOp,
    #[serde(default)]
    pub default: Vec<Value>,
}

fn in_op() -> FilterOp {
    FilterOp::In
}

/// Conditions one tile's query may carry.
pub const MAX_CONDITIONS: usize = 32;
/// Values one condition (or one report filter's selection) may list.
pub const MAX_VALUES: usize = 1_000;
/// Filter controls on one report.
pub const MAX_REPORT_FILTERS: usize = 50;

/// The most rows a tile query returns as JSON.
pub const MAX_TILE_ROWS: usize = 100_000;
pub const DEFAULT_TABLE_ROWS: usize = 1_000;

impl ReportDefinition {
    pub fn parse(v: &Value) -> Checked<ReportDefinition> {
        crate::shape::check_definition_depth("definition", v)?;
        let d: ReportDefinition = serde_json::from_value(v.clone())
            .map_err(|e| invalid("definition", crate::json_words(&e)))?;
        d.validate()?;
        Ok(d)
    }

    /// As JSON, for revisions (whose snapshots are JSON) and clients.
    pub fn to_json(&self) -> Value {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_value(self).expect("a report definition serialises")
    }

    pub fn tile(&self, id: &str) -> Option<&Tile> {
        self.tabs.iter().flat_map(|t| &t.tiles).find(|t| t.id == id)
    }

    pub fn tiles(&self) -> impl Iterator<Item = &Tile> {
        self.tabs.iter().flat_map(|t| &t.tiles)
    }

    /// Shape rules (which need no data): unique ids, each tile kind's dimensions and
    /// measures, operators with the right number of values.
    pub fn validate(&self) -> Checked<()> {
        let mut ids = HashSet::new();
        for (ti, tab) in self.tabs.iter().enumerate() {
            let f = format!("tabs[{ti}]");
            check_ident(&tab.id).map_err(|r| invalid(format!("{f}.id"), r))?;
            if !ids.insert(tab.id.clone()) {
                return Err(invalid(
                    format!("{f}.id"),
                    format!("id `{}` is used twice", tab.id),
                ));
            }
            for (i, tile) in tab.tiles.iter().enumerate() {
                let f = format!("{f}.tiles[{i}]");
                check_ident(&tile.id).map_err(|r| invalid(format!("{f}.id"), r))?;
                if !ids.insert(tile.id.clone()) {
                    return Err(invalid(
                        format!("{f}.id"),
                        format!("id `{}` is used twice", tile.id),
                    ));
                }
                validate_tile(tile, &f)?;
            }
        }
        if self.filters.len() > MAX_REPORT_FILTERS {
            return Err(invalid(
                "filters",
                format!("a report has at most {MAX_REPORT_FILTERS} filters"),
            ));
        }
        for (i, rf) in self.filters.iter().enumerate() {
            let f = format!("filters[{i}]");
            check_values(&rf.default, &format!("{f}.default"))?;
            check_ident(&rf.id).map_err(|r| invalid(format!("{f}.id"), r))?;
            if !ids.insert(rf.id.clone()) {
                return Err(invalid(
                    format!("{f}.id"),
                    format!("id `{}` is used twice", rf.id),
                ));
            }
            if !matches!(rf.op, FilterOp::In | FilterOp::Between) {
                return Err(invalid(
                    format!("{f}.op"),
                    "report filters use `in` or `between`",
                ));
            }
            if rf.op == FilterOp::Between && !rf.default.is_empty() && rf.default.len() != 2 {
                return Err(invalid(
                    format!("{f}.default"),
                    "`between` takes two values",
                ));
            }
        }
        Ok(())
    }
}

pub fn validate_tile(tile: &Tile, f: &str) -> Checked<()> {
    let q = &tile.query;
    check_ident(&q.dataset).map_err(|r| invalid(format!("{f}.query.dataset"), r))?;
    let (dims, meas) = (q.dimensions.len(), q.measures.len());
    let need = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(invalid(
                format!("{f}.query"),
                format!("a {:?} tile needs {what}", tile.kind).to_lowercase(),
            ))
        }
    };
    match tile.kind {
        TileKind::Table => Ok(()),
        TileKind::Kpi => need(
            dims == 0 && meas >= 1,
            "no dimensions and at least one measure",
        ),
        TileKind::Pie => need(dims == 1 && meas == 1, "one dimension and one measure"),
        TileKind::Bar | TileKind::Line | TileKind::Area => {
            need(dims >= 1 && meas >= 1, "a dimension and a measure")
        }
        TileKind::Pivot => need(dims >= 2 && meas >= 1, "two dimensions and a measure"),
    }?;
    for (i, m) in q.measures.iter().enumerate() {
        if m.column.is_none() && m.function != AggFunction::Count {
            return Err(invalid(
                format!("{f}.query.measures[{i}].column"),
                "only `count` may omit the column",
            ));
        }
    }
    if q.filters.len() > MAX_CONDITIONS {
        return Err(invalid(
            format!("{f}.query.filters"),
            format!("a tile has at most {MAX_CONDITIONS} conditions"),
        ));
    }
    for (i, c) in q.filters.iter().enumerate() {
        check_condition(c, &format!("{f}.query.filters[{i}]"))?;
    }
    if let Some(l) = q.limit
        && (l == 0 || l > MAX_TILE_ROWS)
    {
        return Err(invalid(
            format!("{f}.query.limit"),
            format!("must be between 1 and {MAX_TILE_ROWS}"),
        ));
    }
    Ok(())
}

pub fn check_condition(c: &Condition, f: &str) -> Checked<()> {
    let n = c.values.len();
    let ok = match c.op {
        FilterOp::IsNull | FilterOp::NotNull => n == 0,
        FilterOp::Between => n == 2,
        FilterOp::In | FilterOp::NotIn => n >= 1,
        _ => n == 1,
    };
    if !ok {
        return Err(invalid(
            format!("{f}.values"),
            format!(
                "`{:?}` takes {}",
                c.op,
                match c.op {
                    FilterOp::IsNull | FilterOp::NotNull => "no values",
                    FilterOp::Between => "two values",
                    FilterOp::In | FilterOp::NotIn => "one or more values",
                    _ => "one value",
                }
            )
            .to_lowercase(),
        ));
    }
    check_values(&c.values, &format!("{f}.values"))
}

/// Filter values: scalars only, and not too many of them.
pub fn check_values(values: &[Value], f: &str) -> Checked<()> {
    if values.len() > MAX_VALUES {
        return Err(invalid(f, format!("at most {MAX_VALUES} values")));
    }
    if values.iter().any(|v| v.is_object() || v.is_array()) {
        return Err(invalid(f, "values are strings, numbers, booleans or null"));
    }
    Ok(())
}
