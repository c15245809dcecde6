//! Share links as their managers see them: change, pin, pause, revoke and unlock them.
//! Beside this module: [`create`] (a new link, checked whole), [`coverage`] (links to
//! several projects or a folder, and what they offer), [`ledger`] (the share ledger and
//! what each link shows), [`recipients`] (a recipients link's people), [`warnings`]
//! (access warnings and the share policy), [`visit`] (who a visitor is: tokens, sessions,
//! passwords), [`view`] (what a visitor sees) and [`files`] (report files made for a
//! link's audience: deliveries and delivered files).
//!
//! Only managers of what a link covers (and admins) touch links. Recipients hold no account at all,
//! so nothing here can be reached with a recipient's session: they can never reshare.

mod access_log;
mod audience;
mod coverage;
mod create;
mod files;
mod invites;
mod ledger;
mod recipients;
mod sign_in;
mod view;
pub(crate) mod visit;
mod warnings;

use vitrine_core::AuditAction;

use vitrine_core::{ErrorCode, LinkRights, LinkState, LinkTarget};
use vitrine_storage::{ShareLinkRecord, ShareRecipientRecord, now_ms};

pub use crate::exposure::SharePolicy;
pub use access_log::AccessLog;
pub use audience::{AttributeInput, FilterInForce};
pub use coverage::{MAX_LINK_PROJECTS, NewCoverage, SharedProject};
pub use create::NewShareLink;
pub use files::SharedFile;
pub use recipients::NewRecipient;
pub use view::ShareView;
pub use visit::{ShareAccess, ShareOpened, SharePage, link_gone_error};

use std::sync::Arc;
use std::time::Duration;

use vitrine_authz::Authz;
use vitrine_storage::Store;

use crate::caller::Caller;
use crate::commits::Commits;
use crate::exposure::Exposures;
use crate::ratelimit::{AttemptLimiter, LimitPolicy, limits};
use crate::{ApiError, ApiResult, Audit, Data, Directory, Identity};

/// Wrong passwords after which a recipients link locks until a manager unlocks it.
pub const LOCK_AFTER_FAILURES: i64 = 10;

/// The sharing service: links and their ledger, recipients, visits and what visitors see.
pub struct Sharing {
    store: Store,
    /// Whether a link's creator still holds the role the link relies on.
    authz: Arc<Authz>,
    audit: Audit,
    /// A visit's caller is made by the identity service, like every other caller.
    identity: Arc<Identity>,
    directory: Directory,
    /// What a visitor sees is answered by the one viewer path, as for members.
    data: Data,
    /// Edits a link lets through are saved as members' are.
    commits: Commits,
    exposure: Exposures,
    /// Shared views, counted and audited off the request path.
    access_log: AccessLog,
    /// Recipient password checks per address, per (link, recipient) and per link,
    /// reserved before any hashing; the link-wide lock itself is stored on the link.
    share_by_address: AttemptLimiter,
    share_by_recipient: AttemptLimiter,
    share_by_link: AttemptLimiter,
    /// Fresh public-link tokens minted by "copy link", per visitor.
    copied_links: AttemptLimiter,
    /// Recipient password checks in flight: at most half the cores, so a flood of
    /// guesses can never take the CPU that views need.
    share_checks: Arc<tokio::sync::Semaphore>,
    /// Invitations e-mailed to recipients, and notices to links' managers.
    mailer: crate::mail::Mailer,
    /// Requests for a new invitation, per address: a page that mails people is not a
    /// free mail cannon.
    invitation_requests: AttemptLimiter,
}

/// What [`Sharing`] is built from; it makes its own limiters.
pub(crate) struct SharingParts {
    pub store: Store,
    pub authz: Arc<Authz>,
    pub audit: Audit,
    pub identity: Arc<Identity>,
    pub directory: Directory,
    pub data: Data,
    pub commits: Commits,
    pub exposure: Exposures,
    pub access_log: AccessLog,
    pub mailer: crate::mail::Mailer,
    /// In a cluster, where every node's attempt counts are kept.
    pub shared_limits: Option<crate::ratelimit::RedisLimits>,
}

impl Sharing {
    pub(crate) fn new(p: SharingParts) -> Self {
        let shared = p.shared_limits.as_ref();
        Sharing {
            store: p.store,
            authz: p.authz,
            audit: p.audit,
            identity: p.identity,
            directory: p.directory,
            data: p.data,
            commits: p.commits,
            exposure: p.exposure,
            access_log: p.access_log,
            mailer: p.mailer,
            invitation_requests: AttemptLimiter::shared(
                "invitation_requests",
                LimitPolicy::fixed(10, Duration::from_secs(3600)),
                shared,
            ),
            share_by_address: AttemptLimiter::shared(
                "share_by_address",
                limits::SHARE_PER_ADDRESS,
                shared,
            ),
            share_by_recipient: AttemptLimiter::shared(
                "share_by_recipient",
                limits::PER_ACCOUNT,
                shared,
            ),
            share_by_link: AttemptLimiter::shared(
                "share_by_link",
                LimitPolicy::fixed(LOCK_AFTER_FAILURES as u32, Duration::from_secs(24 * 3600)),
                shared,
            ),
            copied_links: AttemptLimiter::shared(
                "copied_links",
                LimitPolicy::fixed(30, Duration::from_secs(300)),
                shared,
            ),
            share_checks: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            )),
        }
    }
}

