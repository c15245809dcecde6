//! What a working copy's push or pull leaves to each side: the parameters that choose a
//! data connection (a `database_source` block's `connection: "${db}"`) and the datasets
//! read through one. Production reads the production database and a test instance the
//! test one, with the same workflow; carrying one side's choice or rows to the other
//! would undo that.

use std::collections::BTreeMap;

use serde_json::Value;
use vitrine_core::revision::RevisionContent;
use vitrine_engine::workflow::{Workflow, connection_parameters};
use vitrine_storage::{DatasetRecord, WorkflowRecord};

use super::Versions;
use crate::ApiResult;

/// `content` with the parameters of `kept` set to the kept values.
pub(crate) fn with_parameters(
    mut content: RevisionContent,
    kept: &BTreeMap<String, Value>,
) -> RevisionContent {
    for (k, v) in kept {
        content.parameters.insert(k.clone(), v.clone());
    }
    content
}

/// The target's own values of the parameters choosing connections, in its current
/// workflow or the incoming one.
pub(crate) fn connection_choices(
    current: &WorkflowRecord,
    incoming: &RevisionContent,
) -> BTreeMap<String, Value> {
    let incoming: Workflow = serde_json::from_value(incoming.workflow.clone()).unwrap_or_default();
    let mut names = connection_parameters(&current.definition);
    names.extend(connection_parameters(&incoming));
    names
        .into_iter()
        .filter_map(|n| {
            let v = current.parameters.get(&n)?;
            Some((n, Value::String(v.clone())))
        })
        .collect()
}

impl Versions {
    /// The datasets an install writes: the incoming ones, except that with `keep` a
    /// dataset read through a data connection stays the target's own (or is left out
    /// until the target's next run, when the target has none).
    pub(crate) async fn datasets_to_install(
        &self,
        target_uid: &str,
        incoming: &[DatasetRecord],
        keep: bool,
    ) -> ApiResult<Vec<DatasetRecord>> {
        if !keep || incoming.iter().all(|d| d.connections.is_empty()) {
            return Ok(incoming.to_vec());
        }
        let own = self
            .store
            .datasets(&vitrine_core::ProjectId::from(target_uid))
            .await?;
        Ok(incoming
            .iter()
            .filter_map(|d| {
                if d.connections.is_empty() {
                    Some(d.clone())
                } else {
                    own.iter().find(|o| o.name == d.name).cloned()
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_parameters_replace_the_incoming_ones_and_the_rest_stays() {
        let content = RevisionContent {
            workflow: serde_json::json!({"blocks": []}),
            reports: vec![],
            parameters: [
                ("db".to_owned(), Value::from("test_db")),
                ("region".to_owned(), Value::from("eu")),
            ]
            .into(),
        };
        let kept = [("db".to_owned(), Value::from("prod_db"))].into();
        let out = with_parameters(content, &kept);
        assert_eq!(out.parameters["db"], "prod_db");
        assert_eq!(out.parameters["region"], "eu");
    }
}
