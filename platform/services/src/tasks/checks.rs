//! Saving a task: every check that can be made before it runs. The shape and app
//! parameters of its definition, how often it fires, who it delivers to, where its
//! webhook points, that it cannot start itself again through other tasks, and that both
//! the caller and the identity it runs as may act on its target.

use vitrine_authz::Action as AuthzAction;
use vitrine_core::schedule::CronSchedule;
use vitrine_core::task::{Action, EventKind, Target, TaskSpec, Trigger};
use vitrine_core::{Ability, Role};
use vitrine_engine::locations::Access;
use vitrine_storage::{TaskRecord, now_ms};

use super::TaskInput;
use super::Tasks;
use crate::Identity;
use crate::ProjectView;
use crate::caller::Caller;
use crate::{ApiError, ApiResult};

impl Tasks {
    /// Every check a task can pass before it runs. Returns the run-as token's uid.
    pub(super) async fn check_task(
        &self,
        caller: &Caller,
        input: &TaskInput,
        updating: Option<&str>,
    ) -> ApiResult<Option<String>> {
        let spec = &input.spec;
        spec.check_shape()?;
        if let Trigger::Cron { cron, time_zone } = &spec.trigger
            && (cron.contains("${") || time_zone.contains("${"))
        {
            return Err(ApiError::invalid(
                "trigger: schedules cannot use app parameters; write the expression itself",
            ));
        }
        if let Trigger::Cron { cron, time_zone } = &spec.trigger {
            let min = self.min_task_interval_ms();
            self.check_cron_interval("trigger.cron", cron, time_zone, min)?;
        }
        let params = self.app_parameters().await?;
        let resolved = spec.resolve(&params)?;
        // The identity the task will act as must be allowed what the caller asks, and so
        // must the caller: nobody schedules what they could not do by hand.
        let (run_as, identity) = match input.run_as_token.as_deref() {
            None => (None, caller.clone()),
            Some(token) => {
                let (uid, user) = self.service_identity(token).await?;
                (
                    Some(uid),
                    Identity::task_caller(user, &vitrine_core::TaskId::from(""), "", Vec::new()),
                )
            }
        };
        match &resolved.trigger {
            Trigger::Event {
                task_uid: Some(t),
                event: EventKind::TaskFinished,
            } => {
                let followed = self
                    .task_for(caller, &vitrine_core::TaskId::from(t))
                    .await
                    .map_err(|_| {
                        ApiError::invalid(format!("trigger.taskId: no task `{t}` you may see"))
                    })?;
                if Some(followed.uid.as_str()) == updating {
                    return Err(ApiError::invalid(
                        "trigger.taskId: a task cannot follow itself",
                    ));
                }
            }
            Trigger::Event {
                task_uid: Some(_), ..
            } => {
                return Err(ApiError::invalid(
                    "trigger.taskId: only a task_finished trigger names a task",
                ));
            }
            _ => {}
        }
        for (i, a) in resolved.actions.iter().enumerate() {
            if let Action::RunTask { task } = a {
                let other = self
                    .task_for(caller, &vitrine_core::TaskId::from(task))
                    .await
                    .map_err(|_| {
                        ApiError::invalid(format!(
                            "actions[{i}].task: no task `{task}` you may see"
                        ))
                    })?;
                if Some(other.uid.as_str()) == updating {
                    return Err(ApiError::invalid(format!(
                        "actions[{i}].task: a task cannot run itself"
                    )));
                }
            }
            if let Action::Backup { location, .. } = a
                && self.store.location_by_name(location).await?.is_none()
            {
                return Err(ApiError::invalid(format!(
                    "actions[{i}].location: no resource location named `{location}`"
                )));
            }
        }
        if let Some(uid) = updating {
            self.check_no_cycle(uid, &resolved).await?;
        }
        if let Some(hook) = &resolved.notify.webhook {
            self.outbound
                .check(hook)
                .map_err(|e| ApiError::new(e.code, format!("notify.webhook: {}", e.message)))?;
        }
        for who in [caller, &identity] {
            self.check_task_target(who, &resolved).await?;
        }
        Ok(run_as)
    }

