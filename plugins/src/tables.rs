//! Tables across the boundary: Arrow record batches on the host side, typed WIT columns
//! or Arrow IPC streams on the guest side, and the checks that hold a block's output to
//! the contract and to the columns it declared.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::v0_1::vitrine::block::types as wit;
use crate::{PluginError, PluginResult};

/// A table on one port, host side.
#[derive(Debug, Clone)]
pub struct PortTable {
    pub port: String,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl PortTable {
    pub fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// The contract's type for an Arrow type, with the Arrow type values are cast to.
fn contract_type(t: &DataType) -> Option<(wit::ColumnType, DataType)> {
    use wit::ColumnType as C;
    Some(match t {
        DataType::Boolean => (C::Boolean, DataType::Boolean),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            (C::Int64, DataType::Int64)
        }
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            (C::Int64, DataType::Int64)
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            (C::Float64, DataType::Float64)
        }
        DataType::Decimal128(..) | DataType::Decimal256(..) => (C::Float64, DataType::Float64),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => (C::Text, DataType::Utf8),
        DataType::Dictionary(_, v) if contract_type(v)?.0 == C::Text => (C::Text, DataType::Utf8),
        DataType::Date32 | DataType::Date64 => (C::Date, DataType::Date32),
        DataType::Timestamp(..) => (
            C::Timestamp,
            DataType::Timestamp(TimeUnit::Microsecond, None),
        ),
        _ => return None,
    })
}

pub(crate) fn type_label(t: wit::ColumnType) -> &'static str {
    match t {
        wit::ColumnType::Boolean => "boolean",
        wit::ColumnType::Int64 => "int64",
        wit::ColumnType::Float64 => "float64",
        wit::ColumnType::Text => "text",
        wit::ColumnType::Date => "date",
        wit::ColumnType::Timestamp => "timestamp",
    }
}

fn one_batch(t: &PortTable) -> PluginResult<RecordBatch> {
    Ok(arrow_select::concat::concat_batches(&t.schema, &t.batches)?)
}

/// An input as typed columns.
pub(crate) fn to_columns(t: &PortTable) -> PluginResult<wit::Table> {
    let batch = one_batch(t)?;
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, array) in t.schema.fields().iter().zip(batch.columns()) {
        let Some((kind, target)) = contract_type(field.data_type()) else {
            return Err(PluginError::InvalidConfig(format!(
                "input `{}`, column `{}` is {}, which plugin blocks cannot take; cast or drop it first",
                t.port,
                field.name(),
                field.data_type()
            )));
        };
        let a = arrow_cast::cast::cast_with_options(
            array,
            &target,
            &arrow_cast::CastOptions {
                safe: false,
                ..Default::default()
            },
        )
        .map_err(|e| {
            PluginError::InvalidConfig(format!(
                "input `{}`, column `{}`: {e}",
                t.port,
                field.name()
            ))
        })?;
        let validity = a
            .logical_nulls()
            .filter(|n| n.null_count() > 0)
            .map(|n| n.iter().collect());
        let values = match kind {
            wit::ColumnType::Boolean => {
                wit::ColumnValues::Boolean(a.as_boolean().values().iter().collect())
            }
            wit::ColumnType::Int64 => {
                wit::ColumnValues::Int64(a.as_primitive::<Int64Type>().values().to_vec())
            }
            wit::ColumnType::Float64 => {
                wit::ColumnValues::Float64(a.as_primitive::<Float64Type>().values().to_vec())
            }
            wit::ColumnType::Text => {
                let s = a.as_string::<i32>();
                wit::ColumnValues::Text(
                    (0..s.len())
                        .map(|i| {
                            if s.is_valid(i) {
                                s.value(i).to_owned()
                            } else {
                                String::new()
                            }
                        })
                        .collect(),
                )
            }
            wit::ColumnType::Date => {
                wit::ColumnValues::Date(a.as_primitive::<Date32Type>().values().to_vec())
            }
            wit::ColumnType::Timestamp => wit::ColumnValues::Timestamp(
                a.as_primitive::<TimestampMicrosecondType>()
                    .values()
                    .to_vec(),
            ),
        };
        columns.push(wit::Column {
            name: field.name().clone(),
            values,
            validity,
        });
    }
    Ok(wit::Table {
        rows: batch.num_rows() as u64,
        columns,
    })
}

