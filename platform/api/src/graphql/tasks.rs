//! Scheduled tasks in GraphQL: save, pause, resume, run now and delete tasks; read their
//! runs with per-project results; cancel a run; follow a run's progress. The inputs are
//! in [`super::task_inputs`].

use std::time::Duration;

use async_graphql::connection::Connection;
use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject, Subscription};

use super::data_types::TaskRunStatus;
use crate::services::records::{TaskRecord, TaskRunProjectRecord};
use chrono::{DateTime, Utc};
use futures::Stream;
use vitrine_core::TaskRunId;
use vitrine_core::task::{Action, Trigger};
use vitrine_core::task_form::{ActionForm, TargetForm, TriggerForm};

use super::pagination::{connection, page};
use super::task_inputs::{TaskActionKind, TaskEvent, TaskInput};
use super::types::time;
use super::{caller, member, on, services};
use crate::GqlResult;
use crate::services::{Services, TaskRunView};

type R<T> = async_graphql::Result<T>;

/// A scheduled task.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Task {
    pub id: ID,
    pub name: String,
    pub owner_id: ID,
    /// True when the task runs as a service account (through an API token).
    pub runs_as_service_account: bool,
    /// The share-link recipient who scheduled this delivery through their link; they
    /// change it there, the owner may pause or delete it.
    pub recipient_id: Option<ID>,
    /// The recipient address this delivery was handed over from when they were revoked.
    pub transferred_from: Option<String>,
    pub trigger: TaskTrigger,
    /// As written: `${name}` references stay unresolved here.
    pub target: TaskTarget,
    pub actions: Vec<TaskAction>,
    pub concurrency: Option<i32>,
    pub max_attempts: i32,
    pub notify: TaskNotify,
    pub paused: bool,
    /// The next cron firing; null for paused and non-cron tasks.
    pub next_run_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(SimpleObject)]
pub struct TaskTrigger {
    /// `cron`, `event`, `threshold` or `manual`.
    pub kind: String,
    pub cron: Option<String>,
    pub time_zone: Option<String>,
    pub event: Option<TaskEvent>,
    pub task_id: Option<ID>,
    pub threshold: Option<super::task_inputs::TaskThreshold>,
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
        let f = ActionForm::from(a);
        TaskAction {
            kind: f.kind.into(),
            force: f.force,
            discard: f.discard,
            location: f.location,
            path: f.path,
            report: f.report,
            recipients: f.recipients,
            csv: f.csv,
            subject: f.subject,
            task_id: f.task.map(ID),
        }
    }
}

#[derive(SimpleObject)]
pub struct TaskNotify {
    pub emails: Vec<String>,
    pub webhook: Option<String>,
}

impl From<TaskRecord> for Task {
    fn from(r: TaskRecord) -> Self {
        let spec = r.spec;
        Task {
            id: ID(r.uid.into()),
            name: r.name,
            owner_id: ID(r.owner_uid.into()),
            runs_as_service_account: r.run_as_token_uid.is_some(),
            recipient_id: r.recipient_uid.map(|u| ID(u.into())),
            transferred_from: r.transferred_from,
            trigger: trigger(spec.trigger),
            target: {
                let t = TargetForm::from(spec.target);
                let (project_id, folder_id, recursive) = (t.project, t.folder, t.recursive);
                TaskTarget {
                    project_id,
                    folder_id,
                    recursive,
                }
            },
            actions: spec.actions.iter().map(TaskAction::from).collect(),
            concurrency: spec.concurrency.map(|c| c as i32),
            max_attempts: spec.max_attempts as i32,
            notify: TaskNotify {
                emails: spec.notify.emails,
                webhook: spec.notify.webhook,
            },
            paused: r.paused,
            // A paused task keeps its schedule (resuming recomputes it) but will not fire.
            next_run_at: (!r.paused).then_some(r.next_fire_ms).flatten().map(time),
            created_at: time(r.created_ms),
            updated_at: time(r.updated_ms),
        }
    }
}

fn trigger(t: Trigger) -> TaskTrigger {
    let (kind, f) = TriggerForm::of(t);
    let time_zone = f.cron.is_some().then_some(f.time_zone);
    TaskTrigger {
        kind: kind.into(),
        cron: f.cron,
        time_zone,
        event: f.event.map(Into::into),
        task_id: f.task.map(ID),
        threshold: f.threshold.map(Into::into),
    }
}

#[ComplexObject]
impl Task {
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
        let rows = s.task_runs(c, &self.id, &ahead).await.gql()?;
        let prev = after.is_some();
        Ok(connection(rows, p.first, None, prev, TaskRun::from))
    }
}

/// One execution of a task.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct TaskRun {
    pub id: ID,
    pub task_id: ID,
    pub task_name: String,
    /// Why it ran: a cron firing, an event, a person.
    pub cause: String,
    pub status: TaskRunStatus,
    /// The summary (or why the run could not start).
    pub message: String,
    pub total: i64,
    pub queued: i64,
    pub running: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub skipped: i64,
    pub cancelled: i64,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Wall time from start to end (so far, while running).
    pub duration_ms: i64,
    #[graphql(skip)]
    uid: TaskRunId,
}

