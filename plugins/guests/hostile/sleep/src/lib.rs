//! Hostile fixture: sleeps for an hour, which would hold a host thread past any
//! deadline if the host gave plugins a clock.

use vitrine_sdk::{Block, Error, Inputs, Metadata, Outputs, Port, Value};

struct Hostile;

impl Block for Hostile {
    fn describe() -> Metadata {
        Metadata::new("sleep", "1.0.0", "sleeps for an hour")
            .input(Port::new("in", "any table"))
            .output(Port::new("out", "never what was promised"))
    }

    fn transform(_config: Value, inputs: Inputs) -> Result<Outputs, Error> {
        let _ = inputs;
        std::thread::sleep(std::time::Duration::from_secs(3600));
        Err(Error::Failed("woke up".into()))
    }
}

vitrine_sdk::export_block!(Hostile);