/// A change to a link; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct ShareLinkChange {
    pub label: Option<String>,
    pub rights: Option<LinkRights>,
    /// `Some(None)` removes the expiry.
    pub expires_ms: Option<Option<i64>>,
    /// `Some(true)` pins the link to the report as it is now (again, if it was pinned);
    /// `Some(false)` makes it follow the latest version.
    pub pinned: Option<bool>,
    /// Pins the link to the report as this revision (uid) held it.
    pub pinned_revision: Option<String>,
    /// Replaces the attribute values the audience's rows are selected with.
    pub attributes: Option<audience::AttributeInput>,
}

/// A secret URL, shown once: a public link's, or one recipient's invitation.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub recipient: Option<ShareRecipientRecord>,
    /// Path and token, e.g. `/s/vts_…`; the server prefixes its public URL.
    pub path: String,
}

#[derive(Debug, Clone)]
pub struct CreatedShareLink {
    pub link: ShareLinkRecord,
    /// The link's own URL: the token URL of a public link, else the sign-in page.
    pub path: String,
    pub invitations: Vec<Invitation>,
}

/// The page of a link that needs no token: private, authenticated and recipients links.
pub fn link_path(uid: &str) -> String {
    format!("/s/v/{uid}")
}

fn revoked_link() -> ApiError {
    ApiError::new(
        ErrorCode::LinkNotValid,
        "this link is revoked; create a new one",
    )
}

pub fn link_state(l: &ShareLinkRecord, now: i64) -> LinkState {
    l.state(now)
}

pub(super) fn check_label(raw: Option<&str>) -> ApiResult<String> {
    match raw.map(str::trim) {
        None | Some("") => Ok(String::new()),
        Some(l) => Ok(vitrine_core::Name::parse("label", l)?.into_inner()),
    }
}

/// A pinned link shows a fixed version of one report, so it opens a report or a tab and
/// carries no edit right (an edit could not be shown through it).
pub(super) fn check_pin(pinned: bool, target: &LinkTarget, rights: &LinkRights) -> ApiResult<()> {
    if !pinned {
        return Ok(());
    }
    if *target == LinkTarget::Project {
        return Err(ApiError::invalid(
            "pinned: only a link to a report or a tab can be pinned",
        ));
    }
    if rights.edit {
        return Err(ApiError::invalid(
            "rights.edit: a pinned link shows a fixed version of the report and cannot carry the edit right; let it follow the latest version to allow edits",
        ));
    }
    Ok(())
}

pub(super) fn check_expiry(expires_ms: Option<i64>) -> ApiResult<()> {
    if expires_ms.is_some_and(|e| e <= now_ms()) {
        return Err(ApiError::invalid("expiresAt: must be in the future"));
    }
    Ok(())
}

impl Sharing {
    /// A link's project, checked for the manage action: managers and admins only.
    async fn managed_link(
        &self,
        caller: &Caller,
        uid: &vitrine_core::LinkId,
    ) -> ApiResult<ShareLinkRecord> {
        let link = self
            .store
            .share_link(uid)
            .await?
            .ok_or_else(|| ApiError::not_found("share link"))?;
        self.check_manages(caller, &link)
            .await
            .map_err(|e| match e.code {
                ErrorCode::NotFound => ApiError::not_found("share link"),
                _ => e,
            })?;
        Ok(link)
    }

    pub async fn share_link_for(&self, caller: &Caller, uid: &str) -> ApiResult<ShareLinkRecord> {
        self.access_log.flush().await;
        self.managed_link(caller, &vitrine_core::LinkId::from(uid))
            .await
    }

