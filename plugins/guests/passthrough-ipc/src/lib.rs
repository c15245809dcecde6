//! Takes its input as an Arrow IPC stream and returns it untouched: the cost of crossing
//! the boundary and nothing else.

use vitrine_sdk::{Block, Error, Format, Inputs, Metadata, Outputs, Port, Value};

struct Passthrough;

impl Block for Passthrough {
    fn describe() -> Metadata {
        Metadata::new("passthrough-ipc", "1.0.0", "Returns its input unchanged")
            .input(Port::new("in", "any table"))
            .output(Port::new("out", "the same table"))
            .input_format(Format::ArrowIpc)
    }

    fn transform(_config: Value, mut inputs: Inputs) -> Result<Outputs, Error> {
        Ok(Outputs::new().input("out", inputs.take("in")?))
    }
}

vitrine_sdk::export_block!(Passthrough);