    /// Refuses a change that would let a task start itself again, directly or through
    /// others: `run task` actions and `task finished` triggers together must stay free of
    /// cycles (A runs B, B runs A would run forever). Only an update can close a cycle: a
    /// new task is named by nothing yet.
    async fn check_no_cycle(&self, updating: &str, spec: &TaskSpec) -> ApiResult<()> {
        let mut all: Vec<TaskRecord> = Vec::new();
        let mut page = vitrine_storage::PageRequest {
            after: None,
            first: crate::SCAN_BATCH,
        };
        loop {
            let batch = self.store.tasks(&page).await?;
            let done = batch.len() < crate::SCAN_BATCH;
            page.after = batch.last().map(|t| t.uid.clone()).map(Into::into);
            all.extend(batch);
            if done {
                break;
            }
        }
        let spec_of = |uid: &str| -> Option<&TaskSpec> {
            if uid == updating {
                Some(spec)
            } else {
                all.iter().find(|t| t.uid == uid).map(|t| &t.spec)
            }
        };
        // What runs once `uid` has run: its `run task` actions, and every task whose
        // trigger follows it.
        let next = |uid: &str| -> Vec<String> {
            let mut out: Vec<String> = spec_of(uid)
                .map(|s| {
                    s.actions
                        .iter()
                        .filter_map(|a| match a {
                            Action::RunTask { task } => Some(task.clone()),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            let follows = |s: &TaskSpec| matches!(&s.trigger, Trigger::Event { task_uid: Some(t), event: EventKind::TaskFinished } if t == uid);
            if follows(spec) {
                out.push(updating.to_owned());
            }
            out.extend(
                all.iter()
                    .filter(|t| t.uid != updating && follows(&t.spec))
                    .map(|t| t.uid.to_string()),
            );
            out
        };
        let mut seen = std::collections::HashSet::new();
        let mut stack = next(updating);
        while let Some(uid) = stack.pop() {
            if uid == updating {
                return Err(ApiError::invalid(
                    "actions: this change would make the task start itself again through other tasks (run task actions and task finished triggers form a cycle)",
                ));
            }
            if seen.insert(uid.clone()) {
                stack.extend(next(&uid));
            }
        }
        Ok(())
    }

    /// Does the target exist, and may `who` act on it as the actions need?
    async fn check_task_target(&self, who: &Caller, spec: &TaskSpec) -> ApiResult<()> {
        match &spec.target {
            Target::Folder { folder, .. } => {
                self.directory
                    .load_folder(
                        who,
                        &vitrine_core::FolderId::from(folder),
                        AuthzAction::Edit,
                    )
                    .await
                    .map_err(|e| relabel("target.folder", e))?;
            }
            Target::Project { project } => {
                let p = self
                    .directory
                    .project_for(
                        who,
                        &vitrine_core::ProjectId::from(project),
                        AuthzAction::View,
                    )
                    .await
                    .map_err(|e| relabel("target.project", e))?;
                if !self.data.ability_on(&p, Ability::Schedule) {
                    return Err(ApiError::forbidden(
                        "target.project: the schedule ability is off for this project",
                    ));
                }
                if p.role < Role::Editor {
                    own_addresses_only(who, spec)?;
                }
                for (i, a) in spec.actions.iter().enumerate() {
                    self.check_fit(&p, i, a).await?;
                }
                if let Trigger::Threshold(rule) = &spec.trigger {
                    self.check_threshold(&p, rule).await?;
                }
            }
        }
        Ok(())
    }

    /// Does an alert's tile exist in the project? (A folder's projects are checked at
    /// each refresh instead, and one without the tile is logged, never alerting.)
    async fn check_threshold(
        &self,
        p: &ProjectView,
        rule: &vitrine_core::alert::Threshold,
    ) -> ApiResult<()> {
        let report = self
            .report_named(&p.record.uid, &rule.report)
            .await?
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "trigger.threshold.report: `{}` has no report `{}`",
                    p.record.name, rule.report
                ))
            })?;
        if report.definition.tile(&rule.tile).is_none() {
            return Err(ApiError::invalid(format!(
                "trigger.threshold.tile: report `{}` has no tile `{}`",
                report.name, rule.tile
            )));
        }
        Ok(())
    }

    /// Refuses a schedule that fires more often than this instance runs tasks.
    pub(super) fn check_cron_interval(
        &self,
        field: &'static str,
        cron: &str,
        time_zone: &str,
        min: i64,
    ) -> ApiResult<()> {
        let gap = CronSchedule::parse(field, cron, time_zone)?
            .shortest_gap_ms(now_ms(), 120)
            .unwrap_or(i64::MAX);
        if gap < min {
            return Err(ApiError::invalid(format!(
                "{field}: `{cron}` fires every {} s; at most every {} s here",
                (gap / 1000).max(0),
                min / 1000
            )));
        }
        Ok(())
    }

