//! Tables across the boundary: Arrow record batches on the host side, typed WIT columns
//! or Arrow IPC streams on the guest side, and the checks that hold a block's output to
//! the contract and to the columns it declared.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Date32Type, Float64Type, Int64Type, TimestampMicrosecondType,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_buffer::{
    BooleanBuffer, BooleanBufferBuilder, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::contract::wit;
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

/// An input as typed columns: each column's buffers from every batch, laid end to end
/// (one copy, no batch concatenated first).
pub(crate) fn to_columns(t: &PortTable) -> PluginResult<wit::Table> {
    let rows = t.rows();
    let mut columns = Vec::with_capacity(t.schema.fields().len());
    for (i, field) in t.schema.fields().iter().enumerate() {
        let Some((kind, target)) = contract_type(field.data_type()) else {
            return Err(PluginError::InvalidConfig(format!(
                "input `{}`, column `{}` is {}, which plugin blocks cannot take; cast or drop it first",
                t.port,
                field.name(),
                field.data_type()
            )));
        };
        let cast = |a: &ArrayRef| {
            arrow_cast::cast::cast_with_options(
                a,
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
            })
        };
        let parts = (t.batches.iter())
            .map(|b| cast(b.column(i)))
            .collect::<PluginResult<Vec<ArrayRef>>>()?;
        let values = match kind {
            wit::ColumnType::Boolean => wit::ColumnValues::Boolean(
                parts
                    .iter()
                    .flat_map(|a| a.as_boolean().values().iter())
                    .collect(),
            ),
            wit::ColumnType::Int64 => wit::ColumnValues::Int64(primitive::<Int64Type>(&parts)),
            wit::ColumnType::Float64 => {
                wit::ColumnValues::Float64(primitive::<Float64Type>(&parts))
            }
            wit::ColumnType::Text => wit::ColumnValues::Text(text_values(&parts).ok_or_else(
                || {
                    PluginError::InvalidConfig(format!(
                        "input `{}`, column `{}` holds more than 4 GiB of text, more than a block can take",
                        t.port,
                        field.name()
                    ))
                },
            )?),
            wit::ColumnType::Date => wit::ColumnValues::Date(primitive::<Date32Type>(&parts)),
            wit::ColumnType::Timestamp => {
                wit::ColumnValues::Timestamp(primitive::<TimestampMicrosecondType>(&parts))
            }
        };
        columns.push(wit::Column {
            name: field.name().clone(),
            values,
            validity: validity(&parts, rows),
        });
    }
    Ok(wit::Table {
        rows: rows as u64,
        columns,
    })
}

fn primitive<T: ArrowPrimitiveType>(parts: &[ArrayRef]) -> Vec<T::Native> {
    let mut values = Vec::with_capacity(parts.iter().map(|a| a.len()).sum());
    for a in parts {
        values.extend_from_slice(a.as_primitive::<T>().values());
    }
    values
}

/// The contract's validity bitmap (Arrow's layout, from bit 0) of a column in parts, or
/// `None` when no row is null.
fn validity(parts: &[ArrayRef], rows: usize) -> Option<Vec<u8>> {
    if parts.iter().all(|a| a.logical_null_count() == 0) {
        return None;
    }
    let mut bits = BooleanBufferBuilder::new(rows);
    for a in parts {
        match a.logical_nulls() {
            Some(n) => bits.append_buffer(n.inner()),
            None => bits.append_n(a.len(), true),
        }
    }
    Some(bits.finish().values()[..rows.div_ceil(8)].to_vec())
}

