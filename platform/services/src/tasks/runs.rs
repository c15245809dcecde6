//! A task's runs: a firing becomes a run, the run fans out into one job per project, each
//! job applies the actions in order and records its progress, and the last project to
//! end closes the run (summary, notices, `task_finished` events, `run_task` actions).
//!
//! Every step tolerates being done twice, because the queue delivers at least once: a
//! run is unique per firing (`fire_key`), a project's record is unique per run, a job
//! takes its record with a conditional write and resumes after the actions it already
//! finished, and a run is closed by whoever flips its status first.

use std::sync::Arc;
use std::time::{Duration, Instant};
use vitrine_core::AuditAction;
use vitrine_core::TaskRunStatus;

use vitrine_core::task::{Target, TaskSpec};
use vitrine_core::{Ability, ErrorCode};
use vitrine_queue::{Job, JobHandler};
use vitrine_storage::{
    PageRequest, RunCounts, TaskRecord, TaskRunProjectRecord, TaskRunRecord, now_ms,
};

use super::Tasks;
use super::actions::{Applied, log_line};
use crate::Identity;
use crate::ProjectView;
use crate::caller::Caller;
use crate::{ApiError, ApiResult};

/// A run with its per-project records, as clients see it.
#[derive(Debug, Clone)]
pub struct TaskRunView {
    pub run: TaskRunRecord,
    pub counts: RunCounts,
}

/// The queue's [`JobHandler`]: every job goes through the task service.
pub struct TaskJobs(pub Arc<Tasks>);

#[async_trait::async_trait]
impl JobHandler for TaskJobs {
    async fn handle(&self, job: Job) -> Result<(), String> {
        let s = &self.0;
        let out = match job {
            Job::Fire {
                task_uid,
                fire_key,
                cause,
                event_project,
                chain,
            } => {
                s.fire(
                    &vitrine_core::TaskId::from(&task_uid),
                    &fire_key,
                    &cause,
                    event_project.as_deref(),
                    chain,
                )
                .await
            }
            // The attempt only makes a retry's key differ from the first push's; the
            // record counts attempts.
            Job::Project {
                run_uid,
                record_uid,
                ..
            } => {
                let run_uid = vitrine_core::TaskRunId::from(run_uid);
                let record_uid = vitrine_core::TaskRunProjectId::from(record_uid);
                s.run_project_job(&run_uid, &record_uid).await
            }
            Job::Noop { .. } => Ok(()),
        };
        // Only infrastructure errors reach here (work failures are recorded as such):
        // the queue delivers the job again later.
        out.map_err(|e| format!("{}: {}", e.code, e.message))
    }

    async fn tick(&self, now_ms: i64) {
        if let Err(e) = self.0.housekeeping(now_ms).await {
            tracing::warn!(error = %e.message, "task housekeeping failed");
        }
    }
}

