//! Tasks, their runs and each run's per-project records. Claims are conditional writes
//! (`… WHERE status = 'queued'`, `… WHERE next_fire_ms = $seen`) so that several worker
//! processes, or one job delivered twice, change a record once.

use serde::{Deserialize, Serialize};
use serde_json::json;
use vitrine_core::TaskRunStatus;
use vitrine_core::task::TaskSpec;

use crate::cache::Writes;
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

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunLogLine {
    pub at_ms: i64,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRunProjectRecord {
    /// `RUN/PROJECT`: unique, so fanning out twice creates nothing new.
    pub uid: vitrine_core::TaskRunProjectId,
    pub run_uid: vitrine_core::TaskRunId,
    pub project_uid: vitrine_core::ProjectId,
    pub project_name: String,
    pub status: TaskRunStatus,
    #[serde(default)]
    pub attempts: u32,
    /// Actions finished so far: a retried job resumes after them.
    #[serde(default)]
    pub actions_done: u32,
    #[serde(default)]
    pub started_ms: Option<i64>,
    #[serde(default)]
    pub finished_ms: Option<i64>,
    /// Time spent in attempts, summed.
    #[serde(default)]
    pub duration_ms: i64,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub log: Vec<RunLogLine>,
}

impl TaskRunProjectRecord {
    /// A project of a run, waiting for its job (`RUN/PROJECT` as its uid).
    pub fn queued(
        run_uid: &vitrine_core::TaskRunId,
        project_uid: &vitrine_core::ProjectId,
        project_name: &str,
    ) -> TaskRunProjectRecord {
        TaskRunProjectRecord {
            uid: format!("{run_uid}/{project_uid}").into(),
            run_uid: run_uid.clone(),
            project_uid: project_uid.clone(),
            project_name: project_name.to_owned(),
            status: TaskRunStatus::Queued,
            attempts: 0,
            actions_done: 0,
            started_ms: None,
            finished_ms: None,
            duration_ms: 0,
            error: None,
            log: Vec::new(),
        }
    }
}

/// Counts of a run's projects by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    pub queued: i64,
    pub running: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub skipped: i64,
    pub cancelled: i64,
}

impl RunCounts {
    pub fn open(&self) -> i64 {
        self.queued + self.running
    }
}

/// The one table a project job's bookkeeping writes: its writes clear only the cached
/// reads that name it (none today), not every cached read a shared view repeats.
const RUN_PROJECTS: &[&str] = &["task_run_project"];

/// A run's (`$r`) first project record in one status: a single lookup in the index of
/// runs and statuses (migration 15). With `status IN [..]` the planner would take the
/// run's index and read every record of the run instead.
macro_rules! first_of_run_in {
    ($status:literal) => {
        concat!(
            "SELECT VALUE uid FROM task_run_project WHERE run_uid = $r AND status = '",
            $status,
            "' LIMIT 1"
        )
    };
}

/// The lookups [`RUN_ANY_OPEN`] makes, one per open status (the tests read their plans).
#[cfg(test)]
const OPEN_LOOKUPS: [&str; 2] = [first_of_run_in!("queued"), first_of_run_in!("running")];

/// Whether any project record of a run (`$r`) is still open: the uid of one, or none.
const RUN_ANY_OPEN: &str = concat!(
    "RETURN array::concat((",
    first_of_run_in!("queued"),
    "), (",
    first_of_run_in!("running"),
    "))"
);

/// A run's project records counted by status (`$r`: the run).
const RUN_COUNTS: &str =
    "SELECT status, count() AS n FROM task_run_project WHERE run_uid = $r GROUP BY status";

#[derive(Deserialize)]
struct CountRow {
    status: TaskRunStatus,
    n: i64,
}

