//! What each action does to one project. Every action goes through the same service
//! calls a person would make, as the task's identity, so permissions, abilities, access
//! filters and exposure checks apply to scheduled work exactly as to clicks.
//!
//! Repeats are harmless where they can be: a refresh of unchanged data reuses its
//! blocks, a push or pull with nothing to move does nothing, a detach of a detached
//! project is done, a backup overwrites its own file. A delivery interrupted between
//! sending and recording may be sent again; it carries the same Message-ID both times
//! so mail systems can tell.

use std::time::Instant;
use vitrine_core::ErrorCode;
use vitrine_core::RunStatus;
use vitrine_core::TaskRunStatus;
use vitrine_core::task::Action;
use vitrine_engine::locations::Location;
use vitrine_engine::report::FilterState;

use vitrine_storage::{RunLogLine, TaskRunProjectRecord, TaskRunRecord, now_ms};

use super::Tasks;
use crate::Identity;
use crate::ProjectView;
use crate::bundles::format;
use crate::caller::Caller;
use crate::mail::{Attachment, Mail};
use crate::{ApiError, ApiResult};

/// How a project's actions ended.
pub(super) enum Applied {
    /// All done; the last one's progress (actions done, log line), when it ran in this
    /// attempt, is written with the attempt's end.
    Done(Option<(u32, RunLogLine)>),
    /// The run was cancelled in between.
    Cancelled,
}

/// How many runs of the same project a refresh waits out before giving up.
const MAX_RUN_WAITS: usize = 64;

impl Tasks {
    /// Applies the actions the record has not finished yet, recording each one's
    /// progress, but for the last, whose progress is written with the attempt's end.
    pub(super) async fn apply_actions(
        &self,
        run: &TaskRunRecord,
        record: &TaskRunProjectRecord,
    ) -> ApiResult<Applied> {
        let task = self
            .store
            .task(&run.task_uid)
            .await?
            .ok_or_else(|| ApiError::not_found("task"))?;
        let user = self
            .task_identity(&task)
            .await?
            .map_err(|why| ApiError::forbidden(format!("not run: {why}")))?;
        let mut chain = run.chain.clone();
        chain.push(task.uid.clone().into());
        let who = Identity::task_caller(user, &task.uid, &run.uid, chain);
        let p = self
            .directory
            .project_for(&who, &record.project_uid, vitrine_authz::Action::View)
            .await?;
        // The record was just taken (running); after each action, its status comes back
        // with the progress written, so a cancel in between stops the next action.
        let mut status = Some(record.status);
        let pending: Vec<(usize, &Action)> = (run.spec.actions.iter().enumerate())
            .filter(|(i, a)| (*i as u32) >= record.actions_done && a.per_project())
            .collect();
        for (n, &(i, action)) in pending.iter().enumerate() {
            match status {
                Some(TaskRunStatus::Running) => {}
                Some(_) => return Ok(Applied::Cancelled),
                None => return Err(ApiError::not_found("run record")),
            }
            let t = Instant::now();
            let done = if task.recipient_uid.is_some() {
                self.deliver_for_recipient(&task, &p, run, &record.uid, i, action)
                    .await
            } else {
                self.apply_action(&who, &p, run, &record.uid, i, action)
                    .await
            };
            let done = done
                .map_err(|e| ApiError::new(e.code, format!("{}: {}", action.kind(), e.message)))?;
            let line = format!("{} ({} ms): {done}", action.kind(), t.elapsed().as_millis());
            if n + 1 == pending.len() {
                return Ok(Applied::Done(Some((i as u32 + 1, log_line(line)))));
            }
            status = self
                .store
                .run_project_progress(&record.uid, i as u32 + 1, &log_line(line))
                .await?;
        }
        Ok(Applied::Done(None))
    }

