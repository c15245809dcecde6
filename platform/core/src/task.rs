//! Tasks as their owners write them: a trigger, a target and an ordered list of actions.
//! Pure: parsing, the shape rules every task obeys, and `${name}` references to app
//! parameters. Whether an action fits a particular project (is it a working copy, does
//! the report exist) needs storage and is checked by the API when the task is saved.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::CoreError;
use crate::schedule::CronSchedule;

/// Most actions in one task.
pub const MAX_ACTIONS: usize = 20;
/// Most recipients of one delivery or failure notice.
pub const MAX_RECIPIENTS: usize = 50;
/// Most attempts of one project's job (the first try included).
pub const MAX_ATTEMPTS: u32 = 10;

/// When a task runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// At each firing of a cron expression, evaluated in an IANA time zone.
    Cron { cron: String, time_zone: String },
    /// After something happened to a project in the task's target, or after another task
    /// finished (`task_uid`).
    Event {
        event: EventKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task_uid: Option<String>,
    },
    /// Only when someone runs it (run-now, or a `run_task` action of another task).
    Manual,
    /// After a refresh of a project in the target, when a tile's value crossed a
    /// threshold (see [`crate::alert`]).
    Threshold(crate::alert::Threshold),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A workflow run of the project succeeded.
    ProjectRefreshed,
    /// A working copy pushed into the project.
    ProjectPushed,
    /// The project was created from a bundle.
    BundleImported,
    /// Another task's run finished (whatever its outcome).
    TaskFinished,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ProjectRefreshed => "project_refreshed",
            EventKind::ProjectPushed => "project_pushed",
            EventKind::BundleImported => "bundle_imported",
            EventKind::TaskFinished => "task_finished",
        }
    }
}

/// What a task acts on. Fields may hold `${name}` references to app parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    Project {
        project: String,
    },
    /// Every project of the folder (and of its sub-folders when `recursive`) that the
    /// task's identity may act on, decided at each run.
    Folder {
        folder: String,
        #[serde(default)]
        recursive: bool,
    },
}

/// One step, applied to each project of the target in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Run the workflow (editors).
    Refresh {
        #[serde(default)]
        force: bool,
    },
    /// Compute every report's tiles for every audience ahead of time (editors).
    WarmUp,
    /// Push a working copy into its origin (the origin's managers).
    Push {
        #[serde(default)]
        force: bool,
    },
    /// Bring the origin's latest into a working copy (its editors).
    Pull {
        #[serde(default)]
        discard: bool,
    },
    /// Make a working copy an ordinary project.
    Detach,
    /// Write a project bundle to a resource location (managers). `path` may use
    /// `{project}` (the project's slug) and `{date}` (the run's UTC date).
    Backup { location: String, path: String },
    /// E-mail a report (as an offline report file) to recipients, with each tile's data
    /// as CSV when `csv` (the project's download ability).
    Deliver {
        report: String,
        recipients: Vec<String>,
        #[serde(default)]
        csv: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
    },
    /// Start another task's run (its own target, identity and actions).
    RunTask { task: String },
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Refresh { .. } => "refresh",
            Action::WarmUp => "warm_up",
            Action::Push { .. } => "push",
            Action::Pull { .. } => "pull",
            Action::Detach => "detach",
            Action::Backup { .. } => "backup",
            Action::Deliver { .. } => "deliver",
            Action::RunTask { .. } => "run_task",
        }
    }

    /// Does the action act on each project of the target (or once per run)?
    pub fn per_project(&self) -> bool {
        !matches!(self, Action::RunTask { .. })
    }
}

/// Who is told when a run ends with failures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    #[serde(default)]
    pub emails: Vec<String>,
    /// Receives a JSON POST with the run summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
}

/// Everything a task owner writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub trigger: Trigger,
    pub target: Target,
    pub actions: Vec<Action>,
    /// Projects worked on at the same time within one run (none: the workers' limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Attempts per project before it counts as failed; retries back off exponentially.
    pub max_attempts: u32,
    #[serde(default)]
    pub notify: Notify,
}

