//! The workflow: a graph of blocks joined by named ports, its validation, and the
//! `${name}` parameters its configuration may use.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use serde_json::Value;

use crate::blocks::{BlockConfig, Ports};
use crate::plugins::{PluginCatalog, PluginEntry, entry};
pub use crate::text::{check_ident, substitute};
use crate::{EngineError, EngineResult};

pub use vitrine_core::workflow::{Block, Workflow};

/// Where an input port reads from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortRef {
    pub block: String,
    pub port: String,
}

impl PortRef {
    pub fn parse(s: &str) -> PortRef {
        match s.split_once('.') {
            Some((b, p)) => PortRef {
                block: b.to_owned(),
                port: p.to_owned(),
            },
            None => PortRef {
                block: s.to_owned(),
                port: "out".to_owned(),
            },
        }
    }
}

/// A block whose configuration has been parsed (after parameter substitution).
#[derive(Debug, Clone)]
pub struct Planned {
    pub block: Block,
    pub config: BlockConfig,
    /// The configuration after `${…}` substitution: what the incremental key hashes.
    pub resolved: Value,
    pub inputs: BTreeMap<String, PortRef>,
    /// Output ports, first one first: `out` for built-in blocks, the plugin's own for
    /// plugin blocks.
    pub outputs: Vec<String>,
    /// For plugin blocks: the published version the block pins.
    pub plugin: Option<PluginEntry>,
    /// The data connections (resolved names) whose rows reach this block: its own
    /// `database_source` read and every one upstream. A published dataset keeps them, so
    /// viewers' connection roles apply to it.
    pub connections: std::collections::BTreeSet<String>,
}

/// A validated workflow: blocks in a topological order.
#[derive(Debug, Clone)]
pub struct Plan {
    pub blocks: Vec<Planned>,
    index: HashMap<String, usize>,
}

impl Plan {
    pub fn get(&self, id: &str) -> Option<&Planned> {
        self.index.get(id).map(|&i| &self.blocks[i])
    }

    /// `id` and every block that reads from it, directly or not.
    pub fn descendants(&self, id: &str) -> HashSet<String> {
        let mut out = HashSet::from([id.to_owned()]);
        // Topological order means one forward pass sees every parent before its children.
        for p in &self.blocks {
            if p.inputs.values().any(|r| out.contains(&r.block)) {
                out.insert(p.block.id.clone());
            }
        }
        out
    }

    /// `id` and every block it reads from, directly or not.
    pub fn ancestors(&self, id: &str) -> HashSet<String> {
        let mut out = HashSet::from([id.to_owned()]);
        for p in self.blocks.iter().rev() {
            if out.contains(&p.block.id) {
                out.extend(p.inputs.values().map(|r| r.block.clone()));
            }
        }
        out
    }

    /// Dataset names the workflow publishes, with the block that publishes each.
    pub fn published(&self) -> BTreeMap<String, String> {
        self.blocks
            .iter()
            .filter_map(|p| match &p.config {
                BlockConfig::Publish(c) => Some((c.dataset.clone(), p.block.id.clone())),
                _ => None,
            })
            .collect()
    }
}

pub const MAX_BLOCKS: usize = 500;

