//! Running one built-in block: its inputs become DataFusion tables named after their
//! ports, the block's operation becomes a DataFrame, and the result is collected.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::execution::SessionStateBuilder;
use datafusion::functions_aggregate::expr_fn::{avg, count, count_distinct, max, min, sum};
use datafusion::logical_expr::{Expr, JoinType, cast, ident};
use datafusion::prelude::{DataFrame, SQLOptions, SessionConfig, SessionContext};

use super::{AggFunction, AggMeasure, BlockConfig, JoinHow, files};
use crate::types::type_name;
use crate::{EngineError, EngineResult};

/// A table flowing into a block.
#[derive(Debug, Clone)]
pub struct BlockInput {
    pub schema: SchemaRef,
    pub batches: Arc<Vec<RecordBatch>>,
}

/// What a block produced, and notes for its author (skipped lines, …).
#[derive(Debug, Clone)]
pub struct BlockOutput {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub notes: Vec<String>,
}

impl BlockOutput {
    pub fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

fn err(field: impl Into<String>, reason: impl Into<String>) -> EngineError {
    // The run loop prefixes the block id; here only the field is known.
    EngineError::invalid(field, reason)
}

/// Runs `config` over `inputs`; `source` carries the bytes of a file a source reads.
/// A block producing more than `max_rows` rows fails.
pub async fn execute(
    config: &BlockConfig,
    inputs: BTreeMap<String, BlockInput>,
    source: Option<Bytes>,
    max_rows: usize,
) -> EngineResult<BlockOutput> {
    let plain = |df: DataFrame| async move { collect(df, vec![], max_rows).await };
    if let (BlockConfig::InstanceLog(c), Some(bytes)) = (config, &source) {
        return super::instance_log::decode(c, bytes);
    }
    if let Some(bytes) = source {
        let (format, csv) = match config {
            BlockConfig::UploadSource(u) => (u.format, u.csv.clone()),
            BlockConfig::CsvSource(c) => (files::FileFormat::Csv, Some(c.options())),
            other => {
                let (_, _, f) = other.location_file().ok_or_else(|| {
                    EngineError::Internal("source bytes for a block that reads none".into())
                })?;
                (f, None)
            }
        };
        let decoded =
            tokio::task::spawn_blocking(move || files::decode_file(format, bytes, csv.as_ref()))
                .await
                .map_err(|e| EngineError::Internal(format!("decoder task: {e}")))??;
        return Ok(BlockOutput {
            schema: decoded.schema,
            batches: decoded.batches,
            notes: decoded.notes,
        });
    }
    let ctx = block_session();
    for (port, input) in &inputs {
        let table = MemTable::try_new(input.schema.clone(), vec![input.batches.as_ref().clone()])?;
        ctx.register_table(port.as_str(), Arc::new(table))?;
    }
    let input = |port: &str| {
        let ctx = ctx.clone();
        let port = port.to_owned();
        async move { Ok::<_, EngineError>(ctx.table(port.as_str()).await?) }
    };
    match config {
        BlockConfig::InlineRows(c) => inline_rows(c),
        BlockConfig::Sql(c) => {
            let options = SQLOptions::new()
                .with_allow_ddl(false)
                .with_allow_dml(false)
                .with_allow_statements(false);
            let df = ctx
                .sql_with_options(&c.query, options)
                .await
                .map_err(|e| err("config.query", EngineError::from(e).to_string()))?;
            plain(df).await
        }
        BlockConfig::Filter(c) => {
            let df = input("in").await?;
            let cond = df
                .parse_sql_expr(&c.condition)
                .map_err(|e| err("config.condition", EngineError::from(e).to_string()))?;
            plain(
                df.filter(cond)
                    .map_err(|e| err("config.condition", EngineError::from(e).to_string()))?,
            )
            .await
        }
        BlockConfig::Select(c) => {
            let df = input("in").await?;
            let mut exprs = Vec::new();
            for (i, s) in c.columns.iter().enumerate() {
                has_column(
                    df.schema().as_arrow(),
                    &s.column,
                    &format!("config.columns[{i}].column"),
                    "in",
                )?;
                let mut e = ident(&s.column);
                if let Some(t) = s.cast {
                    e = cast(e, t.arrow());
                }
                exprs.push(e.alias(s.rename.as_deref().unwrap_or(&s.column)));
            }
            plain(df.select(exprs)?).await
        }
        BlockConfig::Join(c) => {
            let left = input("left").await?;
            let right = input("right").await?;
            join(left, right, c, max_rows).await
        }
        BlockConfig::Aggregate(c) => {
            let df = input("in").await?;
            let schema = df.schema().as_arrow().clone();
            for (i, g) in c.group_by.iter().enumerate() {
                has_column(&schema, g, &format!("config.group_by[{i}]"), "in")?;
            }
            let groups = c.group_by.iter().map(ident).collect();
            let aggs = c
                .measures
                .iter()
                .enumerate()
                .map(|(i, m)| measure_expr(&schema, m, &format!("config.measures[{i}]")))
                .collect::<EngineResult<Vec<_>>>()?;
            plain(df.aggregate(groups, aggs)?).await
        }
        BlockConfig::Sort(c) => {
            let df = input("in").await?;
            let mut keys = Vec::new();
            for (i, k) in c.by.iter().enumerate() {
                has_column(
                    df.schema().as_arrow(),
                    &k.column,
                    &format!("config.by[{i}].column"),
                    "in",
                )?;
                keys.push(ident(&k.column).sort(!k.descending, k.descending));
            }
            let df = df.sort(keys)?;
            let df = match c.limit {
                Some(n) => df.limit(0, Some(n))?,
                None => df,
            };
            plain(df).await
        }
        BlockConfig::Union(c) => {
            let mut ports = inputs.iter();
            let (first_port, first) = ports.next().expect("union has inputs");
            let mut df = input(first_port).await?;
            for (port, other) in ports {
                union_compatible(first_port, &first.schema, port, &other.schema)?;
                let next = input(port).await?;
                df = df.union_by_name(next)?;
            }
            if c.distinct {
                df = df.distinct()?;
            }
            plain(df).await
        }
        BlockConfig::Formula(c) => {
            let df = input("in").await?;
            let e = df
                .parse_sql_expr(&c.expression)
                .map_err(|e| err("config.expression", EngineError::from(e).to_string()))?;
            plain(
                df.with_column(&c.name, e)
                    .map_err(|e| err("config.expression", EngineError::from(e).to_string()))?,
            )
            .await
        }
        BlockConfig::Publish(_) | BlockConfig::WriteFile(_) => {
            let i = &inputs["in"];
            Ok(BlockOutput {
                schema: i.schema.clone(),
                batches: i.batches.as_ref().clone(),
                notes: vec![],
            })
        }
        BlockConfig::CsvSource(_)
        | BlockConfig::JsonlSource(_)
        | BlockConfig::ParquetSource(_)
        | BlockConfig::ArrowSource(_)
        | BlockConfig::UploadSource(_)
        | BlockConfig::InstanceLog(_)
        | BlockConfig::DatabaseSource(_) => Err(EngineError::Internal(
            "a source ran without its file".into(),
        )),
        BlockConfig::Plugin(_) => Err(EngineError::Internal(
            "plugin blocks run in the plugin host, not here".into(),
        )),
    }
}

/// The session a block runs in: one partition, and partitions read in order.
///
/// A block's result must be a function of its inputs. Stored results are addressed by
/// their content, so the same inputs must give the same bytes: then a forced refresh of
/// unchanged data stores nothing new, the blocks after it stay up to date, and report
/// caches keyed on the dataset survive. DataFusion's parallel plans break that: they deal
/// batches round-robin to partitions and merge partitions as batches arrive, so a filter
/// shuffled its rows and an aggregate's group order and float sums changed from run to
/// run. One partition keeps rows in their input order. The cores are still used: a run
/// executes independent blocks at once, and a task runs several projects at once.
///
/// Each block gets a memory pool of its own and bounded string builders (see
/// [`super::bounded`]), and its plan yields often enough to be stopped (see
/// [`super::yielding`]).
fn block_session() -> SessionContext {
    let state = SessionStateBuilder::new()
        .with_config(SessionConfig::new().with_target_partitions(1))
        .with_runtime_env(super::bounded::bounded_runtime())
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(super::in_order::ReadPartitionsInOrder))
        .with_physical_optimizer_rule(Arc::new(super::yielding::YieldOften))
        .build();
    let ctx = SessionContext::new_with_state(state);
    super::bounded::bound_functions(&ctx);
    ctx
}

