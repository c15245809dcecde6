//! PostgreSQL types in Arrow: which Arrow type each column becomes, and decoders that
//! append a value's binary wire form (as binary COPY sends it) to an Arrow builder, with
//! no text round trip.
//!
//! | PostgreSQL | Arrow |
//! |---|---|
//! | boolean | Boolean |
//! | smallint, integer, bigint | Int16, Int32, Int64 |
//! | real, double precision | Float32, Float64 |
//! | numeric(p, s), p ≤ 38 | Decimal128(p, s) |
//! | numeric without precision | Decimal128(38, 10), rounded half away from zero |
//! | text, varchar, char(n), name, "char", enums | Utf8 |
//! | json, jsonb | Utf8 (the document's text) |
//! | uuid | Utf8 (hyphenated) |
//! | bytea | Binary |
//! | oid | UInt32 |
//! | date | Date32 |
//! | timestamp | Timestamp(µs) |
//! | timestamp with time zone | Timestamp(µs, "UTC"): the same instant |
//! | time | Time64(µs) |
//! | interval | Interval(MonthDayNano) |
//! | one-dimensional arrays of the above | List |
//! | domains | their base type |
//!
//! Anything else (geometric types, ranges, composites, inet, money, timetz, numeric wider
//! than 38 digits) is refused before the read starts, naming the column and a cast that
//! reads it (`::text`). Infinite dates and timestamps, NaN numerics and arrays of more
//! than one dimension are refused when met, naming the column.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, IntervalMonthDayNanoBuilder,
    StringBuilder, Time64MicrosecondBuilder, TimestampMicrosecondBuilder, UInt32Builder,
};
use arrow_array::types::IntervalMonthDayNano;
use arrow_array::{ArrayRef, ListArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer};
use arrow_schema::{DataType, Field, IntervalUnit, TimeUnit};
use tokio_postgres::types::{Kind, Type};

use crate::{SourceError, SourceResult};

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS as i64 * 86_400_000_000;
/// Scale of a numeric declared without precision.
const FREE_NUMERIC_SCALE: i8 = 10;

/// One result column: its name and the decoder filling its Arrow array.
pub(super) struct Column {
    pub name: String,
    decoder: Decoder,
}

