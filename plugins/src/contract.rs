//! The released versions of the `vitrine:block` contract this host runs. Each has its
//! bindings here, generated from its frozen copy in schema/wit/deps. The rest of the
//! host speaks the newest version; a block built against an older one is met at the
//! call boundary, where its tables and descriptions are converted.

use wasmtime::Store;
use wasmtime::component::{HasSelf, InstancePre, Linker};

/// The contract versions this host runs, oldest first.
pub const VERSIONS: &[&str] = &["0.1.0", "0.2.0"];

/// The newest contract version: what the SDK builds against.
pub const NEWEST: &str = "0.2.0";

/// Bindings for `vitrine:block@0.1.0`.
pub(crate) mod v0_1 {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "../schema/wit/deps/vitrine-block-0.1.0",
    });
}

/// Bindings for `vitrine:block@0.2.0`, the newest.
pub(crate) mod v0_2 {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "../schema/wit/deps/vitrine-block-0.2.0",
    });
}

/// The newest version's host interface.
pub(crate) use v0_2::vitrine::block::host;
/// The newest version's types, which the rest of the host uses.
pub(crate) use v0_2::vitrine::block::types as wit;

use v0_1::vitrine::block::types as old;

/// A component linked against the version of the contract it implements, for stores
/// holding `T` (the sandbox's state, which implements every version's host interface).
pub(crate) enum Linked<T: 'static> {
    V0_1(v0_1::PluginPre<T>),
    V0_2(v0_2::PluginPre<T>),
}

/// The result of a block's `transform`, in the newest version's types.
pub(crate) type Transformed = Result<Vec<wit::NamedTable>, wit::BlockError>;

impl<T: 'static> Linked<T> {
    /// Links a component exporting `vitrine:block/block@{version}`, one of [`VERSIONS`].
    pub(crate) fn new(version: &str, pre: InstancePre<T>) -> Result<Linked<T>, String> {
        match version {
            "0.1.0" => v0_1::PluginPre::new(pre)
                .map(Linked::V0_1)
                .map_err(|e| e.to_string()),
            "0.2.0" => v0_2::PluginPre::new(pre)
                .map(Linked::V0_2)
                .map_err(|e| e.to_string()),
            other => Err(format!("this host does not run version {other}")),
        }
    }

    /// The contract version the block implements.
    pub(crate) fn version(&self) -> &'static str {
        match self {
            Linked::V0_1(_) => "0.1.0",
            Linked::V0_2(_) => "0.2.0",
        }
    }

    /// Instantiates the block in `store` and asks it to describe itself.
    pub(crate) fn describe(&self, store: &mut Store<T>) -> wasmtime::Result<wit::Metadata> {
        match self {
            Linked::V0_1(pre) => {
                let block = pre.instantiate(&mut *store)?;
                let m = block.vitrine_block_block().call_describe(&mut *store)?;
                Ok(metadata(m))
            }
            Linked::V0_2(pre) => {
                let block = pre.instantiate(&mut *store)?;
                block.vitrine_block_block().call_describe(store)
            }
        }
    }

    /// Instantiates the block in `store` and calls `transform`.
    pub(crate) fn transform(
        &self,
        store: &mut Store<T>,
        config: &str,
        inputs: Vec<wit::NamedTable>,
    ) -> wasmtime::Result<Transformed> {
        match self {
            Linked::V0_1(pre) => {
                let block = pre.instantiate(&mut *store)?;
                let inputs: Vec<old::NamedTable> = inputs.into_iter().map(to_old_table).collect();
                let out =
                    block
                        .vitrine_block_block()
                        .call_transform(&mut *store, config, &inputs)?;
                Ok(match out {
                    Ok(tables) => Ok(tables
                        .into_iter()
                        .map(from_old_table)
                        .collect::<Result<_, Malformed>>()?),
                    Err(e) => Err(match e {
                        old::BlockError::InvalidConfig(m) => wit::BlockError::InvalidConfig(m),
                        old::BlockError::InvalidInput(m) => wit::BlockError::InvalidInput(m),
                        old::BlockError::Failed(m) => wit::BlockError::Failed(m),
                    }),
                })
            }
            Linked::V0_2(pre) => {
                let block = pre.instantiate(&mut *store)?;
                block
                    .vitrine_block_block()
                    .call_transform(store, config, &inputs)
            }
        }
    }
}

