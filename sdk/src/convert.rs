//! Between the SDK's types and the generated bindings.

use crate::bindings::vitrine::block::types as wit;
use crate::{
    Block, Column, ColumnType, Error, Format, Input, Inputs, Metadata, Table, Texts, Values,
};

fn column_type(t: ColumnType) -> wit::ColumnType {
    match t {
        ColumnType::Boolean => wit::ColumnType::Boolean,
        ColumnType::Int64 => wit::ColumnType::Int64,
        ColumnType::Float64 => wit::ColumnType::Float64,
        ColumnType::Text => wit::ColumnType::Text,
        ColumnType::Date => wit::ColumnType::Date,
        ColumnType::Timestamp => wit::ColumnType::Timestamp,
    }
}

fn port(p: crate::Port) -> wit::Port {
    wit::Port {
        name: p.name,
        description: p.description,
        columns: p.columns.map(|cs| {
            cs.into_iter()
                .map(|c| wit::ColumnSpec {
                    name: c.name,
                    type_: column_type(c.column_type),
                    nullable: c.nullable,
                })
                .collect()
        }),
    }
}

pub fn describe<B: Block>() -> wit::Metadata {
    let m: Metadata = B::describe();
    wit::Metadata {
        name: m.name,
        version: m.version,
        description: m.description,
        config_schema: m.config_schema.to_string(),
        inputs: m.inputs.into_iter().map(port).collect(),
        outputs: m.outputs.into_iter().map(port).collect(),
        input_format: match m.input_format {
            Format::Columns => wit::DataFormat::Columns,
            Format::ArrowIpc => wit::DataFormat::ArrowIpc,
        },
    }
}

fn table_from(t: wit::Table) -> Result<Table, Error> {
    let rows = t.rows as usize;
    let mut out = Table::new(rows);
    for c in t.columns {
        let values = match c.values {
            wit::ColumnValues::Boolean(v) => Values::Boolean(v),
            wit::ColumnValues::Int64(v) => Values::Int64(v),
            wit::ColumnValues::Float64(v) => Values::Float64(v),
            wit::ColumnValues::Text(t) => Values::Text(
                Texts::from_parts(t.data, t.offsets)
                    .map_err(|e| Error::InvalidInput(format!("column `{}`: {e}", c.name)))?,
            ),
            wit::ColumnValues::Date(v) => Values::Date(v),
            wit::ColumnValues::Timestamp(v) => Values::Timestamp(v),
        };
        // The host always sends columns of the table's length.
        out = out
            .with_column(Column {
                name: c.name,
                values,
                validity: c.validity.map(|bits| flags(&bits, rows)),
            })
            .expect("the host sends whole columns");
    }
    Ok(out)
}

fn table_into(t: Table) -> wit::Table {
    wit::Table {
        rows: t.rows() as u64,
        columns: t
            .into_columns()
            .into_iter()
            .map(|c| wit::Column {
                name: c.name,
                values: match c.values {
                    Values::Boolean(v) => wit::ColumnValues::Boolean(v),
                    Values::Int64(v) => wit::ColumnValues::Int64(v),
                    Values::Float64(v) => wit::ColumnValues::Float64(v),
                    Values::Text(v) => {
                        let (data, offsets) = v.into_parts();
                        wit::ColumnValues::Text(wit::TextValues { data, offsets })
                    }
                    Values::Date(v) => wit::ColumnValues::Date(v),
                    Values::Timestamp(v) => wit::ColumnValues::Timestamp(v),
                },
                validity: c.validity.as_deref().map(bitmap),
            })
            .collect(),
    }
}

/// The contract's validity bitmap (bit i % 8 of byte i / 8 set where row i is valid) as
/// one flag per row. The host sends (rows + 7) / 8 bytes.
fn flags(bits: &[u8], rows: usize) -> Vec<bool> {
    (0..rows)
        .map(|i| bits.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0))
        .collect()
}

/// One flag per row as the contract's validity bitmap.
fn bitmap(flags: &[bool]) -> Vec<u8> {
    let mut bits = vec![0u8; flags.len().div_ceil(8)];
    for (i, valid) in flags.iter().enumerate() {
        bits[i / 8] |= u8::from(*valid) << (i % 8);
    }
    bits
}

#[cfg(test)]
#[test]
fn validity_flags_and_bitmaps_agree() {
    let v = [true, false, true, true, true, true, true, true, false, true];
    assert_eq!(bitmap(&v), [0b1111_1101, 0b10]);
    assert_eq!(flags(&bitmap(&v), v.len()), v);
}

fn error_into(e: Error) -> wit::BlockError {
    match e {
        Error::InvalidConfig(m) => wit::BlockError::InvalidConfig(m),
        Error::InvalidInput(m) => wit::BlockError::InvalidInput(m),
        Error::Failed(m) => wit::BlockError::Failed(m),
    }
}

pub fn transform<B: Block>(
    config: String,
    inputs: Vec<wit::NamedTable>,
) -> Result<Vec<wit::NamedTable>, wit::BlockError> {
    let config = crate::serde_json::from_str(&config)
        .map_err(|e| wit::BlockError::InvalidConfig(format!("configuration is not JSON: {e}")))?;
    let inputs = Inputs {
        ports: inputs
            .into_iter()
            .map(|n| {
                let input = match n.data {
                    wit::TableData::Columns(t) => Input::Table(table_from(t)?),
                    wit::TableData::ArrowIpc(b) => Input::ArrowIpc(b),
                };
                Ok((n.port, input))
            })
            .collect::<Result<_, Error>>()
            .map_err(error_into)?,
    };
    let outputs = B::transform(config, inputs).map_err(error_into)?;
    Ok(outputs
        .ports
        .into_iter()
        .map(|(port, data)| wit::NamedTable {
            port,
            data: match data {
                Input::Table(t) => wit::TableData::Columns(table_into(t)),
                Input::ArrowIpc(b) => wit::TableData::ArrowIpc(b),
            },
        })
        .collect())
}
