//! Working copies across instances. The origin's manager issues a working-copy link
//! (`BASE/wc/TOKEN`: scoped to one project, expiring, stored as a hash); another
//! instance holding it fetches the origin's head as a bundle, pushes bundles back and
//! asks for the origin's head, over HTTPS (plain HTTP only to a loopback address).
//! The link acts for its creator, whose manager role is checked at every use.

use std::time::Duration;
use vitrine_core::AuditAction;

use vitrine_authz::Action;
use vitrine_core::ErrorCode;
use vitrine_storage::{WorkingCopyLinkRecord, WorkingCopyRecord, new_uid, now_ms};

use super::Versions;
use super::install::Install;
use super::install::SyncOutcome;
use crate::caller::Caller;
use crate::directory::ProjectView;
use crate::guard::{Edit, Manage};
use crate::secrets::{new_token, token_hash};
use crate::{ApiError, ApiResult};

/// Longest a working-copy link may live.
pub const MAX_LINK_HOURS: i64 = 24 * 90;

/// The origin's head as it reports it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RemoteHead {
    pub project_uid: String,
    pub name: String,
    pub head: i64,
}

/// A new working-copy link; the token is shown once.
#[derive(Debug, Clone)]
pub struct NewCopyLink {
    pub url: String,
    pub record: WorkingCopyLinkRecord,
}