/// An input as an Arrow IPC stream.
pub(crate) fn to_ipc(t: &PortTable) -> PluginResult<Vec<u8>> {
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &t.schema)?;
    for b in &t.batches {
        w.write(b)?;
    }
    w.finish()?;
    drop(w);
    Ok(out)
}

fn bad(msg: String) -> PluginError {
    PluginError::BadOutput(msg)
}

/// A block's typed columns as a record batch, after checking their shape.
pub(crate) fn from_columns(port: &str, t: wit::Table) -> PluginResult<PortTable> {
    let rows = usize::try_from(t.rows).map_err(|_| bad(format!("output `{port}` is too long")))?;
    let mut fields = Vec::with_capacity(t.columns.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(t.columns.len());
    let mut names = HashSet::new();
    for c in t.columns {
        if c.name.is_empty() || !names.insert(c.name.clone()) {
            return Err(bad(format!(
                "output `{port}` has an empty or repeated column name `{}`",
                c.name
            )));
        }
        let nulls = match c.validity {
            Some(v) if v.len() != rows => {
                return Err(bad(format!(
                    "output `{port}`, column `{}` has {} validity flags for {rows} rows",
                    c.name,
                    v.len()
                )));
            }
            Some(v) => Some(NullBuffer::from(v)),
            None => None,
        };
        let len = match &c.values {
            wit::ColumnValues::Boolean(v) => v.len(),
            wit::ColumnValues::Int64(v) | wit::ColumnValues::Timestamp(v) => v.len(),
            wit::ColumnValues::Float64(v) => v.len(),
            wit::ColumnValues::Text(v) => v.len(),
            wit::ColumnValues::Date(v) => v.len(),
        };
        if len != rows {
            return Err(bad(format!(
                "output `{port}`, column `{}` has {len} values for {rows} rows",
                c.name
            )));
        }
        let array: ArrayRef = match c.values {
            wit::ColumnValues::Boolean(v) => Arc::new(BooleanArray::new(v.into(), nulls)),
            wit::ColumnValues::Int64(v) => Arc::new(Int64Array::new(v.into(), nulls)),
            wit::ColumnValues::Float64(v) => Arc::new(Float64Array::new(v.into(), nulls)),
            wit::ColumnValues::Text(v) => {
                let valid = |i: usize| nulls.as_ref().is_none_or(|n| n.is_valid(i));
                Arc::new(
                    v.iter()
                        .enumerate()
                        .map(|(i, s)| valid(i).then_some(s.as_str()))
                        .collect::<StringArray>(),
                )
            }
            wit::ColumnValues::Date(v) => Arc::new(Date32Array::new(v.into(), nulls)),
            wit::ColumnValues::Timestamp(v) => {
                Arc::new(TimestampMicrosecondArray::new(v.into(), nulls))
            }
        };
        fields.push(Field::new(&c.name, array.data_type().clone(), true));
        arrays.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = if arrays.is_empty() {
        RecordBatch::try_new_with_options(
            schema.clone(),
            arrays,
            &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows)),
        )?
    } else {
        RecordBatch::try_new(schema.clone(), arrays)?
    };
    Ok(PortTable {
        port: port.to_owned(),
        schema,
        batches: vec![batch],
    })
}

/// A block's Arrow IPC stream as record batches whose arrays point into the returned
/// bytes: no copy beyond the one out of the guest.
pub(crate) fn from_ipc(port: &str, bytes: Vec<u8>) -> PluginResult<PortTable> {
    let not_ipc = |e: arrow_schema::ArrowError| {
        bad(format!("output `{port}` is not an Arrow IPC stream: {e}"))
    };
    // Before the decoder allocates what compressed buffers claim (see `ipc_bounds`).
    crate::check_ipc(&bytes, crate::inflate_bound(bytes.len()))
        .map_err(|e| bad(format!("output `{port}` is refused: {e}")))?;
    let mut buffer = arrow_buffer::Buffer::from_vec(bytes);
    let mut decoder = arrow_ipc::reader::StreamDecoder::new();
    let mut batches = Vec::new();
    while !buffer.is_empty() {
        if let Some(b) = decoder.decode(&mut buffer).map_err(not_ipc)? {
            batches.push(b);
        }
    }
    decoder.finish().map_err(not_ipc)?;
    let schema = decoder
        .schema()
        .ok_or_else(|| bad(format!("output `{port}` is an empty Arrow IPC stream")))?;
    let mut names = HashSet::new();
    for f in schema.fields() {
        if f.name().is_empty() || !names.insert(f.name()) {
            return Err(bad(format!(
                "output `{port}` has an empty or repeated column name `{}`",
                f.name()
            )));
        }
    }
    Ok(PortTable {
        port: port.to_owned(),
        schema,
        batches,
    })
}

