//! The inputs of task mutations and the enums they share with the outputs. Inputs are
//! flat (one type per trigger, target and action, with the fields of every kind): a
//! field that does not belong to the chosen kind is refused by name rather than ignored,
//! so a typo never silently changes what a task does.

use async_graphql::{Enum, ID, InputObject, SimpleObject};
use vitrine_core::alert::{Limit, Threshold};
use vitrine_core::task::{Action, EventKind, Notify, Target, TaskSpec, Trigger};

use crate::services::TaskInput as ServiceInput;
use crate::{ApiError, ApiResult};

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

impl TaskInput {
    pub(super) fn into_service(self) -> ApiResult<ServiceInput> {
        let threshold = self.trigger.threshold.map(Threshold::from);
        if threshold.is_some() && self.trigger.task_id.is_some() {
            return Err(ApiError::invalid(
                "trigger.taskId: only a TASK_FINISHED trigger names a task",
            ));
        }
        let trigger = match (self.trigger.cron, self.trigger.event) {
            (c, e) if threshold.is_some() && (c.is_some() || e.is_some()) => {
                return Err(ApiError::invalid(
                    "trigger: give one of cron, event or threshold",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "trigger: give either cron or event, not both",
                ));
            }
            (Some(cron), None) => {
                if self.trigger.task_id.is_some() {
                    return Err(ApiError::invalid(
                        "trigger.taskId: only a TASK_FINISHED trigger names a task",
                    ));
                }
                Trigger::Cron {
                    cron,
                    time_zone: self.trigger.time_zone,
                }
            }
            (None, Some(event)) => Trigger::Event {
                event: event.into(),
                task_uid: self.trigger.task_id.map(|i| i.0),
            },
            (None, None) => threshold.map_or(Trigger::Manual, Trigger::Threshold),
        };
        let target = match (self.target.project_id, self.target.folder_id) {
            (Some(project), None) => {
                if self.target.recursive {
                    return Err(ApiError::invalid(
                        "target.recursive: only folder targets recurse",
                    ));
                }
                Target::Project { project }
            }
            (None, Some(folder)) => Target::Folder {
                folder,
                recursive: self.target.recursive,
            },
            _ => {
                return Err(ApiError::invalid(
                    "target: give exactly one of projectId and folderId",
                ));
            }
        };
        let actions = self
            .actions
            .into_iter()
            .enumerate()
            .map(|(i, a)| action(i, a))
            .collect::<ApiResult<Vec<_>>>()?;
        let notify = self.notify.map_or_else(Notify::default, |n| Notify {
            emails: n.emails,
            webhook: n.webhook,
        });
        let concurrency = self
            .concurrency
            .map(|c| {
                u32::try_from(c).map_err(|_| ApiError::invalid("concurrency: between 1 and 64"))
            })
            .transpose()?;
        let max_attempts = u32::try_from(self.max_attempts)
            .map_err(|_| ApiError::invalid("maxAttempts: between 1 and 10"))?;
        Ok(ServiceInput {
            name: self.name,
            spec: TaskSpec {
                trigger,
                target,
                actions,
                concurrency,
                max_attempts,
                notify,
            },
            run_as_token: self.run_as_token,
        })
    }
}

/// One action input into its spec, refusing fields of other kinds by name.
fn action(i: usize, a: TaskActionInput) -> ApiResult<Action> {
    let kind = a.kind;
    let set = [
        (
            "force",
            a.force.is_some(),
            matches!(kind, TaskActionKind::Refresh | TaskActionKind::Push),
        ),
        ("discard", a.discard.is_some(), kind == TaskActionKind::Pull),
        (
            "location",
            a.location.is_some(),
            kind == TaskActionKind::Backup,
        ),
        ("path", a.path.is_some(), kind == TaskActionKind::Backup),
        (
            "report",
            a.report.is_some(),
            kind == TaskActionKind::Deliver,
        ),
        (
            "recipients",
            a.recipients.is_some(),
            kind == TaskActionKind::Deliver,
        ),
        ("csv", a.csv.is_some(), kind == TaskActionKind::Deliver),
        (
            "subject",
            a.subject.is_some(),
            kind == TaskActionKind::Deliver,
        ),
        (
            "taskId",
            a.task_id.is_some(),
            kind == TaskActionKind::RunTask,
        ),
    ];
    if let Some((field, _, _)) = set.iter().find(|(_, given, allowed)| *given && !allowed) {
        return Err(ApiError::invalid(format!(
            "actions[{i}].{field}: a {kind:?} action takes no {field}"
        )));
    }
    let need = |v: Option<String>, field: &str| {
        v.ok_or_else(|| ApiError::invalid(format!("actions[{i}].{field}: required for {kind:?}")))
    };
    Ok(match kind {
        TaskActionKind::Refresh => Action::Refresh {
            force: a.force.unwrap_or(false),
        },
        TaskActionKind::WarmUp => Action::WarmUp,
        TaskActionKind::Push => Action::Push {
            force: a.force.unwrap_or(false),
        },
        TaskActionKind::Pull => Action::Pull {
            discard: a.discard.unwrap_or(false),
        },
        TaskActionKind::Detach => Action::Detach,
        TaskActionKind::Backup => Action::Backup {
            location: need(a.location, "location")?,
            path: need(a.path, "path")?,
        },
        TaskActionKind::Deliver => Action::Deliver {
            report: need(a.report, "report")?,
            recipients: a.recipients.ok_or_else(|| {
                ApiError::invalid(format!("actions[{i}].recipients: required for Deliver"))
            })?,
            csv: a.csv.unwrap_or(false),
            subject: a.subject,
        },
        TaskActionKind::RunTask => Action::RunTask {
            task: need(a.task_id.map(|t| t.0), "taskId")?,
        },
    })
}
