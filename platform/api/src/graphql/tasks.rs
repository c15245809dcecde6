//! Scheduled tasks in GraphQL: save, pause, resume, run now and delete tasks; read their
//! runs with per-project results; cancel a run; follow a run's progress. The inputs are
//! in [`super::task_inputs`].

use std::time::Duration;

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, SimpleObject, Subscription};

use super::data_types::TaskRunStatus;
use crate::services::records::{TaskRecord, TaskRunProjectRecord};
use chrono::{DateTime, Utc};
use futures::Stream;
use vitrine_core::task::{Action, Target, Trigger};

use super::pagination::{connection, page};
use super::task_inputs::{TaskActionKind, TaskEvent, TaskInput};
use super::types::time;
use super::{caller, member, on, services};
use crate::GqlResult;
use crate::services::{Services, TaskRunView};

type R<T> = async_graphql::Result<T>;

/// A scheduled task.
pub struct Task(pub TaskRecord);

#[derive(SimpleObject)]
pub struct TaskTrigger {
    /// `cron`, `event` or `manual`.
    pub kind: String,
    pub cron: Option<String>,
    pub time_zone: Option<String>,
    pub event: Option<TaskEvent>,
    pub task_id: Option<ID>,
}

#[derive(SimpleObject)]
pub struct TaskTarget {
    pub project_id: Option<String>,
    pub folder_id: Option<String>,
    pub recursive: bool,
}

#[derive(SimpleObject)]
pub struct TaskAction {
    pub kind: TaskActionKind,
    pub force: Option<bool>,
    pub discard: Option<bool>,
    pub location: Option<String>,
    pub path: Option<String>,
    pub report: Option<String>,
    pub recipients: Option<Vec<String>>,
    pub csv: Option<bool>,
    pub subject: Option<String>,
    pub task_id: Option<ID>,
}

impl From<&Action> for TaskAction {
    fn from(a: &Action) -> Self {
        let mut out = TaskAction {
            kind: TaskActionKind::Refresh,
            force: None,
            discard: None,
            location: None,
            path: None,
            report: None,
            recipients: None,
            csv: None,
            subject: None,
            task_id: None,
        };
        match a {
            Action::Refresh { force } => out.force = Some(*force),
            Action::WarmUp => out.kind = TaskActionKind::WarmUp,
            Action::Push { force } => {
                out.kind = TaskActionKind::Push;
                out.force = Some(*force);
            }
            Action::Pull { discard } => {
                out.kind = TaskActionKind::Pull;
                out.discard = Some(*discard);
            }
            Action::Detach => out.kind = TaskActionKind::Detach,
            Action::Backup { location, path } => {
                out.kind = TaskActionKind::Backup;
                out.location = Some(location.clone());
                out.path = Some(path.clone());
            }
            Action::Deliver {
                report,
                recipients,
                csv,
                subject,
            } => {
                out.kind = TaskActionKind::Deliver;
                out.report = Some(report.clone());
                out.recipients = Some(recipients.clone());
                out.csv = Some(*csv);
                out.subject = subject.clone();
            }
            Action::RunTask { task } => {
                out.kind = TaskActionKind::RunTask;
                out.task_id = Some(ID(task.clone()));
            }
        }
        out
    }
}

#[derive(SimpleObject)]
pub struct TaskNotify {
    pub emails: Vec<String>,
    pub webhook: Option<String>,
}

