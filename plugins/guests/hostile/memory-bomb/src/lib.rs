//! Hostile fixture: allocates until something stops it

use vitrine_sdk::{Block, Error, Inputs, Metadata, Outputs, Port, Value};

struct Hostile;

impl Block for Hostile {
    fn describe() -> Metadata {
        Metadata::new("memory-bomb", "1.0.0", "allocates until something stops it")
            .input(Port::new("in", "any table"))
            .output(Port::new("out", "never what was promised"))
    }

    fn transform(_config: Value, inputs: Inputs) -> Result<Outputs, Error> {
        let _ = inputs;
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 16 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

vitrine_sdk::export_block!(Hostile);
