//! Working copies: a project linked to an origin project so changes can be made and
//! checked away from what viewers see, then pushed. The origin is on this instance, or
//! on another one that issued a working-copy link (see [`remote`](super::remote)).
//!
//! - **Create**: the origin's managers, and its editors holding `project_publisher`,
//!   copy it into a folder (see [`crate::directory`]'s publishing rules).
//! - **Push**: the copy's content replaces the origin's and the copy's new revisions are
//!   appended to the origin's history, marked as pushed; all in one transaction. Refused
//!   when the origin has revisions the copy has not pulled, unless forced.
//! - **Pull**: the origin's latest replaces the copy's content; refused when the copy has
//!   unpushed revisions, unless the caller discards them.
//! - **Detach**: the copy becomes an ordinary project.

use std::collections::BTreeMap;
use vitrine_core::AuditAction;

use vitrine_authz::Action;
use vitrine_core::ErrorCode;
use vitrine_storage::{ProjectRecord, WorkingCopyRecord, new_uid, now_ms};

use super::Versions;
use super::install::{Install, Payload, SyncOutcome, content_of, moved};
use super::origin::RemoteOrigin;
use crate::Audit;
use crate::caller::Caller;
use crate::directory::Creation;
use crate::directory::ProjectView;
use crate::guard::{Edit, View};
use crate::projects::ProjectPlan;
use crate::{ApiError, ApiResult};

/// A working copy's link to its origin, as its editors see it.
#[derive(Debug, Clone)]
pub struct WorkingCopyStatus {
    pub record: WorkingCopyRecord,
    /// Revisions of the copy not pushed yet.
    pub ahead: i64,
    /// Revisions of the origin not pulled yet; none when the origin cannot be asked.
    pub behind: Option<i64>,
}

impl Versions {
    /// The project's latest revision number, recording one first for a project saved
    /// before history existed, so there is always a revision to be in step with.
    pub(crate) async fn head_number(
        &self,
        caller: &Caller,
        project_uid: &vitrine_core::ProjectId,
    ) -> ApiResult<i64> {
        if let Some(l) = self.store.latest_revision(project_uid).await? {
            return Ok(l.number);
        }
        let project = self
            .directory
            .authorize::<View>(caller, project_uid)
            .await?;
        self.commits.record_first_revision(&project, caller).await?;
        Ok(self
            .store
            .latest_revision(project_uid)
            .await?
            .map_or(0, |l| l.number))
    }

    /// Copies `origin_uid` (same instance) into `folder` as a working copy: its latest
    /// content, or what revision `from_revision` held. A copy of an older revision starts
    /// behind the origin, so pushing it is refused unless forced, like any stale copy.
    /// Datasets are the origin's current ones (history keeps content, not data).
    pub async fn create_working_copy(
        &self,
        caller: &Caller,
        origin_uid: &str,
        folder: &str,
        name: &str,
        slug: Option<&str>,
        from_revision: Option<&str>,
    ) -> ApiResult<ProjectView> {
        let origin_uid = &vitrine_core::ProjectId::from(origin_uid);
        caller.require_write()?;
        let origin = self
            .directory
            .project_to_publish(caller, origin_uid, "making a working copy")
            .await?;
        self.directory
            .load_folder(caller, &vitrine_core::FolderId::from(folder), Action::Edit)
            .await?;
        let mut number = self.head_number(caller, origin_uid).await?;
        let mut payload = self.payload_of(origin_uid, number).await?;
        if let Some(uid) = from_revision {
            let r = self.revision(caller, uid).await?;
            if r.project_uid != origin_uid {
                return Err(ApiError::invalid(
                    "revisionId: the revision belongs to another project",
                ));
            }
            number = r.number;
            payload.head = content_of(&r)?;
        }
        // Validated before the copy exists, so a refusal leaves nothing behind.
        self.restorable(&payload.head, &format!("revision {number}"))
            .await?;
        let plan = self
            .directory
            .plan_project(caller, folder, name, slug, Creation::Published)
            .await?;
        let record = WorkingCopyRecord {
            uid: new_uid().into(),
            copy_uid: plan.record().uid.clone(),
            origin_project_uid: origin_uid.into(),
            origin_name: origin.record.name.clone(),
            origin_url: None,
            origin_token: None,
            base_origin_number: number,
            base_copy_number: 0,
            report_map: BTreeMap::new(),
            created_by: caller.uid().into(),
            created_ms: now_ms(),
            synced_ms: 0,
        };
        let message = format!("working copy of {} revision {number}", origin.record.name);
        let security = self.security_of(&origin.record).await?;
        self.start_copy(caller, plan, record, &payload, &message, &security)
            .await
    }