#[Object]
impl Task {
    async fn id(&self) -> ID {
        ID(self.0.uid.clone().into())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn owner_id(&self) -> ID {
        ID(self.0.owner_uid.clone().into())
    }
    /// True when the task runs as a service account (through an API token).
    async fn runs_as_service_account(&self) -> bool {
        self.0.run_as_token_uid.is_some()
    }
    async fn trigger(&self) -> TaskTrigger {
        match &self.0.spec.trigger {
            Trigger::Cron { cron, time_zone } => TaskTrigger {
                kind: "cron".into(),
                cron: Some(cron.clone()),
                time_zone: Some(time_zone.clone()),
                event: None,
                task_id: None,
            },
            Trigger::Event { event, task_uid } => TaskTrigger {
                kind: "event".into(),
                cron: None,
                time_zone: None,
                event: Some((*event).into()),
                task_id: task_uid.clone().map(ID),
            },
            Trigger::Manual => TaskTrigger {
                kind: "manual".into(),
                cron: None,
                time_zone: None,
                event: None,
                task_id: None,
            },
        }
    }
    /// As written: `${name}` references stay unresolved here.
    async fn target(&self) -> TaskTarget {
        match &self.0.spec.target {
            Target::Project { project } => TaskTarget {
                project_id: Some(project.clone()),
                folder_id: None,
                recursive: false,
            },
            Target::Folder { folder, recursive } => TaskTarget {
                project_id: None,
                folder_id: Some(folder.clone()),
                recursive: *recursive,
            },
        }
    }
    async fn actions(&self) -> Vec<TaskAction> {
        self.0.spec.actions.iter().map(TaskAction::from).collect()
    }
    async fn concurrency(&self) -> Option<i32> {
        self.0.spec.concurrency.map(|c| c as i32)
    }
    async fn max_attempts(&self) -> i32 {
        self.0.spec.max_attempts as i32
    }
    async fn notify(&self) -> TaskNotify {
        TaskNotify {
            emails: self.0.spec.notify.emails.clone(),
            webhook: self.0.spec.notify.webhook.clone(),
        }
    }
    async fn paused(&self) -> bool {
        self.0.paused
    }
    /// The next cron firing; null for paused and non-cron tasks.
    async fn next_run_at(&self) -> Option<DateTime<Utc>> {
        // A paused task keeps its schedule (resuming recomputes it) but will not fire.
        (!self.0.paused)
            .then_some(self.0.next_fire_ms)
            .flatten()
            .map(time)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        time(self.0.created_ms)
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        time(self.0.updated_ms)
    }
    /// Runs, newest first.
    #[graphql(complexity = "crate::graphql::pagination::list_cost(first, child_complexity)")]
    async fn runs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> R<Connection<String, TaskRun>> {
        let (s, c) = on(ctx, Services::tasks)?;
        let p = page(first, after.clone()).gql()?;
        let mut ahead = p.clone();
        ahead.first += 1;
        let rows = s.task_runs(c, &self.0.uid, &ahead).await.gql()?;
        Ok(connection(
            rows,
            p.first,
            None,
            after.is_some(),
            |r| r.run.uid.clone().into(),
            TaskRun,
        ))
    }
}

/// One execution of a task.
pub struct TaskRun(pub TaskRunView);

#[Object]
impl TaskRun {
    async fn id(&self) -> ID {
        ID(self.0.run.uid.clone().into())
    }
    async fn task_id(&self) -> ID {
        ID(self.0.run.task_uid.clone().into())
    }
    async fn task_name(&self) -> &str {
        &self.0.run.task_name
    }
    /// Why it ran: a cron firing, an event, a person.
    async fn cause(&self) -> &str {
        &self.0.run.cause
    }
    async fn status(&self) -> TaskRunStatus {
        self.0.run.status.into()
    }
    /// The summary (or why the run could not start).
    async fn message(&self) -> &str {
        &self.0.run.message
    }
    async fn total(&self) -> i64 {
        self.0.run.total
    }
    async fn queued(&self) -> i64 {
        self.0.counts.queued
    }
    async fn running(&self) -> i64 {
        self.0.counts.running
    }
    async fn succeeded(&self) -> i64 {
        self.0.counts.succeeded
    }
    async fn failed(&self) -> i64 {
        self.0.counts.failed
    }
    async fn skipped(&self) -> i64 {
        self.0.counts.skipped
    }
    async fn cancelled(&self) -> i64 {
        self.0.counts.cancelled
    }
    async fn created_at(&self) -> DateTime<Utc> {
        time(self.0.run.created_ms)
    }
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.run.finished_ms.map(time)
    }
    /// Wall time from start to end (so far, while running).
    async fn duration_ms(&self) -> i64 {
        self.0
            .run
            .finished_ms
            .unwrap_or_else(crate::services::records::now_ms)
            - self.0.run.created_ms
    }
    /// Per-project results, by project name.
    async fn projects(&self, ctx: &Context<'_>) -> R<Vec<TaskRunProject>> {
        Ok(services(ctx)
            .tasks()
            .task_run_projects(&self.0.run.uid)
            .await
            .gql()?
            .into_iter()
            .map(TaskRunProject)
            .collect())
    }
}

pub struct TaskRunProject(pub TaskRunProjectRecord);

#[derive(SimpleObject)]
pub struct TaskRunLogLine {
    pub at: DateTime<Utc>,
    pub message: String,
}

#[Object]
impl TaskRunProject {
    async fn project_id(&self) -> ID {
        ID(self.0.project_uid.clone().into())
    }
    async fn project_name(&self) -> &str {
        &self.0.project_name
    }
    async fn status(&self) -> TaskRunStatus {
        self.0.status.into()
    }
    async fn attempts(&self) -> i32 {
        self.0.attempts as i32
    }
    async fn actions_done(&self) -> i32 {
        self.0.actions_done as i32
    }
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_ms.map(time)
    }
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_ms.map(time)
    }
    /// Time spent in attempts, summed (waits between retries excluded).
    async fn duration_ms(&self) -> i64 {
        self.0.duration_ms
    }
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    async fn log(&self) -> Vec<TaskRunLogLine> {
        self.0
            .log
            .iter()
            .map(|l| TaskRunLogLine {
                at: time(l.at_ms),
                message: l.message.clone(),
            })
            .collect()
    }
}

