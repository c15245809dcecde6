//! Access warnings: what a report edit would newly show the audience of a public or
//! recipients link. Pure comparison of two report definitions; the caller decides whether
//! a warning is recorded or the edit refused.

use std::collections::{BTreeMap, BTreeSet};

use vitrine_core::WarningKind;
use vitrine_engine::report::{Condition, ReportDefinition, Tile};

/// One way an edit widens what a link shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    pub kind: WarningKind,
    pub message: String,
}

fn columns_of(t: &Tile) -> BTreeSet<String> {
    t.query
        .dimensions
        .iter()
        .cloned()
        .chain(t.query.measures.iter().filter_map(|m| m.column.clone()))
        .collect()
}

fn tiles_by_dataset(def: &ReportDefinition) -> BTreeMap<&str, Vec<&Tile>> {
    let mut out: BTreeMap<&str, Vec<&Tile>> = BTreeMap::new();
    for t in def.tiles() {
        out.entry(t.query.dataset.as_str()).or_default().push(t);
    }
    out
}

fn key(c: &Condition) -> String {
    serde_json::to_string(c).unwrap_or_default()
}

/// Compares `old` with `new`. `filtered` names the datasets that carry an access filter.
/// Only widening counts: removing a tile or adding a filter never warns.
pub fn widening(
    old: &ReportDefinition,
    new: &ReportDefinition,
    filtered: &BTreeSet<String>,
) -> Vec<Exposure> {
    let mut out = Vec::new();
    let before = tiles_by_dataset(old);
    for (dataset, tiles) in tiles_by_dataset(new) {
        let Some(old_tiles) = before.get(dataset) else {
            out.push(Exposure {
                kind: WarningKind::NewDataset,
                message: format!(
                    "tile `{}` shows dataset `{dataset}`, which the link did not show before",
                    tiles[0].id
                ),
            });
            if !filtered.contains(dataset) {
                out.push(Exposure {
                    kind: WarningKind::UnfilteredDataset,
                    message: format!(
                        "dataset `{dataset}` has no access filter: every row is visible to the link's audience"
                    ),
                });
            }
            continue;
        };
        let seen: BTreeSet<String> = old_tiles.iter().flat_map(|t| columns_of(t)).collect();
        for t in &tiles {
            let new_cols: Vec<String> = columns_of(t).difference(&seen).cloned().collect();
            if !new_cols.is_empty() {
                out.push(Exposure {
                    kind: WarningKind::NewColumns,
                    message: format!(
                        "tile `{}` shows column(s) {} of `{dataset}` that the link did not show before",
                        t.id,
                        new_cols.join(", ")
                    ),
                });
            }
            if let Some(prev) = old_tiles.iter().find(|o| o.id == t.id) {
                let now: BTreeSet<String> = t.query.filters.iter().map(key).collect();
                if prev.query.filters.iter().any(|c| !now.contains(&key(c))) {
                    out.push(Exposure {
                        kind: WarningKind::WiderFilter,
                        message: format!(
                            "tile `{}` dropped or changed a filter, so it may show rows it did not show before",
                            t.id
                        ),
                    });
                }
            }
        }
    }
    for f in &old.filters {
        let widened = match new.filters.iter().find(|n| n.id == f.id) {
            None => !f.default.is_empty(),
            Some(n) => {
                n.column != f.column
                    || n.op != f.op
                    || (!f.default.is_empty() && n.default != f.default)
            }
        };
        if widened {
            out.push(Exposure {
                kind: WarningKind::WiderFilter,
                message: format!(
                    "report filter `{}` changed its default or was removed, so viewers may see rows they did not see before",
                    f.id
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(v: serde_json::Value) -> ReportDefinition {
        ReportDefinition::parse(&v).unwrap()
    }

    fn tile(id: &str, ds: &str, dim: &str, filters: serde_json::Value) -> serde_json::Value {
        json!({"id": id, "title": id, "kind": "bar", "query": {
            "dataset": ds, "dimensions": [dim],
            "measures": [{"column": "amount", "function": "sum"}], "filters": filters}})
    }

    #[test]
    fn widening_names_each_kind_and_narrowing_is_silent() {
        let old = def(json!({"tabs": [{"id": "t", "title": "T", "tiles": [
            tile("a", "sales", "region", json!([{"column": "region", "op": "eq", "values": ["EU"]}]))
        ]}], "filters": [{"id": "y", "label": "Year", "column": "year", "default": [2024]}]}));
        let filtered: BTreeSet<String> = ["sales".to_owned()].into();
        assert!(widening(&old, &old, &filtered).is_empty());

        let new = def(json!({"tabs": [{"id": "t", "title": "T", "tiles": [
            tile("a", "sales", "customer", json!([])),
            tile("b", "salaries", "name", json!([]))
        ]}]}));
        let kinds: Vec<WarningKind> = widening(&old, &new, &filtered)
            .iter()
            .map(|e| e.kind)
            .collect();
        for k in [
            WarningKind::NewDataset,
            WarningKind::UnfilteredDataset,
            WarningKind::NewColumns,
            WarningKind::WiderFilter,
        ] {
            assert!(kinds.contains(&k), "{k:?} missing from {kinds:?}");
        }

        let narrower = def(json!({"tabs": [{"id": "t", "title": "T", "tiles": []}],
            "filters": [{"id": "y", "label": "Year", "column": "year", "default": [2024]}]}));
        assert!(widening(&old, &narrower, &filtered).is_empty());
    }
}
