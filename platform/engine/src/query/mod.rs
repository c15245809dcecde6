//! Tile queries over datasets: access filters first, then report and tile filters, then
//! dimensions and measures, sort and limit. Results are cached under a key made of the
//! dataset's content hash, the query and the viewer's access-filter scope, so a change to
//! any of them is a different entry.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{Expr, cast, ident, lit};
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use vitrine_storage::DatasetRecord;

use crate::blocks::exec::{has_column, measure_expr};
use crate::blocks::{AggMeasure, encode_file};
use crate::cache::CacheStats;
use crate::datasets::Table;
use crate::types::{ColumnInfo, describe};
use crate::{Engine, EngineError, EngineResult};
use vitrine_core::report::{Condition, DEFAULT_TABLE_ROWS, FilterOp, MAX_TILE_ROWS, TileQuery};

mod grouped;

/// The rows a viewer may see of one dataset: for each rule, the column's value must be
/// one of the viewer's values of the attribute. `None` means unrestricted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Scope {
    pub rules: Option<Vec<(String, Vec<String>)>>,
}

impl Scope {
    pub fn unrestricted() -> Scope {
        Scope { rules: None }
    }
}

#[derive(Debug)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// More rows matched than the limit let through.
    pub truncated: bool,
    /// The rows as JSON text, made on first use: a cached result serves many views,
    /// and encoding it once instead of per view is most of a warmed view's cost.
    json_text: std::sync::OnceLock<Arc<str>>,
    /// The columns, described on first use, for the same reason.
    columns: std::sync::OnceLock<Vec<ColumnInfo>>,
}

impl QueryResult {
    pub fn columns(&self) -> &[ColumnInfo] {
        self.columns.get_or_init(|| describe(&self.schema))
    }

    pub fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>, truncated: bool) -> QueryResult {
        QueryResult {
            schema,
            batches,
            truncated,
            json_text: std::sync::OnceLock::new(),
            columns: std::sync::OnceLock::new(),
        }
    }

    /// [`json_rows`](Self::json_rows) as JSON text (an array of arrays), encoded once per
    /// result.
    pub fn json_rows_text(&self) -> EngineResult<Arc<str>> {
        if let Some(t) = self.json_text.get() {
            return Ok(t.clone());
        }
        let text: Arc<str> = serde_json::to_string(&self.json_rows()?)
            .map_err(|e| EngineError::Internal(e.to_string()))?
            .into();
        Ok(self.json_text.get_or_init(|| text).clone())
    }

    /// Rows as JSON arrays in column order.
    pub fn json_rows(&self) -> EngineResult<Vec<Vec<Value>>> {
        let mut w = datafusion::arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, datafusion::arrow::json::writer::JsonArray>(Vec::new());
        let refs: Vec<&RecordBatch> = self.batches.iter().collect();
        w.write_batches(&refs)?;
        w.finish()?;
        let buf = w.into_inner();
        if buf.is_empty() {
            return Ok(vec![]);
        }
        let objects: Vec<serde_json::Map<String, Value>> =
            serde_json::from_slice(&buf).map_err(|e| EngineError::Internal(e.to_string()))?;
        let names: Vec<&String> = self.schema.fields().iter().map(|f| f.name()).collect();
        Ok(objects
            .into_iter()
            .map(|mut o| {
                names
                    .iter()
                    .map(|n| o.remove(*n).unwrap_or(Value::Null))
                    .collect()
            })
            .collect())
    }

    pub fn csv(&self) -> EngineResult<Vec<u8>> {
        encode_file(crate::FileFormat::Csv, &self.schema, &self.batches)
    }

    pub fn arrow_ipc(&self) -> EngineResult<Vec<u8>> {
        encode_file(crate::FileFormat::Arrow, &self.schema, &self.batches)
    }

    fn size(&self) -> usize {
        self.batches
            .iter()
            .map(|b| b.get_array_memory_size())
            .sum::<usize>()
            + 256
    }
}

/// A DataFusion session sized for this machine.
pub(crate) fn session() -> SessionContext {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let ctx = SessionContext::new_with_config_rt(
        SessionConfig::new().with_target_partitions(cpus),
        crate::blocks::bounded::bounded_runtime(),
    );
    crate::blocks::bounded::bound_functions(&ctx);
    ctx
}

