//! The workflow as saved: blocks joined by named ports, in the order the author listed
//! them. Records hold it typed; checking that it runs (block kinds, ports, cycles,
//! plugin versions) is the engine's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Blocks as saved, in the order the author listed them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    #[serde(default)]
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// Unique within the workflow; other blocks name it in their inputs.
    pub id: String,
    pub kind: String,
    #[serde(default)]
    pub config: Value,
    /// Input port → `block` or `block.port` (without a port: the block's first output,
    /// which is `out` for built-in blocks).
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
}

impl Workflow {
    /// As JSON, for revisions (whose snapshots are JSON) and clients.
    pub fn to_json(&self) -> Value {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_value(self).expect("a workflow serialises")
    }
}
