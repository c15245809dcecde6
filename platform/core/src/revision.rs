//! What a project revision holds, and the structural diff between two revisions: blocks,
//! reports, tabs, tiles, report filters and parameters added, removed or changed, each
//! change naming the fields that differ. Pure: the service layer stores revisions and
//! calls [`diff`]; the GraphQL layer shows its answer.
//!
//! Content is kept as JSON (the shapes `saveWorkflow` and `createReport` take), so a
//! revision stays readable however the engine's types evolve; the diff only relies on
//! every block, tab, tile and filter carrying a string `id`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A project's content at one revision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RevisionContent {
    /// `{"blocks": [...]}` as saved.
    pub workflow: Value,
    pub reports: Vec<ReportContent>,
    /// Parameter name → value.
    pub parameters: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportContent {
    pub uid: String,
    pub name: String,
    /// Tabs, tiles and report filters.
    pub definition: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// What a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeObject {
    Block,
    Parameter,
    Report,
    Tab,
    Tile,
    Filter,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub kind: ChangeKind,
    pub object: ChangeObject,
    /// Where: a block's or parameter's name; `REPORT`, `REPORT/TAB` or `REPORT/TILE` for
    /// report parts, REPORT being the report's name in the newer revision.
    pub path: String,
    /// For a change: the fields that differ (`config`, `inputs`, `query`, `tab`, …).
    pub fields: Vec<String>,
}

/// The changes that turn `old` into `new`, in a stable order: blocks, parameters, then
/// each report with its tabs, tiles and filters.
pub fn diff(old: &RevisionContent, new: &RevisionContent) -> Vec<Change> {
    let mut out = Vec::new();
    let (old_workflow, new_workflow) = (workflow(&old.workflow), workflow(&new.workflow));
    by_id(
        &mut out,
        ChangeObject::Block,
        "",
        &items(&old_workflow, "blocks"),
        &items(&new_workflow, "blocks"),
    );
    let old_params: BTreeMap<String, Map<String, Value>> = wrap(&old.parameters);
    let new_params: BTreeMap<String, Map<String, Value>> = wrap(&new.parameters);
    by_id(
        &mut out,
        ChangeObject::Parameter,
        "",
        &old_params,
        &new_params,
    );

    let old_reports: BTreeMap<&str, &ReportContent> =
        old.reports.iter().map(|r| (r.uid.as_str(), r)).collect();
    let new_reports: BTreeMap<&str, &ReportContent> =
        new.reports.iter().map(|r| (r.uid.as_str(), r)).collect();
    for (uid, r) in &old_reports {
        if !new_reports.contains_key(uid) {
            out.push(change(
                ChangeKind::Removed,
                ChangeObject::Report,
                &r.name,
                vec![],
            ));
        }
    }
    for (uid, n) in &new_reports {
        let Some(o) = old_reports.get(uid) else {
            out.push(change(
                ChangeKind::Added,
                ChangeObject::Report,
                &n.name,
                vec![],
            ));
            continue;
        };
        if o.name != n.name {
            out.push(change(
                ChangeKind::Changed,
                ChangeObject::Report,
                &n.name,
                vec!["name".into()],
            ));
        }
        let prefix = format!("{}/", n.name);
        let (od, nd) = (normalized(&o.definition), normalized(&n.definition));
        let (old_tabs, new_tabs) = (items(&od, "tabs"), items(&nd, "tabs"));
        // Tabs compare without their tiles: tiles are compared on their own, across tabs,
        // so a tile moved to another tab is one change of its `tab` field.
        by_id(
            &mut out,
            ChangeObject::Tab,
            &prefix,
            &without(&old_tabs, "tiles"),
            &without(&new_tabs, "tiles"),
        );
        by_id(
            &mut out,
            ChangeObject::Tile,
            &prefix,
            &tiles(&old_tabs),
            &tiles(&new_tabs),
        );
        by_id(
            &mut out,
            ChangeObject::Filter,
            &prefix,
            &items(&od, "filters"),
            &items(&nd, "filters"),
        );
    }
    out
}

/// A workflow as records hold it (a block's empty inputs written out), for the same
/// reason as [`normalized`].
fn workflow(definition: &Value) -> std::borrow::Cow<'_, Value> {
    // Read in place: a `&Value` deserialises without a copy.
    match <crate::workflow::Workflow as serde::Deserialize>::deserialize(definition) {
        Ok(w) => std::borrow::Cow::Owned(w.to_json()),
        Err(_) => std::borrow::Cow::Borrowed(definition),
    }
}

