//! A report's content as GraphQL types: tabs of tiles, each tile a query over one
//! dataset, and the report's filter controls. The rules (unique ids, what each tile kind
//! needs, how many values an operator takes) are
//! [`ReportDefinition::validate`]'s, applied to the JSON these types turn into.

use async_graphql::{Enum, InputObject, Json, SimpleObject};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vitrine_core::report::ReportDefinition;

use crate::{CellValue, from_json, to_json};
use vitrine_services::{ApiError, ApiResult};

/// How a tile shows its query's answer.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TileKind {
    /// Rows as they are (no measures), or one row per group.
    Table,
    /// At least one dimension and one measure.
    Bar,
    /// At least one dimension and one measure.
    Line,
    /// At least one dimension and one measure.
    Area,
    /// One dimension and one measure.
    Pie,
    /// One or more measures over everything, no dimensions.
    Kpi,
    /// Two or more dimensions (rows, then columns) and a measure.
    Pivot,
}

/// An aggregate function, of a tile's measure or an `aggregate` block.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateFunction {
    Sum,
    Avg,
    Min,
    Max,
    /// Counts rows, or a column's non-null values.
    Count,
    CountDistinct,
}

/// The operator of a condition or a report filter.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Serialize, Deserialize)]
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
    /// Two values, both included.
    Between,
    /// Text containing the value.
    Contains,
    IsNull,
    NotNull,
}

/// One tab of a report.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "TabInput")]
pub struct Tab {
    /// Unique in the report (tab, tile and filter ids alike): 1-63 characters of a-z,
    /// 0-9 and _, starting with a letter. Share links to one tab name it.
    pub id: String,
    pub title: String,
    #[graphql(default)]
    #[serde(default)]
    pub tiles: Vec<Tile>,
}

/// One chart, table or figure: a query over one dataset, shown as its kind says.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "TileInput")]
pub struct Tile {
    /// Unique in the report, like a tab's.
    pub id: String,
    pub title: String,
    pub kind: TileKind,
    pub query: TileQuery,
}

/// A tile's question. With measures it groups by the dimensions; without, it lists rows
/// with the dimensions as columns (every column when there are none).
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "TileQueryInput")]
pub struct TileQuery {
    /// A dataset the project's workflow publishes; saving refuses one it does not.
    pub dataset: String,
    #[graphql(default)]
    #[serde(default)]
    pub dimensions: Vec<String>,
    #[graphql(default)]
    #[serde(default)]
    pub measures: Vec<Measure>,
    /// All must hold (at most 32).
    #[graphql(default)]
    #[serde(default)]
    pub filters: Vec<Condition>,
    #[graphql(default)]
    #[serde(default)]
    pub sort: Vec<OrderBy>,
    /// The most rows shown (1 to 100,000); tables show 1,000 unless told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// An aggregate a tile computes.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "MeasureInput")]
pub struct Measure {
    /// Left out only for COUNT, which then counts rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub function: AggregateFunction,
    /// The output column; `function_column` (`sum_sales`, or `count`) when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A condition on a column: as many values as the operator takes (none for IS_NULL and
/// NOT_NULL, two for BETWEEN, one or more for IN and NOT_IN, one otherwise; at most 1,000).
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "ConditionInput")]
pub struct Condition {
    pub column: String,
    pub op: FilterOp,
    #[graphql(default)]
    #[serde(default)]
    pub values: Vec<Option<CellValue>>,
}

/// One sort key of a tile.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "OrderByInput")]
pub struct OrderBy {
    pub column: String,
    #[graphql(default)]
    #[serde(default)]
    pub descending: bool,
}

/// A filter control on the report: viewers pick values, and every tile whose dataset has
/// the column (or only tiles over `dataset`) keeps the matching rows. Viewer URLs carry
/// the picked values.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "ReportFilterInput")]
pub struct ReportFilter {
    /// Unique in the report, like a tab's.
    pub id: String,
    pub label: String,
    pub column: String,
    /// Only tiles over this dataset; every tile whose dataset has the column when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// IN (pick values) or BETWEEN (a range).
    #[graphql(default_with = "FilterOp::In")]
    pub op: FilterOp,
    /// Picked until a viewer changes them; none means every row. BETWEEN takes two.
    #[graphql(default)]
    #[serde(default)]
    pub default: Vec<Option<CellValue>>,
}

/// A report's tabs as typed outputs (only the tabs are serialised, not the report).
pub fn tabs_of(def: &ReportDefinition) -> ApiResult<Vec<Tab>> {
    from_json("report tabs", to_json("report tabs", &def.tabs)?)
}

/// A report's filters as typed outputs.
pub fn filters_of(def: &ReportDefinition) -> ApiResult<Vec<ReportFilter>> {
    from_json("report filters", to_json("report filters", &def.filters)?)
}

/// What a mutation was given for a report's content: the typed lists, or the
/// deprecated `definition` JSON, never both. A list left out keeps `current`'s, which is
/// awaited only then (an update passes the report as it is, a creation an empty one).
/// `None` when nothing was given.
pub async fn definition_argument(
    tabs: Option<Vec<Tab>>,
    filters: Option<Vec<ReportFilter>>,
    definition: Option<Json<Value>>,
    current: impl Future<Output = ApiResult<ReportDefinition>>,
) -> ApiResult<Option<Value>> {
    if let Some(d) = definition {
        if tabs.is_some() || filters.is_some() {
            return Err(ApiError::invalid(
                "definition: give `tabs` and `filters`, or the deprecated `definition`, not both",
            ));
        }
        return Ok(Some(d.0));
    }
    let (tabs, filters) = match (tabs, filters) {
        (None, None) => return Ok(None),
        (Some(t), Some(f)) => (to_json("report tabs", &t)?, to_json("report filters", &f)?),
        (t, f) => {
            let current = current.await?;
            let tabs = match t {
                Some(t) => to_json("report tabs", &t)?,
                None => to_json("report tabs", &current.tabs)?,
            };
            let filters = match f {
                Some(f) => to_json("report filters", &f)?,
                None => to_json("report filters", &current.filters)?,
            };
            (tabs, filters)
        }
    };
    Ok(Some(json!({ "tabs": tabs, "filters": filters })))
}
