//! Access notes: the marker a tile carries, for every viewer of its report, when some of
//! its viewers see less of it than others, and why. Managers meet a link's widening on
//! edit ([`crate::exposure`]); these say what each tile hides from whom, as viewers see
//! it. Two reasons exist:
//!
//! - the tile's dataset has an access filter: each viewer sees only the rows matching
//!   their own attribute values, and a viewer without a value sees no row;
//! - the tile lists rows (it is not an aggregate): viewers whose connection role is below
//!   restricted querier cannot see it, unless access boost applies to its dataset.
//!
//! Notes name datasets, columns and attributes the report shows anyway, never anyone's
//! values or how many people are affected.

use std::collections::BTreeMap;

use vitrine_core::ConnectionRole;
use vitrine_engine::report::ReportDefinition;

use super::Data;
use super::boost::Boost;
use crate::ApiResult;
use crate::caller::Caller;
use crate::security::AccessRule;

/// Why some viewers see less of a tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum TileNoteKind {
    /// Rows are filtered by each viewer's attributes.
    FilteredRows,
    /// The tile lists rows, which viewers below restricted querier cannot see.
    RowLevel,
}

/// One marker on one tile.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TileNote {
    pub tile_id: String,
    pub kind: TileNoteKind,
    pub message: String,
}

/// The notes of every tile of `def`, in the report's order.
pub(crate) fn tile_notes(
    def: &ReportDefinition,
    rules: &BTreeMap<String, Vec<AccessRule>>,
    boost: &Boost,
) -> Vec<TileNote> {
    let mut out = Vec::new();
    for tile in def.tiles() {
        let dataset = tile.query.dataset.as_str();
        if let Some(rules) = rules.get(dataset).filter(|r| !r.is_empty()) {
            let by: Vec<String> = rules
                .iter()
                .map(|r| format!("`{}` by `{}`", r.column, r.attribute))
                .collect();
            out.push(TileNote {
                tile_id: tile.id.clone(),
                kind: TileNoteKind::FilteredRows,
                message: format!(
                    "rows of `{dataset}` are filtered ({}): each viewer sees only the rows matching their own values, and a viewer without a value sees none",
                    by.join(", ")
                ),
            });
        }
        if !tile.query.is_aggregate() && !boost.applies(dataset) {
            out.push(TileNote {
                tile_id: tile.id.clone(),
                kind: TileNoteKind::RowLevel,
                message: format!(
                    "this tile lists rows of `{dataset}`: viewers whose connection role is below {} cannot see it",
                    ConnectionRole::RestrictedQuerier.as_str().to_uppercase()
                ),
            });
        }
    }
    out
}

impl Data {
    /// The access notes of a report's tiles, for anyone who may view it.
    pub async fn report_tile_notes(
        &self,
        caller: &Caller,
        report_uid: &str,
    ) -> ApiResult<Vec<TileNote>> {
        let report_uid = &vitrine_core::ReportId::from(report_uid);
        let state = vitrine_engine::report::FilterState::new();
        let (_, def, grant, ctx) = self.member_view(caller, report_uid, &state).await?;
        Ok(tile_notes(&def, &ctx.rules, &grant.boost))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filtered_datasets_and_row_level_tiles_carry_notes() {
        let def = ReportDefinition::parse(&serde_json::json!({"tabs": [{"id": "t", "title": "T", "tiles": [
            {"id": "sum", "title": "S", "kind": "bar",
             "query": {"dataset": "orders", "dimensions": ["region"], "measures": [{"column": "sales", "function": "sum", "name": "s"}]}},
            {"id": "rows", "title": "R", "kind": "table",
             "query": {"dataset": "orders", "dimensions": ["order_id"]}},
            {"id": "open", "title": "O", "kind": "kpi",
             "query": {"dataset": "targets", "measures": [{"function": "count", "name": "n"}]}}
        ]}]}))
        .unwrap();
        let rules = BTreeMap::from([(
            "orders".to_owned(),
            vec![AccessRule {
                column: "region".into(),
                attribute: "region".into(),
            }],
        )]);
        let notes = tile_notes(&def, &rules, &Boost::default());
        let kinds: Vec<(&str, TileNoteKind)> =
            notes.iter().map(|n| (n.tile_id.as_str(), n.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("sum", TileNoteKind::FilteredRows),
                ("rows", TileNoteKind::FilteredRows),
                ("rows", TileNoteKind::RowLevel)
            ]
        );
        assert!(notes[0].message.contains("`region` by `region`"));
        assert!(tile_notes(&def, &BTreeMap::new(), &Boost::everywhere()).is_empty());
    }
}