/// Checks everything that can be checked without data: ids, kinds, configuration,
/// ports, references and cycles. Errors name the block and the field.
pub fn validate(
    wf: &Workflow,
    params: &BTreeMap<String, String>,
    plugins: &PluginCatalog,
) -> EngineResult<Plan> {
    if wf.blocks.len() > MAX_BLOCKS {
        return Err(EngineError::invalid(
            "blocks",
            format!("a workflow holds at most {MAX_BLOCKS} blocks"),
        ));
    }
    let mut by_id: HashMap<&str, &Block> = HashMap::new();
    for b in &wf.blocks {
        check_ident(&b.id).map_err(|r| EngineError::workflow(&b.id, "id", r))?;
        if by_id.insert(&b.id, b).is_some() {
            return Err(EngineError::workflow(
                &b.id,
                "id",
                "two blocks have this id",
            ));
        }
    }
    // Every block parsed first: a block's inputs are checked against the output ports
    // of the blocks it reads from, which for plugin blocks come from the plugin.
    let mut parsed: HashMap<&str, (Value, BlockConfig, Option<PluginEntry>)> = HashMap::new();
    for b in &wf.blocks {
        let resolved = substitute(&b.config, params, "config")
            .map_err(|(field, r)| EngineError::workflow(&b.id, &field, r))?;
        let config = BlockConfig::parse(&b.kind, &resolved)
            .map_err(|(field, r)| EngineError::workflow(&b.id, &field, r))?;
        let plugin = match &config {
            BlockConfig::Plugin(c) => Some(plugin_for(&b.id, c, plugins)?),
            _ => None,
        };
        parsed.insert(&b.id, (resolved, config, plugin));
    }
    let outputs_of = |id: &str| -> Vec<String> {
        match &parsed[id].2 {
            Some(e) => e.info.outputs.iter().map(|p| p.name.clone()).collect(),
            None => vec!["out".to_owned()],
        }
    };
    let mut planned: HashMap<&str, Planned> = HashMap::new();
    let mut datasets: HashMap<String, String> = HashMap::new();
    for b in &wf.blocks {
        let (resolved, config, plugin) = parsed[b.id.as_str()].clone();
        let mut inputs = BTreeMap::new();
        for (port, target) in &b.inputs {
            let mut r = PortRef::parse(target);
            if !by_id.contains_key(r.block.as_str()) {
                return Err(EngineError::workflow(
                    &b.id,
                    &format!("inputs.{port}"),
                    format!("no block `{}` to read from", r.block),
                ));
            }
            let up_ports = outputs_of(&r.block);
            if !target.contains('.') {
                r.port = up_ports[0].clone();
            }
            if !up_ports.contains(&r.port) {
                return Err(EngineError::workflow(
                    &b.id,
                    &format!("inputs.{port}"),
                    format!(
                        "block `{}` has no output port `{}`; its ports are {}",
                        r.block,
                        r.port,
                        up_ports.join(", ")
                    ),
                ));
            }
            inputs.insert(port.clone(), r);
        }
        // Fixed ports: a built-in kind's, or the ones the block's plugin declares.
        let fixed: Vec<&str> = match (config.input_ports(), &plugin) {
            (Ports::Plugin, Some(e)) => e.info.inputs.iter().map(|p| p.name.as_str()).collect(),
            (Ports::Fixed(names), _) => names.to_vec(),
            _ => Vec::new(),
        };
        match config.input_ports() {
            Ports::None if !inputs.is_empty() => {
                return Err(EngineError::workflow(
                    &b.id,
                    "inputs",
                    format!("a `{}` block takes no inputs", b.kind),
                ));
            }
            Ports::None => {}
            Ports::Plugin | Ports::Fixed(_) => {
                for n in &fixed {
                    if !inputs.contains_key(*n) {
                        return Err(EngineError::workflow(
                            &b.id,
                            &format!("inputs.{n}"),
                            "this input is not connected",
                        ));
                    }
                }
                if let Some(extra) = inputs.keys().find(|k| !fixed.contains(&k.as_str())) {
                    return Err(EngineError::workflow(
                        &b.id,
                        &format!("inputs.{extra}"),
                        format!(
                            "a `{}` block has no input port `{extra}`; its ports are {}",
                            b.kind,
                            fixed.join(", ")
                        ),
                    ));
                }
            }
            Ports::Named { min } => {
                if inputs.len() < min {
                    return Err(EngineError::workflow(
                        &b.id,
                        "inputs",
                        format!("a `{}` block needs at least {min} connected inputs", b.kind),
                    ));
                }
                for k in inputs.keys() {
                    check_ident(k)
                        .map_err(|r| EngineError::workflow(&b.id, &format!("inputs.{k}"), r))?;
                }
            }
        }
        if let BlockConfig::Publish(c) = &config
            && let Some(other) = datasets.insert(c.dataset.clone(), b.id.clone())
        {
            return Err(EngineError::workflow(
                &b.id,
                "config.dataset",
                format!("block `{other}` already publishes dataset `{}`", c.dataset),
            ));
        }
        planned.insert(
            &b.id,
            Planned {
                block: b.clone(),
                config,
                resolved,
                inputs,
                outputs: outputs_of(&b.id),
                plugin,
                connections: Default::default(),
            },
        );
    }
    let order = topological(wf, &planned)?;
    let mut blocks: Vec<Planned> = order
        .into_iter()
        .map(|id| planned.remove(id.as_str()).expect("planned block"))
        .collect();
    let index: HashMap<String, usize> = blocks
        .iter()
        .enumerate()
        .map(|(i, p)| (p.block.id.clone(), i))
        .collect();
    // In topological order every block's inputs already know their connections.
    for i in 0..blocks.len() {
        let mut fed: std::collections::BTreeSet<String> = blocks[i]
            .inputs
            .values()
            .filter_map(|r| index.get(r.block.as_str()))
            .flat_map(|&j| blocks[j].connections.iter().cloned())
            .collect();
        if let BlockConfig::DatabaseSource(c) = &blocks[i].config {
            fed.insert(c.connection.clone());
        }
        blocks[i].connections = fed;
    }
    Ok(Plan { blocks, index })
}