    /// Applies `action` (index `i` of the run's actions) to one project; returns a line
    /// for the run's log.
    pub(super) async fn apply_action(
        &self,
        who: &Caller,
        p: &ProjectView,
        run: &TaskRunRecord,
        record_uid: &str,
        i: usize,
        action: &Action,
    ) -> ApiResult<String> {
        let uid = &p.record.uid;
        match action {
            Action::Refresh { force } => self.refresh(who, uid, record_uid, *force).await,
            Action::WarmUp => {
                let s = self.data.warm_up(who, uid).await?;
                if let Some(first) = s.failures.first() {
                    return Err(ApiError::new(
                        ErrorCode::QueryFailed,
                        format!(
                            "{} tile(s) failed to warm up; first: {first}",
                            s.failures.len()
                        ),
                    ));
                }
                Ok(format!(
                    "{} tiles of {} reports warmed for {} audiences",
                    s.tiles, s.reports, s.scopes
                ))
            }
            Action::Push { force } => {
                // A copy with nothing new pushes nothing (the push itself checks).
                let out = self.versions.push_working_copy(who, uid, *force).await?;
                if out.revisions == 0 && !force {
                    return Ok("nothing to push".into());
                }
                Ok(format!(
                    "pushed {} revision(s); origin at {}",
                    out.revisions, out.head
                ))
            }
            Action::Pull { discard } => {
                let status = self.versions.working_copy_status(who, uid).await?;
                if status.as_ref().is_some_and(|s| s.behind == Some(0)) {
                    return Ok("already up to date".into());
                }
                let out = self.versions.pull_working_copy(who, uid, *discard).await?;
                Ok(format!(
                    "pulled {} revision(s); copy at {}",
                    out.revisions, out.head
                ))
            }
            Action::Detach => {
                if self.store.working_copy_of(uid).await?.is_none() {
                    return Ok("already detached".into());
                }
                self.versions.detach_working_copy(who, uid).await?;
                Ok("detached from its origin".into())
            }
            Action::Backup { location, path } => self.backup(p, run, location, path).await,
            Action::Deliver {
                report,
                recipients,
                csv,
                subject,
            } => {
                self.deliver(
                    who,
                    p,
                    run,
                    record_uid,
                    i,
                    report,
                    recipients,
                    *csv,
                    subject.as_deref(),
                )
                .await
            }
            Action::RunTask { .. } => Ok("runs when the other projects are done".into()),
        }
    }

