//! Grouped aggregation by dictionary keys. Dataset artifacts store low-cardinality text
//! with one dictionary per column (`datasets::dictionary_encode`), so a row's keys
//! already number its group: accumulators sit in plain vectors indexed by the keys (a
//! perfect hash), and no value is hashed or compared per row. Tile queries whose
//! dimensions are all such columns and whose measures are sum, avg, min, max or count over
//! numbers take this path; every other query goes through DataFusion's hash aggregation.
//! Both answer with the same schema: the result is cast to the one DataFusion plans for
//! the same query, and floating-point min and max follow its total order.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, Float64Array, Int32Array, Int64Array,
    RecordBatch,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{ArrowNativeType, Int64Type, Schema, SchemaRef};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int8Type, Int16Type, Int32Type};
use datafusion::physical_expr::PhysicalExpr;

use crate::blocks::AggFunction;
use crate::datasets::Table;
use crate::{EngineError, EngineResult};
use vitrine_core::report::Measure;

/// Beyond this many key combinations the accumulators would outweigh a hash table.
const MAX_SLOTS: usize = 1 << 20;
/// Below this many rows a second thread costs more than it saves. Tests split every
/// table, so merging partial results is checked too.
const PARALLEL_ROWS: usize = if cfg!(test) { 1 } else { 200_000 };

/// One dimension: its column, its dictionary and its place in the combined slot number.
struct Dim {
    column: usize,
    values: ArrayRef,
    /// Dictionary entries plus one slot for null.
    width: usize,
    stride: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Lane {
    /// Accumulated as f64: every float measure and every average.
    Float,
    /// Accumulated as i64: sums, minima and maxima of integers.
    Int,
}

struct Agg {
    column: Option<usize>,
    function: AggFunction,
    lane: Lane,
}

/// A query this path can answer, with everything decided before touching a row.
pub(super) struct Grouped {
    dims: Vec<Dim>,
    aggs: Vec<Agg>,
    /// Key combinations; slot `slots` collects the rows the predicate drops.
    slots: usize,
}

impl Grouped {
    /// `None` when the query does not fit this path.
    pub(super) fn plan(table: &Table, dimensions: &[String], measures: &[Measure]) -> Option<Self> {
        let schema = table.schema.as_ref();
        let first = table.batches.first()?;
        let mut dims = Vec::with_capacity(dimensions.len());
        let mut slots = 1usize;
        for name in dimensions {
            let column = schema.index_of(name).ok()?;
            let DataType::Dictionary(key, value) = schema.field(column).data_type() else {
                return None;
            };
            if !matches!(**key, DataType::Int8 | DataType::Int16 | DataType::Int32)
                || **value != DataType::Utf8
            {
                return None;
            }
            let values = first
                .column(column)
                .as_any_dictionary_opt()?
                .values()
                .clone();
            // Keys only number groups when every batch shares the one dictionary.
            let shared = table.batches.iter().all(|b| {
                b.column(column)
                    .as_any_dictionary_opt()
                    .is_some_and(|d| d.values().to_data().ptr_eq(&values.to_data()))
            });
            if !shared {
                return None;
            }
            let width = values.len() + 1;
            dims.push(Dim {
                column,
                values,
                width,
                stride: slots,
            });
            slots = slots.checked_mul(width).filter(|s| *s <= MAX_SLOTS)?;
        }
        let mut aggs = Vec::with_capacity(measures.len());
        for m in measures {
            let column = match &m.column {
                Some(c) => Some(schema.index_of(c).ok()?),
                None => None,
            };
            let t = column.map(|c| schema.field(c).data_type());
            let lane = match (m.function, t) {
                (AggFunction::CountDistinct, _) => return None,
                (AggFunction::Count, _) => Lane::Int,
                (_, None) => return None,
                (AggFunction::Avg, Some(t)) if is_int(t) || is_float(t) => Lane::Float,
                (_, Some(t)) if is_float(t) => Lane::Float,
                (_, Some(t)) if is_int(t) => Lane::Int,
                _ => return None,
            };
            aggs.push(Agg {
                column,
                function: m.function,
                lane,
            });
        }
        Some(Grouped { dims, aggs, slots })
    }

    /// Aggregates the rows `predicate` keeps into one batch of `out` schema.
    pub(super) fn run(
        &self,
        table: &Table,
        predicate: Option<Arc<dyn PhysicalExpr>>,
        out: &SchemaRef,
    ) -> EngineResult<RecordBatch> {
        let batches = table.batches.as_slice();
        let threads = if table.rows() < PARALLEL_ROWS {
            1
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(batches.len())
                .max(1)
        };
        let chunk = batches.len().div_ceil(threads).max(1);
        let partials: Vec<EngineResult<Acc>> = std::thread::scope(|s| {
            let handles: Vec<_> = batches
                .chunks(chunk)
                .map(|part| {
                    let predicate = predicate.clone();
                    s.spawn(move || {
                        let mut acc = Acc::new(self);
                        let mut ids = Vec::new();
                        for b in part {
                            acc.add(self, b, predicate.as_deref(), &mut ids)?;
                        }
                        Ok(acc)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(EngineError::Internal("aggregation panicked".into()))
                    })
                })
                .collect()
        });
        let mut total = Acc::new(self);
        for p in partials {
            total.merge(self, p?);
        }
        total.finish(self, out)
    }
}

fn is_int(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
    )
}