/// Gives blocks of every version the host interface, as `T` implements it.
pub(crate) fn link<T>(linker: &mut Linker<T>) -> wasmtime::Result<()>
where
    T: v0_1::vitrine::block::host::Host + old::Host + host::Host + wit::Host + 'static,
{
    v0_1::Plugin::add_to_linker::<T, HasSelf<T>>(linker, |s| s)?;
    v0_2::Plugin::add_to_linker::<T, HasSelf<T>>(linker, |s| s)
}

/// 0.1.0's log level as the newest version's.
pub(crate) fn level(level: v0_1::vitrine::block::host::Level) -> host::Level {
    use v0_1::vitrine::block::host::Level as L;
    match level {
        L::Debug => host::Level::Debug,
        L::Info => host::Level::Info,
        L::Warn => host::Level::Warn,
        L::Error => host::Level::Error,
    }
}

fn metadata(m: old::Metadata) -> wit::Metadata {
    let port = |p: old::Port| wit::Port {
        name: p.name,
        description: p.description,
        columns: p.columns.map(|cs| {
            cs.into_iter()
                .map(|c| wit::ColumnSpec {
                    name: c.name,
                    type_: match c.type_ {
                        old::ColumnType::Boolean => wit::ColumnType::Boolean,
                        old::ColumnType::Int64 => wit::ColumnType::Int64,
                        old::ColumnType::Float64 => wit::ColumnType::Float64,
                        old::ColumnType::Text => wit::ColumnType::Text,
                        old::ColumnType::Date => wit::ColumnType::Date,
                        old::ColumnType::Timestamp => wit::ColumnType::Timestamp,
                    },
                    nullable: c.nullable,
                })
                .collect()
        }),
    };
    wit::Metadata {
        name: m.name,
        version: m.version,
        description: m.description,
        config_schema: m.config_schema,
        inputs: m.inputs.into_iter().map(port).collect(),
        outputs: m.outputs.into_iter().map(port).collect(),
        input_format: match m.input_format {
            old::DataFormat::Columns => wit::DataFormat::Columns,
            old::DataFormat::ArrowIpc => wit::DataFormat::ArrowIpc,
        },
    }
}

/// An input table for a 0.1.0 block: text as one string per value.
fn to_old_table(t: wit::NamedTable) -> old::NamedTable {
    let data = match t.data {
        wit::TableData::ArrowIpc(b) => old::TableData::ArrowIpc(b),
        wit::TableData::Columns(t) => old::TableData::Columns(old::Table {
            rows: t.rows,
            columns: t
                .columns
                .into_iter()
                .map(|c| old::Column {
                    name: c.name,
                    validity: c.validity.map(|bits| flags(&bits, t.rows as usize)),
                    values: match c.values {
                        wit::ColumnValues::Boolean(v) => old::ColumnValues::Boolean(v),
                        wit::ColumnValues::Int64(v) => old::ColumnValues::Int64(v),
                        wit::ColumnValues::Float64(v) => old::ColumnValues::Float64(v),
                        wit::ColumnValues::Text(v) => old::ColumnValues::Text(strings(&v)),
                        wit::ColumnValues::Date(v) => old::ColumnValues::Date(v),
                        wit::ColumnValues::Timestamp(v) => old::ColumnValues::Timestamp(v),
                    },
                })
                .collect(),
        }),
    };
    old::NamedTable { port: t.port, data }
}

/// A 0.1.0 block's output that cannot be read: the call fails with
/// [`crate::PluginError::BadOutput`] and this message.
#[derive(Debug)]
pub(crate) struct Malformed(pub(crate) String);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Malformed {}