/// Registers a decoded table as `t`, spread over as many partitions as there are cores
/// so scans and aggregations run in parallel.
fn frame(ctx: &SessionContext, table: &Table) -> EngineResult<()> {
    let n = ctx.copied_config().target_partitions().max(1);
    let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); n];
    for (i, b) in table.batches.iter().enumerate() {
        parts[i % n].push(b.clone());
    }
    parts.retain(|p| !p.is_empty());
    if parts.is_empty() {
        parts.push(Vec::new());
    }
    ctx.register_table(
        "t",
        Arc::new(MemTable::try_new(table.schema.clone(), parts)?),
    )?;
    Ok(())
}

/// A JSON filter value as a literal.
fn literal(v: &Value) -> Expr {
    match v {
        Value::Bool(b) => lit(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => lit(i),
            None => lit(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => lit(s.clone()),
        _ => lit(datafusion::scalar::ScalarValue::Null),
    }
}

/// A column compared with string values (attributes, filter values typed as text):
/// compare as text unless the column is text already.
fn as_text(schema: &datafusion::arrow::datatypes::Schema, column: &str) -> Expr {
    match schema
        .field_with_name(column)
        .map(|f| f.data_type().clone())
    {
        Ok(DataType::Utf8) => ident(column),
        // Dictionary text compares by its values without decoding every row.
        Ok(DataType::Dictionary(_, v)) if *v == DataType::Utf8 => ident(column),
        _ => cast(ident(column), DataType::Utf8),
    }
}

pub(crate) fn condition_expr(
    schema: &datafusion::arrow::datatypes::Schema,
    c: &Condition,
    field: &str,
) -> EngineResult<Expr> {
    has_column(schema, &c.column, &format!("{field}.column"), "dataset")?;
    let col = ident(&c.column);
    let v = |i: usize| literal(&c.values[i]);
    Ok(match c.op {
        FilterOp::Eq => col.eq(v(0)),
        FilterOp::Ne => col.not_eq(v(0)),
        FilterOp::Lt => col.lt(v(0)),
        FilterOp::Le => col.lt_eq(v(0)),
        FilterOp::Gt => col.gt(v(0)),
        FilterOp::Ge => col.gt_eq(v(0)),
        FilterOp::In => col.in_list(c.values.iter().map(literal).collect(), false),
        FilterOp::NotIn => col.in_list(c.values.iter().map(literal).collect(), true),
        FilterOp::Between => col.between(v(0), v(1)),
        FilterOp::Contains => {
            let needle = c.values[0]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| c.values[0].to_string());
            let escaped = needle
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            as_text(schema, &c.column).ilike(lit(format!("%{escaped}%")))
        }
        FilterOp::IsNull => col.is_null(),
        FilterOp::NotNull => col.is_not_null(),
    })
}

/// The access-filter predicate: every rule must hold. A rule on a column the dataset
/// lacks hides every row rather than showing them all.
fn scope_expr(schema: &datafusion::arrow::datatypes::Schema, scope: &Scope) -> Option<Expr> {
    let rules = scope.rules.as_ref()?;
    let mut all = lit(true);
    for (column, values) in rules {
        let e = if schema.field_with_name(column).is_err() || values.is_empty() {
            lit(false)
        } else {
            as_text(schema, column).in_list(values.iter().map(|v| lit(v.clone())).collect(), false)
        };
        all = all.and(e);
    }
    Some(all)
}

/// All of `exprs`, as one predicate whose tree is balanced: planning and evaluation
/// recurse over an expression's depth, and a chain of many conditions (or one filter node
/// per condition) would be as deep as it is long.
pub(crate) fn balanced_and(mut exprs: Vec<Expr>) -> Option<Expr> {
    while exprs.len() > 1 {
        let mut next = Vec::with_capacity(exprs.len().div_ceil(2));
        let mut it = exprs.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => a.and(b),
                None => a,
            });
        }
        exprs = next;
    }
    exprs.pop()
}

