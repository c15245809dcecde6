//! The inputs of task mutations and the enums they share with the outputs. Inputs are
//! flat (one type per trigger, target and action, with the fields of every kind): a
//! field that does not belong to the chosen kind is refused by name rather than ignored,
//! so a typo never silently changes what a task does.

use async_graphql::{Enum, ID, InputObject, SimpleObject};
use vitrine_core::alert::{Limit, Threshold};
use vitrine_core::task::{EventKind, Notify};
use vitrine_core::task_form::{ActionForm, ActionKind, TargetForm, TaskForm, TriggerForm};

use crate::ApiResult;
use crate::services::TaskInput as ServiceInput;

/// What an event-triggered task follows.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "EventKind")]
pub enum TaskEvent {
    /// A workflow run of the project succeeded.
    ProjectRefreshed,
    /// A working copy pushed into the project.
    ProjectPushed,
    /// The project was created from a bundle.
    BundleImported,
    /// Another task's run finished (whatever its outcome).
    TaskFinished,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "ActionKind")]
pub enum TaskActionKind {
    Refresh,
    WarmUp,
    Push,
    Pull,
    Detach,
    Backup,
    Deliver,
    RunTask,
}

/// Which way an alert's value crosses its threshold.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "vitrine_core::alert::Crossing")]
pub enum ThresholdCrossing {
    Above,
    Below,
}

/// An alert: the task fires when a tile's value crosses a threshold, checked after each
/// refresh of a project in its target as the task's identity (once per crossing).
#[derive(SimpleObject, InputObject, Clone, Debug)]
#[graphql(input_name = "TaskThresholdInput")]
pub struct TaskThreshold {
    /// The report, by name or id.
    pub report: String,
    pub tile: String,
    /// The column read from the tile's first row; default: its last column.
    pub column: Option<String>,
    pub crossing: ThresholdCrossing,
    pub value: f64,
}

impl From<TaskThreshold> for Threshold {
    fn from(t: TaskThreshold) -> Self {
        let (report, tile, column) = (t.report, t.tile, t.column);
        let (crossing, value) = (t.crossing.into(), Limit(t.value));
        Threshold {
            report,
            tile,
            column,
            crossing,
            value,
        }
    }
}

impl From<Threshold> for TaskThreshold {
    fn from(t: Threshold) -> Self {
        let (report, tile, column) = (t.report, t.tile, t.column);
        let (crossing, value) = (t.crossing.into(), t.value.0);
        TaskThreshold {
            report,
            tile,
            column,
            crossing,
            value,
        }
    }
}

/// When a task runs: `cron` (with `timeZone`), `event`, `threshold`, or none of them
/// (only when run by hand or by another task).
#[derive(InputObject)]
pub struct TaskTriggerInput {
    /// Five fields (`30 6 * * 1-5`), six with seconds first, or `@daily` and friends.
    pub cron: Option<String>,
    /// An IANA zone; daylight-saving changes keep local time.
    #[graphql(default = "UTC")]
    pub time_zone: String,
    pub event: Option<TaskEvent>,
    /// The task whose runs a `TASK_FINISHED` trigger follows.
    pub task_id: Option<ID>,
    pub threshold: Option<TaskThreshold>,
}

/// What a task acts on: one project, or every project of a folder the task's identity
/// may act on (read at each run). Values may be `${name}` app parameters.
#[derive(InputObject)]
pub struct TaskTargetInput {
    pub project_id: Option<String>,
    pub folder_id: Option<String>,
    #[graphql(default)]
    pub recursive: bool,
}

/// One action. Only the fields of its kind may be set.
#[derive(InputObject)]
pub struct TaskActionInput {
    pub kind: TaskActionKind,
    /// REFRESH: re-run unchanged blocks; PUSH: overwrite an origin that moved.
    pub force: Option<bool>,
    /// PULL: drop the copy's unpushed revisions.
    pub discard: Option<bool>,
    /// BACKUP: the resource location's name.
    pub location: Option<String>,
    /// BACKUP: the file's path there; `{project}` and `{date}` are filled in.
    pub path: Option<String>,
    /// DELIVER: the report's name (or id).
    pub report: Option<String>,
    /// DELIVER: e-mail addresses.
    pub recipients: Option<Vec<String>>,
    /// DELIVER: attach each tile's data as CSV.
    pub csv: Option<bool>,
    /// DELIVER: the subject line (default: report and project names).
    pub subject: Option<String>,
    /// RUN_TASK: the task to start when this one's projects are done.
    pub task_id: Option<ID>,
}

#[derive(InputObject)]
pub struct TaskNotifyInput {
    #[graphql(default)]
    pub emails: Vec<String>,
    pub webhook: Option<String>,
}

#[derive(InputObject)]
pub struct TaskInput {
    pub name: String,
    pub trigger: TaskTriggerInput,
    pub target: TaskTargetInput,
    pub actions: Vec<TaskActionInput>,
    /// Projects worked on at once within a run; default: as many as the workers take.
    pub concurrency: Option<i32>,
    /// Attempts per project, retried with exponential backoff.
    #[graphql(default = 3)]
    pub max_attempts: i32,
    pub notify: Option<TaskNotifyInput>,
    /// Run as the service account owning this API token instead of as yourself (so
    /// scheduled work keeps going whoever signs in, and however).
    pub run_as_token: Option<String>,
}

impl From<TaskActionInput> for ActionForm {
    fn from(a: TaskActionInput) -> Self {
        ActionForm {
            kind: a.kind.into(),
            force: a.force,
            discard: a.discard,
            location: a.location,
            path: a.path,
            report: a.report,
            recipients: a.recipients,
            csv: a.csv,
            subject: a.subject,
            task: a.task_id.map(|t| t.0),
        }
    }
}

impl TaskInput {
    pub(super) fn into_service(self) -> ApiResult<ServiceInput> {
        let (t, target) = (self.trigger, self.target);
        let form = TaskForm {
            trigger: TriggerForm {
                cron: t.cron,
                time_zone: t.time_zone,
                event: t.event.map(Into::into),
                task: t.task_id.map(|i| i.0),
                threshold: t.threshold.map(Threshold::from),
            },
            target: TargetForm {
                project: target.project_id,
                folder: target.folder_id,
                recursive: target.recursive,
            },
            actions: self.actions.into_iter().map(ActionForm::from).collect(),
            concurrency: self.concurrency.map(i64::from),
            max_attempts: self.max_attempts.into(),
            notify: self.notify.map_or_else(Notify::default, |n| Notify {
                emails: n.emails,
                webhook: n.webhook,
            }),
        };
        let (name, run_as_token) = (self.name, self.run_as_token);
        let spec = form.into_spec()?;
        Ok(ServiceInput {
            name,
            spec,
            run_as_token,
        })
    }
}
