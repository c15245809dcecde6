//! A Vitrine block that flags anomalies: for a number column, it adds the z-score of
//! each value (how many standard deviations it lies from the column's mean) and a flag
//! for values whose absolute z-score exceeds a threshold.

use vitrine_sdk::{Block, Column, Error, Inputs, Metadata, Outputs, Port, Value, json};

struct ZScore;

impl Block for ZScore {
    fn describe() -> Metadata {
        Metadata::new(
            "zscore",
            env!("CARGO_PKG_VERSION"),
            "Adds the z-score of a number column and flags values beyond a threshold",
        )
        .config_schema(json!({
            "type": "object",
            "properties": {
                "column": {"type": "string", "minLength": 1,
                           "description": "the number column to score"},
                "threshold": {"type": "number", "exclusiveMinimum": 0, "default": 3,
                              "description": "flag values whose |z| exceeds this"},
                "prefix": {"type": "string", "default": "",
                           "description": "prefix of the added column names"}
            },
            "required": ["column"],
            "additionalProperties": false
        }))
        .input(Port::new("in", "rows with a number column"))
        .output(Port::new(
            "out",
            "the same rows with `zscore` and `anomaly` added",
        ))
    }

    fn transform(config: Value, inputs: Inputs) -> Result<Outputs, Error> {
        let column = config["column"].as_str().unwrap_or_default();
        let threshold = config["threshold"].as_f64().unwrap_or(3.0);
        let prefix = config["prefix"].as_str().unwrap_or_default();
        let table = inputs.table("in")?;
        let values = table.column(column)?.f64s()?;

        let present: Vec<f64> = values.iter().flatten().copied().collect();
        let n = present.len() as f64;
        let mean = present.iter().sum::<f64>() / n.max(1.0);
        let var = present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n.max(1.0);
        let sd = var.sqrt();
        vitrine_sdk::log(
            vitrine_sdk::Level::Info,
            &format!("{column}: mean {mean:.4}, standard deviation {sd:.4} over {n} values"),
        );

        // A constant column has no spread: nothing in it is an anomaly.
        let z: Vec<Option<f64>> = values
            .iter()
            .map(|v| v.map(|x| if sd > 0.0 { (x - mean) / sd } else { 0.0 }))
            .collect();
        let flags = z.iter().map(|z| z.map(|z| z.abs() > threshold));
        let out = table
            .clone()
            .with_column(Column::from_f64s(format!("{prefix}zscore"), z.clone()))?
            .with_column(Column::from_bools(format!("{prefix}anomaly"), flags))?;
        Ok(Outputs::new().table("out", out))
    }
}

vitrine_sdk::export_block!(ZScore);