/// The block's result, refused past `max_rows` rows as they stream in: a join or series
/// that multiplies its inputs fails at the limit instead of filling memory first.
async fn collect(df: DataFrame, notes: Vec<String>, max_rows: usize) -> EngineResult<BlockOutput> {
    use futures::StreamExt;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let mut batches = Vec::new();
    let mut rows = 0usize;
    // A union's inputs stay separate partitions: first input first.
    for mut partition in df.execute_stream_partitioned().await? {
        while let Some(batch) = partition.next().await {
            let batch = batch?;
            rows += batch.num_rows();
            if rows > max_rows {
                return Err(EngineError::Query(format!(
                    "the block's result passes the limit of {max_rows} rows"
                )));
            }
            batches.push(batch);
        }
    }
    Ok(BlockOutput {
        schema,
        batches,
        notes,
    })
}

pub(crate) fn has_column(schema: &Schema, name: &str, field: &str, port: &str) -> EngineResult<()> {
    if schema.field_with_name(name).is_ok() {
        return Ok(());
    }
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    Err(err(
        field,
        format!(
            "input `{port}` has no column `{name}`; its columns are {}",
            names.join(", ")
        ),
    ))
}

/// An aggregate expression, after checking the column exists and suits the function.
pub(crate) fn measure_expr(schema: &Schema, m: &AggMeasure, field: &str) -> EngineResult<Expr> {
    let e = match (&m.column, m.function) {
        (None, AggFunction::Count) => count(datafusion::logical_expr::lit(1i64)),
        (None, _) => {
            return Err(err(
                format!("{field}.column"),
                "only `count` may omit the column",
            ));
        }
        (Some(c), f) => {
            has_column(schema, c, &format!("{field}.column"), "in")?;
            let t = schema.field_with_name(c).expect("checked").data_type();
            if matches!(f, AggFunction::Sum | AggFunction::Avg) && !t.is_numeric() {
                return Err(err(
                    format!("{field}.column"),
                    format!("`{c}` is {}; {} needs a number", type_name(t), f.label()),
                ));
            }
            let c = ident(c);
            match f {
                AggFunction::Sum => sum(c),
                AggFunction::Avg => avg(c),
                AggFunction::Min => min(c),
                AggFunction::Max => max(c),
                AggFunction::Count => count(c),
                AggFunction::CountDistinct => count_distinct(c),
            }
        }
    };
    Ok(e.alias(&m.name))
}

