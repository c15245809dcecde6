//! Hostile fixture: loops forever

use vitrine_sdk::{Block, Error, Inputs, Metadata, Outputs, Port, Value};

struct Hostile;

impl Block for Hostile {
    fn describe() -> Metadata {
        Metadata::new("spin", "1.0.0", "loops forever")
            .input(Port::new("in", "any table"))
            .output(Port::new("out", "never what was promised"))
    }

    fn transform(_config: Value, inputs: Inputs) -> Result<Outputs, Error> {
        let _ = inputs;
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

vitrine_sdk::export_block!(Hostile);
