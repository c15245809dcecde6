//! Hostile fixture: panics

use vitrine_sdk::{Block, Error, Inputs, Metadata, Outputs, Port, Value};

struct Hostile;

impl Block for Hostile {
    fn describe() -> Metadata {
        Metadata::new("panic", "1.0.0", "panics")
            .input(Port::new("in", "any table"))
            .output(Port::new("out", "never what was promised"))
    }

    fn transform(_config: Value, inputs: Inputs) -> Result<Outputs, Error> {
        let _ = inputs;
        panic!("the block gave up")
    }
}

vitrine_sdk::export_block!(Hostile);