/// The published, enabled plugin version a plugin block pins, with its settings checked
/// against the plugin's schema.
fn plugin_for(
    block: &str,
    c: &crate::blocks::PluginBlock,
    plugins: &PluginCatalog,
) -> EngineResult<PluginEntry> {
    let Some(e) = plugins.get(&c.plugin, &c.version) else {
        return Err(EngineError::workflow(
            block,
            "config.plugin",
            format!(
                "no plugin `{}` version {} is published",
                c.plugin, c.version
            ),
        ));
    };
    if !e.record.enabled {
        return Err(EngineError::workflow(
            block,
            "config.plugin",
            format!(
                "plugin `{}` version {} is disabled by an administrator",
                c.plugin, c.version
            ),
        ));
    }
    vitrine_plugins::check_config(&e.info, &c.settings)
        .map_err(|err| EngineError::workflow(block, "config.settings", err.to_string()))?;
    Ok(e.clone())
}

/// Kahn's algorithm in saved order, so independent blocks keep the author's order. What
/// is left when no block is ready forms (or hangs off) a cycle.
fn topological(wf: &Workflow, planned: &HashMap<&str, Planned>) -> EngineResult<Vec<String>> {
    let mut indegree: HashMap<&str, usize> = HashMap::new();
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    for b in &wf.blocks {
        let ups: HashSet<&str> = planned[b.id.as_str()]
            .inputs
            .values()
            .map(|r| r.block.as_str())
            .collect();
        indegree.insert(&b.id, ups.len());
        for u in ups {
            children.entry(u).or_default().push(&b.id);
        }
    }
    let mut ready: VecDeque<&str> = wf
        .blocks
        .iter()
        .map(|b| b.id.as_str())
        .filter(|id| indegree[id] == 0)
        .collect();
    let mut order = Vec::with_capacity(wf.blocks.len());
    while let Some(id) = ready.pop_front() {
        order.push(id.to_owned());
        for c in children.get(id).into_iter().flatten() {
            let d = indegree.get_mut(c).expect("indegree");
            *d -= 1;
            if *d == 0 {
                ready.push_back(c);
            }
        }
    }
    if order.len() < wf.blocks.len() {
        let stuck: Vec<&str> = wf
            .blocks
            .iter()
            .map(|b| b.id.as_str())
            .filter(|id| !order.iter().any(|o| o == id))
            .collect();
        return Err(EngineError::workflow(
            stuck[0],
            "inputs",
            format!(
                "the workflow has a cycle through blocks {}",
                stuck.join(", ")
            ),
        ));
    }
    Ok(order)
}

