//! Working copies across instances. The origin's manager issues a working-copy link
//! (`BASE/wc/TOKEN`: scoped to one project, expiring, stored as a hash); another
//! instance holding it fetches the origin's head as a bundle, pushes bundles back and
//! asks for the origin's head, over HTTPS (plain HTTP only to a loopback address).
//! The link acts for its creator, whose manager role is checked at every use.

use vitrine_core::AuditAction;

use vitrine_authz::Action;
use vitrine_core::TokenScope;
use vitrine_storage::{WorkingCopyLinkRecord, WorkingCopyRecord, new_uid, now_ms};

use super::Versions;
use super::install::Install;
use super::install::SyncOutcome;
use super::origin::{RemoteHead, RemoteOrigin};
use crate::caller::Caller;
use crate::directory::Creation;
use crate::directory::ProjectView;
use crate::secrets::{new_token, token_hash};
use crate::{ApiError, ApiResult};

/// Longest a working-copy link may live.
pub const MAX_LINK_HOURS: i64 = 24 * 90;

/// A new working-copy link; the token is shown once.
#[derive(Debug, Clone)]
pub struct NewCopyLink {
    pub url: String,
    pub record: WorkingCopyLinkRecord,
}

/// One request another instance makes through a working-copy link: the link's token,
/// where it came from, and the project it names (required for a folder's link).
#[derive(Debug, Clone, Default)]
pub struct LinkUse {
    pub token: String,
    pub address: Option<String>,
    pub project: Option<String>,
}

/// The project or the folder a working-copy link is made for, listed on or revoked on:
/// exactly one of the two ids.
pub fn copy_link_scope(project: Option<String>, folder: Option<String>) -> ApiResult<TokenScope> {
    match (project, folder) {
        (Some(p), None) => Ok(TokenScope::Project(p.into())),
        (None, Some(f)) => Ok(TokenScope::Folder(f.into())),
        _ => Err(ApiError::invalid(
            "projectId, folderId: give exactly one (a link for one project, or for every project in a folder)",
        )),
    }
}

impl Versions {
    /// Issues a working-copy link for one project (its managers, and its editors holding
    /// `project_publisher`) or for the projects of one folder (the folder's managers).
    pub async fn create_working_copy_link(
        &self,
        caller: &Caller,
        scope: TokenScope,
        hours: i64,
        public_base: &str,
        rights: CopyLinkRights,
        service_account: Option<&str>,
    ) -> ApiResult<NewCopyLink> {
        caller.require_write()?;
        if !(1..=MAX_LINK_HOURS).contains(&hours) {
            return Err(ApiError::invalid(format!(
                "expiresInHours: must be between 1 and {MAX_LINK_HOURS}"
            )));
        }
        if rights.force && !rights.push {
            return Err(ApiError::invalid(
                "allowForce: a link that may force a push must allow pushing",
            ));
        }
        self.manage_link_scope(caller, &scope).await?;
        let acts_as = match service_account {
            Some(uid) => Some(self.link_identity(uid).await?),
            None => None,
        };
        let token = new_token("vwc");
        let now = now_ms();
        let (project_uid, folder_uid) = match &scope {
            TokenScope::Project(p) => (p.clone(), None),
            TokenScope::Folder(f) => (Default::default(), Some(f.clone())),
        };
        let record = WorkingCopyLinkRecord {
            uid: new_uid().into(),
            project_uid,
            folder_uid,
            token_hash: token_hash(&token),
            created_by: caller.uid().into(),
            created_ms: now,
            expires_ms: now + hours * 3_600_000,
            revoked: false,
            last_used_ms: None,
            allow_push: rights.push,
            allow_force: rights.force,
            acts_as: acts_as.clone(),
        };
        self.store.insert_working_copy_link(&record).await?;
        self.audit
            .record(
                caller,
                AuditAction::WorkingCopyLink,
                &scope.to_string(),
                "ok",
                &format!(
                    "expires in {hours} h{}{}{}",
                    if rights.push { ", push" } else { "" },
                    if rights.force { ", force" } else { "" },
                    acts_as
                        .as_ref()
                        .map(|u| format!(", as service account user:{u}"))
                        .unwrap_or_default()
                ),
            )
            .await?;
        Ok(NewCopyLink {
            url: format!("{}/wc/{token}", public_base.trim_end_matches('/')),
            record,
        })
    }

    /// Refuses unless the caller may publish into the link's project, or manages its
    /// folder.
    async fn manage_link_scope(&self, caller: &Caller, scope: &TokenScope) -> ApiResult<()> {
        match scope {
            TokenScope::Project(p) => {
                let what = "a project's working-copy link";
                self.directory.project_to_publish(caller, p, what).await?;
            }
            TokenScope::Folder(f) => {
                self.directory
                    .load_folder(caller, f, Action::Manage)
                    .await?;
            }
        }
        Ok(())
    }

