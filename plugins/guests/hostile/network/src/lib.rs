//! Hostile fixture: opens a connection

use vitrine_sdk::{Block, Error, Inputs, Metadata, Outputs, Port, Value};

struct Hostile;

impl Block for Hostile {
    fn describe() -> Metadata {
        Metadata::new("network", "1.0.0", "opens a connection")
            .input(Port::new("in", "any table"))
            .output(Port::new("out", "never what was promised"))
    }

    fn transform(_config: Value, inputs: Inputs) -> Result<Outputs, Error> {
        let _ = inputs;
        match std::net::TcpStream::connect("127.0.0.1:9") {
            Ok(_) => Err(Error::Failed("connected to the network".into())),
            Err(e) => Err(Error::Failed(format!("could not connect: {e}"))),
        }
    }
}

vitrine_sdk::export_block!(Hostile);
