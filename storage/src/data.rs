//! Records of the data engine: resource locations, workflows, block results, datasets,
//! runs, reports, access filters and uploads. Definitions the engine owns (workflow
//! graphs, report layouts, run details) are stored as JSON documents and parsed there.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vitrine_core::RunStatus;

use crate::{StorageError, StorageResult, Store};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocationGrant {
    pub folder_uid: vitrine_core::FolderId,
    /// Write includes read.
    pub access: vitrine_core::LocationAccess,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocationRecord {
    pub uid: vitrine_core::LocationId,
    pub name: String,
    /// Kind and settings (`{"kind": "fs", "root": …}`), secrets included: never returned
    /// to clients as is.
    pub definition: Value,
    #[serde(default)]
    pub grants: Vec<LocationGrant>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkflowRecord {
    pub project_uid: vitrine_core::ProjectId,
    /// The workflow graph (`{"blocks": […]}`).
    pub definition: vitrine_core::workflow::Workflow,
    /// Project parameters, `${name}` in block configuration.
    #[serde(default)]
    pub parameters: std::collections::BTreeMap<String, String>,
    /// Bumped by every save; a save naming an older version is refused.
    pub version: i64,
    pub updated_ms: i64,
    #[serde(default)]
    pub updated_by: Option<vitrine_core::UserId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockStateRecord {
    pub project_uid: vitrine_core::ProjectId,
    pub block_id: String,
    /// Hash of the block's kind, resolved configuration and input contents.
    pub key: String,
    /// Content hash of the Arrow IPC artifact the block produced.
    pub content_hash: String,
    pub rows: i64,
    pub bytes: i64,
    pub schema: Value,
    #[serde(default)]
    pub notes: Vec<String>,
    pub ran_ms: i64,
    pub duration_ms: i64,
    /// Output ports beyond the first (plugin blocks may have several); the first port's
    /// result is `content_hash`.
    #[serde(default)]
    pub ports: Vec<PortStateRecord>,
}

/// The result on one further output port of a block.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PortStateRecord {
    pub port: String,
    pub content_hash: String,
    pub rows: i64,
    pub bytes: i64,
    pub schema: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetRecord {
    pub uid: vitrine_core::DatasetId,
    pub project_uid: vitrine_core::ProjectId,
    pub name: String,
    pub block_id: String,
    pub content_hash: String,
    pub schema: Value,
    pub rows: i64,
    pub bytes: i64,
    pub published_ms: i64,
    /// The data connections its rows were read through (connection roles apply to it).
    #[serde(default)]
    pub connections: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub uid: vitrine_core::RunId,
    pub project_uid: vitrine_core::ProjectId,
    pub status: RunStatus,
    #[serde(default)]
    pub requested_by: Option<vitrine_core::UserId>,
    #[serde(default)]
    pub from_block: Option<String>,
    pub started_ms: i64,
    #[serde(default)]
    pub finished_ms: Option<i64>,
    /// Per-block results, in execution order.
    #[serde(default)]
    pub blocks: Value,
    /// The process running it (runs of older versions have none).
    #[serde(default)]
    pub node: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportRecord {
    pub uid: vitrine_core::ReportId,
    pub project_uid: vitrine_core::ProjectId,
    pub name: String,
    /// Tabs, tiles and report filters, validated on the way in.
    pub definition: vitrine_core::report::ReportDefinition,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessFilterRecord {
    pub project_uid: vitrine_core::ProjectId,
    pub dataset: String,
    /// Rules (`[{"column": …, "attribute": …}]`), all of which a row must pass.
    pub rules: Value,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadRecord {
    pub uid: vitrine_core::UploadId,
    pub project_uid: vitrine_core::ProjectId,
    pub filename: String,
    pub content_hash: String,
    pub bytes: i64,
    pub uploaded_by: vitrine_core::UserId,
    pub created_ms: i64,
}

impl Store {
    // ---- resource locations -------------------------------------------------------

    pub async fn insert_location(&self, l: &LocationRecord) -> StorageResult<()> {
        self.exec("CREATE resource_location CONTENT $l", json!({ "l": l }))
            .await
            .map_err(|e| match e {
                StorageError::Conflict(_) => StorageError::Conflict(format!(
                    "a resource location is already named `{}`",
                    l.name
                )),
                other => other,
            })
    }

    pub async fn update_location(&self, l: &LocationRecord) -> StorageResult<()> {
        self.exec(
            "UPDATE resource_location SET definition = $l.definition, grants = $l.grants WHERE uid = $l.uid",
            json!({ "l": l }),
        )
        .await
    }

    /// Sets (or with `None` removes) one folder's grant in one statement, so concurrent
    /// grants for different folders never overwrite each other. Returns the location.
    pub async fn set_location_grant(
        &self,
        uid: &vitrine_core::LocationId,
        folder_uid: &vitrine_core::FolderId,
        grant: Option<&LocationGrant>,
    ) -> StorageResult<Option<LocationRecord>> {
        let add: Vec<&LocationGrant> = grant.into_iter().collect();
        self.first(
            "UPDATE resource_location SET grants = array::concat(grants[WHERE folder_uid != $f], $add) WHERE uid = $u RETURN AFTER",
            json!({ "u": uid, "f": folder_uid, "add": add }),
        )
        .await
    }

    pub async fn location(
        &self,
        uid: &vitrine_core::LocationId,
    ) -> StorageResult<Option<LocationRecord>> {
        self.first(
            "SELECT * FROM resource_location WHERE uid = $u",
            json!({ "u": uid }),
        )
        .await
    }

    pub async fn location_by_name(&self, name: &str) -> StorageResult<Option<LocationRecord>> {
        self.first(
            "SELECT * FROM resource_location WHERE name = $n",
            json!({ "n": name }),
        )
        .await
    }

    pub async fn locations(&self) -> StorageResult<Vec<LocationRecord>> {
        self.rows("SELECT * FROM resource_location ORDER BY name", json!({}))
            .await
    }

    pub async fn delete_location(&self, uid: &vitrine_core::LocationId) -> StorageResult<()> {
        self.exec(
            "DELETE resource_location WHERE uid = $u",
            json!({ "u": uid }),
        )
        .await
    }

    // ---- workflows ----------------------------------------------------------------

    pub async fn workflow(
        &self,
        project_uid: &vitrine_core::ProjectId,
    ) -> StorageResult<Option<WorkflowRecord>> {
        self.first(
            "SELECT * FROM workflow WHERE project_uid = $p",
            json!({ "p": project_uid }),
        )
        .await
    }

    /// Saves a workflow if the stored version is still `expected` (0 when none is stored):
    /// two editors saving at once cannot silently overwrite each other.
    pub async fn save_workflow(&self, w: &WorkflowRecord, expected: i64) -> StorageResult<()> {
        self.exec(
            r#"BEGIN;
            LET $cur = (SELECT VALUE version FROM workflow WHERE project_uid = $w.project_uid)[0] ?? 0;
            IF $cur != $expected { THROW "vitrine-conflict: the workflow changed since version " + <string>$expected + "; it is now at version " + <string>$cur };
            DELETE workflow WHERE project_uid = $w.project_uid;
            CREATE workflow CONTENT $w;
            COMMIT;"#,
            json!({ "w": w, "expected": expected }),
        )
        .await
    }

    // ---- block results ------------------------------------------------------------

    pub async fn block_states(
        &self,
        project_uid: &vitrine_core::ProjectId,
    ) -> StorageResult<Vec<BlockStateRecord>> {
        self.rows(
            "SELECT * FROM block_state WHERE project_uid = $p",
            json!({ "p": project_uid }),
        )
        .await
    }

    pub async fn put_block_state(&self, s: &BlockStateRecord) -> StorageResult<()> {
        self.exec(
            r#"BEGIN;
            DELETE block_state WHERE project_uid = $s.project_uid AND block_id = $s.block_id;
            CREATE block_state CONTENT $s;
            COMMIT;"#,
            json!({ "s": s }),
        )
        .await
    }

    /// Forgets results of blocks no longer in the workflow.
    pub async fn retain_block_states(
        &self,
        project_uid: &vitrine_core::ProjectId,
        keep: &[String],
    ) -> StorageResult<()> {
        self.exec(
            "DELETE block_state WHERE project_uid = $p AND block_id NOTINSIDE $keep",
            json!({ "p": project_uid, "keep": keep }),
        )
        .await
    }

    // ---- datasets -----------------------------------------------------------------

    pub async fn datasets(
        &self,
        project_uid: &vitrine_core::ProjectId,
    ) -> StorageResult<Vec<DatasetRecord>> {
        self.cached_rows(
            "SELECT * FROM dataset WHERE project_uid = $p ORDER BY name",
            json!({ "p": project_uid }),
        )
        .await
    }

    pub async fn dataset(
        &self,
        project_uid: &vitrine_core::ProjectId,
        name: &str,
    ) -> StorageResult<Option<DatasetRecord>> {
        self.first(
            "SELECT * FROM dataset WHERE project_uid = $p AND name = $n",
            json!({ "p": project_uid, "n": name }),
        )
        .await
    }

    pub async fn put_dataset(&self, d: &DatasetRecord) -> StorageResult<()> {
        self.exec(
            r#"BEGIN;
            DELETE dataset WHERE project_uid = $d.project_uid AND name = $d.name;
            CREATE dataset CONTENT $d;
            COMMIT;"#,
            json!({ "d": d }),
        )
        .await
    }

    /// Drops datasets no publish block produces any more.
    pub async fn retain_datasets(
        &self,
        project_uid: &vitrine_core::ProjectId,
        keep: &[String],
    ) -> StorageResult<()> {
        self.exec(
            "DELETE dataset WHERE project_uid = $p AND name NOTINSIDE $keep",
            json!({ "p": project_uid, "keep": keep }),
        )
        .await
    }

    /// Every artifact hash some record still points at, across all projects.
    pub async fn referenced_hashes(&self) -> StorageResult<std::collections::HashSet<String>> {
        let mut out = std::collections::HashSet::new();
        for sql in [
            "SELECT VALUE content_hash FROM block_state",
            "SELECT VALUE content_hash FROM dataset",
        ] {
            let rows: Vec<String> = self.rows(sql, json!({})).await?;
            out.extend(rows);
        }
        let ports: Vec<Option<Vec<PortStateRecord>>> = self
            .rows("SELECT VALUE ports FROM block_state", json!({}))
            .await?;
        out.extend(
            ports
                .into_iter()
                .flatten()
                .flatten()
                .map(|p| p.content_hash),
        );
        Ok(out)
    }

    // ---- runs ---------------------------------------------------------------------

    pub async fn insert_run(&self, r: &RunRecord) -> StorageResult<()> {
        self.exec("CREATE workflow_run CONTENT $r", json!({ "r": r }))
            .await
    }

    pub async fn update_run(&self, r: &RunRecord) -> StorageResult<()> {
        self.exec(
            "UPDATE workflow_run SET status = $r.status, finished_ms = $r.finished_ms, blocks = $r.blocks WHERE uid = $r.uid",
            json!({ "r": r }),
        )
        .await
    }

    pub async fn workflow_run(
        &self,
        uid: &vitrine_core::RunId,
    ) -> StorageResult<Option<RunRecord>> {
        self.first(
            "SELECT * FROM workflow_run WHERE uid = $u",
            json!({ "u": uid }),
        )
        .await
    }

    /// A project's runs, newest first.
    pub async fn workflow_runs(
        &self,
        project_uid: &vitrine_core::ProjectId,
        limit: usize,
    ) -> StorageResult<Vec<RunRecord>> {
        self.rows(
            "SELECT * FROM workflow_run WHERE project_uid = $p ORDER BY uid DESC LIMIT $l",
            json!({ "p": project_uid, "l": limit }),
        )
        .await
    }

    /// Marks runs a previous process left `running` as `interrupted`; returns how many.
    pub async fn interrupt_stale_runs(&self, now: i64) -> StorageResult<usize> {
        self.count(
            "UPDATE workflow_run SET status = 'interrupted', finished_ms = $now WHERE status = 'running' RETURN uid",
            json!({ "now": now }),
        )
        .await
    }

    /// Records that process `node` is alive at `now`.
    pub async fn node_beat(&self, node: &str, now: i64) -> StorageResult<()> {
        let updated = self
            .count(
                "UPDATE node_seen SET seen_ms = $now WHERE node = $n RETURN node",
                json!({ "n": node, "now": now }),
            )
            .await?;
        if updated == 0 {
            self.exec(
                "CREATE node_seen CONTENT { node: $n, seen_ms: $now }",
                json!({ "n": node, "now": now }),
            )
            .await?;
        }
        Ok(())
    }

    /// Marks as interrupted the runs whose process has not beaten since `cutoff` (or
    /// never recorded itself: runs of older versions); forgets such processes. Runs of
    /// live processes are theirs to finish.
    pub async fn interrupt_runs_of_dead_nodes(
        &self,
        now: i64,
        cutoff: i64,
    ) -> StorageResult<usize> {
        let live: Vec<String> = self
            .rows(
                "SELECT VALUE node FROM node_seen WHERE seen_ms >= $cutoff",
                json!({ "cutoff": cutoff }),
            )
            .await?;
        let n = self
            .count(
                "UPDATE workflow_run SET status = 'interrupted', finished_ms = $now \
                 WHERE status = 'running' AND (node = NONE OR node NOTINSIDE $live) RETURN uid",
                json!({ "now": now, "live": live }),
            )
            .await?;
        self.exec(
            "DELETE node_seen WHERE seen_ms < $cutoff",
            json!({ "cutoff": cutoff }),
        )
        .await?;
        Ok(n)
    }

    // ---- reports ------------------------------------------------------------------

    pub async fn insert_report(&self, r: &ReportRecord) -> StorageResult<()> {
        self.exec("CREATE report CONTENT $r", json!({ "r": r }))
            .await
    }

    pub async fn report(
        &self,
        uid: &vitrine_core::ReportId,
    ) -> StorageResult<Option<ReportRecord>> {
        self.cached_first("SELECT * FROM report WHERE uid = $u", json!({ "u": uid }))
            .await
    }

    /// A project's reports read past the cache, for computing a write from them (a
    /// cached row may predate a commit that has not cleared the cache yet).
    pub async fn reports_uncached(
        &self,
        project_uid: &vitrine_core::ProjectId,
    ) -> StorageResult<Vec<ReportRecord>> {
        self.rows(
            "SELECT * FROM report WHERE project_uid = $p ORDER BY uid",
            json!({ "p": project_uid }),
        )
        .await
    }

    pub async fn reports(
        &self,
        project_uid: &vitrine_core::ProjectId,
    ) -> StorageResult<Vec<ReportRecord>> {
        self.cached_rows(
            "SELECT * FROM report WHERE project_uid = $p ORDER BY uid",
            json!({ "p": project_uid }),
        )
        .await
    }

    // ---- access filters -----------------------------------------------------------

    pub async fn access_filters(
        &self,
        project_uid: &vitrine_core::ProjectId,
    ) -> StorageResult<Vec<AccessFilterRecord>> {
        self.cached_rows(
            "SELECT * FROM access_filter WHERE project_uid = $p ORDER BY dataset",
            json!({ "p": project_uid }),
        )
        .await
    }

    pub async fn put_access_filter(&self, f: &AccessFilterRecord) -> StorageResult<()> {
        self.exec(
            r#"BEGIN;
            DELETE access_filter WHERE project_uid = $f.project_uid AND dataset = $f.dataset;
            IF array::len($f.rules) > 0 { CREATE access_filter CONTENT $f };
            COMMIT;"#,
            json!({ "f": f }),
        )
        .await
    }

    // ---- uploads ------------------------------------------------------------------

    pub async fn insert_upload(&self, u: &UploadRecord) -> StorageResult<()> {
        self.exec("CREATE upload CONTENT $u", json!({ "u": u }))
            .await
    }

    pub async fn upload(
        &self,
        uid: &vitrine_core::UploadId,
    ) -> StorageResult<Option<UploadRecord>> {
        self.first("SELECT * FROM upload WHERE uid = $u", json!({ "u": uid }))
            .await
    }

    pub async fn upload_hashes(&self) -> StorageResult<std::collections::HashSet<String>> {
        let rows: Vec<String> = self
            .rows("SELECT VALUE content_hash FROM upload", json!({}))
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Removes a project's engine records (called with the project itself).
    pub(crate) fn delete_project_data_sql() -> &'static str {
        r#"DELETE workflow WHERE project_uid = $uid;
        DELETE block_state WHERE project_uid = $uid;
        DELETE dataset WHERE project_uid = $uid;
        DELETE workflow_run WHERE project_uid = $uid;
        DELETE report WHERE project_uid = $uid;
        DELETE access_filter WHERE project_uid = $uid;
        DELETE upload WHERE project_uid = $uid;
        DELETE revision WHERE project_uid = $uid;
        DELETE working_copy WHERE copy_uid = $uid OR (origin_project_uid = $uid AND !origin_url);
        DELETE working_copy_link WHERE project_uid = $uid;
        DELETE bundle_export WHERE project_uid = $uid;"#
    }
}