impl Versions {
    /// Issues a working-copy link for `project_uid` (its managers).
    pub async fn create_working_copy_link(
        &self,
        caller: &Caller,
        project_uid: &str,
        hours: i64,
        public_base: &str,
        rights: CopyLinkRights,
        service_account: Option<&str>,
    ) -> ApiResult<NewCopyLink> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
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
        self.directory
            .project_for(caller, project_uid, Action::Manage)
            .await?;
        let acts_as = match service_account {
            Some(uid) => Some(self.link_identity(uid).await?),
            None => None,
        };
        let token = new_token("vwc");
        let now = now_ms();
        let record = WorkingCopyLinkRecord {
            uid: new_uid().into(),
            project_uid: project_uid.into(),
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
                &format!("project:{project_uid}"),
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
        project_uid: &str,
    ) -> ApiResult<Vec<WorkingCopyLinkRecord>> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        self.directory
            .project_for(caller, project_uid, Action::Manage)
            .await?;
        Ok(self.store.working_copy_links(project_uid).await?)
    }

    pub async fn revoke_working_copy_link(
        &self,
        caller: &Caller,
        project_uid: &str,
        link_uid: &str,
    ) -> ApiResult<()> {
        let link_uid = &vitrine_core::CopyLinkId::from(link_uid);

        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        caller.require_write()?;
        self.directory
            .project_for(caller, project_uid, Action::Manage)
            .await?;
        let links = self.store.working_copy_links(project_uid).await?;
        if !links.iter().any(|l| l.uid == link_uid) {
            return Err(ApiError::not_found("working-copy link"));
        }
        self.store.revoke_working_copy_link(link_uid).await?;
        self.audit
            .record(
                caller,
                AuditAction::WorkingCopyLinkRevoke,
                &format!("project:{project_uid}"),
                "ok",
                link_uid,
            )
            .await?;
        Ok(())
    }

    /// The project a working-copy link opens and a caller acting as the link's identity.
    /// A link that acts as a service account needs that account's own role for `need`
    /// (view to pull, edit to push); a link that acts as its creator needs the creator to
    /// be a manager still. Unknown, revoked and expired links, and identities that lost
    /// the role or were disabled, all get the same answer.
    pub async fn open_copy_link(
        &self,
        token: &str,
        address: Option<String>,
        need: Action,
    ) -> ApiResult<(ProjectView, Caller, WorkingCopyLinkRecord)> {
        let (caller, link) = self.identity.copy_link_caller(token, address).await?;
        let need = if link.acts_as.is_some() {
            need
        } else {
            Action::Manage
        };
        let project = self
            .directory
            .project_for(&caller, &link.project_uid, need)
            .await
            .map_err(|_| crate::identity::copy_link_refused())?;
        self.store
            .touch_working_copy_link(&link.uid, now_ms())
            .await?;
        Ok((project, caller, link))
    }

    /// Origin side: the head a link's project is at.
    pub async fn origin_head(&self, token: &str, address: Option<String>) -> ApiResult<RemoteHead> {
        let (project, caller, _) = self.open_copy_link(token, address, Action::View).await?;
        Ok(RemoteHead {
            head: self.head_number(&caller, &project.record.uid).await?,
            project_uid: project.record.uid.into(),
            name: project.record.name,
        })
    }

    /// Origin side: the link's project as a bundle holding its head revision.
    pub async fn origin_bundle(&self, token: &str, address: Option<String>) -> ApiResult<Vec<u8>> {
        let (project, caller, _) = self.open_copy_link(token, address, Action::View).await?;
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
        token: &str,
        address: Option<String>,
        body: impl Future<Output = ApiResult<super::bundles::BundleSource>>,
        base: i64,
        force: bool,
        instance: Option<String>,
    ) -> ApiResult<SyncOutcome> {
        let (project, caller, link) = self.open_copy_link(token, address, Action::Edit).await?;
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
        let bundle = self.read_bundle(body.await?).await?;
        let (payload, pinned) = self.payload_of_bundle(&bundle).await?;
        let copy = &bundle.manifest.project;
        let how = Install {
            expect_latest: (!force).then_some(base),
            keep_report_uids: true,
            pushed_from: Some((
                copy.uid.clone().unwrap_or_default(),
                copy.name.clone(),
                instance,
            )),
            pause_ms: self.fault_pause_ms(),
            ..Install::default()
        };
        // A service account pushes with its editor role; a person's link, as a manager.
        let target = if link.acts_as.is_some() {
            self.directory.authorize::<Edit>(&caller, &origin_uid).await
        } else {
            let managed = self.directory.authorize::<Manage>(&caller, &origin_uid);
            managed.await.map(Into::into)
        };
        let installed = match target {
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
        let (url, token) = RemoteOrigin::parse_link(link)?;
        let origin = RemoteOrigin::new(&self.outbound, &url, &token)?;
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
            .plan_project(caller, folder, name, slug, AuditAction::ProjectCreate, "")
            .await;
        let plan = match planned {
            Ok(p) => p,
            Err(e) => {
                self.engine.datasets.unpin(&pinned);
                return Err(e);
            }
        };
        let m = &bundle.manifest;
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
            .start_copy(caller, plan, record, &payload, &message)
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

/// The HTTP client side of a remote origin, over the server's one outbound client (see
/// [`crate::outbound`]): the origin's address is checked after resolution and on every
/// redirect, answers are bounded, and the origin's own words never reach the caller.
pub(crate) struct RemoteOrigin {
    base: String,
    token: String,
    client: crate::outbound::Outbound,
}

/// The most a working-copy origin's answer may weigh (its bundle).
fn max_answer() -> usize {
    super::bundles::format::BundleLimits::default().max_bytes as usize
}

/// How long one exchange with an origin may take (a bundle can be large).
const ORIGIN_TIMEOUT: Duration = Duration::from_secs(600);

impl RemoteOrigin {
    /// Splits `BASE/wc/TOKEN` and checks the base is HTTPS (or HTTP to loopback).
    pub fn parse_link(link: &str) -> ApiResult<(String, String)> {
        let bad = |why: &str| ApiError::invalid(format!("link: {why}"));
        let (base, token) = link
            .trim()
            .rsplit_once("/wc/")
            .ok_or_else(|| bad("not a working-copy link (expected BASE/wc/TOKEN)"))?;
        if !token.starts_with("vwc_") || token.contains('/') {
            return Err(bad("not a working-copy link (expected BASE/wc/TOKEN)"));
        }
        Self::check_base(base)?;
        Ok((base.to_owned(), token.to_owned()))
    }

    fn check_base(base: &str) -> ApiResult<()> {
        let bad = |why: &str| ApiError::invalid(format!("link: {why}"));
        if base.starts_with("https://") {
            return Ok(());
        }
        let rest = base
            .strip_prefix("http://")
            .ok_or_else(|| bad("the origin's address must start with https://"))?;
        let host = rest.split('/').next().unwrap_or_default();
        let host = match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|c| c.is_ascii_digit()) => h,
            _ => host,
        };
        if matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            Ok(())
        } else {
            Err(bad(
                "plain http:// is only allowed to this machine; use https://",
            ))
        }
    }

    pub fn new(
        client: &crate::outbound::Outbound,
        base: &str,
        token: &str,
    ) -> ApiResult<RemoteOrigin> {
        Self::check_base(base)?;
        Ok(RemoteOrigin {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            client: client.clone(),
        })
    }

    pub fn of(
        client: &crate::outbound::Outbound,
        secrets: &crate::secret_box::SecretBox,
        w: &WorkingCopyRecord,
    ) -> ApiResult<RemoteOrigin> {
        match (&w.origin_url, &w.origin_token) {
            (Some(u), Some(t)) => RemoteOrigin::new(client, u, &secrets.unseal(t)?),
            _ => Err(ApiError::internal(
                "working copy",
                "remote origin without a link",
            )),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> ApiResult<reqwest::RequestBuilder> {
        Ok(self
            .client
            .request(method, &format!("{}{path}", self.base), ORIGIN_TIMEOUT)?
            .bearer_auth(&self.token))
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> ApiResult<reqwest::Response> {
        let what = format!("the origin at {}", self.base);
        let resp = self.client.send(req, &what).await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        // Only the error code is read from the answer (bounded): the origin is a URL a
        // user typed, and its words are not repeated to the caller.
        let body = crate::outbound::read_limited(resp, 64 * 1024, &what)
            .await
            .unwrap_or_default();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let code = body["error"]["code"].as_str().unwrap_or_default();
        // Refusals the caller can act on keep their code; anything else is the remote's
        // failure.
        let code = ErrorCode::ALL
            .into_iter()
            .find(|c| c.as_str() == code)
            .filter(|c| {
                matches!(
                    c,
                    ErrorCode::OriginMoved
                        | ErrorCode::Forbidden
                        | ErrorCode::LinkNotValid
                        | ErrorCode::InvalidBundle
                        | ErrorCode::InvalidWorkflow
                        | ErrorCode::ExposureRefused
                        | ErrorCode::Conflict
                )
            });
        Err(match code {
            // Said in our own words: what the copy's managers can do about it.
            Some(ErrorCode::LinkNotValid) => ApiError::new(
                ErrorCode::LinkNotValid,
                format!(
                    "the origin no longer accepts this working copy's link ({}, LINK_NOT_VALID): \
                     it was revoked or expired, or the identity it acts as was disabled or \
                     lost its role there; ask the origin's managers for a new link",
                    status.as_u16()
                ),
            ),
            Some(c) => ApiError::new(
                c,
                format!(
                    "the origin refused the request ({}, {})",
                    status.as_u16(),
                    c.as_str()
                ),
            ),
            None => ApiError::new(
                ErrorCode::RemoteFailed,
                format!("the origin answered {}", status.as_u16()),
            ),
        })
    }

    pub async fn head(&self) -> ApiResult<RemoteHead> {
        let resp = self
            .send(self.request(reqwest::Method::GET, "/wc/api/head")?)
            .await?;
        let body = crate::outbound::read_limited(resp, 64 * 1024, "the origin's head").await?;
        serde_json::from_slice(&body).map_err(|_| {
            ApiError::new(
                ErrorCode::RemoteFailed,
                "the origin's answer is not a working-copy head",
            )
        })
    }

    pub async fn bundle(&self) -> ApiResult<bytes::Bytes> {
        let resp = self
            .send(self.request(reqwest::Method::GET, "/wc/api/bundle")?)
            .await?;
        crate::outbound::read_limited(resp, max_answer(), "the origin's bundle").await
    }

    pub async fn push(&self, bundle: Vec<u8>, base: i64, force: bool) -> ApiResult<SyncOutcome> {
        let resp = self
            .send(
                self.request(
                    reqwest::Method::POST,
                    &format!("/wc/api/push?base={base}&force={force}"),
                )?
                .header("content-type", "application/zip")
                .body(bundle),
            )
            .await?;
        let body = crate::outbound::read_limited(resp, 64 * 1024, "the origin's answer").await?;
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
            ApiError::new(
                ErrorCode::RemoteFailed,
                "the origin's answer to a push is not JSON",
            )
        })?;
        Ok(SyncOutcome {
            head: v["head"].as_i64().unwrap_or_default(),
            revisions: v["revisions"].as_u64().unwrap_or_default() as usize,
        })
    }
}