/// A 0.1.0 block's output table: its strings laid end to end, its validity flags as a
/// bitmap (after checking there is one per row, which the bitmap's length cannot show).
fn from_old_table(t: old::NamedTable) -> Result<wit::NamedTable, Malformed> {
    let port = t.port;
    let data = match t.data {
        old::TableData::ArrowIpc(b) => wit::TableData::ArrowIpc(b),
        old::TableData::Columns(t) => wit::TableData::Columns(wit::Table {
            rows: t.rows,
            columns: t
                .columns
                .into_iter()
                .map(|c| {
                    let validity = match c.validity {
                        Some(v) if v.len() as u64 != t.rows => {
                            return Err(Malformed(format!(
                                "output `{port}`, column `{}` has {} validity flags for {} rows",
                                c.name,
                                v.len(),
                                t.rows
                            )));
                        }
                        v => v.map(|flags| bitmap(&flags)),
                    };
                    Ok(wit::Column {
                        name: c.name,
                        validity,
                        values: match c.values {
                            old::ColumnValues::Boolean(v) => wit::ColumnValues::Boolean(v),
                            old::ColumnValues::Int64(v) => wit::ColumnValues::Int64(v),
                            old::ColumnValues::Float64(v) => wit::ColumnValues::Float64(v),
                            old::ColumnValues::Text(v) => wit::ColumnValues::Text(text_values(&v)),
                            old::ColumnValues::Date(v) => wit::ColumnValues::Date(v),
                            old::ColumnValues::Timestamp(v) => wit::ColumnValues::Timestamp(v),
                        },
                    })
                })
                .collect::<Result<_, Malformed>>()?,
        }),
    };
    Ok(wit::NamedTable { port, data })
}

/// A validity bitmap the host made itself (so of the table's length) as 0.1.0's flags.
fn flags(bits: &[u8], rows: usize) -> Vec<bool> {
    (0..rows)
        .map(|i| bits[i / 8] & (1 << (i % 8)) != 0)
        .collect()
}

/// 0.1.0's validity flags as a bitmap.
fn bitmap(flags: &[bool]) -> Vec<u8> {
    let mut bits = vec![0u8; flags.len().div_ceil(8)];
    for (i, _) in flags.iter().enumerate().filter(|(_, valid)| **valid) {
        bits[i / 8] |= 1 << (i % 8);
    }
    bits
}

/// Values the host laid out itself (from Arrow strings, so valid UTF-8 at valid offsets)
/// as one string each.
fn strings(t: &wit::TextValues) -> Vec<String> {
    t.offsets
        .windows(2)
        .map(|w| String::from_utf8_lossy(&t.data[w[0] as usize..w[1] as usize]).into_owned())
        .collect()
}

/// Strings laid end to end. More than 4 GiB of text cannot come out of a block's memory,
/// which is far smaller; should it, the offsets are refused when the table is read.
fn text_values(v: &[String]) -> wit::TextValues {
    let mut data = Vec::with_capacity(v.iter().map(String::len).sum());
    let mut offsets = Vec::with_capacity(v.len() + 1);
    offsets.push(0);
    for s in v {
        data.extend_from_slice(s.as_bytes());
        offsets.push(u32::try_from(data.len()).unwrap_or(u32::MAX));
    }
    wit::TextValues { data, offsets }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_crosses_between_versions_unchanged() {
        let v = [true, false, true, true, true, true, true, true, false, true];
        let bits = bitmap(&v);
        assert_eq!(bits, [0b1111_1101, 0b10]);
        assert_eq!(flags(&bits, v.len()), v);
    }

    #[test]
    fn text_crosses_between_versions_unchanged() {
        let v = vec!["West".to_owned(), String::new(), "Zürich".to_owned()];
        let t = text_values(&v);
        assert_eq!(t.offsets, [0, 4, 4, 11]);
        assert_eq!(strings(&t), v);
    }

    #[test]
    fn an_old_block_s_validity_must_have_a_flag_per_row() {
        let table = |validity| old::NamedTable {
            port: "out".into(),
            data: old::TableData::Columns(old::Table {
                rows: 10,
                columns: vec![old::Column {
                    name: "n".into(),
                    values: old::ColumnValues::Int64(vec![0; 10]),
                    validity,
                }],
            }),
        };
        // Nine flags make two bytes, as ten do: only the flags can tell.
        let m = from_old_table(table(Some(vec![true; 9]))).unwrap_err().0;
        assert_eq!(
            m,
            "output `out`, column `n` has 9 validity flags for 10 rows"
        );
        let ok = from_old_table(table(Some(vec![false; 10]))).unwrap();
        let wit::TableData::Columns(t) = ok.data else {
            panic!("columns expected")
        };
        assert_eq!(t.columns[0].validity, Some(vec![0, 0]));
    }
}