#[derive(Default)]
pub struct TaskQuery;

#[Object]
impl TaskQuery {
    /// Tasks you own (every task for administrators).
    #[graphql(complexity = "crate::graphql::pagination::list_cost(first, child_complexity)")]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> R<Connection<String, Task>> {
        let (s, c) = on(ctx, Services::tasks)?;
        let p = page(first, after.clone()).gql()?;
        let (rows, more) = s.tasks(c, &p).await.gql()?;
        Ok(connection(
            rows,
            p.first,
            Some(more),
            after.is_some(),
            |t| t.uid.clone().into(),
            Task,
        ))
    }

    async fn task(&self, ctx: &Context<'_>, id: ID) -> R<Task> {
        let (s, c) = on(ctx, Services::tasks)?;
        Ok(Task(s.task(c, &id).await.gql()?))
    }

    async fn task_run(&self, ctx: &Context<'_>, id: ID) -> R<TaskRun> {
        let (s, c) = member(ctx)?;
        Ok(TaskRun(s.tasks().task_run(c, &id).await.gql()?))
    }
}

#[derive(Default)]
pub struct TaskMutation;

#[Object]
impl TaskMutation {
    /// Saves a new task. Every field is checked now: the schedule, the target (and
    /// your and the identity's rights on it), each action's fit, `${name}` references.
    async fn create_task(&self, ctx: &Context<'_>, input: TaskInput) -> R<Task> {
        let (s, c) = on(ctx, Services::tasks)?;
        let input = input.into_service().gql()?;
        Ok(Task(s.create_task(c, input).await.gql()?))
    }

    async fn update_task(&self, ctx: &Context<'_>, id: ID, input: TaskInput) -> R<Task> {
        let (s, c) = on(ctx, Services::tasks)?;
        let input = input.into_service().gql()?;
        Ok(Task(s.update_task(c, &id, input).await.gql()?))
    }

    /// Deletes a task and its run history.
    async fn delete_task(&self, ctx: &Context<'_>, id: ID) -> R<bool> {
        let (s, c) = on(ctx, Services::tasks)?;
        s.delete_task(c, &id).await.gql()?;
        Ok(true)
    }

    async fn pause_task(&self, ctx: &Context<'_>, id: ID) -> R<Task> {
        let (s, c) = on(ctx, Services::tasks)?;
        Ok(Task(s.set_task_paused(c, &id, true).await.gql()?))
    }

    async fn resume_task(&self, ctx: &Context<'_>, id: ID) -> R<Task> {
        let (s, c) = on(ctx, Services::tasks)?;
        Ok(Task(s.set_task_paused(c, &id, false).await.gql()?))
    }

    /// Starts a run now (paused tasks too); returns it at once, queued.
    async fn run_task_now(&self, ctx: &Context<'_>, id: ID) -> R<TaskRun> {
        let (s, c) = on(ctx, Services::tasks)?;
        Ok(TaskRun(s.run_task_now(c, &id).await.gql()?))
    }

    /// Cancels a run: queued projects at once, running ones after their current action.
    async fn cancel_task_run(&self, ctx: &Context<'_>, id: ID) -> R<TaskRun> {
        let (s, c) = member(ctx)?;
        Ok(TaskRun(s.tasks().cancel_task_run(c, &id).await.gql()?))
    }
}

#[derive(Default)]
pub struct TaskSubscription;

#[Subscription]
impl TaskSubscription {
    /// A run's progress: its state now, then again whenever a project's state changes,
    /// ending with the finished run. Works whichever process runs the jobs (it reads
    /// the run records).
    async fn task_run_progress(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<impl Stream<Item = TaskRun> + use<>> {
        let services = ctx
            .data_unchecked::<std::sync::Arc<crate::services::Services>>()
            .clone();
        let c = caller(ctx).gql()?.clone();
        let first = services.tasks().task_run(&c, &id).await.gql()?;
        // `seen`: the status and counts last sent; a new event only when they change.
        type Seen = Option<(
            vitrine_core::TaskRunStatus,
            crate::services::records::RunCounts,
        )>;
        let state = (services, c, id.0, Some(first), None as Seen);
        Ok(futures::stream::unfold(
            state,
            |(s, c, id, mut pending, mut seen)| async move {
                loop {
                    let view = match pending.take() {
                        Some(v) => v,
                        None => {
                            if seen.as_ref().is_some_and(|(status, _)| status.is_final()) {
                                return None;
                            }
                            tokio::time::sleep(Duration::from_millis(250)).await;
                            s.tasks().task_run(&c, &id).await.ok()?
                        }
                    };
                    let now = Some((view.run.status, view.counts));
                    if seen == now {
                        continue;
                    }
                    seen = now;
                    return Some((TaskRun(view), (s, c, id, None, seen)));
                }
            },
        ))
    }
}
