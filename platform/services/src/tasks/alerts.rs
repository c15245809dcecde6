//! Alerts: tasks whose trigger is a tile's value crossing a threshold
//! ([`vitrine_core::alert`]). After each successful refresh of a project in the task's
//! target, the tile is read as the task's identity — through the one viewer path, so its
//! access filters and connection role apply — and compared with the threshold; the task
//! fires when the condition holds now and did not at that project's previous check. What
//! was seen last is kept per task and project, so a value that stays above its threshold
//! alerts once. A project whose schedule ability is off is not checked at all.

use serde::{Deserialize, Serialize};
use vitrine_core::Ability;
use vitrine_core::alert::Threshold;
use vitrine_engine::report::FilterState;
use vitrine_storage::{TaskRecord, now_ms};

use super::Tasks;
use crate::Identity;

/// What a task saw of a project at its last check.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LastCheck {
    met: bool,
    value: Option<f64>,
    at_ms: i64,
}

/// How an alert's run cause starts; a delivery it runs quotes the rest.
pub(super) const ALERT_CAUSE: &str = "threshold: ";

fn state_key(task: &TaskRecord, project_uid: &str) -> String {
    format!("alert:{}:{project_uid}", task.uid)
}

impl Tasks {
    /// Checks `rule` on `project_uid` for `task`; `Some(cause)` when it crossed (the run's
    /// cause, which the delivery quotes). A value that cannot be read (no rows, a refused
    /// tile) is logged and leaves the last check as it was: a broken tile never alerts.
    pub(super) async fn threshold_crossed(
        &self,
        task: &TaskRecord,
        rule: &Threshold,
        project_uid: &str,
    ) -> Option<String> {
        let value = match self.read_threshold(task, rule, project_uid).await {
            Ok(Some(v)) => v,
            Ok(None) => return None,
            Err(why) => {
                tracing::warn!(task = %task.uid, project = %project_uid, reason = %why, "alert not checked");
                return None;
            }
        };
        let key = state_key(task, project_uid);
        let before: Option<LastCheck> = self.store.setting(&key).await.ok().flatten();
        let met = rule.met(value);
        let now = LastCheck {
            met,
            value: Some(value),
            at_ms: now_ms(),
        };
        if let Err(e) = self.store.put_setting(&key, &now).await {
            tracing::warn!(task = %task.uid, error = %e, "alert state not kept");
            return None;
        }
        if !met || before.as_ref().is_some_and(|b| b.met) {
            return None;
        }
        let was = before
            .and_then(|b| b.value)
            .map(|v| format!(", was {v}"))
            .unwrap_or_default();
        Some(format!(
            "{ALERT_CAUSE}tile `{}` of report `{}` is {} ({} {}{was})",
            rule.tile,
            rule.report,
            value,
            match rule.crossing {
                vitrine_core::alert::Crossing::Above => "above",
                vitrine_core::alert::Crossing::Below => "below",
            },
            rule.value.0
        ))
    }

    /// The tile's value now, as the task's identity sees it; `Ok(None)` when the project
    /// is not to be checked (schedule ability off).
    async fn read_threshold(
        &self,
        task: &TaskRecord,
        rule: &Threshold,
        project_uid: &str,
    ) -> Result<Option<f64>, String> {
        let user = match self.task_identity(task).await {
            Ok(Ok(u)) => u,
            Ok(Err(why)) => return Err(why),
            Err(e) => return Err(e.message),
        };
        let who = Identity::task_caller(user, &task.uid, "", Vec::new());
        let project_uid = vitrine_core::ProjectId::from(project_uid);
        let p = self
            .directory
            .project_for(&who, &project_uid, vitrine_authz::Action::View)
            .await
            .map_err(|e| e.message)?;
        if !self.data.ability_on(&p, Ability::Schedule) {
            return Ok(None);
        }
        let report = self
            .report_named(&project_uid, &rule.report)
            .await
            .map_err(|e| e.message)?
            .ok_or_else(|| format!("no report `{}`", rule.report))?;
        let state = FilterState::new();
        let result = self
            .data
            .tile_result(&who, &report.uid, &rule.tile, &state)
            .await
            .map_err(|e| e.message)?;
        let columns: Vec<String> = result.columns().iter().map(|c| c.name.clone()).collect();
        let rows = result.json_rows().map_err(|e| e.to_string())?;
        rule.value_in(&columns, rows.first().map(Vec::as_slice))
            .map(Some)
    }
}