    /// Creates the planned copy with its content, its link and its audit event, in one
    /// transaction: a refusal leaves nothing behind.
    pub(crate) async fn start_copy(
        &self,
        caller: &Caller,
        mut plan: ProjectPlan,
        record: WorkingCopyRecord,
        payload: &Payload,
        message: &str,
        security: &super::bundles::format::BundleSecurity,
    ) -> ApiResult<ProjectView> {
        let remote = record.origin_url.is_some();
        let object = format!("project:{}", plan.record().uid);
        // The copy shows no more rows than its origin: it is born with its filters.
        let unknown = self.govern(&mut plan, security).await?;
        let mut detail = message.to_owned();
        if !unknown.is_empty() {
            detail.push_str(&super::bundles::unknown_attributes_warning(&unknown));
        }
        let how = Install {
            expect_latest: Some(0),
            keep_report_uids: remote,
            one_revision: Some((
                Some(caller.uid().to_owned()),
                caller.user().username.clone(),
                message.to_owned(),
            )),
            working_copy: Some(record),
            creating: Some(plan.new_project().clone()),
            audit: Some(Audit::event(
                caller,
                AuditAction::WorkingCopyCreate,
                &object,
                &detail,
            )),
            ..Install::default()
        };
        let target = self.directory.authorize_planned(&plan);
        self.install(&target, payload, how, caller.as_author())
            .await?;
        self.directory.project_planned(caller, plan).await
    }