/// A report definition as records hold it (defaults written out), so a snapshot taken
/// from raw JSON (a bundle, an older version) and one taken from a record compare equal
/// when they mean the same report. One that does not parse is compared as it is.
fn normalized(definition: &Value) -> std::borrow::Cow<'_, Value> {
    match crate::report::ReportDefinition::parse(definition) {
        Ok(d) => std::borrow::Cow::Owned(d.to_json()),
        Err(_) => std::borrow::Cow::Borrowed(definition),
    }
}

fn change(kind: ChangeKind, object: ChangeObject, path: &str, fields: Vec<String>) -> Change {
    Change {
        kind,
        object,
        path: path.to_owned(),
        fields,
    }
}

/// The objects of `value[key]` by their `id`; entries without a string id are skipped.
fn items(value: &Value, key: &str) -> BTreeMap<String, Map<String, Value>> {
    value[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let o = v.as_object()?;
            Some((o.get("id")?.as_str()?.to_owned(), o.clone()))
        })
        .collect()
}

fn wrap(params: &BTreeMap<String, Value>) -> BTreeMap<String, Map<String, Value>> {
    params
        .iter()
        .map(|(k, v)| {
            let mut m = Map::new();
            m.insert("value".into(), v.clone());
            (k.clone(), m)
        })
        .collect()
}

fn without(
    items: &BTreeMap<String, Map<String, Value>>,
    field: &str,
) -> BTreeMap<String, Map<String, Value>> {
    items
        .iter()
        .map(|(k, v)| {
            let mut v = v.clone();
            v.remove(field);
            (k.clone(), v)
        })
        .collect()
}

/// Every tile of every tab, by id, with the tab it sits in as its `tab` field.
fn tiles(tabs: &BTreeMap<String, Map<String, Value>>) -> BTreeMap<String, Map<String, Value>> {
    let mut out = BTreeMap::new();
    for (tab, t) in tabs {
        let wrapped = Value::Object(t.clone());
        for (id, mut tile) in items(&wrapped, "tiles") {
            tile.insert("tab".into(), Value::String(tab.clone()));
            out.insert(id, tile);
        }
    }
    out
}

