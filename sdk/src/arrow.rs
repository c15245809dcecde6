//! Arrow record batches in and out (feature `arrow`). Inputs that arrive as typed
//! columns are converted; inputs that arrive as Arrow IPC are decoded as they are.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, RecordBatchOptions,
    StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{Field, Schema, SchemaRef};

use crate::{Column, Error, Input, Outputs, Table, Values};

fn arrow_error(e: arrow_schema::ArrowError) -> Error {
    Error::Failed(format!("arrow: {e}"))
}

impl Input {
    /// The input as Arrow record batches.
    pub fn record_batches(&self) -> Result<(SchemaRef, Vec<RecordBatch>), Error> {
        match self {
            Input::ArrowIpc(bytes) => {
                let reader =
                    arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
                        .map_err(arrow_error)?;
                let schema = reader.schema();
                let batches = reader.collect::<Result<Vec<_>, _>>().map_err(arrow_error)?;
                Ok((schema, batches))
            }
            Input::Table(t) => {
                let batch = to_batch(t)?;
                Ok((batch.schema(), vec![batch]))
            }
        }
    }
}

/// A typed-column table as one record batch.
pub fn to_batch(t: &Table) -> Result<RecordBatch, Error> {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for c in t.columns() {
        let array: ArrayRef = match &c.values {
            Values::Boolean(v) => {
                Arc::new(nullable(c, v.iter().copied()).collect::<BooleanArray>())
            }
            Values::Int64(v) => Arc::new(nullable(c, v.iter().copied()).collect::<Int64Array>()),
            Values::Float64(v) => {
                Arc::new(nullable(c, v.iter().copied()).collect::<Float64Array>())
            }
            Values::Text(v) => Arc::new(nullable(c, v.iter()).collect::<StringArray>()),
            Values::Date(v) => Arc::new(nullable(c, v.iter().copied()).collect::<Date32Array>()),
            Values::Timestamp(v) => {
                Arc::new(nullable(c, v.iter().copied()).collect::<TimestampMicrosecondArray>())
            }
        };
        fields.push(Field::new(&c.name, array.data_type().clone(), true));
        arrays.push(array);
    }
    RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(t.rows())),
    )
    .map_err(arrow_error)
}

/// A column's values with `None` where the row is null.
fn nullable<'a, T>(
    c: &'a Column,
    values: impl Iterator<Item = T> + 'a,
) -> impl Iterator<Item = Option<T>> + 'a {
    values
        .enumerate()
        .map(move |(i, x)| c.is_valid(i).then_some(x))
}

impl Outputs {
    /// An output as Arrow record batches (sent to the host as an Arrow IPC stream).
    pub fn record_batches(
        self,
        port: impl Into<String>,
        schema: &SchemaRef,
        batches: &[RecordBatch],
    ) -> Result<Outputs, Error> {
        let mut bytes = Vec::new();
        let mut w =
            arrow_ipc::writer::StreamWriter::try_new(&mut bytes, schema).map_err(arrow_error)?;
        for b in batches {
            w.write(b).map_err(arrow_error)?;
        }
        w.finish().map_err(arrow_error)?;
        drop(w);
        Ok(self.arrow_ipc(port, bytes))
    }
}