enum Decoder {
    Bool(BooleanBuilder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    U32(UInt32Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Text(StringBuilder),
    Jsonb(StringBuilder),
    Uuid(StringBuilder),
    Bytes(BinaryBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Time(Time64MicrosecondBuilder),
    Interval(IntervalMonthDayNanoBuilder),
    Numeric {
        builder: Decimal128Builder,
        scale: i8,
    },
    List(Box<ListDecoder>),
}

struct ListDecoder {
    field: Arc<Field>,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
    items: Column,
}

fn unsupported(column: &str, ty: &Type, why: &str) -> SourceError {
    SourceError::Type(format!(
        "column `{column}` has type {} ({why}); cast it in the query, e.g. `{column}::text`",
        ty.name()
    ))
}

impl Column {
    /// The Arrow type and decoder of a column of type `ty` with type modifier `typmod`
    /// (numeric precision and scale; -1 when not declared).
    pub fn plan(name: &str, ty: &Type, typmod: i32) -> SourceResult<(DataType, Column)> {
        let (data_type, decoder) = plan(name, ty, typmod)?;
        Ok((
            data_type,
            Column {
                name: name.to_owned(),
                decoder,
            },
        ))
    }

    /// Appends one value in binary wire form, or a null.
    pub fn append(&mut self, value: Option<&[u8]>) -> SourceResult<()> {
        let Some(v) = value else {
            self.append_null();
            return Ok(());
        };
        let name = &self.name;
        let bad = |what: &str| SourceError::Value(format!("column `{name}`: {what}"));
        match &mut self.decoder {
            Decoder::Bool(b) => b.append_value(fixed::<1>(v, name)?[0] != 0),
            Decoder::I16(b) => b.append_value(i16::from_be_bytes(fixed(v, name)?)),
            Decoder::I32(b) => b.append_value(i32::from_be_bytes(fixed(v, name)?)),
            Decoder::I64(b) => b.append_value(i64::from_be_bytes(fixed(v, name)?)),
            Decoder::U32(b) => b.append_value(u32::from_be_bytes(fixed(v, name)?)),
            Decoder::F32(b) => b.append_value(f32::from_be_bytes(fixed(v, name)?)),
            Decoder::F64(b) => b.append_value(f64::from_be_bytes(fixed(v, name)?)),
            Decoder::Text(b) => b.append_value(utf8(v, name)?),
            Decoder::Jsonb(b) => match v.split_first() {
                Some((1, doc)) => b.append_value(utf8(doc, name)?),
                _ => return Err(bad("a jsonb value of an unknown format version")),
            },
            Decoder::Uuid(b) => b.append_value(uuid_text(&fixed::<16>(v, name)?)),
            Decoder::Bytes(b) => b.append_value(v),
            Decoder::Date(b) => {
                let days = i32::from_be_bytes(fixed(v, name)?);
                if days == i32::MAX || days == i32::MIN {
                    return Err(bad(
                        "an infinite date has no Arrow form; filter it out or cast to text",
                    ));
                }
                b.append_value(
                    days.checked_add(PG_EPOCH_DAYS)
                        .ok_or_else(|| bad("date out of range"))?,
                )
            }
            Decoder::Timestamp(b) => {
                let micros = i64::from_be_bytes(fixed(v, name)?);
                if micros == i64::MAX || micros == i64::MIN {
                    return Err(bad(
                        "an infinite timestamp has no Arrow form; filter it out or cast to text",
                    ));
                }
                b.append_value(
                    micros
                        .checked_add(PG_EPOCH_MICROS)
                        .ok_or_else(|| bad("timestamp out of range"))?,
                )
            }
            Decoder::Time(b) => b.append_value(i64::from_be_bytes(fixed(v, name)?)),
            Decoder::Interval(b) => {
                let raw = fixed::<16>(v, name)?;
                let micros = i64::from_be_bytes(raw[0..8].try_into().expect("8 bytes"));
                let days = i32::from_be_bytes(raw[8..12].try_into().expect("4 bytes"));
                let months = i32::from_be_bytes(raw[12..16].try_into().expect("4 bytes"));
                let nanos = micros
                    .checked_mul(1000)
                    .ok_or_else(|| bad("interval out of range"))?;
                b.append_value(IntervalMonthDayNano::new(months, days, nanos))
            }
            Decoder::Numeric { builder, scale } => {
                builder.append_value(numeric(v, *scale).map_err(|why| bad(&why))?)
            }
            Decoder::List(list) => list.append(v, name)?,
        }
        Ok(())
    }

    fn append_null(&mut self) {
        match &mut self.decoder {
            Decoder::Bool(b) => b.append_null(),
            Decoder::I16(b) => b.append_null(),
            Decoder::I32(b) => b.append_null(),
            Decoder::I64(b) => b.append_null(),
            Decoder::U32(b) => b.append_null(),
            Decoder::F32(b) => b.append_null(),
            Decoder::F64(b) => b.append_null(),
            Decoder::Text(b) | Decoder::Jsonb(b) | Decoder::Uuid(b) => b.append_null(),
            Decoder::Bytes(b) => b.append_null(),
            Decoder::Date(b) => b.append_null(),
            Decoder::Timestamp(b) => b.append_null(),
            Decoder::Time(b) => b.append_null(),
            Decoder::Interval(b) => b.append_null(),
            Decoder::Numeric { builder, .. } => builder.append_null(),
            Decoder::List(list) => {
                list.offsets
                    .push(*list.offsets.last().expect("offsets start at 0"));
                list.nulls.append_null();
            }
        }
    }

    /// The array of the values appended since the last call.
    pub fn finish(&mut self) -> ArrayRef {
        match &mut self.decoder {
            Decoder::Bool(b) => Arc::new(b.finish()),
            Decoder::I16(b) => Arc::new(b.finish()),
            Decoder::I32(b) => Arc::new(b.finish()),
            Decoder::I64(b) => Arc::new(b.finish()),
            Decoder::U32(b) => Arc::new(b.finish()),
            Decoder::F32(b) => Arc::new(b.finish()),
            Decoder::F64(b) => Arc::new(b.finish()),
            Decoder::Text(b) | Decoder::Jsonb(b) | Decoder::Uuid(b) => Arc::new(b.finish()),
            Decoder::Bytes(b) => Arc::new(b.finish()),
            Decoder::Date(b) => Arc::new(b.finish()),
            Decoder::Timestamp(b) => Arc::new(b.finish()),
            Decoder::Time(b) => Arc::new(b.finish()),
            Decoder::Interval(b) => Arc::new(b.finish()),
            Decoder::Numeric { builder, .. } => Arc::new(builder.finish()),
            Decoder::List(list) => list.finish(),
        }
    }
}

fn plan(name: &str, ty: &Type, typmod: i32) -> SourceResult<(DataType, Decoder)> {
    let simple = match *ty {
        Type::BOOL => (DataType::Boolean, Decoder::Bool(BooleanBuilder::new())),
        Type::INT2 => (DataType::Int16, Decoder::I16(Int16Builder::new())),
        Type::INT4 => (DataType::Int32, Decoder::I32(Int32Builder::new())),
        Type::INT8 => (DataType::Int64, Decoder::I64(Int64Builder::new())),
        Type::OID => (DataType::UInt32, Decoder::U32(UInt32Builder::new())),
        Type::FLOAT4 => (DataType::Float32, Decoder::F32(Float32Builder::new())),
        Type::FLOAT8 => (DataType::Float64, Decoder::F64(Float64Builder::new())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::CHAR | Type::JSON => {
            (DataType::Utf8, Decoder::Text(StringBuilder::new()))
        }
        Type::JSONB => (DataType::Utf8, Decoder::Jsonb(StringBuilder::new())),
        Type::UUID => (DataType::Utf8, Decoder::Uuid(StringBuilder::new())),
        Type::BYTEA => (DataType::Binary, Decoder::Bytes(BinaryBuilder::new())),
        Type::DATE => (DataType::Date32, Decoder::Date(Date32Builder::new())),
        Type::TIMESTAMP => (
            DataType::Timestamp(TimeUnit::Microsecond, None),
            Decoder::Timestamp(TimestampMicrosecondBuilder::new()),
        ),
        Type::TIMESTAMPTZ => (
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Decoder::Timestamp(TimestampMicrosecondBuilder::new().with_timezone("UTC")),
        ),
        Type::TIME => (
            DataType::Time64(TimeUnit::Microsecond),
            Decoder::Time(Time64MicrosecondBuilder::new()),
        ),
        Type::INTERVAL => (
            DataType::Interval(IntervalUnit::MonthDayNano),
            Decoder::Interval(IntervalMonthDayNanoBuilder::new()),
        ),
        Type::NUMERIC => {
            let (precision, scale) = numeric_shape(typmod)
                .ok_or_else(|| unsupported(name, ty, "more than 38 digits"))?;
            let builder = Decimal128Builder::new()
                .with_precision_and_scale(precision, scale)
                .map_err(|e| unsupported(name, ty, &e.to_string()))?;
            (
                DataType::Decimal128(precision, scale),
                Decoder::Numeric { builder, scale },
            )
        }
        _ => return plan_kind(name, ty),
    };
    Ok(simple)
}

/// Types known by their kind rather than their OID: enums, domains, arrays.
fn plan_kind(name: &str, ty: &Type) -> SourceResult<(DataType, Decoder)> {
    match ty.kind() {
        Kind::Enum(_) => Ok((DataType::Utf8, Decoder::Text(StringBuilder::new()))),
        Kind::Domain(base) => plan(name, base, -1),
        Kind::Array(item) => {
            // Array columns carry no element type modifier: numeric items are unconstrained.
            let (item_type, items) = Column::plan(name, item, -1)?;
            if matches!(item_type, DataType::List(_)) {
                return Err(unsupported(name, ty, "nested arrays"));
            }
            let field = Arc::new(Field::new("item", item_type, true));
            Ok((
                DataType::List(field.clone()),
                Decoder::List(Box::new(ListDecoder {
                    field,
                    offsets: vec![0],
                    nulls: NullBufferBuilder::new(0),
                    items,
                })),
            ))
        }
        _ => Err(unsupported(name, ty, "no faithful Arrow form")),
    }
}

/// Precision and scale of `numeric(p, s)` from its type modifier, or of a numeric
/// declared without them; `None` when wider than Decimal128.
fn numeric_shape(typmod: i32) -> Option<(u8, i8)> {
    if typmod < 4 {
        return Some((38, FREE_NUMERIC_SCALE));
    }
    let t = typmod - 4;
    let precision = (t >> 16) & 0xffff;
    // The scale is an 11-bit signed field since PostgreSQL 15 (negative scales).
    let scale = ((t & 0x7ff) ^ 1024) - 1024;
    if precision > 38 || !(0..=38).contains(&scale) {
        return None;
    }
    Some((precision as u8, scale as i8))
}

impl ListDecoder {
    /// Appends one array value: `ndim`, `has_null`, element OID, per dimension its length
    /// and lower bound, then each element as a length-prefixed value.
    fn append(&mut self, v: &[u8], name: &str) -> SourceResult<()> {
        let bad = |what: &str| SourceError::Value(format!("column `{name}`: {what}"));
        let mut r = Reader(v);
        let ndim = r.i32().ok_or_else(|| bad("truncated array"))?;
        r.take(8).ok_or_else(|| bad("truncated array"))?;
        let len = match ndim {
            0 => 0,
            1 => {
                let n = r.i32().ok_or_else(|| bad("truncated array"))?;
                r.take(4).ok_or_else(|| bad("truncated array"))?;
                n
            }
            _ => {
                return Err(bad(
                    "a multi-dimensional array has no list form; cast it in the query (`::text`)",
                ));
            }
        };
        for _ in 0..len {
            let item_len = r.i32().ok_or_else(|| bad("truncated array"))?;
            let item = if item_len < 0 {
                None
            } else {
                Some(
                    r.take(item_len as usize)
                        .ok_or_else(|| bad("truncated array"))?,
                )
            };
            self.items.append(item)?;
        }
        let last = *self.offsets.last().expect("offsets start at 0");
        let next = last
            .checked_add(len)
            .ok_or_else(|| bad("more list items than one batch holds"))?;
        self.offsets.push(next);
        self.nulls.append_non_null();
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        let values = self.items.finish();
        let nulls = self.nulls.finish();
        Arc::new(ListArray::new(
            self.field.clone(),
            OffsetBuffer::new(offsets.into()),
            values,
            nulls,
        ))
    }
}

/// A cursor over a value's bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
}

fn fixed<const N: usize>(v: &[u8], name: &str) -> SourceResult<[u8; N]> {
    v.try_into().map_err(|_| {
        SourceError::Value(format!(
            "column `{name}`: a value of {} bytes where {N} were expected",
            v.len()
        ))
    })
}

fn utf8<'a>(v: &'a [u8], name: &str) -> SourceResult<&'a str> {
    std::str::from_utf8(v)
        .map_err(|_| SourceError::Value(format!("column `{name}`: text that is not UTF-8")))
}

fn uuid_text(b: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(HEX[(byte >> 4) as usize] as char);
        s.push(HEX[(byte & 0xf) as usize] as char);
    }
    s
}