fn by_id(
    out: &mut Vec<Change>,
    object: ChangeObject,
    prefix: &str,
    old: &BTreeMap<String, Map<String, Value>>,
    new: &BTreeMap<String, Map<String, Value>>,
) {
    for id in old.keys().filter(|k| !new.contains_key(*k)) {
        out.push(change(
            ChangeKind::Removed,
            object,
            &format!("{prefix}{id}"),
            vec![],
        ));
    }
    for (id, n) in new {
        let Some(o) = old.get(id) else {
            out.push(change(
                ChangeKind::Added,
                object,
                &format!("{prefix}{id}"),
                vec![],
            ));
            continue;
        };
        let keys: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
        let fields: Vec<String> = keys
            .into_iter()
            .filter(|k| o.get(*k) != n.get(*k))
            .cloned()
            .collect();
        if !fields.is_empty() {
            out.push(change(
                ChangeKind::Changed,
                object,
                &format!("{prefix}{id}"),
                fields,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn content(blocks: Value, tabs: Value, params: Value) -> RevisionContent {
        RevisionContent {
            workflow: json!({ "blocks": blocks }),
            reports: vec![ReportContent {
                uid: "r1".into(),
                name: "Sales".into(),
                definition: json!({"tabs": tabs, "filters": [{"id": "region", "column": "region"}]}),
            }],
            parameters: serde_json::from_value(params).unwrap(),
        }
    }

    fn tile(id: &str, dim: &str) -> Value {
        json!({"id": id, "title": id, "kind": "bar", "query": {"dataset": "orders", "dimensions": [dim]}})
    }

    /// A report written out in full (as records hold it) and the same report with its
    /// defaults left out (as a bundle may carry it) are one report; a real edit still shows.
    #[test]
    fn defaults_written_out_are_no_change() {
        let raw = json!({"tabs": [{"id": "main", "title": "Main", "tiles": [{
            "id": "t1", "title": "By region", "kind": "bar",
            "query": {"dataset": "orders", "dimensions": ["region"],
                      "measures": [{"column": "sales", "function": "sum"}]}}]}]});
        let full = crate::report::ReportDefinition::parse(&raw)
            .unwrap()
            .to_json();
        assert_ne!(raw, full, "the test needs defaults to write out");
        let with = |definition: Value| RevisionContent {
            workflow: json!({"blocks": []}),
            reports: vec![ReportContent {
                uid: "r1".into(),
                name: "Sales".into(),
                definition,
            }],
            parameters: Default::default(),
        };
        assert_eq!(diff(&with(raw.clone()), &with(full.clone())), vec![]);
        let mut edited = full;
        edited["tabs"][0]["tiles"][0]["title"] = json!("Sales by region");
        let changes = diff(&with(raw), &with(edited));
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].object, ChangeObject::Tile);
        // A block without inputs, written with and without them.
        let block = |b: Value| RevisionContent {
            workflow: json!({ "blocks": [b] }),
            reports: Vec::new(),
            parameters: Default::default(),
        };
        let bare = json!({"id": "src", "kind": "csv_source", "config": {"path": "a.csv"}});
        let mut written = bare.clone();
        written["inputs"] = json!({});
        assert_eq!(diff(&block(bare), &block(written)), vec![]);
    }

    #[test]
    fn equal_revisions_have_no_changes() {
        let c = content(
            json!([{"id": "src", "kind": "csv_source", "config": {"path": "a.csv"}}]),
            json!([{"id": "main", "title": "Main", "tiles": [tile("t1", "region")]}]),
            json!({"year": 2026}),
        );
        assert_eq!(diff(&c, &c), vec![]);
    }

    #[test]
    fn blocks_tiles_tabs_and_parameters_are_told_apart_with_their_fields() {
        let old = content(
            json!([
                {"id": "src", "kind": "csv_source", "config": {"path": "a.csv"}},
                {"id": "gone", "kind": "filter", "inputs": {"in": "src"}}
            ]),
            json!([
                {"id": "main", "title": "Main", "tiles": [tile("t1", "region"), tile("t2", "segment")]},
                {"id": "more", "title": "More", "tiles": [tile("t3", "state")]}
            ]),
            json!({"year": 2025, "dropped": true}),
        );
        let new = content(
            json!([
                {"id": "src", "kind": "csv_source", "config": {"path": "b.csv"}},
                {"id": "fresh", "kind": "sort", "inputs": {"in": "src"}}
            ]),
            json!([
                {"id": "main", "title": "Overview", "tiles": [tile("t1", "category"), tile("t3", "state")]},
                {"id": "more", "title": "More", "tiles": []}
            ]),
            json!({"year": 2026}),
        );
        use ChangeKind::*;
        use ChangeObject::*;
        let c = |kind, object, path: &str, fields: &[&str]| {
            change(
                kind,
                object,
                path,
                fields.iter().map(|f| f.to_string()).collect(),
            )
        };
        assert_eq!(
            diff(&old, &new),
            vec![
                c(Removed, Block, "gone", &[]),
                c(Added, Block, "fresh", &[]),
                c(Changed, Block, "src", &["config"]),
                c(Removed, Parameter, "dropped", &[]),
                c(Changed, Parameter, "year", &["value"]),
                c(Changed, Tab, "Sales/main", &["title"]),
                c(Removed, Tile, "Sales/t2", &[]),
                c(Changed, Tile, "Sales/t1", &["query"]),
                // Moved from `more` to `main`: one change, of its tab.
                c(Changed, Tile, "Sales/t3", &["tab"]),
            ]
        );
    }

    #[test]
    fn reports_added_removed_and_renamed() {
        let mut old = content(json!([]), json!([]), json!({}));
        let mut new = old.clone();
        new.reports[0].name = "Revenue".into();
        old.reports.push(ReportContent {
            uid: "r2".into(),
            name: "Old".into(),
            definition: json!({"tabs": []}),
        });
        new.reports.push(ReportContent {
            uid: "r3".into(),
            name: "New".into(),
            definition: json!({"tabs": []}),
        });
        let got: Vec<(ChangeKind, String, Vec<String>)> = diff(&old, &new)
            .into_iter()
            .map(|c| (c.kind, c.path, c.fields))
            .collect();
        assert_eq!(
            got,
            vec![
                (ChangeKind::Removed, "Old".into(), vec![]),
                (ChangeKind::Changed, "Revenue".into(), vec!["name".into()]),
                (ChangeKind::Added, "New".into(), vec![]),
            ]
        );
    }
}
