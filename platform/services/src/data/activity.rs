//! The audit log as data. A workflow reads the instance's audit log or task runs with
//! the `instance_log` source block, which only admins may save or run (the log names
//! everyone, and every object). "Instance activity" is the built-in project that does it
//! for them: installed once by an admin, in an admin-only folder, with a report of who
//! viewed what, shared-link usage, sign-ins and their failures, and task runs — an
//! ordinary report, refreshed and scheduled like any other.

use serde_json::{Value, json};
use vitrine_core::workflow::Workflow;

use super::Data;
use crate::ProjectView;
use crate::caller::Caller;
use crate::{ApiError, ApiResult};

/// Where the installed project is remembered.
const INSTALLED: &str = "instance_activity";

/// How far back the built-in project reads.
const DAYS: u32 = 90;

impl Data {
    /// Refuses a workflow that reads the instance's log unless `caller` is an admin.
    pub(crate) fn require_log_reader(&self, caller: &Caller, wf: &Workflow) -> ApiResult<()> {
        let reads = wf.blocks.iter().find(|b| b.kind == "instance_log");
        match reads {
            Some(b) if !self.authz.is_admin(caller) => Err(ApiError::forbidden(format!(
                "block `{}`: only admins read the instance's audit log and task runs",
                b.id
            ))),
            _ => Ok(()),
        }
    }

    /// Installs the "Instance activity" project (admins), or answers it when installed
    /// already: a folder of its own (admins only), the workflow, the report, and a first
    /// run.
    pub async fn install_instance_activity(&self, caller: &Caller) -> ApiResult<ProjectView> {
        caller.require_write()?;
        self.require_admin_caller(caller)?;
        let known: Option<String> = self.store.setting(INSTALLED).await?;
        if let Some(uid) = known
            && let Ok(p) = self.directory.project(caller, &uid).await
        {
            return Ok(p);
        }
        let folder = self
            .directory
            .create_folder(caller, None, "Instance")
            .await?;
        let folder = folder.record.uid.to_string();
        let project = self
            .directory
            .create_project(caller, &folder, "Instance activity", None)
            .await?;
        let uid = project.record.uid.to_string();
        let message = Some("the built-in Instance activity project");
        self.save_workflow(caller, &uid, workflow(), None, None, message)
            .await?;
        self.create_report(caller, &uid, "Instance activity", report())
            .await?;
        self.store.put_setting(INSTALLED, &uid).await?;
        let run = self.run_workflow(caller, &uid, None, false, true).await?;
        tracing::info!(project = %uid, status = %run.status, "instance activity installed");
        self.directory.project(caller, &uid).await
    }
}

fn workflow() -> Value {
    let keep = |id: &str, condition: &str, dataset: &str| {
        [
            json!({"id": id, "kind": "filter", "config": {"condition": condition}, "inputs": {"in": "audit"}}),
            json!({"id": format!("publish_{id}"), "kind": "publish", "config": {"dataset": dataset}, "inputs": {"in": id}}),
        ]
    };
    let mut blocks = vec![
        json!({"id": "audit", "kind": "instance_log", "config": {"log": "audit", "days": DAYS}}),
        json!({"id": "publish_events", "kind": "publish", "config": {"dataset": "events"}, "inputs": {"in": "audit"}}),
        json!({"id": "runs", "kind": "instance_log", "config": {"log": "task_runs", "days": DAYS}}),
        json!({"id": "publish_runs", "kind": "publish", "config": {"dataset": "task_runs"}, "inputs": {"in": "runs"}}),
    ];
    blocks.extend(keep(
        "views",
        "action IN ('tile.view', 'share.view', 'tile.download', 'share.download', 'report.export_file')",
        "views",
    ));
    blocks.extend(keep("links", "action LIKE 'share%'", "link_usage"));
    blocks.extend(keep(
        "sign_ins",
        "action IN ('auth.login', 'share.sign_in', 'user.invitation_accept')",
        "sign_ins",
    ));
    json!({ "blocks": blocks })
}

fn report() -> Value {
    let count = json!([{"function": "count", "name": "events"}]);
    let tile = |id: &str, title: &str, kind: &str, dataset: &str, dims: Value| {
        json!({"id": id, "title": title, "kind": kind,
            "query": {"dataset": dataset, "dimensions": dims, "measures": count,
                      "sort": [{"column": "events", "descending": true}], "limit": 50}})
    };
    json!({"tabs": [
        {"id": "views", "title": "Who viewed what", "tiles": [
            tile("views_by_day", "Views per day", "bar", "views", json!(["day"])),
            tile("views_by_actor", "Who viewed what", "table", "views", json!(["actor", "object"])),
        ]},
        {"id": "links", "title": "Shared links", "tiles": [
            tile("links_by_day", "Link activity per day", "bar", "link_usage", json!(["day"])),
            tile("links_by_object", "By link and action", "table", "link_usage", json!(["object", "action"])),
        ]},
        {"id": "sign_ins", "title": "Sign-ins", "tiles": [
            tile("sign_ins_by_outcome", "Sign-ins by outcome", "bar", "sign_ins", json!(["outcome"])),
            tile("sign_ins_by_actor", "Who signed in, and how it went", "table", "sign_ins", json!(["actor", "outcome", "address"])),
        ]},
        {"id": "tasks", "title": "Task runs", "tiles": [
            tile("runs_by_status", "Runs by status", "bar", "task_runs", json!(["status"])),
            tile("runs_by_task", "Runs by task", "table", "task_runs", json!(["task", "status"])),
        ]},
    ]})
}
