//! Between the SDK's types and the generated bindings.

use crate::bindings::vitrine::block::types as wit;
use crate::{Block, Column, ColumnType, Error, Format, Input, Inputs, Metadata, Table, Values};

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

fn table_from(t: wit::Table) -> Table {
    let mut out = Table::new(t.rows as usize);
    for c in t.columns {
        let values = match c.values {
            wit::ColumnValues::Boolean(v) => Values::Boolean(v),
            wit::ColumnValues::Int64(v) => Values::Int64(v),
            wit::ColumnValues::Float64(v) => Values::Float64(v),
            wit::ColumnValues::Text(v) => Values::Text(v),
            wit::ColumnValues::Date(v) => Values::Date(v),
            wit::ColumnValues::Timestamp(v) => Values::Timestamp(v),
        };
        // The host always sends columns of the table's length.
        out = out
            .with_column(Column {
                name: c.name,
                values,
                validity: c.validity,
            })
            .expect("the host sends whole columns");
    }
    out
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
                    Values::Text(v) => wit::ColumnValues::Text(v),
                    Values::Date(v) => wit::ColumnValues::Date(v),
                    Values::Timestamp(v) => wit::ColumnValues::Timestamp(v),
                },
                validity: c.validity,
            })
            .collect(),
    }
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
                    wit::TableData::Columns(t) => Input::Table(table_from(t)),
                    wit::TableData::ArrowIpc(b) => Input::ArrowIpc(b),
                };
                (n.port, input)
            })
            .collect(),
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
