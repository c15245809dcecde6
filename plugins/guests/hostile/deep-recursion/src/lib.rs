//! Hostile fixture: recurses without end

use vitrine_sdk::{Block, Error, Inputs, Metadata, Outputs, Port, Value};

struct Hostile;

impl Block for Hostile {
    fn describe() -> Metadata {
        Metadata::new("deep-recursion", "1.0.0", "recurses without end")
            .input(Port::new("in", "any table"))
            .output(Port::new("out", "never what was promised"))
    }

    fn transform(_config: Value, inputs: Inputs) -> Result<Outputs, Error> {
        let _ = inputs;
        #[allow(unconditional_recursion)]
        fn down(n: u64, pad: [u64; 16]) -> u64 {
            std::hint::black_box((n, pad));
            down(n + 1, pad) + 1
        }
        Err(Error::Failed(format!("{}", down(0, [7; 16]))))
    }
}

vitrine_sdk::export_block!(Hostile);