fn is_float(t: &DataType) -> bool {
    matches!(t, DataType::Float32 | DataType::Float64)
}

/// One measure's running values per slot. `seen` counts non-null inputs, which is the
/// count itself for `count` and tells a sum of nothing (null) from a sum of zeros.
enum Values {
    None,
    Float(Vec<f64>),
    Int(Vec<i64>),
}

struct Acc {
    rows: Vec<u64>,
    seen: Vec<Vec<u64>>,
    values: Vec<Values>,
}

impl Acc {
    fn new(g: &Grouped) -> Acc {
        let n = g.slots + 1;
        Acc {
            rows: vec![0; n],
            seen: g.aggs.iter().map(|_| vec![0; n]).collect(),
            values: g
                .aggs
                .iter()
                .map(|a| match (a.function, a.lane) {
                    (AggFunction::Count, _) => Values::None,
                    (_, Lane::Float) => Values::Float(vec![0.0; n]),
                    (_, Lane::Int) => Values::Int(vec![0; n]),
                })
                .collect(),
        }
    }

    fn add(
        &mut self,
        g: &Grouped,
        batch: &RecordBatch,
        predicate: Option<&dyn PhysicalExpr>,
        ids: &mut Vec<usize>,
    ) -> EngineResult<()> {
        let n = batch.num_rows();
        ids.clear();
        ids.resize(n, 0);
        for d in &g.dims {
            let col = batch.column(d.column);
            let ok = match col.data_type() {
                DataType::Dictionary(k, _) => match **k {
                    DataType::Int8 => slot_keys::<Int8Type>(col, d, ids),
                    DataType::Int16 => slot_keys::<Int16Type>(col, d, ids),
                    _ => slot_keys::<Int32Type>(col, d, ids),
                },
                _ => false,
            };
            if !ok {
                return Err(EngineError::Internal(
                    "a dictionary key points outside its dictionary".into(),
                ));
            }
        }
        if let Some(p) = predicate {
            let keep = p.evaluate(batch)?.into_array(n)?;
            let keep: &BooleanArray = keep.as_boolean();
            for (i, id) in ids.iter_mut().enumerate() {
                if !(keep.is_valid(i) && keep.value(i)) {
                    *id = g.slots;
                }
            }
        }
        for &s in ids.iter() {
            self.rows[s] += 1;
        }
        for (a, (seen, values)) in g
            .aggs
            .iter()
            .zip(self.seen.iter_mut().zip(&mut self.values))
        {
            let Some(c) = a.column else {
                continue;
            };
            let col = batch.column(c);
            let valid = |i: usize| col.is_valid(i);
            let nulls = col.null_count() > 0;
            match values {
                Values::None => {
                    for (i, &s) in ids.iter().enumerate() {
                        if !nulls || valid(i) {
                            seen[s] += 1;
                        }
                    }
                }
                Values::Float(v) => {
                    let col = cast(col, &DataType::Float64)?;
                    let x = col.as_primitive::<Float64Type>().values();
                    fold(
                        a.function,
                        ids,
                        x,
                        v,
                        seen,
                        |i| !nulls || valid(i),
                        |a, b| a + b,
                        f64::total_cmp,
                    );
                }
                Values::Int(v) => {
                    let col = cast(col, &DataType::Int64)?;
                    let x = col.as_primitive::<Int64Type>().values();
                    fold(
                        a.function,
                        ids,
                        x,
                        v,
                        seen,
                        |i| !nulls || valid(i),
                        i64::wrapping_add,
                        i64::cmp,
                    );
                }
            }
        }
        Ok(())
    }