    pub async fn update_share_link(
        &self,
        caller: &Caller,
        uid: &str,
        change: ShareLinkChange,
    ) -> ApiResult<ShareLinkRecord> {
        caller.require_write()?;
        let mut link = self
            .managed_link(caller, &vitrine_core::LinkId::from(uid))
            .await?;
        if link_state(&link, now_ms()) == LinkState::Revoked {
            return Err(ApiError::new(
                ErrorCode::LinkNotValid,
                "this link is revoked; create a new one",
            ));
        }
        if let Some(l) = change.label {
            link.label = check_label(Some(&l))?;
        }
        if let Some(r) = change.rights {
            r.check(link.kind, &link.target())?;
            if let Some(c) = &link.content {
                c.check(link.kind, &link.target(), &r)?;
            }
            link.rights = r;
        }
        if let Some(e) = change.expires_ms {
            check_expiry(e)?;
            link.expires_ms = e;
        }
        if let Some(a) = change.attributes {
            Self::change_link_attributes(&mut link, a)?;
        }
        if change.pinned == Some(false) && change.pinned_revision.is_some() {
            return Err(ApiError::invalid(
                "pinnedRevisionId: a link pinned to a revision is pinned; drop pinned: false",
            ));
        }
        let repin = change
            .pinned
            .or(change.pinned_revision.is_some().then_some(true));
        let pinned = repin.unwrap_or(link.pinned.is_some());
        check_pin(pinned, &link.target(), &link.rights)?;
        // A new pin or un-pinning changes what the link shows: checked like a report edit.
        let mut exposures = Vec::new();
        if let (Some(p), Some(report)) = (repin, link.report_uid.clone()) {
            let before = self.link_definition(&link).await?;
            link.pinned = if p {
                Some(
                    self.pin_report(&report, change.pinned_revision.as_deref())
                        .await?,
                )
            } else {
                None
            };
            let after = self.link_definition(&link).await?;
            exposures = self
                .exposure
                .check_link_change(&link, &before, &after)
                .await?;
        }
        link.updated_ms = now_ms();
        if !self.store.update_share_link(&link).await? {
            return Err(revoked_link());
        }
        if !exposures.is_empty() {
            let report = link.report_uid.clone().unwrap_or_default();
            self.exposure
                .record_exposure(&report, vec![(link.clone(), exposures)])
                .await?;
            link = self
                .managed_link(caller, &vitrine_core::LinkId::from(uid))
                .await?;
        }
        self.audit
            .record(
                caller,
                AuditAction::ShareLinkUpdate,
                &format!("share_link:{uid}"),
                "ok",
                "",
            )
            .await?;
        Ok(link)
    }

    /// Pause, resume, revoke or unlock. Revocation is final and ends every session of the
    /// link at once, so the very next request fails.
    pub async fn set_share_link_state(
        &self,
        caller: &Caller,
        uid: &str,
        op: LinkOp,
    ) -> ApiResult<ShareLinkRecord> {
        let uid = &vitrine_core::LinkId::from(uid);
        caller.require_write()?;
        let mut link = self.managed_link(caller, uid).await?;
        let now = now_ms();
        if link.revoked_ms.is_some() && op != LinkOp::Revoke {
            return Err(ApiError::new(
                ErrorCode::LinkNotValid,
                "this link is revoked; create a new one",
            ));
        }
        // Each change is one conditional statement: a revoke always wins, and no edit
        // read earlier can undo a pause, a revoke or a lock.
        let applied = match op {
            LinkOp::Pause => self.store.set_share_link_paused(uid, true, now).await?,
            LinkOp::Resume => self.store.set_share_link_paused(uid, false, now).await?,
            LinkOp::Unlock => {
                let done = self.store.unlock_share_link(uid, now).await?;
                self.share_by_link.clear(uid).await;
                done
            }
            LinkOp::Revoke => {
                self.store.revoke_share_link(uid, now).await?;
                true
            }
        };
        if !applied {
            return Err(revoked_link());
        }
        link = self.managed_link(caller, uid).await?;
        if op == LinkOp::Revoke {
            self.store.delete_share_sessions(uid, None).await?;
        }
        self.audit
            .record(caller, op.action(), &format!("share_link:{uid}"), "ok", "")
            .await?;
        Ok(link)
    }

    /// Unlocks a link from the machine's shell (`vitrine admin unlock-link`), for an
    /// operator whose managers cannot: the wrong-password count starts again.
    pub async fn unlock_link_from_shell(&self, uid: &str) -> ApiResult<ShareLinkRecord> {
        let uid = &vitrine_core::LinkId::from(uid);
        let link = self
            .store
            .share_link(uid)
            .await?
            .ok_or_else(|| ApiError::not_found("share link"))?;
        if !self.store.unlock_share_link(uid, now_ms()).await? {
            return Err(revoked_link());
        }
        self.share_by_link.clear(uid).await;
        let object = format!("share_link:{uid}");
        self.audit
            .shell(AuditAction::ShareLinkUnlock, &object, "from the shell")
            .await?;
        Ok(link)
    }

    /// Revokes many links at once (the ledger's bulk action). Each is checked on its own;
    /// the first refusal stops before anything else changes.
    pub async fn revoke_share_links(
        &self,
        caller: &Caller,
        uids: &[String],
    ) -> ApiResult<Vec<ShareLinkRecord>> {
        caller.require_write()?;
        for uid in uids {
            self.managed_link(caller, &vitrine_core::LinkId::from(uid))
                .await?;
        }
        let mut out = Vec::new();
        for uid in uids {
            out.push(
                self.set_share_link_state(caller, uid, LinkOp::Revoke)
                    .await?,
            );
        }
        Ok(out)
    }
}

/// The state changes a manager makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOp {
    Pause,
    Resume,
    Revoke,
    Unlock,
}

impl LinkOp {
    fn action(self) -> AuditAction {
        match self {
            LinkOp::Pause => AuditAction::ShareLinkPause,
            LinkOp::Resume => AuditAction::ShareLinkResume,
            LinkOp::Revoke => AuditAction::ShareLinkRevoke,
            LinkOp::Unlock => AuditAction::ShareLinkUnlock,
        }
    }
}