fn union_compatible(a_port: &str, a: &Schema, b_port: &str, b: &Schema) -> EngineResult<()> {
    for f in a.fields() {
        match b.field_with_name(f.name()) {
            Err(_) => {
                return Err(err(
                    format!("inputs.{b_port}"),
                    format!("has no column `{}`, which input `{a_port}` has", f.name()),
                ));
            }
            Ok(g) if type_name(g.data_type()) != type_name(f.data_type()) => {
                return Err(err(
                    format!("inputs.{b_port}"),
                    format!(
                        "column `{}` is {} here but {} in input `{a_port}`",
                        f.name(),
                        type_name(g.data_type()),
                        type_name(f.data_type())
                    ),
                ));
            }
            Ok(_) => {}
        }
    }
    if let Some(extra) = b
        .fields()
        .iter()
        .find(|g| a.field_with_name(g.name()).is_err())
    {
        return Err(err(
            format!("inputs.{b_port}"),
            format!(
                "has column `{}`, which input `{a_port}` lacks",
                extra.name()
            ),
        ));
    }
    Ok(())
}

/// Joins on key pairs. Right-hand columns whose names clash with the left get a `_right`
/// suffix; a key with the same name on both sides appears once.
async fn join(
    left: DataFrame,
    right: DataFrame,
    c: &super::Join,
    max_rows: usize,
) -> EngineResult<BlockOutput> {
    let ls = left.schema().as_arrow().clone();
    let rs = right.schema().as_arrow().clone();
    for (i, k) in c.on.iter().enumerate() {
        has_column(&ls, &k.left, &format!("config.on[{i}].left"), "left")?;
        has_column(&rs, &k.right, &format!("config.on[{i}].right"), "right")?;
        let (lt, rt) = (
            ls.field_with_name(&k.left).expect("checked").data_type(),
            rs.field_with_name(&k.right).expect("checked").data_type(),
        );
        if type_name(lt) != type_name(rt) {
            return Err(err(
                format!("config.on[{i}]"),
                format!(
                    "cannot join {} `{}` with {} `{}`; cast one side first",
                    type_name(lt),
                    k.left,
                    type_name(rt),
                    k.right
                ),
            ));
        }
    }
    let renamed = |name: &str| format!("__r_{name}");
    let right = right.select(
        rs.fields()
            .iter()
            .map(|f| ident(f.name()).alias(renamed(f.name())))
            .collect::<Vec<Expr>>(),
    )?;
    let lk: Vec<&str> = c.on.iter().map(|k| k.left.as_str()).collect();
    let rk: Vec<String> = c.on.iter().map(|k| renamed(&k.right)).collect();
    let rk_ref: Vec<&str> = rk.iter().map(String::as_str).collect();
    let how = match c.how {
        JoinHow::Inner => JoinType::Inner,
        JoinHow::Left => JoinType::Left,
        JoinHow::Right => JoinType::Right,
        JoinHow::Full => JoinType::Full,
    };
    let joined = left.join(right, how, &lk, &rk_ref, None)?;
    let mut out = Vec::new();
    for f in ls.fields() {
        let same_key =
            c.on.iter()
                .find(|k| &k.left == f.name() && k.left == k.right);
        match (same_key, c.how) {
            // A shared key of a right or full join may be null on the left: take either.
            (Some(_), JoinHow::Right | JoinHow::Full) => out.push(
                datafusion::functions::expr_fn::coalesce(vec![
                    ident(f.name()),
                    ident(renamed(f.name())),
                ])
                .alias(f.name()),
            ),
            _ => out.push(ident(f.name())),
        }
    }
    for f in rs.fields() {
        if c.on
            .iter()
            .any(|k| &k.right == f.name() && k.left == k.right)
        {
            continue;
        }
        let name = if ls.field_with_name(f.name()).is_ok() {
            format!("{}_right", f.name())
        } else {
            f.name().clone()
        };
        out.push(ident(renamed(f.name())).alias(name));
    }
    collect(joined.select(out)?, vec![], max_rows).await
}

/// Inline rows go through Arrow's JSON decoder, which parses each value as its column's
/// declared type and names what does not fit.
fn inline_rows(c: &super::InlineRows) -> EngineResult<BlockOutput> {
    let schema: SchemaRef = Arc::new(Schema::new(
        c.columns
            .iter()
            .map(|d| datafusion::arrow::datatypes::Field::new(&d.name, d.ty.arrow(), true))
            .collect::<Vec<_>>(),
    ));
    let mut decoder = datafusion::arrow::json::ReaderBuilder::new(schema.clone())
        .with_coerce_primitive(true)
        .build_decoder()?;
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = c
        .rows
        .iter()
        .map(|r| {
            c.columns
                .iter()
                .zip(r)
                .map(|(d, v)| (d.name.clone(), v.clone()))
                .collect()
        })
        .collect();
    decoder
        .serialize(&rows)
        .map_err(|e| err("config.rows", e.to_string()))?;
    let batch = decoder
        .flush()
        .map_err(|e| err("config.rows", e.to_string()))?;
    Ok(BlockOutput {
        schema,
        batches: batch.into_iter().collect(),
        notes: vec![],
    })
}