/// Base of the exponential backoff between attempts of one project.
fn retry_delay(attempt: u32) -> Duration {
    let base = std::env::var("VITRINE_TASK_RETRY_BASE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000u64);
    Duration::from_millis((base << (attempt.saturating_sub(1)).min(10)).min(15 * 60 * 1000))
}

impl Tasks {
    // ---- starting runs ----------------------------------------------------------------

    /// Runs a task now (its owner or an administrator), paused or not.
    pub async fn run_task_now(&self, caller: &Caller, uid: &str) -> ApiResult<TaskRunView> {
        caller.require_write()?;
        let task = self
            .task_for(caller, &vitrine_core::TaskId::from(uid))
            .await?;
        let fire_key = format!("manual:{}", vitrine_storage::new_uid());
        let cause = format!("run now by {}", caller.user().username);
        // The run record exists before its job, so the caller gets its id at once.
        let (run, _) = self.open_run(&task, &fire_key, &cause, Vec::new()).await?;
        self.push_fire(&task.uid, &fire_key, &cause, None, Vec::new())
            .await?;
        self.audit
            .record(
                caller,
                AuditAction::TaskRunNow,
                &format!("task:{uid}"),
                "ok",
                &run.uid,
            )
            .await?;
        self.run_view(run).await
    }

    /// Creates the run record of a firing, or finds the one made before.
    async fn open_run(
        &self,
        task: &TaskRecord,
        fire_key: &str,
        cause: &str,
        chain: Vec<String>,
    ) -> ApiResult<(TaskRunRecord, bool)> {
        let record = TaskRunRecord {
            uid: vitrine_storage::new_uid().into(),
            task_uid: task.uid.clone(),
            task_name: task.name.clone(),
            fire_key: fire_key.to_owned(),
            cause: cause.to_owned(),
            spec: task.spec.clone(),
            run_as_uid: String::new().into(),
            status: TaskRunStatus::Queued,
            total: 0,
            message: String::new(),
            chain,
            created_ms: now_ms(),
            finished_ms: None,
        };
        Ok(self.store.start_run(&record).await?)
    }

    /// A firing: make the run, decide its projects, push their jobs.
    async fn fire(
        &self,
        task_uid: &vitrine_core::TaskId,
        fire_key: &str,
        cause: &str,
        event_project: Option<&str>,
        chain: Vec<String>,
    ) -> ApiResult<()> {
        let Some(task) = self.store.task(task_uid).await? else {
            return Ok(()); // deleted since
        };
        if self.settle_if_revoked(&task).await? {
            return Ok(()); // a revoked recipient's: cancelled or handed over now
        }
        let manual = fire_key.starts_with("manual:") || fire_key.starts_with("after:");
        if task.paused && !manual {
            return Ok(());
        }
        let (run, _) = self.open_run(&task, fire_key, cause, chain).await?;
        if run.status.is_final() {
            return Ok(());
        }
        let fan_out = Instant::now();
        let now = now_ms();
        let user = match self.task_identity(&task).await? {
            Ok(u) => u,
            Err(why) => {
                let msg = format!("not run: {why}");
                tracing::warn!(task = %task.uid, reason = %why, "task identity refused");
                self.close_run(&run.uid, Some((TaskRunStatus::Skipped, msg)))
                    .await?;
                return Ok(());
            }
        };
        let spec = match task.spec.resolve(&self.app_parameters().await?) {
            Ok(s) => s,
            Err(e) => {
                self.close_run(&run.uid, Some((TaskRunStatus::Failed, e.to_string())))
                    .await?;
                return Ok(());
            }
        };
        self.store.set_run_spec(&run.uid, &spec, &user.uid).await?;
        let who = Identity::task_caller(user, &task.uid, &run.uid, run.chain.clone());
        let projects = match self.target_projects(&who, &spec, event_project).await {
            Ok(p) => p,
            Err(e) => {
                self.close_run(&run.uid, Some((TaskRunStatus::Failed, e.message)))
                    .await?;
                return Ok(());
            }
        };
        let mut records = Vec::new();
        for p in &projects {
            let skip = self.project_skip_reason(p, &spec).await?;
            records.push((
                TaskRunProjectRecord::queued(&run.uid, &p.record.uid, &p.record.name),
                skip,
            ));
        }
        let rows: Vec<_> = records.iter().map(|(r, _)| r.clone()).collect();
        self.store.add_run_projects(&rows).await?;
        self.store
            .set_run_total(&run.uid, rows.len() as i64)
            .await?;
        for (r, skip) in &records {
            if let Some(why) = skip {
                self.store
                    .settle_run_project(&r.uid, TaskRunStatus::Skipped, why, now)
                    .await?;
            }
        }
        // Every project's job in one push: one transaction, not one per project.
        let jobs = (records.iter())
            .filter(|(_, skip)| skip.is_none())
            .map(|(r, _)| {
                let job = Job::Project {
                    run_uid: run.uid.clone().into(),
                    record_uid: r.uid.clone().into(),
                    attempt: 1,
                };
                (job, None)
            })
            .collect();
        self.push_jobs(jobs).await?;
        tracing::info!(
            task = %task.uid,
            run = %run.uid,
            projects = rows.len(),
            fan_out_ms = fan_out.elapsed().as_millis() as u64,
            "task run started"
        );
        self.maybe_close_run(&run.uid).await
    }

    /// The projects of a run: the target's projects the identity may see (a folder is
    /// read at run time, so projects added since are included), or only the one an
    /// event happened to.
    async fn target_projects(
        &self,
        who: &Caller,
        spec: &TaskSpec,
        event_project: Option<&str>,
    ) -> ApiResult<Vec<ProjectView>> {
        let uids: Vec<String> = match (&spec.target, event_project) {
            (_, Some(p)) => vec![p.to_owned()],
            (Target::Project { project }, None) => vec![project.clone()],
            (Target::Folder { folder, recursive }, None) => {
                self.store
                    .folder(&vitrine_core::FolderId::from(folder))
                    .await?
                    .ok_or_else(|| ApiError::not_found("target folder"))?;
                self.directory.folder_projects(folder, *recursive).await?
            }
        };
        let mut out = Vec::new();
        for uid in uids {
            match self
                .directory
                .project_for(
                    who,
                    &vitrine_core::ProjectId::from(&uid),
                    vitrine_authz::Action::View,
                )
                .await
            {
                Ok(p) => out.push(p),
                Err(e) if e.code == ErrorCode::NotFound && spec_is_folder(spec) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.record.name.cmp(&b.record.name));
        Ok(out)
    }

    /// Why a project of the target is skipped rather than worked on, if it is.
    async fn project_skip_reason(
        &self,
        p: &ProjectView,
        spec: &TaskSpec,
    ) -> ApiResult<Option<String>> {
        if !self.data.ability_on(p, Ability::Schedule) {
            return Ok(Some("the schedule ability is off for this project".into()));
        }
        for (i, a) in spec.actions.iter().enumerate() {
            if let Err(e) = self.check_fit(p, i, a).await {
                return Ok(Some(e.message));
            }
        }
        Ok(None)
    }

    // ---- one project's job -------------------------------------------------------------

    async fn run_project_job(
        &self,
        run_uid: &vitrine_core::TaskRunId,
        record_uid: &vitrine_core::TaskRunProjectId,
    ) -> ApiResult<()> {
        let Some(run) = self.job_run(run_uid).await? else {
            return Ok(());
        };
        let limit = self.run_limit(&run);
        let delivered = Instant::now();
        let permit = match &limit {
            Some(sem) => Some(
                sem.acquire()
                    .await
                    .map_err(|e| ApiError::internal("run limit", e))?,
            ),
            None => None,
        };
        let started = Instant::now();
        let Some(record) = self.store.take_run_project(record_uid, now_ms()).await? else {
            // Ended already: this is a second delivery.
            return self.maybe_close_run(run_uid).await;
        };
        let outcome = self.apply_actions(&run, &record).await;
        // The run's concurrency bounds the projects being worked on, not their
        // bookkeeping: the next project starts while this one's end commits (with one
        // project at a time, that commit was most of the time between two projects).
        drop(permit);
        let ending = Instant::now();
        // To the nearest millisecond: truncating made every project's time read half a
        // millisecond short on average, which the tasks bench counted as queue cost.
        let spent = ((started.elapsed().as_micros() + 500) / 1000) as i64;
        let now = now_ms();
        // Whether any project is open comes back with the attempt's end, in the same
        // round trip.
        let open = match outcome {
            Ok(Applied::Done(last)) => {
                self.store
                    .end_attempt(
                        run_uid,
                        record_uid,
                        TaskRunStatus::Succeeded,
                        None,
                        last.as_ref().map(|(done, line)| (*done, line)),
                        spent,
                        now,
                    )
                    .await?
                    .1
            }
            Ok(Applied::Cancelled) => {
                // Cancelled between two actions: the record is cancelled already.
                return self.maybe_close_run(run_uid).await;
            }
            Err(e) => {
                let retry = record.attempts < run.spec.max_attempts && retryable(&e);
                let line = format!("attempt {}: {}", record.attempts, e.message);
                self.store
                    .log_run_project(record_uid, &log_line(line))
                    .await?;
                if retry {
                    let (requeued, open) = self
                        .store
                        .end_attempt(
                            run_uid,
                            record_uid,
                            TaskRunStatus::Queued,
                            Some(&e.message),
                            None,
                            spent,
                            now,
                        )
                        .await?;
                    if requeued {
                        let delay = retry_delay(record.attempts);
                        self.push_job(
                            Job::Project {
                                run_uid: run_uid.to_owned().into(),
                                record_uid: record_uid.to_owned().into(),
                                attempt: record.attempts + 1,
                            },
                            Some(delay),
                        )
                        .await?;
                    }
                    open
                } else {
                    self.store
                        .end_attempt(
                            run_uid,
                            record_uid,
                            TaskRunStatus::Failed,
                            Some(&e.message),
                            None,
                            spent,
                            now,
                        )
                        .await?
                        .1
                }
            }
        };
        self.close_if_done(run_uid, open).await?;
        // Where a job's time goes outside its actions (the tasks bench's queue cost).
        tracing::debug!(
            run = %run_uid,
            record = %record_uid,
            waited_us = started.duration_since(delivered).as_micros() as u64,
            ending_us = ending.elapsed().as_micros() as u64,
            "project job done"
        );
        Ok(())
    }

    /// The run a project job belongs to, read once per process (see `TaskRuntime::runs`).
    async fn job_run(
        &self,
        run_uid: &vitrine_core::TaskRunId,
    ) -> ApiResult<Option<Arc<TaskRunRecord>>> {
        if let Some(run) = self.runtime.runs.lock().get(run_uid.as_str()) {
            return Ok(Some(run.clone()));
        }
        let Some(run) = self.store.task_run(run_uid).await? else {
            return Ok(None);
        };
        let run = Arc::new(run);
        let mut runs = self.runtime.runs.lock();
        // Runs another process closed are never dropped here: a crude bound.
        if runs.len() >= 1_000 {
            runs.clear();
        }
        runs.insert(run_uid.as_str().to_owned(), run.clone());
        Ok(Some(run))
    }

    fn run_limit(&self, run: &TaskRunRecord) -> Option<Arc<tokio::sync::Semaphore>> {
        let n = run.spec.concurrency? as usize;
        let mut limits = self.runtime.limits.lock();
        Some(
            limits
                .entry(run.uid.clone().into())
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(n)))
                .clone(),
        )
    }

    // ---- reading runs ------------------------------------------------------------------

    pub async fn task_runs(
        &self,
        caller: &Caller,
        task_uid: &str,
        page: &PageRequest,
    ) -> ApiResult<Vec<TaskRunView>> {
        let task_uid = &vitrine_core::TaskId::from(task_uid);
        self.task_for(caller, task_uid).await?;
        let mut out = Vec::new();
        for r in self.store.task_runs(task_uid, page).await? {
            out.push(self.run_view(r).await?);
        }
        Ok(out)
    }

    pub async fn task_run(&self, caller: &Caller, run_uid: &str) -> ApiResult<TaskRunView> {
        let run_uid = &vitrine_core::TaskRunId::from(run_uid);
        caller.require_unscoped("tasks")?;
        let run = self
            .store
            .task_run(run_uid)
            .await?
            .ok_or_else(|| ApiError::not_found("run"))?;
        self.task_for(caller, &run.task_uid)
            .await
            .map_err(|_| ApiError::not_found("run"))?;
        self.run_view(run).await
    }

    pub async fn task_run_projects(&self, run_uid: &str) -> ApiResult<Vec<TaskRunProjectRecord>> {
        let run_uid = &vitrine_core::TaskRunId::from(run_uid);
        Ok(self.store.run_projects(run_uid).await?)
    }

    pub(super) async fn run_view(&self, run: TaskRunRecord) -> ApiResult<TaskRunView> {
        let counts = self.store.run_counts(&run.uid).await?;
        Ok(TaskRunView { run, counts })
    }

    /// Remembers that a task's job is refreshing `project_uid` (see `refreshing`).
    pub(crate) fn mark_refreshing(
        &self,
        project_uid: &vitrine_core::ProjectId,
        chain: Vec<String>,
    ) {
        self.runtime
            .refreshing
            .lock()
            .insert(project_uid.to_owned().into(), chain);
    }

    pub(crate) fn track_engine_run(&self, record_uid: &str, engine_run: Option<&str>) {
        let mut runs = self.runtime.engine_runs.lock();
        match engine_run {
            Some(r) => runs.insert(record_uid.to_owned(), r.to_owned()),
            None => runs.remove(record_uid),
        };
    }
}

fn spec_is_folder(spec: &TaskSpec) -> bool {
    matches!(spec.target, Target::Folder { .. })
}

/// Errors worth another attempt: anything but a refusal that will not change.
fn retryable(e: &ApiError) -> bool {
    !matches!(
        e.code,
        ErrorCode::Forbidden
            | ErrorCode::NotFound
            | ErrorCode::InvalidInput
            | ErrorCode::PolicyViolation
            | ErrorCode::Cancelled
            | ErrorCode::InvalidWorkflow
            | ErrorCode::ExposureRefused
            | ErrorCode::OriginMoved
            | ErrorCode::UnpushedChanges
    )
}
