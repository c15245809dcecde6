//! # vitrine-sdk: custom workflow blocks for Vitrine
//!
//! A Vitrine plugin is a WebAssembly component that implements the `vitrine:block`
//! contract (see `wit/block.wit`). This crate hides the generated bindings: implement
//! [`Block`] for a type, name it in [`export_block!`], and build with
//! `cargo build --release --target wasm32-wasip2`. The `.wasm` file under
//! `target/wasm32-wasip2/release/` is the plugin.
//!
//! ```ignore
//! use vitrine_sdk::{Block, Column, ColumnType, Error, Inputs, Metadata, Outputs, Port, json};
//!
//! struct Double;
//!
//! impl Block for Double {
//!     fn describe() -> Metadata {
//!         Metadata::new("double", "1.0.0", "Adds a column with twice a number column")
//!             .config_schema(json!({
//!                 "type": "object",
//!                 "properties": {"column": {"type": "string"}},
//!                 "required": ["column"],
//!                 "additionalProperties": false
//!             }))
//!             .input(Port::new("in", "rows to read"))
//!             .output(Port::new("out", "the rows, with `doubled`"))
//!     }
//!
//!     fn transform(config: serde_json::Value, inputs: Inputs) -> Result<Outputs, Error> {
//!         let table = inputs.table("in")?;
//!         let column = config["column"].as_str().unwrap_or_default();
//!         let doubled = table.column(column)?.f64s()?.into_iter().map(|v| v.map(|x| 2.0 * x));
//!         let out = table.clone().with_column(Column::from_f64s("doubled", doubled))?;
//!         Ok(Outputs::new().table("out", out))
//!     }
//! }
//!
//! vitrine_sdk::export_block!(Double);
//! ```
//!
//! Blocks get nothing from the outside world but their inputs, their configuration and
//! two host calls: [`log`] and [`progress`]. Files, sockets, environment variables and
//! clocks are not there; a block that needs data gets it through an input port.
//!
//! With the `arrow` feature, [`Input::record_batches`] and [`Outputs::record_batches`]
//! read and write Arrow record batches; ask for [`Format::ArrowIpc`] so inputs arrive
//! as Arrow without a conversion.
//!
//! The SDK stamps its version into the component (custom section `vitrine-sdk`), which
//! `vitrine plugin check` shows.

#[cfg(feature = "arrow")]
mod arrow;
mod table;
mod texts;

pub use serde_json::{self, Value, json};
pub use table::{Column, ColumnType, Table, Values};
pub use texts::Texts;

/// The SDK's version, stamped into every block built with it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why a block declined or failed; the message reaches the workflow's author.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The configuration cannot work, e.g. it names a column the input lacks.
    InvalidConfig(String),
    /// An input table does not suit the block.
    InvalidInput(String),
    /// Anything else.
    Failed(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::InvalidConfig(m) => write!(f, "invalid configuration: {m}"),
            Error::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Error::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

/// How a block wants its inputs handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// As [`Table`]s of typed columns.
    #[default]
    Columns,
    /// As Arrow IPC streams, for blocks that carry an Arrow library ([`Input::arrow_ipc`]).
    ArrowIpc,
}

/// A column a port always has.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    pub name: String,
    pub column_type: ColumnType,
    pub nullable: bool,
}

/// A named input or output.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    pub name: String,
    pub description: String,
    /// For outputs: the columns it always has, which the host holds the block to.
    pub columns: Option<Vec<ColumnSpec>>,
}

impl Port {
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Port {
        Port {
            name: name.into(),
            description: description.into(),
            columns: None,
        }
    }

    /// Declares that the port always has this column (in the order declared).
    pub fn column(
        mut self,
        name: impl Into<String>,
        column_type: ColumnType,
        nullable: bool,
    ) -> Port {
        self.columns.get_or_insert_with(Vec::new).push(ColumnSpec {
            name: name.into(),
            column_type,
            nullable,
        });
        self
    }
}

/// What a block says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    pub name: String,
    pub version: String,
    pub description: String,
    pub config_schema: Value,
    pub inputs: Vec<Port>,
    pub outputs: Vec<Port>,
    pub input_format: Format,
}

impl Metadata {
    /// `name`: lowercase letters, digits and dashes; `version`: semantic version.
    pub fn new(name: &str, version: &str, description: &str) -> Metadata {
        Metadata {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            config_schema: json!({"type": "object"}),
            inputs: Vec::new(),
            outputs: Vec::new(),
            input_format: Format::Columns,
        }
    }

    /// The JSON Schema every configuration is checked against before a run.
    pub fn config_schema(mut self, schema: Value) -> Metadata {
        self.config_schema = schema;
        self
    }

    pub fn input(mut self, port: Port) -> Metadata {
        self.inputs.push(port);
        self
    }

    pub fn output(mut self, port: Port) -> Metadata {
        self.outputs.push(port);
        self
    }

    pub fn input_format(mut self, format: Format) -> Metadata {
        self.input_format = format;
        self
    }
}