impl From<TaskRunView> for TaskRun {
    fn from(v: TaskRunView) -> Self {
        let (r, n) = (v.run, v.counts);
        let end = r
            .finished_ms
            .unwrap_or_else(crate::services::records::now_ms);
        TaskRun {
            id: ID(r.uid.to_string()),
            task_id: ID(r.task_uid.into()),
            task_name: r.task_name,
            cause: r.cause,
            status: r.status.into(),
            message: r.message,
            total: r.total,
            queued: n.queued,
            running: n.running,
            succeeded: n.succeeded,
            failed: n.failed,
            skipped: n.skipped,
            cancelled: n.cancelled,
            created_at: time(r.created_ms),
            finished_at: r.finished_ms.map(time),
            duration_ms: end - r.created_ms,
            uid: r.uid,
        }
    }
}

#[ComplexObject]
impl TaskRun {
    /// Per-project results, by project name.
    async fn projects(&self, ctx: &Context<'_>) -> R<Vec<TaskRunProject>> {
        Ok(services(ctx)
            .tasks()
            .task_run_projects(&self.uid)
            .await
            .gql()?
            .into_iter()
            .map(TaskRunProject::from)
            .collect())
    }
}

/// One project's part in a task run.
#[derive(SimpleObject)]
pub struct TaskRunProject {
    pub project_id: ID,
    pub project_name: String,
    pub status: TaskRunStatus,
    pub attempts: i32,
    pub actions_done: i32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Time spent in attempts, summed (waits between retries excluded).
    pub duration_ms: i64,
    pub error: Option<String>,
    pub log: Vec<TaskRunLogLine>,
}

#[derive(SimpleObject)]
pub struct TaskRunLogLine {
    pub at: DateTime<Utc>,
    pub message: String,
}

impl From<TaskRunProjectRecord> for TaskRunProject {
    fn from(r: TaskRunProjectRecord) -> Self {
        TaskRunProject {
            project_id: ID(r.project_uid.into()),
            project_name: r.project_name,
            status: r.status.into(),
            attempts: r.attempts as i32,
            actions_done: r.actions_done as i32,
            started_at: r.started_ms.map(time),
            finished_at: r.finished_ms.map(time),
            duration_ms: r.duration_ms,
            error: r.error,
            log: r
                .log
                .into_iter()
                .map(|l| TaskRunLogLine {
                    at: time(l.at_ms),
                    message: l.message,
                })
                .collect(),
        }
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
        let prev = after.is_some();
        Ok(connection(rows, p.first, Some(more), prev, Task::from))
    }

    async fn task(&self, ctx: &Context<'_>, id: ID) -> R<Task> {
        let (s, c) = on(ctx, Services::tasks)?;
        Ok(s.task(c, &id).await.gql()?.into())
    }

    async fn task_run(&self, ctx: &Context<'_>, id: ID) -> R<TaskRun> {
        let (s, c) = member(ctx)?;
        Ok(s.tasks().task_run(c, &id).await.gql()?.into())
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
        Ok(s.create_task(c, input).await.gql()?.into())
    }

    async fn update_task(&self, ctx: &Context<'_>, id: ID, input: TaskInput) -> R<Task> {
        let (s, c) = on(ctx, Services::tasks)?;
        let input = input.into_service().gql()?;
        Ok(s.update_task(c, &id, input).await.gql()?.into())
    }

    /// Deletes a task and its run history.
    async fn delete_task(&self, ctx: &Context<'_>, id: ID) -> R<bool> {
        let (s, c) = on(ctx, Services::tasks)?;
        s.delete_task(c, &id).await.gql()?;
        Ok(true)
    }

    async fn pause_task(&self, ctx: &Context<'_>, id: ID) -> R<Task> {
        let (s, c) = on(ctx, Services::tasks)?;
        Ok(s.set_task_paused(c, &id, true).await.gql()?.into())
    }

    async fn resume_task(&self, ctx: &Context<'_>, id: ID) -> R<Task> {
        let (s, c) = on(ctx, Services::tasks)?;
        Ok(s.set_task_paused(c, &id, false).await.gql()?.into())
    }

    /// Starts a run now (paused tasks too); returns it at once, queued.
    async fn run_task_now(&self, ctx: &Context<'_>, id: ID) -> R<TaskRun> {
        let (s, c) = on(ctx, Services::tasks)?;
        Ok(s.run_task_now(c, &id).await.gql()?.into())
    }

    /// Cancels a run: queued projects at once, running ones after their current action.
    async fn cancel_task_run(&self, ctx: &Context<'_>, id: ID) -> R<TaskRun> {
        let (s, c) = member(ctx)?;
        Ok(s.tasks().cancel_task_run(c, &id).await.gql()?.into())
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
                    return Some((TaskRun::from(view), (s, c, id, None, seen)));
                }
            },
        ))
    }
}