    async fn refresh(
        &self,
        who: &Caller,
        project_uid: &vitrine_core::ProjectId,
        record_uid: &str,
        force: bool,
    ) -> ApiResult<String> {
        self.mark_refreshing(project_uid, crate::events::event_chain(who));
        // A project runs one workflow at a time. A refresh that finds another run going
        // (a person's, or another task's) waits for it and then runs: overlapping
        // refreshes queue up instead of failing, and the later one reuses what the
        // earlier one computed.
        let mut waits = 0;
        let started = loop {
            match self
                .data
                .run_workflow(who, project_uid, None, force, false)
                .await
            {
                Ok(started) => break started,
                Err(e) if e.code == ErrorCode::Conflict && waits < MAX_RUN_WAITS => {
                    waits += 1;
                    match self.engine.active_run(project_uid) {
                        Some(other) => {
                            let _ = self.data.wait_for_run(&other).await;
                        }
                        // It ended between the refusal and the look.
                        None => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                    }
                }
                Err(e) => return Err(e),
            }
        };
        self.track_engine_run(record_uid, Some(&started.uid));
        let run = self.data.wait_for_run(&started.uid).await;
        self.track_engine_run(record_uid, None);
        let run = run?;
        match run.status {
            RunStatus::Succeeded => Ok(format!("workflow run {} succeeded", run.uid)),
            RunStatus::Cancelled => Err(ApiError::new(
                ErrorCode::Cancelled,
                "the workflow run was cancelled",
            )),
            other => {
                let first = run
                    .blocks
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|b| b["status"] == "failed")
                    .map(|b| {
                        format!(
                            "block `{}`: {}",
                            b["block"].as_str().unwrap_or("?"),
                            b["error"]["message"].as_str().unwrap_or("failed")
                        )
                    })
                    .unwrap_or_else(|| "no block result".into());
                Err(ApiError::new(
                    ErrorCode::InvalidData,
                    format!("workflow run {} {other}: {first}", run.uid),
                ))
            }
        }
    }

    /// Writes the project's bundle into a resource location granted for writing to
    /// the project's folder. Managers only (checked when the run fanned out).
    async fn backup(
        &self,
        p: &ProjectView,
        run: &TaskRunRecord,
        location: &str,
        path: &str,
    ) -> ApiResult<String> {
        let record = self
            .store
            .location_by_name(location)
            .await?
            .ok_or_else(|| ApiError::invalid(format!("no resource location named `{location}`")))?;
        let loc = Location::open(record)?;
        if !loc.granted(
            &self.data.folder_chain(&p.record.uid),
            vitrine_engine::locations::Access::Write,
        ) {
            return Err(ApiError::forbidden(format!(
                "`{location}` is not granted with WRITE access to this project's folder"
            )));
        }
        let date = chrono::DateTime::from_timestamp_millis(run.created_ms)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        let path = path
            .replace("{project}", &p.record.slug)
            .replace("{date}", &date);
        let bundle = self.versions.bundle_of(&p.record, 0).await?;
        let bytes = tokio::task::spawn_blocking(move || format::write(&bundle))
            .await
            .map_err(|e| ApiError::internal("bundle writer", e))??;
        let n = bytes.len();
        loc.write(&path, bytes).await?;
        Ok(format!("bundle of {n} bytes written to {location}:{path}"))
    }

    #[allow(clippy::too_many_arguments)]
    async fn deliver(
        &self,
        who: &Caller,
        p: &ProjectView,
        run: &TaskRunRecord,
        record_uid: &str,
        i: usize,
        report: &str,
        recipients: &[String],
        csv: bool,
        subject: Option<&str>,
    ) -> ApiResult<String> {
        let mail = &self.runtime.mail;
        let r = self
            .report_named(&p.record.uid, report)
            .await?
            .ok_or_else(|| ApiError::invalid(format!("no report `{report}`")))?;
        // The report file is made for the task's identity: its access filters apply.
        let file = self.versions.export_report_file(who, &r.uid, None).await?;
        let html = self
            .store
            .artifacts()
            .get_bytes(vitrine_storage::Artifact::Export(&file.uid))
            .await?;
        let mut attachments = vec![Attachment {
            filename: file.filename.clone(),
            content_type: "text/html; charset=utf-8".into(),
            bytes: html.to_vec(),
        }];
        if csv {
            let def = r.definition.clone();
            let state = FilterState::new();
            for tile in def.tabs.iter().flat_map(|t| t.tiles.iter()) {
                let d = self
                    .data
                    .tile_download(who, &r.uid, &tile.id, &state)
                    .await?;
                attachments.push(Attachment {
                    filename: format!("{}.csv", d.filename.trim_end_matches(".csv")),
                    content_type: "text/csv; charset=utf-8".into(),
                    bytes: d.result.csv()?,
                });
            }
        }
        let subject = subject
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{} — {}", r.name, p.record.name));
        let message = Mail {
            to: recipients.to_vec(),
            subject,
            body: format!(
                "{} from {}, delivered by the task \"{}\".{}\n\nOpen the attached file in a browser; it needs no connection.\n",
                r.name,
                p.record.name,
                run.task_name,
                // An alert says what crossed.
                run.cause
                    .strip_prefix(super::alerts::ALERT_CAUSE)
                    .map(|why| format!("\nAlert: {why}."))
                    .unwrap_or_default()
            ),
            attachments,
            // Stable across repeats of this delivery, so mail systems can tell.
            message_id: format!("<{}.{i}.{}@vitrine>", record_uid.replace('/', "."), run.uid),
        };
        let n = message.attachments.len();
        mail.send(message).await?;
        Ok(format!(
            "report `{}` sent to {} recipient(s) with {n} attachment(s)",
            r.name,
            recipients.len()
        ))
    }
}

/// A line of a project's log, stamped now.
pub(super) fn log_line(message: String) -> RunLogLine {
    RunLogLine {
        at_ms: now_ms(),
        message,
    }
}
