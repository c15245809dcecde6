//! Returns its input unchanged: the smallest useful block, and the good block the tests
//! run after each hostile one.

use vitrine_sdk::{Block, Error, Inputs, Metadata, Outputs, Port, Value};

struct Echo;

impl Block for Echo {
    fn describe() -> Metadata {
        Metadata::new("echo", "1.0.0", "Returns its input table unchanged")
            .input(Port::new("in", "any table"))
            .output(Port::new("out", "the same table"))
    }

    fn transform(_config: Value, mut inputs: Inputs) -> Result<Outputs, Error> {
        Ok(Outputs::new().input("out", inputs.take("in")?))
    }
}

vitrine_sdk::export_block!(Echo);
