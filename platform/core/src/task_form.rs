//! Tasks as flat forms: one record per trigger, target and action with the fields of
//! every kind, as APIs and files carry them. A field that does not belong to the chosen
//! kind is refused by name rather than ignored, so a typo never silently changes what a
//! task does. [`crate::task`] holds the typed spec these forms become.

use crate::CoreError;
use crate::alert::Threshold;
use crate::task::{Action, EventKind, Notify, Target, TaskSpec, Trigger};

/// The kinds of [`Action`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Refresh,
    WarmUp,
    Push,
    Pull,
    Detach,
    Backup,
    Deliver,
    RunTask,
}

/// One action with the fields of every kind.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionForm {
    pub kind: ActionKind,
    pub force: Option<bool>,
    pub discard: Option<bool>,
    pub location: Option<String>,
    pub path: Option<String>,
    pub report: Option<String>,
    pub recipients: Option<Vec<String>>,
    pub csv: Option<bool>,
    pub subject: Option<String>,
    /// The task a `RunTask` action starts.
    pub task: Option<String>,
}

impl ActionForm {
    fn empty(kind: ActionKind) -> Self {
        ActionForm {
            kind,
            force: None,
            discard: None,
            location: None,
            path: None,
            report: None,
            recipients: None,
            csv: None,
            subject: None,
            task: None,
        }
    }

    /// The action at `actions[i]`, refusing fields of other kinds by name.
    pub fn into_action(self, i: usize) -> Result<Action, CoreError> {
        use ActionKind as K;
        let kind = self.kind;
        let given = [
            (
                "force",
                self.force.is_some(),
                matches!(kind, K::Refresh | K::Push),
            ),
            ("discard", self.discard.is_some(), kind == K::Pull),
            ("location", self.location.is_some(), kind == K::Backup),
            ("path", self.path.is_some(), kind == K::Backup),
            ("report", self.report.is_some(), kind == K::Deliver),
            ("recipients", self.recipients.is_some(), kind == K::Deliver),
            ("csv", self.csv.is_some(), kind == K::Deliver),
            ("subject", self.subject.is_some(), kind == K::Deliver),
            ("taskId", self.task.is_some(), kind == K::RunTask),
        ];
        if let Some((field, _, _)) = given.iter().find(|(_, set, fits)| *set && !fits) {
            return Err(CoreError::new(
                format!("actions[{i}].{field}"),
                format!("a {kind:?} action takes no {field}"),
            ));
        }
        let need = |field: &'static str| {
            move || {
                CoreError::new(
                    format!("actions[{i}].{field}"),
                    format!("required for {kind:?}"),
                )
            }
        };
        Ok(match kind {
            K::Refresh => Action::Refresh {
                force: self.force.unwrap_or(false),
            },
            K::WarmUp => Action::WarmUp,
            K::Push => Action::Push {
                force: self.force.unwrap_or(false),
            },
            K::Pull => Action::Pull {
                discard: self.discard.unwrap_or(false),
            },
            K::Detach => Action::Detach,
            K::Backup => Action::Backup {
                location: self.location.ok_or_else(need("location"))?,
                path: self.path.ok_or_else(need("path"))?,
            },
            K::Deliver => Action::Deliver {
                report: self.report.ok_or_else(need("report"))?,
                recipients: self.recipients.ok_or_else(need("recipients"))?,
                csv: self.csv.unwrap_or(false),
                subject: self.subject,
            },
            K::RunTask => Action::RunTask {
                task: self.task.ok_or_else(need("taskId"))?,
            },
        })
    }
}

impl From<&Action> for ActionForm {
    fn from(a: &Action) -> Self {
        use ActionKind as K;
        match a.clone() {
            Action::Refresh { force } => ActionForm {
                force: Some(force),
                ..ActionForm::empty(K::Refresh)
            },
            Action::WarmUp => ActionForm::empty(K::WarmUp),
            Action::Push { force } => ActionForm {
                force: Some(force),
                ..ActionForm::empty(K::Push)
            },
            Action::Pull { discard } => ActionForm {
                discard: Some(discard),
                ..ActionForm::empty(K::Pull)
            },
            Action::Detach => ActionForm::empty(K::Detach),
            Action::Backup { location, path } => ActionForm {
                location: Some(location),
                path: Some(path),
                ..ActionForm::empty(K::Backup)
            },
            Action::Deliver {
                report,
                recipients,
                csv,
                subject,
            } => ActionForm {
                report: Some(report),
                recipients: Some(recipients),
                csv: Some(csv),
                subject,
                ..ActionForm::empty(K::Deliver)
            },
            Action::RunTask { task } => ActionForm {
                task: Some(task),
                ..ActionForm::empty(K::RunTask)
            },
        }
    }
}

/// A trigger: a cron expression, an event, a threshold, or none of them (manual).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TriggerForm {
    pub cron: Option<String>,
    pub time_zone: String,
    pub event: Option<EventKind>,
    /// The task a `TaskFinished` event follows.
    pub task: Option<String>,
    pub threshold: Option<Threshold>,
}

