//! Hostile fixture: promises a float column and returns text

use vitrine_sdk::{Block, Error, Inputs, Metadata, Outputs, Port, Value};

struct Hostile;

impl Block for Hostile {
    fn describe() -> Metadata {
        Metadata::new(
            "bad-schema",
            "1.0.0",
            "promises a float column and returns text",
        )
        .input(Port::new("in", "any table"))
        .output(Port::new("out", "never what was promised").column(
            "score",
            vitrine_sdk::ColumnType::Float64,
            false,
        ))
    }

    fn transform(_config: Value, inputs: Inputs) -> Result<Outputs, Error> {
        let _ = inputs;
        let t = vitrine_sdk::Table::new(1)
            .with_column(vitrine_sdk::Column::from_texts("score", [Some("high")]))?;
        Ok(Outputs::new().table("out", t))
    }
}

vitrine_sdk::export_block!(Hostile);