/// Drill values: one per dimension of the tile at most, each a dimension, each once.
fn check_drill(q: &TileQuery, values: &[(String, Value)]) -> EngineResult<()> {
    if values.len() > q.dimensions.len() {
        return Err(EngineError::invalid(
            "values",
            format!(
                "this tile has {} dimensions; a drill names each at most once",
                q.dimensions.len()
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (column, v) in values {
        if !q.dimensions.contains(column) {
            return Err(EngineError::invalid(
                "values",
                format!("`{column}` is not a dimension of this tile"),
            ));
        }
        if !seen.insert(column) {
            return Err(EngineError::invalid(
                "values",
                format!("`{column}` is named twice"),
            ));
        }
        if v.is_object() || v.is_array() {
            return Err(EngineError::invalid(
                "values",
                "values are strings, numbers, booleans or null",
            ));
        }
    }
    Ok(())
}

/// What a tile asks of one dataset, with everything that changes its answer.
#[derive(Debug, Clone, Serialize)]
pub struct QuerySpec<'a> {
    pub query: &'a TileQuery,
    /// Report filters that apply, already resolved to conditions.
    pub report_filters: &'a [Condition],
    /// For drill-down: dimension values whose rows to show.
    pub drill: Option<&'a [(String, Value)]>,
    pub scope: &'a Scope,
}

impl QuerySpec<'_> {
    /// The result cache's key: a digest of the dataset's content and the whole spec, so
    /// results never cross scopes. Computed for every tile of every view, into a buffer
    /// each thread keeps (no allocation per tile), and kept as bytes (no hex).
    fn cache_key(&self, dataset_hash: &str) -> [u8; 32] {
        thread_local! {
            static SPEC: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        SPEC.with_borrow_mut(|buf| {
            buf.clear();
            serde_json::to_writer(&mut *buf, self).expect("query spec serializes");
            let mut h = Sha256::new();
            h.update(dataset_hash);
            h.update([0]);
            h.update(&buf[..]);
            if buf.capacity() > 1 << 20 {
                // A drill with huge values should not pin a megabyte per thread.
                *buf = Vec::new();
            }
            h.finalize().into()
        })
    }
}

impl Engine {
    /// Runs a tile query (or a drill-down) over a dataset, through the result cache.
    pub async fn query(
        &self,
        dataset: &DatasetRecord,
        spec: &QuerySpec<'_>,
    ) -> EngineResult<Arc<QueryResult>> {
        let key = spec.cache_key(&dataset.content_hash);
        if let Some(hit) = self.results.lock().get(&key) {
            return Ok(hit);
        }
        let table = self.datasets.get(&dataset.content_hash).await?;
        let result = Arc::new(run_query(&table, spec).await?);
        let size = result.size();
        self.results.lock().insert(key, result.clone(), size);
        Ok(result)
    }

    /// Distinct values of a column (a filter control's list), under the viewer's scope.
    pub async fn column_values(
        &self,
        dataset: &DatasetRecord,
        column: &str,
        scope: &Scope,
        limit: usize,
    ) -> EngineResult<Arc<QueryResult>> {
        let q = TileQuery {
            dataset: dataset.name.clone(),
            dimensions: vec![column.to_owned()],
            measures: vec![vitrine_core::report::Measure {
                column: None,
                function: crate::blocks::AggFunction::Count,
                name: Some("rows".into()),
            }],
            filters: vec![],
            sort: vec![vitrine_core::report::OrderBy {
                column: column.to_owned(),
                descending: false,
            }],
            limit: Some(limit.min(MAX_TILE_ROWS)),
        };
        self.query(
            dataset,
            &QuerySpec {
                query: &q,
                report_filters: &[],
                drill: None,
                scope,
            },
        )
        .await
    }

    /// The lookups of the result cache and the decoded-table cache so far (`/metrics`).
    pub fn cache_stats(&self) -> [CacheStats; 2] {
        [self.results.lock().stats(), self.datasets.cache_stats()]
    }
}

/// The aggregate `planned` stands for, computed by the grouped path.
async fn grouped_answer(
    ctx: &SessionContext,
    table: &Table,
    g: grouped::Grouped,
    predicates: Vec<Expr>,
    planned: &DataFrame,
) -> EngineResult<RecordBatch> {
    let out: SchemaRef = Arc::new(planned.schema().as_arrow().clone());
    let predicate = match balanced_and(predicates) {
        Some(e) => {
            let input = datafusion::common::DFSchema::try_from(table.schema.as_ref().clone())?;
            Some(ctx.create_physical_expr(e, &input)?)
        }
        None => None,
    };
    let table = table.clone();
    tokio::task::spawn_blocking(move || g.run(&table, predicate, &out))
        .await
        .map_err(|e| EngineError::Internal(format!("aggregation task: {e}")))?
}

async fn run_query(table: &Table, spec: &QuerySpec<'_>) -> EngineResult<QueryResult> {
    run_query_by(table, spec, true).await
}

/// `grouped: false` keeps every aggregate in DataFusion, which tests compare against.
async fn run_query_by(
    table: &Table,
    spec: &QuerySpec<'_>,
    grouped: bool,
) -> EngineResult<QueryResult> {
    let q = spec.query;
    let ctx = session();
    frame(&ctx, table)?;
    let schema = table.schema.as_ref();
    let mut df: DataFrame = ctx.table("t").await?;
    // Every predicate is kept too, for the grouped path, which filters rows itself.
    let mut predicates = Vec::new();
    if let Some(e) = scope_expr(schema, spec.scope) {
        predicates.push(e);
    }
    for (i, c) in q.filters.iter().enumerate() {
        predicates.push(condition_expr(schema, c, &format!("query.filters[{i}]"))?);
    }
    for (i, c) in spec.report_filters.iter().enumerate() {
        predicates.push(condition_expr(schema, c, &format!("filters[{i}]"))?);
    }
    // Drill values narrow the rows like filters do.
    if let Some(values) = spec.drill {
        check_drill(q, values)?;
        for (column, v) in values {
            predicates.push(if v.is_null() {
                ident(column).is_null()
            } else {
                ident(column).eq(literal(v))
            });
        }
    }
    if let Some(all) = balanced_and(predicates.clone()) {
        df = df.filter(all)?;
    }
    for (i, d) in q.dimensions.iter().enumerate() {
        has_column(schema, d, &format!("query.dimensions[{i}]"), "dataset")?;
    }
    let limit;
    if spec.drill.is_some() {
        limit = q.limit.unwrap_or(DEFAULT_TABLE_ROWS).min(MAX_TILE_ROWS);
    } else if q.is_aggregate() {
        let measures = q
            .measures
            .iter()
            .enumerate()
            .map(|(i, m)| {
                measure_expr(
                    schema,
                    &AggMeasure {
                        column: m.column.clone(),
                        function: m.function,
                        name: m.output_name(),
                    },
                    &format!("query.measures[{i}]"),
                )
            })
            .collect::<EngineResult<Vec<_>>>()?;
        df = df.aggregate(q.dimensions.iter().map(ident).collect(), measures)?;
        if let Some(g) = grouped
            .then(|| grouped::Grouped::plan(table, &q.dimensions, &q.measures))
            .flatten()
        {
            df = ctx.read_batch(grouped_answer(&ctx, table, g, predicates, &df).await?)?;
        }
        limit = q.limit.unwrap_or(MAX_TILE_ROWS);
    } else {
        if !q.dimensions.is_empty() {
            df = df.select(q.dimensions.iter().map(ident).collect::<Vec<Expr>>())?;
        }
        limit = q.limit.unwrap_or(DEFAULT_TABLE_ROWS).min(MAX_TILE_ROWS);
    }
    let out_schema = df.schema().as_arrow().clone();
    let sort: Vec<_> = if q.sort.is_empty() && spec.drill.is_none() {
        // A stable default so equal queries give equal pages: by the dimensions.
        q.dimensions
            .iter()
            .map(|d| ident(d).sort(true, false))
            .collect()
    } else {
        let mut keys = Vec::new();
        for (i, s) in q.sort.iter().enumerate() {
            has_column(
                &out_schema,
                &s.column,
                &format!("query.sort[{i}].column"),
                "result",
            )?;
            keys.push(ident(&s.column).sort(!s.descending, s.descending));
        }
        keys
    };
    if !sort.is_empty() {
        df = df.sort(sort)?;
    }
    df = df.limit(0, Some(limit + 1))?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let mut batches = df.collect().await?;
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    let truncated = total > limit;
    if truncated {
        let mut keep = limit;
        for b in batches.iter_mut() {
            let n = b.num_rows().min(keep);
            *b = b.slice(0, n);
            keep -= n;
        }
        batches.retain(|b| b.num_rows() > 0);
    }
    Ok(QueryResult::new(schema, batches, truncated))
}

#[cfg(test)]
mod tests;