    /// The service account a link may act as: an existing, enabled service account.
    /// What it may then do on the project is what its own roles allow, checked at every
    /// use of the link.
    async fn link_identity(&self, uid: &str) -> ApiResult<vitrine_core::UserId> {
        let uid = vitrine_core::UserId::from(uid);
        match self.store.user(&uid).await? {
            Some(u) if u.kind == vitrine_storage::UserKind::Service && !u.disabled => Ok(uid),
            Some(_) => Err(ApiError::invalid(
                "serviceAccountId: must name an enabled service account",
            )),
            None => Err(ApiError::not_found("service account")),
        }
    }

    pub async fn working_copy_links(
        &self,
        caller: &Caller,
        scope: &TokenScope,
    ) -> ApiResult<Vec<WorkingCopyLinkRecord>> {
        self.manage_link_scope(caller, scope).await?;
        Ok(self.store.working_copy_links(scope).await?)
    }

    pub async fn revoke_working_copy_link(
        &self,
        caller: &Caller,
        scope: &TokenScope,
        link_uid: &str,
    ) -> ApiResult<()> {
        let link_uid = &vitrine_core::CopyLinkId::from(link_uid);
        caller.require_write()?;
        self.manage_link_scope(caller, scope).await?;
        let links = self.store.working_copy_links(scope).await?;
        if !links.iter().any(|l| l.uid == link_uid) {
            return Err(ApiError::not_found("working-copy link"));
        }
        self.store.revoke_working_copy_link(link_uid).await?;
        self.audit
            .record(
                caller,
                AuditAction::WorkingCopyLinkRevoke,
                &scope.to_string(),
                "ok",
                link_uid,
            )
            .await?;
        Ok(())
    }

    /// The project a working-copy link opens and a caller acting as the link's identity,
    /// reaching the link's project or folder only. A folder's link opens the project the
    /// request names, when it is inside the folder. A link that acts as a service account
    /// needs that account's own role for `need` (view to pull, edit to push); a link that
    /// acts as its creator needs the creator still to be one who may publish into it. Unknown, revoked and
    /// expired links, projects outside the link, and identities that lost the role or
    /// were disabled, all get the same answer.
    pub async fn open_copy_link(
        &self,
        link_use: &LinkUse,
        need: Action,
    ) -> ApiResult<(ProjectView, Caller, WorkingCopyLinkRecord)> {
        let (caller, link) = self
            .identity
            .copy_link_caller(&link_use.token, link_use.address.clone())
            .await?;
        let refused = crate::identity::copy_link_refused;
        let target = match (&link.folder_uid, &link_use.project) {
            (Some(_), Some(p)) => vitrine_core::ProjectId::from(p.as_str()),
            (Some(_), None) => {
                return Err(ApiError::invalid(
                    "project: this working-copy link is a folder's; name the project (BASE/wc/TOKEN?project=ID)",
                ));
            }
            (None, Some(p)) if *p != link.project_uid => return Err(refused()),
            (None, _) => link.project_uid.clone(),
        };
        // A service account needs its own role for `need`; a link acting as its creator
        // needs the creator still to be one who may publish into the project.
        let project = if link.acts_as.is_some() {
            self.directory.project_for(&caller, &target, need).await
        } else {
            let what = "a working-copy link";
            self.directory
                .project_to_publish(&caller, &target, what)
                .await
        };
        let project = project.map_err(|_| refused())?;
        self.store
            .touch_working_copy_link(&link.uid, now_ms())
            .await?;
        Ok((project, caller, link))
    }

    /// Origin side: the head a link's project is at.
    pub async fn origin_head(&self, link_use: &LinkUse) -> ApiResult<RemoteHead> {
        let (project, caller, _) = self.open_copy_link(link_use, Action::View).await?;
        Ok(RemoteHead {
            head: self.head_number(&caller, &project.record.uid).await?,
            project_uid: project.record.uid.into(),
            name: project.record.name,
        })
    }

    /// Origin side: the link's project as a bundle holding its head revision.
    pub async fn origin_bundle(&self, link_use: &LinkUse) -> ApiResult<Vec<u8>> {
        let (project, caller, _) = self.open_copy_link(link_use, Action::View).await?;
        let head = self.head_number(&caller, &project.record.uid).await?;
        let bundle = self.bundle_of(&project.record, head).await?;
        let bytes = tokio::task::spawn_blocking(move || super::bundles::format::write(&bundle))
            .await
            .map_err(|e| ApiError::internal("bundle writer", e))??;
        self.audit
            .record(
                &caller,
                AuditAction::WorkingCopyFetch,
                &format!("project:{}", project.record.uid),
                "ok",
                &format!("revision {head}"),
            )
            .await?;
        Ok(bytes)
    }