/// A numeric's binary form (`ndigits`, `weight`, `sign`, `dscale`, then base-10000
/// digits) as an integer scaled by 10^`scale`, rounded half away from zero.
pub(super) fn numeric(v: &[u8], scale: i8) -> Result<i128, String> {
    let mut r = Reader(v);
    let truncated = || "a truncated numeric".to_owned();
    let ndigits = r.i16().ok_or_else(truncated)?;
    let weight = r.i16().ok_or_else(truncated)? as i32;
    let sign = r.i16().ok_or_else(truncated)? as u16;
    r.i16().ok_or_else(truncated)?;
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Err("NaN has no decimal form; filter it out or cast to float8".into()),
        _ => return Err("an infinite numeric has no decimal form; filter it out".into()),
    }
    let too_large = || format!("a numeric too large for 38 digits at scale {scale}");
    // The digits are d0 d1 … with d0 worth 10000^weight. Gather them as an integer
    // worth 10^-(4 × (ndigits - 1 - weight)) per unit, then move to 10^-scale.
    let mut value: i128 = 0;
    for _ in 0..ndigits {
        let d = r.i16().ok_or_else(truncated)?;
        value = value
            .checked_mul(10_000)
            .and_then(|x| x.checked_add(d as i128))
            .ok_or_else(too_large)?;
    }
    if value == 0 {
        return Ok(0);
    }
    let exponent = 4 * (ndigits as i32 - 1 - weight);
    let shift = scale as i32 - exponent;
    let value = if shift >= 0 {
        10i128
            .checked_pow(shift as u32)
            .and_then(|p| value.checked_mul(p))
            .ok_or_else(too_large)?
    } else {
        let p = 10i128.checked_pow((-shift) as u32);
        match p {
            // So many fractional digits that the value rounds to zero at this scale.
            None => 0,
            Some(p) => {
                let (q, rem) = (value / p, value % p);
                if rem * 2 >= p { q + 1 } else { q }
            }
        }
    };
    if value >= 10i128.pow(38) {
        return Err(too_large());
    }
    Ok(if sign == 0x4000 { -value } else { value })
}