    /// The shortest time between two firings of a cron task, in ms.
    pub(super) fn min_task_interval_ms(&self) -> i64 {
        self.runtime
            .min_interval_ms
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sets the shortest time between two firings of a cron task (from the config).
    pub(crate) fn set_min_task_interval(&self, every: std::time::Duration) {
        self.runtime.min_interval_ms.store(
            every.as_millis().min(i64::MAX as u128) as i64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Does one action fit one project? Used when saving a single-project task (an
    /// error) and for each project of a run (a skip with this reason).
    pub(crate) async fn check_fit(&self, p: &ProjectView, i: usize, a: &Action) -> ApiResult<()> {
        let need = required_role(a);
        if p.role < need {
            return Err(ApiError::forbidden(format!(
                "actions[{i}]: {} needs the {} role on `{}`",
                a.kind(),
                need.as_str().to_uppercase(),
                p.record.name
            )));
        }
        match a {
            Action::Push { .. } | Action::Pull { .. } | Action::Detach => {
                let Some(link) = self.store.working_copy_of(&p.record.uid).await? else {
                    return Err(ApiError::invalid(format!(
                        "actions[{i}]: {} needs a working copy; `{}` is not one",
                        a.kind(),
                        p.record.name
                    )));
                };
                // The remote origin trusts the link, not the person: pushing through it is
                // for the copy's managers (as `push_working_copy` checks at run time).
                if matches!(a, Action::Push { .. })
                    && link.origin_url.is_some()
                    && p.role < Role::Manager
                {
                    return Err(ApiError::forbidden(format!(
                        "actions[{i}]: pushing `{}` to a remote origin needs the MANAGER role on it",
                        p.record.name
                    )));
                }
            }
            Action::Deliver { report, csv, .. } => {
                if self.report_named(&p.record.uid, report).await?.is_none() {
                    return Err(ApiError::invalid(format!(
                        "actions[{i}].report: `{}` has no report `{report}`",
                        p.record.name
                    )));
                }
                if *csv && !self.data.ability_on(p, Ability::Download) {
                    return Err(ApiError::forbidden(format!(
                        "actions[{i}].csv: downloads are switched off for `{}`",
                        p.record.name
                    )));
                }
            }
            Action::Backup { location, .. } => {
                let loc = self
                    .store
                    .location_by_name(location)
                    .await?
                    .ok_or_else(|| {
                        ApiError::invalid(format!(
                            "actions[{i}].location: no resource location named `{location}`"
                        ))
                    })?;
                let chain = self.data.folder_chain(&p.record.uid);
                let granted = loc
                    .grants
                    .iter()
                    .any(|g| chain.iter().any(|f| *f == g.folder_uid) && g.access >= Access::Write);
                if !granted {
                    return Err(ApiError::forbidden(format!(
                        "actions[{i}].location: `{location}` is not granted with WRITE access to `{}`",
                        p.record.name
                    )));
                }
            }
            Action::Refresh { .. } | Action::WarmUp | Action::RunTask { .. } => {}
        }
        Ok(())
    }
}

/// The role an action needs on the project it acts on.
pub(crate) fn required_role(a: &Action) -> Role {
    match a {
        Action::Backup { .. } => Role::Manager,
        Action::Deliver { .. } | Action::RunTask { .. } => Role::Viewer,
        Action::Refresh { .. }
        | Action::WarmUp
        | Action::Push { .. }
        | Action::Pull { .. }
        | Action::Detach => Role::Editor,
    }
}

/// Someone below the editor role schedules for themselves only: deliveries and failure
/// notices go to their own address, never to anyone they name.
fn own_addresses_only(who: &Caller, spec: &TaskSpec) -> ApiResult<()> {
    let own = who.user().email.as_deref().unwrap_or_default();
    let mine = |a: &String| !own.is_empty() && a.trim().eq_ignore_ascii_case(own);
    for (i, a) in spec.actions.iter().enumerate() {
        if let Action::Deliver { recipients, .. } = a
            && !recipients.iter().all(mine)
        {
            return Err(ApiError::forbidden(format!(
                "actions[{i}].recipients: a viewer's deliveries go to their own address only"
            )));
        }
    }
    if !spec.notify.emails.iter().all(mine) {
        return Err(ApiError::forbidden(
            "notify.emails: a viewer's notices go to their own address only",
        ));
    }
    if spec.notify.webhook.is_some() {
        return Err(ApiError::forbidden(
            "notify.webhook: webhooks need the EDITOR role on the project",
        ));
    }
    Ok(())
}

/// Prefixes an error about the target with the field it is about, keeping its code.
fn relabel(field: &str, e: ApiError) -> ApiError {
    ApiError::new(e.code, format!("{field}: {}", e.message))
}
