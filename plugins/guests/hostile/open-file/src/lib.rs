//! Hostile fixture: reads a file of the host

use vitrine_sdk::{Block, Error, Inputs, Metadata, Outputs, Port, Value};

struct Hostile;

impl Block for Hostile {
    fn describe() -> Metadata {
        Metadata::new("open-file", "1.0.0", "reads a file of the host")
            .input(Port::new("in", "any table"))
            .output(Port::new("out", "never what was promised"))
    }

    fn transform(_config: Value, inputs: Inputs) -> Result<Outputs, Error> {
        let _ = inputs;
        match std::fs::read_to_string("/etc/passwd") {
            Ok(s) => Err(Error::Failed(format!("read the host file: {s}"))),
            Err(e) => Err(Error::Failed(format!("could not open the file: {e}"))),
        }
    }
}

vitrine_sdk::export_block!(Hostile);
