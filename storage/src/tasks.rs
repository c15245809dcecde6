//! Tasks and their runs (each run's per-project records are in `run_projects`). Claims
//! are conditional writes (`… WHERE status = 'queued'`, `… WHERE next_fire_ms = $seen`)
//! so that several worker processes, or one job delivered twice, change a record once.

use serde::{Deserialize, Serialize};
use serde_json::json;
use vitrine_core::TaskRunStatus;
use vitrine_core::task::TaskSpec;

use crate::{PageRequest, StorageError, StorageResult, Store};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRecord {
    pub uid: vitrine_core::TaskId,
    pub name: String,
    pub owner_uid: vitrine_core::UserId,
    /// Runs as the service account behind this API token; none: as the owner.
    #[serde(default)]
    pub run_as_token_uid: Option<vitrine_core::TokenId>,
    pub spec: TaskSpec,
    #[serde(default)]
    pub paused: bool,
    /// The next cron firing still to start (cron tasks that are not paused).
    #[serde(default)]
    pub next_fire_ms: Option<i64>,
    /// Denormalised from the trigger, so events find their tasks through an index.
    #[serde(default)]
    pub event_kind: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// The share-link recipient who set this delivery up through their link; it runs as
    /// what their link shows and mails them only (see `deliveries`).
    #[serde(default)]
    pub recipient_uid: Option<vitrine_core::RecipientId>,
    /// The recipient address a delivery was handed over from when they were revoked.
    #[serde(default)]
    pub transferred_from: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRunRecord {
    pub uid: vitrine_core::TaskRunId,
    pub task_uid: vitrine_core::TaskId,
    pub task_name: String,
    /// Why the run exists: `cron:TASK:MS`, `event:KIND:ID:TASK`, `manual:UID`. Unique.
    pub fire_key: String,
    /// The same, for people: "cron 06:00 Europe/Paris", "run now by alice".
    pub cause: String,
    /// The spec with app parameters resolved when the run started: changing a
    /// parameter affects the next run, never one in flight.
    pub spec: TaskSpec,
    /// The user the run acts as (the owner, or the service account).
    pub run_as_uid: vitrine_core::UserId,
    pub status: TaskRunStatus,
    pub total: i64,
    #[serde(default)]
    pub message: String,
    /// Tasks whose runs led to this one through events, oldest first.
    #[serde(default)]
    pub chain: Vec<String>,
    pub created_ms: i64,
    #[serde(default)]
    pub finished_ms: Option<i64>,
}

impl Store {
    pub async fn insert_task(&self, t: &TaskRecord) -> StorageResult<()> {
        self.exec("CREATE task CONTENT $t", json!({ "t": t })).await
    }

    /// Stores what editing a task changes (name, spec, identity, schedule) and nothing
    /// else: pausing is a statement of its own, so an edit that read the task before a
    /// concurrent pause never undoes it. A unique index on `name` refuses a rename to a
    /// name another task took meanwhile (a `Conflict`).
    pub async fn update_task(&self, t: &TaskRecord) -> StorageResult<()> {
        self.exec(
            "UPDATE task SET name = $t.name, spec = $t.spec, run_as_token_uid = $t.run_as_token_uid, \
             event_kind = $t.event_kind, next_fire_ms = $t.next_fire_ms, updated_ms = $t.updated_ms \
             WHERE uid = $t.uid",
            json!({ "t": t }),
        )
        .await
    }

    /// Pauses or resumes a task; a resumed cron task fires next at `next_fire_ms`.
    /// Answers the task after, or `None` when it is gone.
    pub async fn set_task_paused(
        &self,
        uid: &vitrine_core::TaskId,
        paused: bool,
        next_fire_ms: Option<i64>,
        now: i64,
    ) -> StorageResult<Option<TaskRecord>> {
        // Pausing leaves the schedule alone (a paused task is never due); resuming sets it.
        let sql = if paused {
            "UPDATE task SET paused = true, updated_ms = $now WHERE uid = $u RETURN AFTER"
        } else {
            "UPDATE task SET paused = false, next_fire_ms = $n, updated_ms = $now WHERE uid = $u RETURN AFTER"
        };
        self.first(sql, json!({ "u": uid, "n": next_fire_ms, "now": now }))
            .await
    }

    pub async fn delete_task(&self, uid: &vitrine_core::TaskId) -> StorageResult<()> {
        self.exec(
            "BEGIN; DELETE task_run_project WHERE run_uid IN (SELECT VALUE uid FROM task_run WHERE task_uid = $u); DELETE task_run WHERE task_uid = $u; DELETE task WHERE uid = $u; COMMIT;",
            json!({ "u": uid }),
        )
        .await
    }

    pub async fn task(&self, uid: &vitrine_core::TaskId) -> StorageResult<Option<TaskRecord>> {
        self.first("SELECT * FROM task WHERE uid = $u", json!({ "u": uid }))
            .await
    }

    pub async fn tasks(&self, page: &PageRequest) -> StorageResult<Vec<TaskRecord>> {
        self.rows(
            "SELECT * FROM task WHERE !$after OR uid > $after ORDER BY uid LIMIT $n",
            json!({ "after": page.after, "n": page.first }),
        )
        .await
    }

    /// Cron tasks due at `now_ms`.
    pub async fn due_tasks(&self, now_ms: i64) -> StorageResult<Vec<TaskRecord>> {
        self.rows(
            "SELECT * FROM task WHERE next_fire_ms != NONE AND next_fire_ms <= $now AND !paused ORDER BY next_fire_ms LIMIT 100",
            json!({ "now": now_ms }),
        )
        .await
    }

    /// Moves a task's next firing from `seen` to `next`; false when another process did
    /// it first (then that process starts the run).
    pub async fn claim_firing(
        &self,
        uid: &vitrine_core::TaskId,
        seen: i64,
        next: Option<i64>,
    ) -> StorageResult<bool> {
        Ok(self
            .count(
                "UPDATE task SET next_fire_ms = $next WHERE uid = $u AND next_fire_ms = $seen RETURN AFTER",
                json!({ "u": uid, "seen": seen, "next": next }),
            )
            .await?
            > 0)
    }

    pub async fn tasks_for_event(&self, kind: &str) -> StorageResult<Vec<TaskRecord>> {
        self.rows(
            "SELECT * FROM task WHERE event_kind = $k AND !paused ORDER BY uid",
            json!({ "k": kind }),
        )
        .await
    }

    /// Creates a run unless one with its fire key exists; returns the stored one.
    pub async fn start_run(&self, r: &TaskRunRecord) -> StorageResult<(TaskRunRecord, bool)> {
        match self
            .exec("CREATE task_run CONTENT $r", json!({ "r": r }))
            .await
        {
            Ok(()) => Ok((r.clone(), true)),
            Err(StorageError::Conflict(_)) => self
                .first(
                    "SELECT * FROM task_run WHERE fire_key = $k",
                    json!({ "k": r.fire_key }),
                )
                .await?
                .map(|r| (r, false))
                .ok_or(StorageError::NotFound("run")),
            Err(e) => Err(e),
        }
    }

    pub async fn task_run(
        &self,
        uid: &vitrine_core::TaskRunId,
    ) -> StorageResult<Option<TaskRunRecord>> {
        self.first("SELECT * FROM task_run WHERE uid = $u", json!({ "u": uid }))
            .await
    }

    /// A task's runs, newest first.
    pub async fn task_runs(
        &self,
        task_uid: &vitrine_core::TaskId,
        page: &PageRequest,
    ) -> StorageResult<Vec<TaskRunRecord>> {
        self.rows(
            "SELECT * FROM task_run WHERE task_uid = $t AND (!$after OR uid < $after) ORDER BY uid DESC LIMIT $n",
            json!({ "t": task_uid, "after": page.after, "n": page.first }),
        )
        .await
    }

    /// Records what the run resolved when it started: the spec with app parameters
    /// substituted and the identity it acts as.
    pub async fn set_run_spec(
        &self,
        uid: &vitrine_core::TaskRunId,
        spec: &TaskSpec,
        run_as_uid: &vitrine_core::UserId,
    ) -> StorageResult<()> {
        self.exec(
            "UPDATE task_run SET spec = $s, run_as_uid = $a WHERE uid = $u",
            json!({ "u": uid, "s": spec, "a": run_as_uid }),
        )
        .await
    }

    pub async fn set_run_total(
        &self,
        uid: &vitrine_core::TaskRunId,
        total: i64,
    ) -> StorageResult<()> {
        self.exec(
            "UPDATE task_run SET total = $n, status = IF status = 'queued' THEN 'running' ELSE status END WHERE uid = $u",
            json!({ "u": uid, "n": total }),
        )
        .await
    }

    /// Ends a run once; false when it had ended already.
    pub async fn finish_run(
        &self,
        uid: &vitrine_core::TaskRunId,
        status: TaskRunStatus,
        message: &str,
        at_ms: i64,
    ) -> StorageResult<bool> {
        Ok(self
            .count(
                "UPDATE task_run SET status = $s, message = $m, finished_ms = $at WHERE uid = $u AND status IN ['queued', 'running'] RETURN AFTER",
                json!({ "u": uid, "s": status, "m": message, "at": at_ms }),
            )
            .await?
            > 0)
    }

    /// Task runs started since `since_ms`, oldest first, for the `instance_log` block.
    pub async fn task_run_rows_since(
        &self,
        since_ms: i64,
        limit: usize,
    ) -> StorageResult<Vec<serde_json::Value>> {
        let mut rows: Vec<serde_json::Value> = self
            .rows(
                "SELECT created_ms AS at_ms, finished_ms, task_name AS task, status, cause, \
                 message, total AS projects FROM task_run WHERE created_ms >= $since \
                 ORDER BY created_ms LIMIT $limit",
                json!({ "since": since_ms, "limit": limit }),
            )
            .await?;
        for r in &mut rows {
            let took = r["finished_ms"].as_i64().zip(r["at_ms"].as_i64());
            r["duration_ms"] = json!(took.map(|(f, s)| f - s));
            if let Some(o) = r.as_object_mut() {
                o.remove("finished_ms");
            }
        }
        Ok(rows)
    }

    /// Runs not ended, oldest first: what a restarted scheduler checks for completion.
    pub async fn open_runs(&self) -> StorageResult<Vec<TaskRunRecord>> {
        self.rows(
            "SELECT * FROM task_run WHERE status IN ['queued', 'running'] ORDER BY created_ms LIMIT 200",
            json!({}),
        )
        .await
    }
}