impl TaskSpec {
    /// The rules that need nothing but the spec: at least one action, limits, cron
    /// expressions and time zones that parse, recipients that look like addresses,
    /// webhooks over HTTP(S). Errors name the field (`trigger`, `actions[2].recipients`).
    pub fn check_shape(&self) -> Result<(), CoreError> {
        if let Trigger::Cron { cron, time_zone } = &self.trigger {
            // References are resolved before this is evaluated for real; a reference
            // here is checked once resolved.
            if !has_reference(cron) && !has_reference(time_zone) {
                CronSchedule::parse("trigger", cron, time_zone)?;
            }
        }
        if let Trigger::Event {
            event: EventKind::TaskFinished,
            task_uid: None,
        } = &self.trigger
        {
            return Err(CoreError::new(
                "trigger.taskId",
                "a task_finished trigger names the task it follows",
            ));
        }
        if let Trigger::Threshold(t) = &self.trigger {
            t.check_shape()?;
        }
        if self.actions.is_empty() {
            return Err(CoreError::new(
                "actions",
                "a task needs at least one action",
            ));
        }
        if self.actions.len() > MAX_ACTIONS {
            return Err(CoreError::new(
                "actions",
                format!("at most {MAX_ACTIONS} actions per task"),
            ));
        }
        if self.max_attempts == 0 || self.max_attempts > MAX_ATTEMPTS {
            return Err(CoreError::new(
                "maxAttempts",
                format!("between 1 and {MAX_ATTEMPTS}"),
            ));
        }
        if self.concurrency == Some(0) || self.concurrency.is_some_and(|c| c > 64) {
            return Err(CoreError::new("concurrency", "between 1 and 64"));
        }
        for (i, a) in self.actions.iter().enumerate() {
            check_action(i, a)?;
        }
        check_recipients("notify.emails", &self.notify.emails)?;
        if let Some(w) = &self.notify.webhook
            && !has_reference(w)
            && !(w.starts_with("https://") || w.starts_with("http://"))
        {
            return Err(CoreError::new(
                "notify.webhook",
                format!("`{w}` is not an http(s) URL"),
            ));
        }
        Ok(())
    }

    /// Every app parameter the spec refers to, with the field it appears in.
    pub fn references(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        self.visit_strings(&mut |field, s| {
            for name in references_in(s) {
                out.push((field.to_owned(), name));
            }
            Ok(())
        })
        .ok();
        out
    }