impl TriggerForm {
    pub fn into_trigger(self) -> Result<Trigger, CoreError> {
        let only_after_task = || {
            CoreError::new(
                "trigger.taskId",
                "only a TASK_FINISHED trigger names a task",
            )
        };
        match (self.cron, self.event, self.threshold) {
            (None, None, None) if self.task.is_some() => Err(only_after_task()),
            (None, None, None) => Ok(Trigger::Manual),
            (None, None, Some(t)) if self.task.is_none() => Ok(Trigger::Threshold(t)),
            (None, None, Some(_)) => Err(only_after_task()),
            (Some(cron), None, None) if self.task.is_none() => Ok(Trigger::Cron {
                cron,
                time_zone: self.time_zone,
            }),
            (Some(_), None, None) => Err(only_after_task()),
            (None, Some(event), None) => Ok(Trigger::Event {
                event,
                task_uid: self.task,
            }),
            (Some(_), Some(_), None) => Err(CoreError::new(
                "trigger",
                "give either cron or event, not both",
            )),
            _ => Err(CoreError::new(
                "trigger",
                "give one of cron, event or threshold",
            )),
        }
    }

    /// The form of a trigger, with its kind's name (`cron`, `event`, `threshold`,
    /// `manual`).
    pub fn of(t: Trigger) -> (&'static str, TriggerForm) {
        match t {
            Trigger::Cron { cron, time_zone } => (
                "cron",
                TriggerForm {
                    cron: Some(cron),
                    time_zone,
                    ..Default::default()
                },
            ),
            Trigger::Event { event, task_uid } => (
                "event",
                TriggerForm {
                    event: Some(event),
                    task: task_uid,
                    ..Default::default()
                },
            ),
            Trigger::Manual => ("manual", TriggerForm::default()),
            Trigger::Threshold(t) => (
                "threshold",
                TriggerForm {
                    threshold: Some(t),
                    ..Default::default()
                },
            ),
        }
    }
}

/// A target: exactly one of a project and a folder.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetForm {
    pub project: Option<String>,
    pub folder: Option<String>,
    pub recursive: bool,
}

impl TargetForm {
    pub fn into_target(self) -> Result<Target, CoreError> {
        match (self.project, self.folder) {
            (Some(_), None) if self.recursive => Err(CoreError::new(
                "target.recursive",
                "only folder targets recurse",
            )),
            (Some(project), None) => Ok(Target::Project { project }),
            (None, Some(folder)) => Ok(Target::Folder {
                folder,
                recursive: self.recursive,
            }),
            _ => Err(CoreError::new(
                "target",
                "give exactly one of projectId and folderId",
            )),
        }
    }
}

impl From<Target> for TargetForm {
    fn from(t: Target) -> Self {
        match t {
            Target::Project { project } => TargetForm {
                project: Some(project),
                ..Default::default()
            },
            Target::Folder { folder, recursive } => TargetForm {
                folder: Some(folder),
                recursive,
                ..Default::default()
            },
        }
    }
}

/// A whole task as a form, its counts signed as clients send them.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskForm {
    pub trigger: TriggerForm,
    pub target: TargetForm,
    pub actions: Vec<ActionForm>,
    pub concurrency: Option<i64>,
    pub max_attempts: i64,
    pub notify: Notify,
}

impl TaskForm {
    /// The spec, each part checked by name (the spec's own rules are
    /// [`TaskSpec::check_shape`]'s).
    pub fn into_spec(self) -> Result<TaskSpec, CoreError> {
        let actions = self.actions.into_iter().enumerate();
        let concurrency = self
            .concurrency
            .map(|c| {
                u32::try_from(c).map_err(|_| CoreError::new("concurrency", "between 1 and 64"))
            })
            .transpose()?;
        Ok(TaskSpec {
            trigger: self.trigger.into_trigger()?,
            target: self.target.into_target()?,
            actions: actions
                .map(|(i, a)| a.into_action(i))
                .collect::<Result<_, _>>()?,
            concurrency,
            max_attempts: u32::try_from(self.max_attempts)
                .map_err(|_| CoreError::new("maxAttempts", "between 1 and 10"))?,
            notify: self.notify,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_of_another_kind_are_refused_by_name() {
        let mut f = ActionForm::empty(ActionKind::Refresh);
        f.location = Some("x".into());
        let e = f.into_action(2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "actions[2].location: a Refresh action takes no location"
        );
        let e = ActionForm::empty(ActionKind::Deliver)
            .into_action(0)
            .unwrap_err();
        assert_eq!(e.to_string(), "actions[0].report: required for Deliver");
        let deliver = Action::Deliver {
            report: "r".into(),
            recipients: vec!["a@b.org".into()],
            csv: true,
            subject: None,
        };
        let back = ActionForm::from(&deliver).into_action(0).unwrap();
        assert_eq!(back, deliver);
    }

    #[test]
    fn triggers_take_one_kind() {
        let both = TriggerForm {
            cron: Some("0 6 * * *".into()),
            event: Some(EventKind::ProjectPushed),
            ..Default::default()
        };
        assert!(both.into_trigger().unwrap_err().reason.contains("not both"));
        let stray = TriggerForm {
            cron: Some("0 6 * * *".into()),
            task: Some("t".into()),
            ..Default::default()
        };
        assert_eq!(stray.into_trigger().unwrap_err().field, "trigger.taskId");
        assert_eq!(
            TriggerForm::default().into_trigger().unwrap(),
            Trigger::Manual
        );
        let (kind, form) = TriggerForm::of(Trigger::Manual);
        assert_eq!((kind, form), ("manual", TriggerForm::default()));
        let recursive = TargetForm {
            project: Some("p".into()),
            recursive: true,
            ..Default::default()
        };
        assert_eq!(
            recursive.into_target().unwrap_err().field,
            "target.recursive"
        );
    }
}
