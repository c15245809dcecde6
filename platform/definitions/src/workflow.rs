//! A workflow as `saveWorkflow` takes it typed: blocks, each with its input ports and
//! its kind's configuration. It becomes the JSON the workflow record parses, and the
//! errors that come back name the typed fields (`configuration.plugin.timeLimitMs`).

use std::collections::{BTreeMap, HashMap};

use async_graphql::{InputObject, Json};
use serde_json::{Value, json};

use crate::blocks::{BlockConfigurationInput, camel, configuration_field};
use vitrine_services::{ApiError, ApiResult};

/// One input port of a block and where it reads from.
#[derive(InputObject)]
pub struct BlockInputPortInput {
    pub port: String,
    /// `block` (its first output, `out` for built-in blocks) or `block.port`.
    pub source: String,
}

/// One block of a workflow.
#[derive(InputObject)]
pub struct BlockInput {
    /// Unique within the workflow: a-z, 0-9 and _, starting with a letter. Other blocks
    /// name it in their inputs.
    pub id: String,
    /// Where each input port reads from (the ports `blockKinds` lists for the kind).
    #[graphql(default)]
    pub inputs: Vec<BlockInputPortInput>,
    /// The kind, and its configuration.
    pub configuration: BlockConfigurationInput,
}

/// What `saveWorkflow` was given: the typed `blocks`, or the deprecated `workflow` JSON,
/// exactly one. With the kind of each typed block, to word errors in typed terms.
pub fn workflow_argument(
    blocks: Option<Vec<BlockInput>>,
    workflow: Option<Json<Value>>,
) -> ApiResult<(Value, Option<HashMap<String, &'static str>>)> {
    let blocks = match (blocks, workflow) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "workflow: give `blocks`, or the deprecated `workflow`, not both",
            ));
        }
        (None, None) => return Err(ApiError::invalid("blocks: give the workflow's blocks")),
        (None, Some(w)) => return Ok((w.0, None)),
        (Some(b), None) => b,
    };
    let mut kinds = HashMap::new();
    let mut out = Vec::with_capacity(blocks.len());
    for (i, b) in blocks.into_iter().enumerate() {
        let mut inputs = BTreeMap::new();
        for p in b.inputs {
            if inputs.contains_key(&p.port) {
                return Err(ApiError::invalid(format!(
                    "blocks[{i}].inputs: the port `{}` is given twice",
                    p.port
                )));
            }
            inputs.insert(p.port, p.source);
        }
        let (kind, config) = b.configuration.into_parts()?;
        kinds.insert(b.id.clone(), kind);
        out.push(json!({ "id": b.id, "kind": kind, "config": config, "inputs": inputs }));
    }
    Ok((json!({ "blocks": out }), Some(kinds)))
}

/// Rewords an error about a typed block's configuration in the typed input's terms:
/// "block `a`, config.time_limit_ms: …" becomes "block `a`,
/// configuration.plugin.timeLimitMs: …", so `extensions.path` points at the field the
/// client sent.
pub fn in_typed_terms(mut e: ApiError, kinds: &HashMap<String, &'static str>) -> ApiError {
    let Some(start) = e.message.find("block `") else {
        return e;
    };
    let rest = &e.message[start + 7..];
    let Some((id, tail)) = rest.split_once("`, config") else {
        return e;
    };
    let Some((field, _)) = kinds.get(id).and_then(|k| configuration_field(k)) else {
        return e;
    };
    let (path, after) = tail.split_once(": ").unwrap_or((tail, ""));
    let camel_path: String = path
        .split('.')
        .map(|seg| {
            let (name, index) = seg.split_at(seg.find('[').unwrap_or(seg.len()));
            format!("{}{index}", camel(name))
        })
        .collect::<Vec<_>>()
        .join(".");
    e.message = format!(
        "{}block `{id}`, configuration.{field}{camel_path}: {after}",
        &e.message[..start]
    );
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_core::ErrorCode;

    #[test]
    fn errors_about_a_typed_block_name_the_typed_field() {
        let kinds = HashMap::from([("p".to_owned(), "plugin"), ("s".to_owned(), "sort")]);
        let reword =
            |m: &str| in_typed_terms(ApiError::new(ErrorCode::InvalidWorkflow, m), &kinds).message;
        assert_eq!(
            reword("block `p`, config.time_limit_ms: must be positive"),
            "block `p`, configuration.plugin.timeLimitMs: must be positive"
        );
        assert_eq!(
            reword("workflow: block `s`, config.by[0].column: missing"),
            "workflow: block `s`, configuration.sort.by[0].column: missing"
        );
        assert_eq!(
            reword("block `s`, config: unknown field `bogus`"),
            "block `s`, configuration.sort: unknown field `bogus`"
        );
        // Not about a typed block's configuration: unchanged.
        assert_eq!(reword("block `x`, config.a: b"), "block `x`, config.a: b");
        assert_eq!(reword("blocks: a cycle"), "blocks: a cycle");
    }
}