    /// The working-copy link of `project_uid`, for its editors (none for an ordinary
    /// project).
    pub async fn working_copy_status(
        &self,
        caller: &Caller,
        project_uid: &str,
    ) -> ApiResult<Option<WorkingCopyStatus>> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        self.directory
            .project_for(caller, project_uid, Action::Edit)
            .await?;
        let Some(record) = self.store.working_copy_of(project_uid).await? else {
            return Ok(None);
        };
        let copy_head = self
            .store
            .latest_revision(project_uid)
            .await?
            .map_or(0, |l| l.number);
        let behind = match &record.origin_url {
            None => self
                .store
                .latest_revision(&record.origin_project_uid)
                .await?
                .map(|l| l.number - record.base_origin_number),
            Some(_) => match RemoteOrigin::of(&self.outbound, &self.secrets, &record)?
                .head()
                .await
            {
                Ok(h) => Some(h.head - record.base_origin_number),
                Err(e) => {
                    tracing::warn!(project = %project_uid, error = %e.message, "origin not reachable");
                    None
                }
            },
        };
        Ok(Some(WorkingCopyStatus {
            ahead: copy_head - record.base_copy_number,
            behind,
            record,
        }))
    }

    /// Working copies of a project on this instance (its managers); a copy the caller
    /// cannot see comes without its project.
    pub async fn working_copies_of(
        &self,
        caller: &Caller,
        origin_uid: &str,
    ) -> ApiResult<Vec<(WorkingCopyRecord, Option<ProjectRecord>)>> {
        let origin_uid = &vitrine_core::ProjectId::from(origin_uid);
        self.directory
            .project_for(caller, origin_uid, Action::Manage)
            .await?;
        let mut out = Vec::new();
        for w in self.store.working_copies_of_origin(origin_uid).await? {
            // The copy's name only for those who may see the copy itself.
            let p = self
                .directory
                .project_for(caller, &w.copy_uid, Action::View)
                .await
                .ok()
                .map(|v| v.record);
            out.push((w, p));
        }
        Ok(out)
    }

    /// The copy (for its editors) and its link to the origin.
    async fn link_of(
        &self,
        caller: &Caller,
        copy_uid: &vitrine_core::ProjectId,
    ) -> ApiResult<(ProjectView, WorkingCopyRecord)> {
        let copy = self
            .directory
            .project_for(caller, copy_uid, Action::Edit)
            .await?;
        let link =
            self.store.working_copy_of(copy_uid).await?.ok_or_else(|| {
                ApiError::invalid("projectId: this project is not a working copy")
            })?;
        Ok((copy, link))
    }

    /// Pushes the copy's content to its origin (see the module docs).
    pub async fn push_working_copy(
        &self,
        caller: &Caller,
        copy_uid: &str,
        force: bool,
    ) -> ApiResult<SyncOutcome> {
        let copy_uid = &vitrine_core::ProjectId::from(copy_uid);
        caller.require_write()?;
        let (copy, mut link) = self.link_of(caller, copy_uid).await?;
        let copy_head = self.head_number(caller, copy_uid).await?;
        if copy_head == link.base_copy_number && !force {
            return Ok(SyncOutcome {
                head: link.base_origin_number,
                revisions: 0,
            });
        }
        let since = link.base_copy_number.min(copy_head - 1);
        let outcome = if link.origin_url.is_some() {
            // The origin knows the link, not the person: publishing through it is for the
            // copy's managers, as making the link was for the origin's.
            self.directory.project_for(caller, copy_uid, Action::Manage)
                .await
                .map_err(|e| {
                    ApiError::new(
                        e.code,
                        format!(
                            "pushing to a remote origin needs the MANAGER role on the working copy: {}",
                            e.message
                        ),
                    )
                })?;
            let bundle = self.bundle_of(&copy.record, since).await?;
            let bytes = tokio::task::spawn_blocking(move || super::bundles::format::write(&bundle))
                .await
                .map_err(|e| ApiError::internal("bundle writer", e))??;
            let pushed = RemoteOrigin::of(&self.outbound, &self.secrets, &link)?
                .push(bytes, link.base_origin_number, force)
                .await?;
            link.base_origin_number = pushed.head;
            link.base_copy_number = copy_head;
            link.synced_ms = now_ms();
            self.store.put_working_copy(&link).await?;
            pushed
        } else {
            let origin_uid = link.origin_project_uid.clone();
            let origin = self
                .directory
                .authorize_push(caller, &origin_uid, false)
                .await?;
            let payload = self.payload_of(copy_uid, since).await?;
            let mut next = link.clone();
            next.base_copy_number = copy_head;
            let how = Install {
                expect_latest: (!force).then_some(link.base_origin_number),
                report_map: link.report_map.clone(),
                pushed_from: Some((copy_uid.to_owned().into(), copy.record.name.clone(), None)),
                keep_connection_choices: true,
                working_copy: Some(next),
                pause_ms: self.fault_pause_ms(),
                ..Install::default()
            };
            // The new report pairs are written with the push, in its transaction.
            self.install(&origin, &payload, how, caller.as_author())
                .await?
                .into()
        };
        self.audit
            .record(
                caller,
                AuditAction::WorkingCopyPush,
                &format!("project:{}", link.origin_project_uid),
                "ok",
                &format!(
                    "from {copy_uid}: {} revisions{}",
                    outcome.revisions,
                    if force { ", forced" } else { "" }
                ),
            )
            .await?;
        // A remote origin announces its own push to its own tasks.
        if link.origin_url.is_none() {
            self.events.publish(
                vitrine_core::task::EventKind::ProjectPushed,
                &link.origin_project_uid,
                &format!("{}:{}", link.origin_project_uid, outcome.head),
                crate::events::event_chain(caller),
            );
        }
        Ok(outcome)
    }

    /// Brings the origin's latest into the copy (see the module docs).
    pub async fn pull_working_copy(
        &self,
        caller: &Caller,
        copy_uid: &str,
        discard: bool,
    ) -> ApiResult<SyncOutcome> {
        let copy_uid = &vitrine_core::ProjectId::from(copy_uid);
        caller.require_write()?;
        let (_, link) = self.link_of(caller, copy_uid).await?;
        let copy_head = self.head_number(caller, copy_uid).await?;
        let unpushed = copy_head - link.base_copy_number;
        if unpushed > 0 && !discard {
            return Err(ApiError::new(
                ErrorCode::UnpushedChanges,
                format!(
                    "this working copy has {unpushed} revision(s) not pushed to its origin (revisions {} to {copy_head}); push them first, or pull with discardChanges: true to revert them",
                    link.base_copy_number + 1
                ),
            ));
        }
        let (payload, origin_head, pinned) = match &link.origin_url {
            None => {
                self.directory
                    .project_for(caller, &link.origin_project_uid, Action::View)
                    .await?;
                let n = self.head_number(caller, &link.origin_project_uid).await?;
                (
                    self.payload_of(&link.origin_project_uid, n).await?,
                    n,
                    vec![],
                )
            }
            Some(_) => {
                let bytes = RemoteOrigin::of(&self.outbound, &self.secrets, &link)?
                    .bundle()
                    .await?;
                let bundle = self
                    .read_bundle(super::bundles::BundleSource::Memory(bytes))
                    .await?;
                let (payload, pinned) = self.payload_of_bundle(&bundle).await?;
                (payload, bundle.manifest.head, pinned)
            }
        };
        if origin_head == link.base_origin_number && unpushed == 0 {
            self.engine.datasets.unpin(&pinned);
            return Ok(SyncOutcome {
                head: copy_head,
                revisions: 0,
            });
        }
        let message = if unpushed > 0 {
            format!(
                "pulled {} revision {origin_head}, discarding {unpushed} unpushed revision(s)",
                link.origin_name
            )
        } else {
            format!("pulled {} revision {origin_head}", link.origin_name)
        };
        let mut next = link.clone();
        next.base_origin_number = origin_head;
        let how = Install {
            expect_latest: Some(copy_head),
            // Origin uid → copy uid, the reverse of what the link keeps.
            report_map: link
                .report_map
                .iter()
                .map(|(c, o)| (o.clone(), c.clone()))
                .collect(),
            keep_report_uids: link.origin_url.is_some(),
            one_revision: Some((
                Some(caller.uid().to_owned()),
                caller.user().username.clone(),
                message.clone(),
            )),
            working_copy: Some(next),
            keep_connection_choices: true,
            ..Install::default()
        };
        let installed = match self.directory.authorize::<Edit>(caller, copy_uid).await {
            Ok(target) => {
                self.install(&target, &payload, how, caller.as_author())
                    .await
            }
            Err(e) => Err(e),
        };
        self.engine.datasets.unpin(&pinned);
        let installed = installed?;
        self.audit
            .record(
                caller,
                AuditAction::WorkingCopyPull,
                &format!("project:{copy_uid}"),
                "ok",
                &message,
            )
            .await?;
        Ok(installed.into())
    }

    /// Cuts a copy's link to its origin: its editors, or the origin's managers.
    pub async fn detach_working_copy(&self, caller: &Caller, copy_uid: &str) -> ApiResult<()> {
        let copy_uid = &vitrine_core::ProjectId::from(copy_uid);
        caller.require_write()?;
        let link =
            self.store.working_copy_of(copy_uid).await?.ok_or_else(|| {
                ApiError::invalid("projectId: this project is not a working copy")
            })?;
        let by_copy = self
            .directory
            .project_for(caller, copy_uid, Action::Edit)
            .await
            .is_ok();
        let by_origin = link.origin_url.is_none()
            && self
                .directory
                .project_for(caller, &link.origin_project_uid, Action::Manage)
                .await
                .is_ok();
        if !by_copy && !by_origin {
            // Whoever sees neither side learns nothing about the link.
            self.directory
                .project_for(caller, copy_uid, Action::Edit)
                .await?;
        }
        self.store.delete_working_copy(copy_uid).await?;
        self.audit
            .record(
                caller,
                AuditAction::WorkingCopyDetach,
                &format!("project:{copy_uid}"),
                "ok",
                &link.origin_name,
            )
            .await?;
        Ok(())
    }

    /// Crash tests set `VITRINE_FAULT_PUSH_PAUSE_MS` to hold a push inside its
    /// transaction long enough to kill the process there.
    pub(crate) fn fault_pause_ms(&self) -> u64 {
        std::env::var("VITRINE_FAULT_PUSH_PAUSE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Refuses a push that names an origin revision other than the latest.
    pub(crate) fn check_base(latest: i64, base: i64, force: bool) -> ApiResult<()> {
        if !force && latest != base {
            return Err(moved(base, latest));
        }
        Ok(())
    }
}