    /// Origin side: a copy's push, as a bundle of its revisions since it last synced.
    /// `base` is the origin revision the copy last saw; unless `force`, the push is
    /// refused when the origin has moved past it. `body` is awaited only once the token
    /// is known good and the push could apply.
    pub async fn origin_push(
        &self,
        link_use: &LinkUse,
        body: impl Future<Output = ApiResult<super::bundles::BundleSource>>,
        base: i64,
        force: bool,
        instance: Option<String>,
    ) -> ApiResult<SyncOutcome> {
        let (project, caller, link) = self.open_copy_link(link_use, Action::Edit).await?;
        // The link is a credential scoped to what its creator allowed; its identity's
        // own role is checked afresh by `open_copy_link` on every request.
        if !link.allow_push {
            return Err(ApiError::forbidden(
                "this working-copy link allows pulling only; ask the origin's managers for a link that allows pushing",
            ));
        }
        if force && !link.allow_force {
            return Err(ApiError::forbidden(
                "this working-copy link does not allow forced pushes",
            ));
        }
        let origin_uid = project.record.uid.clone();
        let latest = self.head_number(&caller, &origin_uid).await?;
        Self::check_base(latest, base, force)?;
        let mut bundle = self.read_bundle(body.await?).await?;
        let copy = bundle.manifest.project.clone();
        let how = Install {
            expect_latest: (!force).then_some(base),
            keep_report_uids: true,
            pushed_from: Some((
                copy.uid.clone().unwrap_or_default(),
                copy.name.clone(),
                instance,
            )),
            pause_ms: self.fault_pause_ms(),
            keep_connection_choices: true,
            ..Install::default()
        };
        // A service account pushes with its editor role; a person's link, as someone who
        // may publish into the project.
        let target = self
            .directory
            .authorize_push(&caller, &origin_uid, link.acts_as.is_some())
            .await?;
        // The pushed datasets are checked and stored while the rest is written.
        let making = self.start_datasets(&mut bundle)?;
        let installed = self
            .install_bundle(&target, bundle, making, how, caller.as_author())
            .await?;
        self.audit
            .record(
                &caller,
                AuditAction::WorkingCopyPush,
                &format!("project:{origin_uid}"),
                "ok",
                &format!(
                    "from {} on another instance: {} revisions{}",
                    copy.name,
                    installed.appended,
                    if force { ", forced" } else { "" }
                ),
            )
            .await?;
        self.events.publish(
            vitrine_core::task::EventKind::ProjectPushed,
            &origin_uid,
            &format!("{origin_uid}:{}", installed.head),
            Vec::new(),
        );
        Ok(installed.into())
    }

    /// Copy side: a working copy of the project behind another instance's link.
    pub async fn create_working_copy_from_link(
        &self,
        caller: &Caller,
        link: &str,
        folder: &str,
        name: &str,
        slug: Option<&str>,
    ) -> ApiResult<ProjectView> {
        caller.require_write()?;
        self.directory
            .load_folder(
                caller,
                &vitrine_core::FolderId::from(folder),
                vitrine_authz::Action::Edit,
            )
            .await?;
        let (url, token, project) = RemoteOrigin::parse_link(link)?;
        let origin = RemoteOrigin::new(&self.outbound, &url, &token, project)?;
        let bytes = origin.bundle().await?;
        let bundle = self
            .read_bundle(super::bundles::BundleSource::Memory(bytes))
            .await?;
        self.restorable(
            &bundle.head,
            &format!("the origin's revision {}", bundle.manifest.head),
        )
        .await?;
        let (payload, pinned) = self.payload_of_bundle(&bundle).await?;
        let planned = self
            .directory
            .plan_project(caller, folder, name, slug, Creation::Published)
            .await;
        let plan = match planned {
            Ok(p) => p,
            Err(e) => {
                self.engine.datasets.unpin(&pinned);
                return Err(e);
            }
        };
        let m = &bundle.manifest;
        let security = m.security.clone().unwrap_or_default();
        let record = WorkingCopyRecord {
            uid: new_uid().into(),
            copy_uid: plan.record().uid.clone(),
            origin_project_uid: m.project.uid.clone().unwrap_or_default().into(),
            origin_name: m.project.name.clone(),
            origin_url: Some(url.clone()),
            // Sealed: a copy of the database must not hold a usable credential.
            origin_token: Some(self.secrets.seal(&token)?),
            base_origin_number: m.head,
            base_copy_number: 0,
            report_map: Default::default(),
            created_by: caller.uid().into(),
            created_ms: now_ms(),
            synced_ms: 0,
        };
        let message = format!(
            "working copy of {} revision {} on {url}",
            m.project.name, m.head
        );
        let started = self
            .start_copy(caller, plan, record, &payload, &message, &security)
            .await;
        self.engine.datasets.unpin(&pinned);
        let copy = started?;
        Ok(copy)
    }
}

/// What a working-copy link lets the copy do besides reading.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyLinkRights {
    pub push: bool,
    pub force: bool,
}

impl CopyLinkRights {
    pub fn new(push: bool, force: bool) -> CopyLinkRights {
        CopyLinkRights { push, force }
    }
}