fn counts_of(rows: Vec<CountRow>) -> RunCounts {
    let mut c = RunCounts::default();
    for r in rows {
        match r.status {
            TaskRunStatus::Queued => c.queued = r.n,
            TaskRunStatus::Running => c.running = r.n,
            TaskRunStatus::Succeeded => c.succeeded = r.n,
            TaskRunStatus::Failed => c.failed = r.n,
            TaskRunStatus::Skipped => c.skipped = r.n,
            TaskRunStatus::Cancelled => c.cancelled = r.n,
            _ => {}
        }
    }
    c
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

    /// Writes the run's per-project records that do not exist yet.
    pub async fn add_run_projects(&self, rows: &[TaskRunProjectRecord]) -> StorageResult<()> {
        for r in rows {
            match self
                .exec("CREATE task_run_project CONTENT $r", json!({ "r": r }))
                .await
            {
                Ok(()) | Err(StorageError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub async fn run_project(
        &self,
        uid: &vitrine_core::TaskRunProjectId,
    ) -> StorageResult<Option<TaskRunProjectRecord>> {
        self.first(
            "SELECT * FROM task_run_project WHERE uid = $u",
            json!({ "u": uid }),
        )
        .await
    }

    pub async fn run_projects(
        &self,
        run_uid: &vitrine_core::TaskRunId,
    ) -> StorageResult<Vec<TaskRunProjectRecord>> {
        self.rows(
            "SELECT * FROM task_run_project WHERE run_uid = $r ORDER BY project_name, uid",
            json!({ "r": run_uid }),
        )
        .await
    }

    /// Takes a project's record for an attempt: from queued, or from running when the
    /// worker that held it died (the queue redelivered the job). Returns the record as
    /// taken, or none when it has ended already.
    pub async fn take_run_project(
        &self,
        uid: &vitrine_core::TaskRunProjectId,
        at_ms: i64,
    ) -> StorageResult<Option<TaskRunProjectRecord>> {
        Ok(self
            .rows_touching(
                "UPDATE task_run_project SET status = 'running', attempts += 1, started_ms = started_ms ?? $at WHERE uid = $u AND status IN ['queued', 'running'] RETURN AFTER",
                json!({ "u": uid, "at": at_ms }),
                RUN_PROJECTS,
            )
            .await?
            .into_iter()
            .next())
    }

    /// Records one finished action of an attempt; returns the record's status after it
    /// (none when the record is gone), which tells whether the next action may start: a
    /// cancel in between has set it. One round trip for both.
    pub async fn run_project_progress(
        &self,
        uid: &vitrine_core::TaskRunProjectId,
        actions_done: u32,
        line: &RunLogLine,
    ) -> StorageResult<Option<TaskRunStatus>> {
        #[derive(Deserialize)]
        struct Row {
            status: TaskRunStatus,
        }
        let rows: Vec<Row> = self
            .rows_touching(
                "UPDATE task_run_project SET actions_done = $d, log += $l WHERE uid = $u RETURN status",
                json!({ "u": uid, "d": actions_done, "l": line }),
                RUN_PROJECTS,
            )
            .await?;
        Ok(rows.into_iter().next().map(|r| r.status))
    }

    pub async fn log_run_project(
        &self,
        uid: &vitrine_core::TaskRunProjectId,
        line: &RunLogLine,
    ) -> StorageResult<()> {
        self.exec_touching(
            "UPDATE task_run_project SET log += $l WHERE uid = $u",
            json!({ "u": uid, "l": line }),
            RUN_PROJECTS,
        )
        .await
    }

    /// Ends an attempt. A final `status` ends the project; `queued` puts it back for a
    /// retry. Only a running record changes (a cancelled one stays cancelled). With
    /// `progress`, the attempt's last action is recorded first, whatever the status (as
    /// [`Store::run_project_progress`] would, without a round trip of its own). Returns
    /// whether the status changed, and whether any project of the run is open just
    /// after, read in the same round trip (whoever sees none open closes the run).
    #[allow(clippy::too_many_arguments)]
    pub async fn end_attempt(
        &self,
        run_uid: &vitrine_core::TaskRunId,
        uid: &vitrine_core::TaskRunProjectId,
        status: TaskRunStatus,
        error: Option<&str>,
        progress: Option<(u32, &RunLogLine)>,
        spent_ms: i64,
        at_ms: i64,
    ) -> StorageResult<(bool, bool)> {
        let (first, done, line) = match progress {
            Some((d, l)) => (
                "UPDATE task_run_project SET actions_done = $done, log += $line WHERE uid = $u; ",
                Some(d),
                Some(l),
            ),
            None => ("", None, None),
        };
        // The writes touch only this project's record, so they commit together (one sync
        // to disk instead of two) without conflicting with the run's other jobs. The open
        // check reads every record of the run; inside the transaction it would conflict
        // with each job ending beside this one, so it reads after the commit.
        let sql = format!(
            "BEGIN; {first}UPDATE task_run_project SET status = $s, error = $e, duration_ms += $d, finished_ms = IF $s = 'queued' THEN NONE ELSE $at END WHERE uid = $u AND status = 'running' RETURN uid; COMMIT; {RUN_ANY_OPEN}"
        );
        let vars = json!({
            "u": uid, "r": run_uid, "s": status, "e": error, "d": spent_ms, "at": at_ms,
            "done": done, "line": line,
        });
        let mut response = self
            .run_with(&sql, vars, Some(Writes::Tables(RUN_PROJECTS)))
            .await?;
        // Every statement answers, BEGIN and COMMIT included: the status update is the
        // third from the end, the open check the last.
        let last = response.num_statements() - 1;
        let changed: Vec<serde_json::Value> = crate::db::decode(&mut response, last - 2)?;
        let open: Vec<serde_json::Value> = crate::db::decode(&mut response, last)?;
        Ok((!changed.is_empty(), !open.is_empty()))
    }

    /// Ends a record that never started (skipped, or cancelled while queued).
    pub async fn settle_run_project(
        &self,
        uid: &vitrine_core::TaskRunProjectId,
        status: TaskRunStatus,
        reason: &str,
        at_ms: i64,
    ) -> StorageResult<bool> {
        Ok(self
            .count(
                "UPDATE task_run_project SET status = $s, error = $e, finished_ms = $at WHERE uid = $u AND status = 'queued' RETURN AFTER",
                json!({ "u": uid, "s": status, "e": reason, "at": at_ms }),
            )
            .await?
            > 0)
    }

    /// Cancels every project of a run still queued; running ones stop at their next
    /// action boundary.
    pub async fn cancel_run_projects(
        &self,
        run_uid: &vitrine_core::TaskRunId,
        at_ms: i64,
    ) -> StorageResult<()> {
        self.exec(
            "UPDATE task_run_project SET status = 'cancelled', finished_ms = $at, error = 'cancelled' WHERE run_uid = $r AND status = 'queued'",
            json!({ "r": run_uid, "at": at_ms }),
        )
        .await
    }

    /// Marks running projects of a run cancelled; their jobs stop at the next action.
    pub async fn cancel_running_projects(
        &self,
        run_uid: &vitrine_core::TaskRunId,
        at_ms: i64,
    ) -> StorageResult<()> {
        self.exec(
            "UPDATE task_run_project SET status = 'cancelled', finished_ms = $at, error = 'cancelled while running' WHERE run_uid = $r AND status = 'running'",
            json!({ "r": run_uid, "at": at_ms }),
        )
        .await
    }

    /// Whether any project of the run is still queued or running.
    pub async fn run_has_open_projects(
        &self,
        run_uid: &vitrine_core::TaskRunId,
    ) -> StorageResult<bool> {
        let open: Vec<serde_json::Value> = self.rows(RUN_ANY_OPEN, json!({ "r": run_uid })).await?;
        Ok(!open.is_empty())
    }

    pub async fn run_counts(&self, run_uid: &vitrine_core::TaskRunId) -> StorageResult<RunCounts> {
        Ok(counts_of(
            self.rows(RUN_COUNTS, json!({ "r": run_uid })).await?,
        ))
    }

    /// Runs not ended, oldest first: what a restarted scheduler checks for completion.
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

    pub async fn open_runs(&self) -> StorageResult<Vec<TaskRunRecord>> {
        self.rows(
            "SELECT * FROM task_run WHERE status IN ['queued', 'running'] ORDER BY created_ms LIMIT 200",
            json!({}),
        )
        .await
    }
}

#[cfg(test)]
#[path = "tasks_tests.rs"]
mod tests;