/// One input as the host handed it over.
#[derive(Debug, Clone)]
pub enum Input {
    Table(Table),
    ArrowIpc(Vec<u8>),
}

impl Input {
    /// The Arrow IPC stream, when the block asked for [`Format::ArrowIpc`].
    pub fn arrow_ipc(&self) -> Option<&[u8]> {
        match self {
            Input::ArrowIpc(b) => Some(b),
            Input::Table(_) => None,
        }
    }
}

/// The tables on the block's input ports.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    ports: Vec<(String, Input)>,
}

impl Inputs {
    pub fn get(&self, port: &str) -> Result<&Input, Error> {
        self.ports
            .iter()
            .find(|(p, _)| p == port)
            .map(|(_, i)| i)
            .ok_or_else(|| Error::InvalidInput(format!("nothing arrived on input `{port}`")))
    }

    /// The table on `port`, for blocks that take [`Format::Columns`].
    pub fn table(&self, port: &str) -> Result<&Table, Error> {
        match self.get(port)? {
            Input::Table(t) => Ok(t),
            Input::ArrowIpc(_) => Err(Error::Failed(format!(
                "input `{port}` came as Arrow IPC; read it with `Input::arrow_ipc`"
            ))),
        }
    }

    /// Takes the input off `port`, leaving nothing there.
    pub fn take(&mut self, port: &str) -> Result<Input, Error> {
        let at = self
            .ports
            .iter()
            .position(|(p, _)| p == port)
            .ok_or_else(|| Error::InvalidInput(format!("nothing arrived on input `{port}`")))?;
        Ok(self.ports.remove(at).1)
    }
}

/// The tables a block returns, by output port.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    ports: Vec<(String, Input)>,
}

impl Outputs {
    pub fn new() -> Outputs {
        Outputs::default()
    }

    pub fn table(mut self, port: impl Into<String>, table: Table) -> Outputs {
        self.ports.push((port.into(), Input::Table(table)));
        self
    }

    /// An output as an Arrow IPC stream.
    pub fn arrow_ipc(mut self, port: impl Into<String>, stream: Vec<u8>) -> Outputs {
        self.ports.push((port.into(), Input::ArrowIpc(stream)));
        self
    }

    /// Passes an input through unchanged, in whichever format it came.
    pub fn input(mut self, port: impl Into<String>, input: Input) -> Outputs {
        self.ports.push((port.into(), input));
        self
    }
}

/// A custom workflow block. Implement it and name the type in [`export_block!`].
pub trait Block {
    /// The block's description, read when the plugin is registered.
    fn describe() -> Metadata;

    /// Turns the inputs into outputs. `config` has passed the block's configuration
    /// schema already.
    fn transform(config: Value, inputs: Inputs) -> Result<Outputs, Error>;
}

/// A line in the run's log.
pub fn log(level: Level, message: &str) {
    use bindings::vitrine::block::host::{Level as L, log};
    log(
        match level {
            Level::Debug => L::Debug,
            Level::Info => L::Info,
            Level::Warn => L::Warn,
            Level::Error => L::Error,
        },
        message,
    );
}

/// How far the block has come, in units of its choosing.
pub fn progress(done: u64, total: u64) {
    bindings::vitrine::block::host::progress(done, total);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "__export_plugin",
    });
}

mod convert;

/// What [`export_block!`] expands to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::__export_plugin;
    pub use crate::bindings::exports::vitrine::block::block::Guest;
    pub use crate::bindings::exports::vitrine::block::block::{BlockError, Metadata, NamedTable};
    pub use crate::convert::{describe, transform};

    pub const VERSION_LEN: usize = crate::VERSION.len();
    pub const VERSION_BYTES: [u8; VERSION_LEN] = {
        let mut out = [0u8; VERSION_LEN];
        let v = crate::VERSION.as_bytes();
        let mut i = 0;
        while i < VERSION_LEN {
            out[i] = v[i];
            i += 1;
        }
        out
    };
}

/// Exports a [`Block`] as the component's implementation of `vitrine:block`, and stamps
/// the SDK's version into it.
#[macro_export]
macro_rules! export_block {
    ($block:ty) => {
        const _: () = {
            struct VitrineExport;

            impl $crate::__private::Guest for VitrineExport {
                fn describe() -> $crate::__private::Metadata {
                    $crate::__private::describe::<$block>()
                }

                fn transform(
                    config: ::std::string::String,
                    inputs: ::std::vec::Vec<$crate::__private::NamedTable>,
                ) -> ::std::result::Result<
                    ::std::vec::Vec<$crate::__private::NamedTable>,
                    $crate::__private::BlockError,
                > {
                    $crate::__private::transform::<$block>(config, inputs)
                }
            }

            #[used]
            #[unsafe(link_section = "vitrine-sdk")]
            static VITRINE_SDK: [u8; $crate::__private::VERSION_LEN] =
                $crate::__private::VERSION_BYTES;

    $crate::__private::__export_plugin!(VitrineExport with_types_in $crate::bindings);
        };
    };
}
