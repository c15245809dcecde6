//! Ending runs: the last project to end closes its run (status, summary, failure
//! notice, `task_finished` events, `run_task` actions), whoever flips the status first;
//! cancelling; and the housekeeping that closes runs a crash left open and pushes again
//! queued projects whose job may have been lost.

use vitrine_core::AuditAction;
use vitrine_core::TaskRunStatus;
use vitrine_core::task::{Action, EventKind};
use vitrine_queue::Job;
use vitrine_storage::{RunCounts, now_ms};

use super::TaskRunView;
use super::Tasks;
use crate::caller::Caller;
use crate::{ApiError, ApiResult};

impl Tasks {
    /// Closes the run if none of its projects is still open.
    pub(crate) async fn maybe_close_run(&self, run_uid: &vitrine_core::TaskRunId) -> ApiResult<()> {
        let open = self.store.run_has_open_projects(run_uid).await?;
        self.close_if_done(run_uid, open).await
    }

    /// Closes the run when none of its projects is `open`, as read just now.
    pub(crate) async fn close_if_done(
        &self,
        run_uid: &vitrine_core::TaskRunId,
        open: bool,
    ) -> ApiResult<()> {
        if !open {
            self.close_run(run_uid, None).await?;
        }
        Ok(())
    }

    /// Ends a run with its summary (or the given status and message), once.
    pub(super) async fn close_run(
        &self,
        run_uid: &vitrine_core::TaskRunId,
        forced: Option<(TaskRunStatus, String)>,
    ) -> ApiResult<()> {
        let Some(run) = self.store.task_run(run_uid).await? else {
            return Ok(());
        };
        let counts = self.store.run_counts(run_uid).await?;
        let (status, message) = match forced {
            Some((s, m)) => (s, m),
            None => (overall(&counts), summary(&counts)),
        };
        if !self
            .store
            .finish_run(run_uid, status, &message, now_ms())
            .await?
        {
            return Ok(());
        }
        self.runtime.limits.lock().remove(run_uid.as_str());
        self.runtime.runs.lock().remove(run_uid.as_str());
        tracing::info!(run = %run_uid, task = %run.task_uid, %status, %message, "task run finished");
        let run = self.store.task_run(run_uid).await?.unwrap_or(run);
        if matches!(status, TaskRunStatus::Failed | TaskRunStatus::Partial) {
            self.notify_failure(&run, &counts).await;
        }
        let mut chain = run.chain.clone();
        chain.push(run.task_uid.clone().into());
        // `run_task` actions start once every project is done, in their order.
        for (i, a) in run.spec.actions.iter().enumerate() {
            if let Action::RunTask { task } = a
                && status != TaskRunStatus::Cancelled
            {
                self.push_fire(
                    &vitrine_core::TaskId::from(task),
                    &format!("after:{run_uid}:{i}"),
                    &format!("after {}", run.task_name),
                    None,
                    chain.clone(),
                )
                .await?;
            }
        }
        self.emit(
            EventKind::TaskFinished,
            None,
            Some(&run.task_uid),
            run_uid,
            chain,
        )
        .await;
        Ok(())
    }

    /// Cancels a run: queued projects are cancelled at once, running ones stop after
    /// their current action (a workflow run in progress is stopped).
    pub async fn cancel_task_run(&self, caller: &Caller, run_uid: &str) -> ApiResult<TaskRunView> {
        let run_uid = &vitrine_core::TaskRunId::from(run_uid);
        caller.require_write()?;
        let run = self
            .store
            .task_run(run_uid)
            .await?
            .ok_or_else(|| ApiError::not_found("run"))?;
        self.task_for(caller, &run.task_uid).await?;
        let now = now_ms();
        self.store.cancel_run_projects(run_uid, now).await?;
        self.store.cancel_running_projects(run_uid, now).await?;
        let stopping: Vec<String> = {
            let runs = self.runtime.engine_runs.lock();
            runs.iter()
                .filter(|(record, _)| record.starts_with(&format!("{run_uid}/")))
                .map(|(_, engine_run)| engine_run.clone())
                .collect()
        };
        for r in stopping {
            self.engine.cancel(&vitrine_core::RunId::from(&r));
        }
        self.close_run(
            run_uid,
            Some((
                TaskRunStatus::Cancelled,
                format!("cancelled by {}", caller.user().username),
            )),
        )
        .await?;
        self.audit
            .record(
                caller,
                AuditAction::TaskCancelRun,
                &format!("task_run:{run_uid}"),
                "ok",
                "",
            )
            .await?;
        self.run_view(self.store.task_run(run_uid).await?.unwrap_or(run))
            .await
    }

    /// What a restarted or idle process checks: runs whose projects all ended but that
    /// were never closed, and queued projects whose job may have been lost (pushed again
    /// under the same key, so a job still waiting is not doubled).
    pub(super) async fn housekeeping(&self, now: i64) -> ApiResult<()> {
        let repush = {
            let mut last = self.runtime.last_repush_ms.lock();
            let due = now - *last >= 15_000;
            if due {
                *last = now;
            }
            due
        };
        for run in self.store.open_runs().await? {
            let counts = self.store.run_counts(&run.uid).await?;
            // A run whose firing job is still to come has no projects yet.
            if counts.open() == 0 && run.total > 0 {
                self.close_run(&run.uid, None).await?;
            } else if repush && counts.queued > 0 {
                for r in self.store.run_projects(&run.uid).await? {
                    if r.status == TaskRunStatus::Queued {
                        self.push_job(
                            Job::Project {
                                run_uid: run.uid.clone().into(),
                                record_uid: r.uid.clone().into(),
                                attempt: r.attempts + 1,
                            },
                            None,
                        )
                        .await?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A run's status from its projects' states.
fn overall(c: &RunCounts) -> TaskRunStatus {
    if c.cancelled > 0 && c.succeeded + c.failed == 0 {
        TaskRunStatus::Cancelled
    } else if c.failed > 0 && c.succeeded > 0 {
        TaskRunStatus::Partial
    } else if c.failed > 0 {
        TaskRunStatus::Failed
    } else if c.succeeded == 0 {
        TaskRunStatus::Skipped
    } else {
        TaskRunStatus::Succeeded
    }
}

fn summary(c: &RunCounts) -> String {
    let total = c.succeeded + c.failed + c.skipped + c.cancelled;
    let mut s = format!(
        "{total} project{}: {} succeeded, {} failed, {} skipped",
        if total == 1 { "" } else { "s" },
        c.succeeded,
        c.failed,
        c.skipped
    );
    if c.cancelled > 0 {
        s.push_str(&format!(", {} cancelled", c.cancelled));
    }
    s
}