    fn merge(&mut self, g: &Grouped, other: Acc) {
        for (a, b) in self.rows.iter_mut().zip(&other.rows) {
            *a += b;
        }
        for (k, agg) in g.aggs.iter().enumerate() {
            let (mine, theirs) = (&mut self.seen[k], &other.seen[k]);
            match (&mut self.values[k], &other.values[k]) {
                (Values::Float(v), Values::Float(w)) => combine(
                    agg.function,
                    v,
                    mine,
                    w,
                    theirs,
                    |a, b| a + b,
                    f64::total_cmp,
                ),
                (Values::Int(v), Values::Int(w)) => combine(
                    agg.function,
                    v,
                    mine,
                    w,
                    theirs,
                    i64::wrapping_add,
                    i64::cmp,
                ),
                _ => {}
            }
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
            }
        }
    }

    fn finish(self, g: &Grouped, out: &SchemaRef) -> EngineResult<RecordBatch> {
        // Without dimensions there is one group even when no row matched, as in SQL.
        let groups: Vec<usize> = (0..g.slots)
            .filter(|&s| self.rows[s] > 0 || g.dims.is_empty())
            .collect();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(out.fields().len());
        for d in &g.dims {
            let keys: Int32Array = groups
                .iter()
                .map(|s| {
                    let k = (s / d.stride) % d.width;
                    (k + 1 < d.width).then_some(k as i32)
                })
                .collect();
            columns.push(Arc::new(DictionaryArray::<Int32Type>::try_new(
                keys,
                d.values.clone(),
            )?));
        }
        for (k, a) in g.aggs.iter().enumerate() {
            let seen = &self.seen[k];
            let present = |s: usize| seen[s] > 0;
            let col: ArrayRef = match (&self.values[k], a.function) {
                (_, AggFunction::Count) => match a.column {
                    Some(_) => Arc::new(Int64Array::from_iter_values(
                        groups.iter().map(|&s| seen[s] as i64),
                    )),
                    None => Arc::new(Int64Array::from_iter_values(
                        groups.iter().map(|&s| self.rows[s] as i64),
                    )),
                },
                (Values::Float(v), AggFunction::Avg) => Arc::new(
                    groups
                        .iter()
                        .map(|&s| present(s).then(|| v[s] / seen[s] as f64))
                        .collect::<Float64Array>(),
                ),
                (Values::Float(v), _) => Arc::new(
                    groups
                        .iter()
                        .map(|&s| present(s).then_some(v[s]))
                        .collect::<Float64Array>(),
                ),
                (Values::Int(v), _) => Arc::new(
                    groups
                        .iter()
                        .map(|&s| present(s).then_some(v[s]))
                        .collect::<Int64Array>(),
                ),
                (Values::None, _) => {
                    return Err(EngineError::Internal("a measure lost its values".into()));
                }
            };
            columns.push(col);
        }
        conform(out, columns)
    }
}

/// Adds each row's dimension key, times its stride, to the row's slot number. Null keys
/// take the dimension's last slot. False when a key is outside the dictionary.
fn slot_keys<K>(col: &ArrayRef, d: &Dim, ids: &mut [usize]) -> bool
where
    K: datafusion::arrow::datatypes::ArrowDictionaryKeyType,
{
    let dict = col.as_dictionary::<K>();
    let keys = dict.keys();
    let len = d.width - 1;
    let mut bad = false;
    for (i, k) in keys.values().iter().enumerate() {
        let k = k.as_usize();
        bad |= k >= len;
        ids[i] += k.min(len) * d.stride;
    }
    if keys.null_count() > 0 {
        for (i, id) in ids.iter_mut().enumerate() {
            if keys.is_null(i) {
                let k = keys.values()[i].as_usize().min(len);
                *id = *id - k * d.stride + len * d.stride;
            }
        }
        // A null key's stored value is meaningless, not out of range.
        bad = keys.iter().flatten().any(|k| k.as_usize() >= len);
    }
    !bad
}

/// Folds one batch's column into the slots its rows belong to.
#[allow(clippy::too_many_arguments)]
fn fold<T: Copy>(
    function: AggFunction,
    ids: &[usize],
    x: &[T],
    v: &mut [T],
    seen: &mut [u64],
    valid: impl Fn(usize) -> bool,
    add: impl Fn(T, T) -> T,
    order: impl Fn(&T, &T) -> std::cmp::Ordering,
) {
    use std::cmp::Ordering::{Greater, Less};
    let better = match function {
        AggFunction::Min => Some(Less),
        AggFunction::Max => Some(Greater),
        _ => None,
    };
    for (i, (&s, &x)) in ids.iter().zip(x).enumerate() {
        if !valid(i) {
            continue;
        }
        match better {
            None => v[s] = add(v[s], x),
            Some(b) => {
                if seen[s] == 0 || order(&x, &v[s]) == b {
                    v[s] = x;
                }
            }
        }
        seen[s] += 1;
    }
}

/// Merges another thread's slots into these (before their `seen` counts are added).
fn combine<T: Copy>(
    function: AggFunction,
    v: &mut [T],
    seen: &[u64],
    w: &[T],
    theirs: &[u64],
    add: impl Fn(T, T) -> T,
    order: impl Fn(&T, &T) -> std::cmp::Ordering,
) {
    use std::cmp::Ordering::{Greater, Less};
    for s in 0..v.len() {
        if theirs[s] == 0 {
            continue;
        }
        v[s] = match function {
            AggFunction::Min if seen[s] > 0 && order(&v[s], &w[s]) != Greater => v[s],
            AggFunction::Max if seen[s] > 0 && order(&v[s], &w[s]) != Less => v[s],
            AggFunction::Min | AggFunction::Max => w[s],
            _ => add(v[s], w[s]),
        };
    }
}

/// Casts each column to the type DataFusion plans for the same query.
fn conform(out: &SchemaRef, columns: Vec<ArrayRef>) -> EngineResult<RecordBatch> {
    let columns = columns
        .into_iter()
        .zip(out.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c)
            } else {
                cast(&c, f.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let schema: Arc<Schema> = out.clone();
    Ok(RecordBatch::try_new(schema, columns)?)
}
