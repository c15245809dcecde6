//! A task run's per-project records: what each project job takes, records and ends, and
//! what the run learns from them (whether a project is open, counts by status). Each
//! write touches one record and is conditional on its status, so a job delivered twice,
//! or one ending beside a cancel, changes a record once.

use serde::{Deserialize, Serialize};
use serde_json::json;
use vitrine_core::TaskRunStatus;

use crate::cache::Writes;
use crate::{StorageError, StorageResult, Store};

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
    /// Writes the run's per-project records that do not exist yet.
    /// Writes a run's project records: all in one statement (one commit, not one per
    /// project). Fanning out again (a firing delivered twice) creates only what is
    /// missing: the first write was all or nothing, so a conflict means every record
    /// existed unless the target gained projects since, which are then created one by
    /// one.
    pub async fn add_run_projects(&self, rows: &[TaskRunProjectRecord]) -> StorageResult<()> {
        match self
            .exec(
                "INSERT INTO task_run_project $rows",
                json!({ "rows": rows }),
            )
            .await
        {
            Err(StorageError::Conflict(_)) => {}
            done => return done,
        }
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
    /// `progress`, the attempt's last action is recorded too, whatever the status (as
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
        let (progress_set, done, line) = match progress {
            Some((d, l)) => ("actions_done = $done, log += $line, ", Some(d), Some(l)),
            None => ("", None, None),
        };
        // One statement, so one commit (a sync to disk is a fifth of a job's bookkeeping)
        // on this project's record alone, which conflicts with no other job. The end
        // applies only to a running record; `status` is set last, so the conditions
        // before it read the status the record had. The open check reads the index of
        // runs and statuses after that commit.
        let sql = format!(
            "UPDATE task_run_project SET {progress_set}\
             error = IF status = 'running' THEN $e ELSE error END, \
             duration_ms += IF status = 'running' THEN $d ELSE 0 END, \
             finished_ms = IF status = 'running' THEN (IF $s = 'queued' THEN NONE ELSE $at END) ELSE finished_ms END, \
             status = IF status = 'running' THEN $s ELSE status END \
             WHERE uid = $u RETURN VALUE $before.status; {RUN_ANY_OPEN}"
        );
        let vars = json!({
            "u": uid, "r": run_uid, "s": status, "e": error, "d": spent_ms, "at": at_ms,
            "done": done, "line": line,
        });
        let mut response = self
            .run_with(&sql, vars, Some(Writes::Tables(RUN_PROJECTS)))
            .await?;
        let was: Vec<serde_json::Value> = crate::db::decode(&mut response, 0)?;
        let open: Vec<serde_json::Value> = crate::db::decode(&mut response, 1)?;
        Ok((
            was.first().and_then(|s| s.as_str()) == Some("running"),
            !open.is_empty(),
        ))
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
}

#[cfg(test)]
#[path = "run_projects_tests.rs"]
mod tests;
