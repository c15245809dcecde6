//! Reports what the host's WASI gives a block, as one row of text: how many environment
//! variables and arguments it sees, the wall clock, how long a ten-second sleep took,
//! a number drawn from WASI's random source, what listing the current directory and
//! reading stdin did. It prints a line to stdout and one to stderr, for the log.

use std::hash::{BuildHasher, Hasher};
use std::io::Read;

use vitrine_sdk::{Block, Column, Error, Inputs, Metadata, Outputs, Port, Table, Value};

struct Probe;

impl Block for Probe {
    fn describe() -> Metadata {
        Metadata::new("wasi-probe", "1.0.0", "Reports what WASI gives a block")
            .input(Port::new("in", "any table"))
            .output(Port::new("out", "one row describing the sandbox"))
    }

    fn transform(_config: Value, _inputs: Inputs) -> Result<Outputs, Error> {
        println!("probe on stdout");
        eprintln!("probe on stderr");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs().to_string())
            .unwrap_or_else(|e| e.to_string());
        let started = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_secs(10));
        let slept = started.elapsed().as_millis().to_string();
        // A fresh RandomState draws its keys from WASI's random source.
        let mut hasher = std::hash::RandomState::new().build_hasher();
        hasher.write_u8(0);
        let random = format!("{:016x}", hasher.finish());
        let listing = match std::fs::read_dir(".") {
            Ok(entries) => format!("listed {} entries", entries.count()),
            Err(e) => format!("refused: {e}"),
        };
        let mut stdin = String::new();
        let stdin = match std::io::stdin().read_to_string(&mut stdin) {
            Ok(n) => format!("read {n} bytes"),
            Err(e) => format!("refused: {e}"),
        };
        let cells = [
            ("env", std::env::vars().count().to_string()),
            ("args", std::env::args().count().to_string()),
            ("now", now),
            ("slept_ms", slept),
            ("random", random),
            ("files", listing),
            ("stdin", stdin),
        ];
        let mut table = Table::new(1);
        for (name, value) in cells {
            table = table.with_column(Column::from_texts(name, [Some(value)]))?;
        }
        Ok(Outputs::new().table("out", table))
    }
}

vitrine_sdk::export_block!(Probe);