/// Holds an output to the columns its port declared: the same names, in order, of the
/// declared types, and no nulls where none were promised.
pub(crate) fn check_declared(t: &PortTable, declared: &[crate::ColumnSpec]) -> PluginResult<()> {
    let port = &t.port;
    let names: Vec<&str> = t
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let wanted: Vec<&str> = declared.iter().map(|c| c.name.as_str()).collect();
    if names != wanted {
        return Err(bad(format!(
            "output `{port}` has columns [{}]; the block declared [{}]",
            names.join(", "),
            wanted.join(", ")
        )));
    }
    for (f, spec) in t.schema.fields().iter().zip(declared) {
        let got = contract_type(f.data_type()).map(|(k, _)| type_label(k));
        if got != Some(spec.column_type.as_str()) {
            return Err(bad(format!(
                "output `{port}`, column `{}` is {}; the block declared {}",
                f.name(),
                got.unwrap_or("of a type plugins cannot return"),
                spec.column_type
            )));
        }
        if !spec.nullable {
            let i = t.schema.index_of(f.name())?;
            if t.batches.iter().any(|b| b.column(i).null_count() > 0) {
                return Err(bad(format!(
                    "output `{port}`, column `{}` has nulls; the block declared it never does",
                    f.name()
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, values: wit::ColumnValues, validity: Option<Vec<bool>>) -> wit::Column {
        wit::Column {
            name: name.into(),
            values,
            validity,
        }
    }

    #[test]
    fn malformed_outputs_are_refused_with_what_is_wrong() {
        let refused = |r: PluginResult<PortTable>| match r {
            Err(PluginError::BadOutput(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        };
        let t = |columns| wit::Table { rows: 2, columns };
        let m = refused(from_columns(
            "out",
            t(vec![column(
                "a",
                wit::ColumnValues::Int64(vec![1, 2, 3]),
                None,
            )]),
        ));
        assert!(m.contains("3 values for 2 rows"), "{m}");
        let m = refused(from_columns(
            "out",
            t(vec![column(
                "a",
                wit::ColumnValues::Int64(vec![1, 2]),
                Some(vec![true]),
            )]),
        ));
        assert!(m.contains("1 validity flags for 2 rows"), "{m}");
        let m = refused(from_columns(
            "out",
            t(vec![
                column("a", wit::ColumnValues::Int64(vec![1, 2]), None),
                column("a", wit::ColumnValues::Float64(vec![1.0, 2.0]), None),
            ]),
        ));
        assert!(m.contains("repeated column name `a`"), "{m}");
        let m = refused(from_ipc("out", b"not arrow at all".to_vec()));
        assert!(m.contains("not an Arrow IPC stream"), "{m}");
        let m = refused(from_ipc("out", Vec::new()));
        assert!(m.contains("empty Arrow IPC stream"), "{m}");
    }

    #[test]
    fn columns_and_ipc_round_trip_with_nulls() {
        let table = from_columns(
            "out",
            wit::Table {
                rows: 3,
                columns: vec![
                    column(
                        "t",
                        wit::ColumnValues::Text(vec!["x".into(), String::new(), "z".into()]),
                        Some(vec![true, false, true]),
                    ),
                    column("d", wit::ColumnValues::Date(vec![0, 1, 2]), None),
                ],
            },
        )
        .unwrap();
        assert_eq!(table.batches[0].column(0).null_count(), 1);
        let back = from_ipc("out", to_ipc(&table).unwrap()).unwrap();
        assert_eq!(back.schema, table.schema);
        assert_eq!(back.batches[0], table.batches[0]);
        let cols = to_columns(&back).unwrap();
        assert_eq!(cols.rows, 3);
        assert_eq!(cols.columns[0].validity, Some(vec![true, false, true]));
    }
}