/// The blocks upstream of (and including) the blocks publishing `dataset`.
fn feeding<'a>(wf: &'a Workflow, dataset: &str) -> Vec<&'a Block> {
    let by_id: HashMap<&str, &Block> = wf.blocks.iter().map(|b| (b.id.as_str(), b)).collect();
    let mut todo: Vec<&Block> = wf
        .blocks
        .iter()
        .filter(|b| b.kind == "publish" && b.config.get("dataset") == Some(&Value::from(dataset)))
        .collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    while let Some(b) = todo.pop() {
        if !seen.insert(b.id.as_str()) {
            continue;
        }
        out.push(b);
        for from in b.inputs.values() {
            if let Some(up) = by_id.get(PortRef::parse(from).block.as_str()) {
                todo.push(up);
            }
        }
    }
    out
}

/// The resource locations whose files end up in `dataset`: those read by the source
/// blocks upstream of the blocks publishing it. Access boost follows them (each location
/// has a boost default, as a data connection would).
pub fn locations_feeding(wf: &Workflow, dataset: &str) -> std::collections::BTreeSet<String> {
    feeding(wf, dataset)
        .into_iter()
        .filter(|b| b.inputs.is_empty())
        .filter_map(|b| b.config.get("location").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// The data connections (names after `params` are substituted; as written when they do
/// not substitute) whose rows end up in `dataset`. A run records the same on the
/// datasets it publishes; this answers for content that has not run here yet (an
/// imported bundle's datasets).
pub fn connections_feeding(
    wf: &Workflow,
    dataset: &str,
    params: &BTreeMap<String, String>,
) -> std::collections::BTreeSet<String> {
    feeding(wf, dataset)
        .into_iter()
        .filter(|b| b.kind == "database_source")
        .filter_map(|b| b.config.get("connection"))
        .filter_map(|c| {
            let name = substitute(c, params, "connection").unwrap_or_else(|_| c.clone());
            name.as_str().map(str::to_owned)
        })
        .collect()
}

/// The parameters that choose a data connection: those a `database_source` block's
/// `connection` is written as (`${name}`). Each instance keeps its own value of them:
/// a working copy's push or pull never carries one over.
pub fn connection_parameters(wf: &Workflow) -> std::collections::BTreeSet<String> {
    wf.blocks
        .iter()
        .filter(|b| b.kind == "database_source")
        .filter_map(|b| b.config.get("connection").and_then(Value::as_str))
        .filter_map(|c| {
            c.trim()
                .strip_prefix("${")
                .and_then(|r| r.strip_suffix('}'))
                .map(str::to_owned)
        })
        .collect()
}

impl crate::Engine {
    /// The published versions `wf`'s plugin blocks name (unresolved names are looked up
    /// after parameter substitution by validation, which reports what is missing).
    pub async fn plugin_catalog(
        &self,
        wf: &Workflow,
        params: &BTreeMap<String, String>,
    ) -> EngineResult<PluginCatalog> {
        let mut catalog = PluginCatalog::default();
        for b in wf.blocks.iter().filter(|b| b.kind == "plugin") {
            let Ok(config) = substitute(&b.config, params, "config") else {
                continue;
            };
            let (Some(name), Some(version)) = (
                config.get("plugin").and_then(|v| v.as_str()),
                config.get("version").and_then(|v| v.as_str()),
            ) else {
                continue;
            };
            if catalog.get(name, version).is_some() {
                continue;
            }
            if let Some(r) = self.store.plugin(name, version).await? {
                catalog.insert(entry(r)?);
            }
        }
        Ok(catalog)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wf(v: Value) -> Workflow {
        serde_json::from_value(json!({ "blocks": v })).unwrap()
    }

    fn err(w: &Workflow) -> String {
        validate(w, &BTreeMap::new(), &PluginCatalog::default())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn orders_blocks_and_finds_descendants() {
        let w = wf(json!([
            {"id": "pub", "kind": "publish", "config": {"dataset": "d"}, "inputs": {"in": "f"}},
            {"id": "f", "kind": "filter", "config": {"condition": "x > 1"}, "inputs": {"in": "src"}},
            {"id": "src", "kind": "inline_rows", "config": {"columns": [{"name": "x", "type": "int64"}], "rows": [[1], [2]]}},
        ]));
        let plan = validate(&w, &BTreeMap::new(), &PluginCatalog::default()).unwrap();
        let ids: Vec<_> = plan.blocks.iter().map(|p| p.block.id.as_str()).collect();
        assert_eq!(ids, ["src", "f", "pub"]);
        assert_eq!(
            plan.descendants("f"),
            HashSet::from(["f".into(), "pub".into()])
        );
        assert_eq!(
            plan.ancestors("f"),
            HashSet::from(["f".into(), "src".into()])
        );
    }

    #[test]
    fn refuses_cycles_dangling_inputs_and_unknown_kinds() {
        let cycle = wf(json!([
            {"id": "a", "kind": "filter", "config": {"condition": "true"}, "inputs": {"in": "b"}},
            {"id": "b", "kind": "filter", "config": {"condition": "true"}, "inputs": {"in": "a"}},
        ]));
        assert!(
            err(&cycle).contains("cycle through blocks a, b"),
            "{}",
            err(&cycle)
        );
        let dangling = wf(json!([
            {"id": "a", "kind": "filter", "config": {"condition": "true"}, "inputs": {"in": "nope"}},
        ]));
        assert_eq!(
            err(&dangling),
            "block `a`, inputs.in: no block `nope` to read from"
        );
        let unconnected =
            wf(json!([{"id": "a", "kind": "filter", "config": {"condition": "true"}}]));
        assert_eq!(
            err(&unconnected),
            "block `a`, inputs.in: this input is not connected"
        );
        let unknown = wf(json!([{"id": "a", "kind": "teleport"}]));
        assert!(err(&unknown).starts_with("block `a`, kind: unknown block kind `teleport`"));
        let bad = wf(json!([{"id": "a", "kind": "sql", "config": {"qeury": "select 1"}}]));
        assert!(err(&bad).starts_with("block `a`, config"), "{}", err(&bad));
    }

    #[test]
    fn a_dataset_is_fed_by_the_locations_upstream_of_its_publish_blocks() {
        let w = wf(json!([
            {"id": "a", "kind": "csv_source", "config": {"location": "sales", "path": "a.csv"}},
            {"id": "b", "kind": "csv_source", "config": {"location": "hr", "path": "b.csv"}},
            {"id": "c", "kind": "csv_source", "config": {"location": "other", "path": "c.csv"}},
            {"id": "j", "kind": "join", "config": {}, "inputs": {"left": "a", "right": "b.out"}},
            {"id": "p", "kind": "publish", "config": {"dataset": "joined"}, "inputs": {"in": "j"}},
            {"id": "q", "kind": "publish", "config": {"dataset": "other"}, "inputs": {"in": "c"}},
            {"id": "w", "kind": "write_file", "config": {"location": "out", "path": "x"}, "inputs": {"in": "j"}},
        ]));
        let names = |d: &str| locations_feeding(&w, d).into_iter().collect::<Vec<_>>();
        assert_eq!(names("joined"), ["hr", "sales"]);
        assert_eq!(names("other"), ["other"]);
        assert!(names("nothing").is_empty());
    }

    #[test]
    fn parameters_substitute_and_unknown_ones_are_named() {
        let params = BTreeMap::from([("env".to_owned(), "prod".to_owned())]);
        let v = json!({"path": "data/${env}/x.csv", "lit": "$${env}", "n": 3});
        assert_eq!(
            substitute(&v, &params, "config").unwrap(),
            json!({"path": "data/prod/x.csv", "lit": "${env}", "n": 3})
        );
        let e = substitute(&json!({"a": ["${nope}"]}), &params, "config").unwrap_err();
        assert_eq!(
            e,
            (
                "config.a[0]".to_owned(),
                "unknown parameter `nope`".to_owned()
            )
        );
    }
}