/// Text columns in parts as the contract lays them out: their bytes end to end, and
/// offsets from 0 (an array may start further into its buffer). `None` past the 4 GiB
/// the contract's offsets can address.
fn text_values(parts: &[ArrayRef]) -> Option<wit::TextValues> {
    let rows: usize = parts.iter().map(|a| a.len()).sum();
    let mut data = Vec::new();
    let mut offsets = Vec::with_capacity(rows + 1);
    offsets.push(0u32);
    for a in parts {
        let s = a.as_string::<i32>();
        let o = s.value_offsets();
        let (start, end) = (o[0] as usize, o[o.len() - 1] as usize);
        let base = data.len() as i64 - start as i64;
        data.extend_from_slice(&s.values()[start..end]);
        u32::try_from(data.len()).ok()?;
        // Arrow's offsets never decrease from `start`, so each lands in 0..=data.len().
        offsets.extend(o[1..].iter().map(|&x| (x as i64 + base) as u32));
    }
    Some(wit::TextValues { data, offsets })
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

/// A block's text values as an Arrow string array, after checking the offsets (one more
/// than the values, from 0 to the end of the data, never decreasing) and that every
/// value is UTF-8: the block's word is not taken for any of it.
fn string_array(v: wit::TextValues, nulls: Option<NullBuffer>) -> Result<StringArray, String> {
    if v.offsets.first() != Some(&0) {
        return Err("its text offsets do not start at 0".into());
    }
    if v.offsets.last().map(|&o| o as usize) != Some(v.data.len()) {
        return Err(format!(
            "its text offsets end at {}, not at the end of its {} bytes of text",
            v.offsets.last().copied().unwrap_or(0),
            v.data.len()
        ));
    }
    let offsets = v
        .offsets
        .iter()
        .map(|&o| i32::try_from(o))
        .collect::<Result<Vec<i32>, _>>()
        .map_err(|_| "it has more than 2 GiB of text in one column".to_owned())?;
    if offsets.windows(2).any(|w| w[0] > w[1]) {
        return Err("its text offsets decrease".into());
    }
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    // Checks each value is UTF-8 and starts on a character boundary.
    StringArray::try_new(offsets, Buffer::from_vec(v.data), nulls).map_err(|e| e.to_string())
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
            Some(v) if v.len() != rows.div_ceil(8) => {
                return Err(bad(format!(
                    "output `{port}`, column `{}` has {} bytes of validity for {rows} rows ({} expected)",
                    c.name,
                    v.len(),
                    rows.div_ceil(8)
                )));
            }
            Some(v) => Some(NullBuffer::new(BooleanBuffer::new(
                Buffer::from_vec(v),
                0,
                rows,
            ))),
            None => None,
        };
        let len = match &c.values {
            wit::ColumnValues::Boolean(v) => v.len(),
            wit::ColumnValues::Int64(v) | wit::ColumnValues::Timestamp(v) => v.len(),
            wit::ColumnValues::Float64(v) => v.len(),
            wit::ColumnValues::Text(v) => v.offsets.len().saturating_sub(1),
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
            wit::ColumnValues::Text(v) => Arc::new(
                string_array(v, nulls)
                    .map_err(|e| bad(format!("output `{port}`, column `{}`: {e}", c.name)))?,
            ),
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

    fn column(name: &str, values: wit::ColumnValues, validity: Option<Vec<u8>>) -> wit::Column {
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
                Some(vec![0b11, 0]),
            )]),
        ));
        assert!(
            m.contains("2 bytes of validity for 2 rows (1 expected)"),
            "{m}"
        );
        let m = refused(from_columns(
            "out",
            t(vec![
                column("a", wit::ColumnValues::Int64(vec![1, 2]), None),
                column("a", wit::ColumnValues::Float64(vec![1.0, 2.0]), None),
            ]),
        ));
        assert!(m.contains("repeated column name `a`"), "{m}");
        // Text whose offsets or bytes do not hold up.
        let text = |data: &[u8], offsets: Vec<u32>| {
            refused(from_columns(
                "out",
                t(vec![column(
                    "s",
                    wit::ColumnValues::Text(wit::TextValues {
                        data: data.to_vec(),
                        offsets,
                    }),
                    None,
                )]),
            ))
        };
        let m = text(b"ab", vec![1, 2, 2]);
        assert!(m.contains("do not start at 0"), "{m}");
        let m = text(b"ab", vec![0, 1, 9]);
        assert!(m.contains("end at 9, not at the end of its 2 bytes"), "{m}");
        let m = text(b"ab", vec![0, 2, 1, 2]);
        assert!(m.contains("has 3 values for 2 rows"), "{m}");
        let m = text(b"abc", vec![0, 5, 3]);
        assert!(m.contains("offsets decrease"), "{m}");
        let m = text("zü".as_bytes(), vec![0, 2, 3]);
        assert!(m.contains("column `s`"), "{m}");
        let m = text(&[b'a', 0xff], vec![0, 1, 2]);
        assert!(m.contains("column `s`"), "{m}");
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
                        wit::ColumnValues::Text(wit::TextValues {
                            data: b"xz".to_vec(),
                            offsets: vec![0, 1, 1, 2],
                        }),
                        Some(vec![0b101]),
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
        assert_eq!(cols.columns[0].validity, Some(vec![0b101]));
    }

    /// Batches, slices and nulls across a batch boundary: the columns are laid end to end
    /// with each value and validity bit where it belongs, and come back as they were.
    #[test]
    fn columns_of_several_batches_and_slices_are_laid_end_to_end() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let texts = StringArray::from(vec![Some("a"), None, Some("bc"), Some("d")]);
        let numbers = Int64Array::from(vec![Some(0), None, Some(2), Some(3)]);
        let first = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(texts.slice(1, 3)), Arc::new(numbers.slice(1, 3))],
        )
        .unwrap();
        let second = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some("e"), None])),
                Arc::new(Int64Array::from(vec![Some(4), Some(5)])),
            ],
        )
        .unwrap();
        let table = PortTable {
            port: "in".into(),
            schema: schema.clone(),
            batches: vec![first, second],
        };
        let cols = to_columns(&table).unwrap();
        assert_eq!(cols.rows, 5);
        let wit::ColumnValues::Text(t) = &cols.columns[0].values else {
            panic!("text expected")
        };
        assert_eq!(t.data, b"bcde");
        assert_eq!(t.offsets, [0, 0, 2, 3, 4, 4]);
        assert_eq!(cols.columns[0].validity, Some(vec![0b01110]));
        assert_eq!(cols.columns[1].validity, Some(vec![0b11110]));
        let back = from_columns("out", cols).unwrap();
        let whole = arrow_select::concat::concat_batches(&schema, &table.batches).unwrap();
        assert_eq!(back.batches[0], whole);
    }
}