    /// Refuses a reference to an app parameter that does not exist.
    pub fn check_references(&self, params: &BTreeMap<String, String>) -> Result<(), CoreError> {
        for (field, name) in self.references() {
            if !params.contains_key(&name) {
                let known: BTreeSet<&str> = params.keys().map(String::as_str).collect();
                return Err(CoreError::new(
                    field,
                    format!(
                        "`${{{name}}}` is not an app parameter (defined: {})",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.into_iter().collect::<Vec<_>>().join(", ")
                        }
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The spec with every `${name}` replaced by its app parameter's current value, then
    /// checked again (a value may make a cron expression or an address invalid).
    pub fn resolve(&self, params: &BTreeMap<String, String>) -> Result<TaskSpec, CoreError> {
        self.check_references(params)?;
        let mut out = self.clone();
        out.visit_strings_mut(&mut |s| *s = substitute(s, params));
        if let Trigger::Cron { cron, time_zone } = &out.trigger {
            CronSchedule::parse("trigger", cron, time_zone)?;
        }
        out.check_shape()?;
        Ok(out)
    }

    fn visit_strings(
        &self,
        f: &mut dyn FnMut(&str, &str) -> Result<(), CoreError>,
    ) -> Result<(), CoreError> {
        let mut copy = self.clone();
        let mut err = None;
        copy.visit_fields_mut(&mut |field, s| {
            if err.is_none()
                && let Err(e) = f(field, s)
            {
                err = Some(e);
            }
        });
        err.map_or(Ok(()), Err)
    }

    fn visit_strings_mut(&mut self, f: &mut dyn FnMut(&mut String)) {
        self.visit_fields_mut(&mut |_, s| f(s));
    }

    /// Every free-text field, with its path, in one place so references, substitution
    /// and checks cannot miss one.
    fn visit_fields_mut(&mut self, f: &mut dyn FnMut(&str, &mut String)) {
        if let Trigger::Cron { cron, time_zone } = &mut self.trigger {
            f("trigger.cron", cron);
            f("trigger.timeZone", time_zone);
        }
        if let Trigger::Threshold(t) = &mut self.trigger {
            f("trigger.threshold.report", &mut t.report);
            f("trigger.threshold.tile", &mut t.tile);
        }
        match &mut self.target {
            Target::Project { project } => f("target.project", project),
            Target::Folder { folder, .. } => f("target.folder", folder),
        }
        for (i, a) in self.actions.iter_mut().enumerate() {
            match a {
                Action::Backup { location, path } => {
                    f(&format!("actions[{i}].location"), location);
                    f(&format!("actions[{i}].path"), path);
                }
                Action::Deliver {
                    report,
                    recipients,
                    subject,
                    ..
                } => {
                    f(&format!("actions[{i}].report"), report);
                    for r in recipients.iter_mut() {
                        f(&format!("actions[{i}].recipients"), r);
                    }
                    if let Some(s) = subject {
                        f(&format!("actions[{i}].subject"), s);
                    }
                }
                Action::RunTask { task } => f(&format!("actions[{i}].task"), task),
                Action::Refresh { .. }
                | Action::WarmUp
                | Action::Push { .. }
                | Action::Pull { .. }
                | Action::Detach => {}
            }
        }
        for e in self.notify.emails.iter_mut() {
            f("notify.emails", e);
        }
        if let Some(w) = &mut self.notify.webhook {
            f("notify.webhook", w);
        }
    }
}

fn check_action(i: usize, a: &Action) -> Result<(), CoreError> {
    match a {
        Action::Backup { location, path } => {
            if location.trim().is_empty() {
                return Err(CoreError::new(
                    format!("actions[{i}].location"),
                    "name the resource location to write to",
                ));
            }
            if path.trim().is_empty() || path.starts_with('/') || path.contains("..") {
                return Err(CoreError::new(
                    format!("actions[{i}].path"),
                    format!("`{path}` must be a relative path inside the location, without `..`"),
                ));
            }
        }
        Action::Deliver {
            report, recipients, ..
        } => {
            if report.trim().is_empty() {
                return Err(CoreError::new(
                    format!("actions[{i}].report"),
                    "name the report to deliver",
                ));
            }
            if recipients.is_empty() {
                return Err(CoreError::new(
                    format!("actions[{i}].recipients"),
                    "a delivery needs at least one recipient",
                ));
            }
            check_recipients(&format!("actions[{i}].recipients"), recipients)?;
        }
        Action::RunTask { task } if task.trim().is_empty() => {
            return Err(CoreError::new(
                format!("actions[{i}].task"),
                "name the task to run",
            ));
        }
        _ => {}
    }
    Ok(())
}

fn check_recipients(field: &str, list: &[String]) -> Result<(), CoreError> {
    if list.len() > MAX_RECIPIENTS {
        return Err(CoreError::new(
            field.to_owned(),
            format!("at most {MAX_RECIPIENTS} recipients"),
        ));
    }
    for r in list.iter().filter(|r| !has_reference(r)) {
        crate::check_email(r).map_err(|e| CoreError::new(field.to_owned(), e.reason))?;
    }
    Ok(())
}

fn has_reference(s: &str) -> bool {
    s.contains("${")
}

/// The names in `${name}` references of `s`, in order.
pub fn references_in(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                out.push(after[..end].trim().to_owned());
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out
}

fn substitute(s: &str, params: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = after[..end].trim();
                out.push_str(params.get(name).map_or("", String::as_str));
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(actions: Vec<Action>) -> TaskSpec {
        TaskSpec {
            trigger: Trigger::Cron {
                cron: "0 6 * * *".into(),
                time_zone: "UTC".into(),
            },
            target: Target::Folder {
                folder: "${publishing}".into(),
                recursive: true,
            },
            actions,
            concurrency: None,
            max_attempts: 3,
            notify: Notify::default(),
        }
    }

    #[test]
    fn errors_name_the_field() {
        let mut s = spec(vec![Action::WarmUp]);
        s.trigger = Trigger::Cron {
            cron: "0 25 * * *".into(),
            time_zone: "UTC".into(),
        };
        assert!(
            s.check_shape()
                .unwrap_err()
                .to_string()
                .starts_with("trigger: cron:")
        );
        let s = spec(vec![
            Action::WarmUp,
            Action::Deliver {
                report: "Sales".into(),
                recipients: vec!["not an address".into()],
                csv: false,
                subject: None,
            },
        ]);
        assert!(
            s.check_shape()
                .unwrap_err()
                .to_string()
                .starts_with("actions[1].recipients:")
        );
        let s = spec(vec![Action::Backup {
            location: "backups".into(),
            path: "../x".into(),
        }]);
        assert_eq!(s.check_shape().unwrap_err().field, "actions[0].path");
        assert_eq!(spec(vec![]).check_shape().unwrap_err().field, "actions");
    }

    #[test]
    fn references_resolve_and_unknown_names_are_refused() {
        let s = spec(vec![Action::Backup {
            location: "${store}".into(),
            path: "nightly/{project}-{date}.vitrine".into(),
        }]);
        let mut params = BTreeMap::new();
        params.insert("publishing".to_owned(), "fld_1".to_owned());
        let e = s.check_references(&params).unwrap_err();
        assert_eq!(e.field, "actions[0].location");
        assert!(e.reason.contains("`${store}`"), "{e}");
        params.insert("store".to_owned(), "backups".to_owned());
        let r = s.resolve(&params).unwrap();
        assert_eq!(
            r.target,
            Target::Folder {
                folder: "fld_1".into(),
                recursive: true
            }
        );
        assert!(matches!(&r.actions[0], Action::Backup { location, .. } if location == "backups"));
        assert_eq!(references_in("a ${x} b ${ y }"), vec!["x", "y"]);
    }

    #[test]
    fn specs_round_trip_as_json() {
        let s = spec(vec![Action::Refresh { force: false }, Action::WarmUp]);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["trigger"]["kind"], "cron");
        assert_eq!(v["actions"][1]["kind"], "warm_up");
        assert_eq!(serde_json::from_value::<TaskSpec>(v).unwrap(), s);
    }
}
