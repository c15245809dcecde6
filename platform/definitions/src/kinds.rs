//! What a client learns of each built-in block kind before writing a workflow: what it
//! does, its input ports, the JSON Schema of its configuration as JSON, and the typed
//! field of [`BlockConfigurationInput`](crate::blocks::BlockConfigurationInput) that
//! holds it. Read from the engine's catalogue, so it cannot drift from what is accepted.

use async_graphql::{Json, SimpleObject};
use serde_json::Value;
use vitrine_services::values::{Ports, block_kinds as catalogue};

use crate::blocks::configuration_field;

/// A built-in block kind.
#[derive(SimpleObject)]
pub struct BlockKind {
    /// As a workflow's block writes it in `kind`.
    pub name: String,
    pub description: String,
    /// Fixed input ports (`in`; `left` and `right`); empty for sources and for kinds
    /// whose ports are named by the author (`namedInputs`) or by the plugin.
    pub inputs: Vec<String>,
    /// When the author names the ports (each a table in SQL): the least number.
    pub named_inputs: Option<i32>,
    /// JSON Schema (draft 2020-12) of the block's configuration as JSON.
    pub config_schema: Json<Value>,
    /// The field of `BlockConfigurationInput` (and `BlockConfiguration`) that holds this
    /// kind's configuration (`csvSource`).
    pub configuration_field: String,
    /// The GraphQL type of this kind's configuration (`CsvSourceConfig`; as an input,
    /// with `Input` after it).
    pub configuration_type: String,
}

/// Every built-in kind, in the engine's order.
pub fn block_kinds() -> Vec<BlockKind> {
    catalogue()
        .into_iter()
        .map(|k| {
            // Every built-in kind has its type (`blocks::tests` checks).
            let (field, ty) = configuration_field(k.name).unwrap_or_default();
            BlockKind {
                name: k.name.to_owned(),
                description: k.description.to_owned(),
                inputs: match k.inputs {
                    Ports::Fixed(names) => names.iter().map(|n| (*n).to_owned()).collect(),
                    _ => Vec::new(),
                },
                named_inputs: match k.inputs {
                    Ports::Named { min } => Some(min as i32),
                    _ => None,
                },
                config_schema: Json(k.config_schema),
                configuration_field: field,
                configuration_type: ty,
            }
        })
        .collect()
}
