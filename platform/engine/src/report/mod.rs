//! Reports, tiles and their queries; warm-up of every tile's default result.

pub use vitrine_core::report::*;

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;
use vitrine_storage::{DatasetRecord, ReportRecord};

use crate::query::{QuerySpec, Scope};
use crate::{Engine, EngineError, EngineResult};

/// Values a viewer chose for report filters, by filter id. A filter absent here takes
/// its default; present with no values, it is off.
pub type FilterState = BTreeMap<String, Vec<Value>>;

/// The report filters that apply to a tile over `dataset`, as conditions.
pub fn tile_conditions(
    def: &ReportDefinition,
    dataset: &DatasetRecord,
    state: &FilterState,
) -> Vec<Condition> {
    let has_column = |c: &str| {
        dataset
            .schema
            .as_array()
            .is_some_and(|cols| cols.iter().any(|x| x["name"] == c))
    };
    def.filters
        .iter()
        .filter(|f| f.dataset.as_deref().is_none_or(|d| d == dataset.name))
        .filter(|f| has_column(&f.column))
        .filter_map(|f| {
            let values = state
                .get(&f.id)
                .cloned()
                .unwrap_or_else(|| f.default.clone());
            (!values.is_empty()).then(|| Condition {
                column: f.column.clone(),
                op: f.op,
                values,
            })
        })
        .collect()
}

/// Checks a filter state against the report: known ids, the right number of values.
pub fn check_state(def: &ReportDefinition, state: &FilterState) -> EngineResult<()> {
    for (id, values) in state {
        let Some(f) = def.filters.iter().find(|f| &f.id == id) else {
            return Err(EngineError::invalid(
                "filters",
                format!("the report has no filter `{id}`"),
            ));
        };
        if f.op == FilterOp::Between && !values.is_empty() && values.len() != 2 {
            return Err(EngineError::invalid(
                format!("filters.{id}"),
                "`between` takes two values",
            ));
        }
        check_values(values, &format!("filters.{id}"))?;
    }
    Ok(())
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct WarmUpSummary {
    pub reports: usize,
    pub tiles: usize,
    pub filter_lists: usize,
    pub scopes: usize,
    pub entries: usize,
    pub failures: Vec<String>,
    pub duration_ms: u64,
}

/// How many values a filter control lists.
pub const FILTER_VALUES: usize = 1000;

impl Engine {
    /// Computes and caches every tile of every report of a project for the default filter
    /// state, and the value lists of the report filters, once per access-filter scope
    /// given (`scopes` maps a dataset name to the scopes its viewers have).
    pub async fn warm_up(
        &self,
        project_uid: &vitrine_core::ProjectId,
        scopes: &(dyn Fn(&str) -> Vec<Scope> + Send + Sync),
    ) -> EngineResult<WarmUpSummary> {
        let started = Instant::now();
        let mut summary = WarmUpSummary::default();
        let datasets: BTreeMap<String, DatasetRecord> = self
            .store
            .datasets(project_uid)
            .await?
            .into_iter()
            .map(|d| (d.name.clone(), d))
            .collect();
        let reports: Vec<ReportRecord> = self.store.reports(project_uid).await?;
        let mut seen_scopes = std::collections::HashSet::new();
        for r in &reports {
            summary.reports += 1;
            let def = r.definition.clone();
            let state = FilterState::new();
            for tile in def.tiles() {
                summary.tiles += 1;
                let Some(ds) = datasets.get(&tile.query.dataset) else {
                    summary.failures.push(format!(
                        "{}/{}: no dataset `{}`",
                        r.name, tile.id, tile.query.dataset
                    ));
                    continue;
                };
                let conditions = tile_conditions(&def, ds, &state);
                for scope in scopes(&ds.name) {
                    seen_scopes.insert(scope.clone());
                    let spec = QuerySpec {
                        query: &tile.query,
                        report_filters: &conditions,
                        drill: None,
                        scope: &scope,
                    };
                    match self.query(ds, &spec).await {
                        Ok(_) => summary.entries += 1,
                        Err(e) => summary
                            .failures
                            .push(format!("{}/{}: {e}", r.name, tile.id)),
                    }
                }
            }
            for f in &def.filters {
                summary.filter_lists += 1;
                for ds in datasets
                    .values()
                    .filter(|d| f.dataset.as_deref().is_none_or(|n| n == d.name))
                {
                    if !ds
                        .schema
                        .as_array()
                        .is_some_and(|c| c.iter().any(|x| x["name"] == f.column.as_str()))
                    {
                        continue;
                    }
                    for scope in scopes(&ds.name) {
                        match self
                            .column_values(ds, &f.column, &scope, FILTER_VALUES)
                            .await
                        {
                            Ok(_) => summary.entries += 1,
                            Err(e) => summary.failures.push(format!("{}/{}: {e}", r.name, f.id)),
                        }
                    }
                }
            }
        }
        summary.scopes = seen_scopes.len();
        summary.duration_ms = started.elapsed().as_millis() as u64;
        tracing::info!(project = %project_uid, tiles = summary.tiles, entries = summary.entries, duration_ms = summary.duration_ms, "reports warmed up");
        Ok(summary)
    }
}
