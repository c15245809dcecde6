//! A block that carries Arrow: it takes its input as Arrow IPC, scales one float column
//! and returns record batches, through the SDK's `arrow` feature.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use vitrine_sdk::{Block, Error, Format, Inputs, Metadata, Outputs, Port, Value, json};

struct Scale;

impl Block for Scale {
    fn describe() -> Metadata {
        Metadata::new(
            "arrow-scale",
            "1.0.0",
            "Multiplies a float column by a factor",
        )
        .config_schema(json!({
            "type": "object",
            "properties": {"column": {"type": "string"}, "factor": {"type": "number"}},
            "required": ["column", "factor"],
            "additionalProperties": false
        }))
        .input(Port::new("in", "rows with a float column"))
        .output(Port::new("out", "the rows, the column scaled"))
        .input_format(Format::ArrowIpc)
    }

    fn transform(config: Value, inputs: Inputs) -> Result<Outputs, Error> {
        let column = config["column"].as_str().unwrap_or_default();
        let factor = config["factor"].as_f64().unwrap_or(1.0);
        let (schema, batches) = inputs.get("in")?.record_batches()?;
        let index = schema
            .index_of(column)
            .map_err(|_| Error::InvalidConfig(format!("no column `{column}`")))?;
        let scaled = batches
            .iter()
            .map(|b| {
                let values = b
                    .column(index)
                    .as_primitive_opt::<Float64Type>()
                    .ok_or_else(|| {
                        Error::InvalidInput(format!("`{column}` is not a float64 column"))
                    })?;
                let out: Float64Array = values.iter().map(|v| v.map(|x| x * factor)).collect();
                let mut columns: Vec<ArrayRef> = b.columns().to_vec();
                columns[index] = Arc::new(out);
                RecordBatch::try_new(schema.clone(), columns)
                    .map_err(|e| Error::Failed(e.to_string()))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Outputs::new().record_batches("out", &schema, &scaled)
    }
}

vitrine_sdk::export_block!(Scale);
