//! A report's tiles checked against the project when the report is saved, not when it
//! is first viewed: each tile's dataset must be one the project has published or its
//! workflow publishes, and the columns a tile groups or measures by must be in the
//! dataset as last published. The error names the field (`definition.tabs[0].tiles[1].
//! query.dimensions[0]`) and what there is instead.

use std::collections::{BTreeMap, BTreeSet};

use vitrine_engine::report::ReportDefinition;

use super::Data;
use crate::{ApiError, ApiResult};

impl Data {
    pub(super) async fn check_report_data(
        &self,
        project_uid: &vitrine_core::ProjectId,
        def: &ReportDefinition,
    ) -> ApiResult<()> {
        // Dataset → its columns when published (none yet: only named by the workflow).
        let mut known: BTreeMap<String, Option<BTreeSet<String>>> = BTreeMap::new();
        for d in self.store.datasets(project_uid).await? {
            let columns = d.schema.as_array().map(|cols| {
                let names = cols.iter().filter_map(|c| c["name"].as_str());
                names.map(str::to_owned).collect()
            });
            known.insert(d.name, columns);
        }
        if let Some(w) = self.store.workflow(project_uid).await? {
            let publishes = w.definition.blocks.iter().filter(|b| b.kind == "publish");
            for name in publishes.filter_map(|b| b.config["dataset"].as_str()) {
                known.entry(name.to_owned()).or_insert(None);
            }
        }
        let names = || {
            let list: Vec<&str> = known.keys().map(String::as_str).collect();
            if list.is_empty() {
                "none yet: save and run a workflow that publishes one".to_owned()
            } else {
                list.join(", ")
            }
        };
        for (ti, tab) in def.tabs.iter().enumerate() {
            for (ki, tile) in tab.tiles.iter().enumerate() {
                let at = format!("definition.tabs[{ti}].tiles[{ki}].query");
                let q = &tile.query;
                let Some(columns) = known.get(&q.dataset) else {
                    return Err(ApiError::invalid(format!(
                        "{at}.dataset: this project has no dataset `{}` (it has: {})",
                        q.dataset,
                        names()
                    )));
                };
                let Some(columns) = columns else { continue };
                let used = q
                    .dimensions
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (format!("dimensions[{i}]"), c));
                let measured = q.measures.iter().enumerate();
                let measured = measured.filter_map(|(i, m)| {
                    Some((format!("measures[{i}].column"), m.column.as_ref()?))
                });
                for (field, column) in used.chain(measured) {
                    if !columns.contains(column) {
                        return Err(ApiError::invalid(format!(
                            "{at}.{field}: dataset `{}` has no column `{column}`",
                            q.dataset
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}
