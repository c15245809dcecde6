//! Share links as their visitors see them: a token becomes a session, a recipient sets a
//! password and signs in, and every view runs the report's tiles under the link's access
//! scope (recipients sign in through [`super::sign_in`]). Every request re-reads the link,
//! so revocation and expiry act at once.
//!
//! Whose rows a view shows: visitors of private and authenticated links are users and see
//! what their own role and attributes allow. Public and recipients links show what their
//! creator could see as a viewer, never more whatever the creator's own role, with access
//! filters resolved with the attribute values the link (or the recipient) carries: see
//! [`super::audience`].

use vitrine_core::AuditAction;
use vitrine_core::{
    ErrorCode, LinkKind, LinkRights, LinkState, LinkTarget, Role, ServerPermission,
};
use vitrine_storage::{
    NewAuditEvent, ProjectRecord, ShareLinkRecord, ShareRecipientRecord, ShareSessionRecord,
    UserRecord, now_ms,
};

use super::Sharing;
use super::audience::audience_of;
use crate::caller::{Caller, RequestMeta};
use crate::secrets::{new_token, token_hash};
use crate::{ApiError, ApiResult};

/// How long a share session lasts before the visitor opens the link again.
pub const SHARE_SESSION_TTL_MS: i64 = 12 * 3600 * 1000;

/// A token turned into a session: the cookie to set and the page to go to.
#[derive(Debug, Clone)]
pub struct ShareOpened {
    pub link_uid: String,
    pub session_token: String,
}

/// What the viewer page should show for a request.
#[derive(Debug, Clone)]
pub enum SharePage {
    /// Revoked, expired, paused or unknown: the "no longer valid" page.
    Gone {
        reason: &'static str,
    },
    /// A public link opened without its token (a copied viewer URL).
    NeedsToken,
    /// A recipients link: sign in with e-mail and password.
    SignIn {
        locked: bool,
    },
    /// A recipient on their first visit: choose a password.
    SetPassword {
        name: String,
    },
    /// A private or authenticated link: sign in to Vitrine first.
    SignInUser,
    Ready(Box<ShareAccess>),
}

/// A visitor who may see what the link shares, and how.
#[derive(Debug, Clone)]
pub struct ShareAccess {
    pub link: ShareLinkRecord,
    /// The project the visit stands on: the link's, or (links to whole projects) one of
    /// those it covers.
    pub project: ProjectRecord,
    /// Every project the link covers that its creator can still see.
    pub projects: Vec<ProjectRecord>,
    pub recipient: Option<ShareRecipientRecord>,
    pub session_hash: Option<String>,
    /// The signed-in user (private and authenticated links).
    pub user: Option<UserRecord>,
    /// Whose attributes select rows: the user, or the link's creator.
    pub(crate) scope_user: UserRecord,
    /// The role the scope is resolved with.
    pub(crate) role: Role,
    pub rights: LinkRights,
    /// Where the visit comes from, for audit events.
    pub meta: RequestMeta,
}

impl ShareAccess {
    pub(super) fn copy_owner(&self) -> Option<String> {
        match (&self.recipient, &self.user, &self.session_hash) {
            (Some(r), _, _) => Some(format!("recipient:{}", r.uid)),
            (None, Some(u), _) => Some(format!("user:{}", u.uid)),
            (None, None, Some(s)) => Some(format!("session:{s}")),
            _ => None,
        }
    }

    pub(crate) fn who(&self) -> String {
        match (&self.recipient, &self.user) {
            (Some(r), _) => format!("recipient:{}", r.email),
            (None, Some(u)) => u.username.clone(),
            (None, None) => "public".into(),
        }
    }
}

fn gone(reason: &'static str) -> SharePage {
    SharePage::Gone { reason }
}

impl SharePage {
    /// Why a request at this page gets no data: `None` when the visitor may see it. The
    /// codes are the ones a member gets: LINK_NOT_VALID for a link that is gone, else
    /// UNAUTHENTICATED with the step the visitor must take in the message.
    pub fn refusal(&self) -> Option<ApiError> {
        let unauthenticated = |m: &str| Some(ApiError::new(ErrorCode::Unauthenticated, m));
        match self {
            SharePage::Ready(_) => None,
            SharePage::Gone { reason } => Some(link_gone_error(reason)),
            SharePage::NeedsToken => {
                unauthenticated("open the link you were given to see this report")
            }
            SharePage::SignIn { .. } => {
                unauthenticated("sign in with your e-mail address and password")
            }
            SharePage::SetPassword { .. } => unauthenticated("choose a password first"),
            SharePage::SignInUser => unauthenticated("sign in to Vitrine to open this link"),
        }
    }
}

/// The error of a link that is revoked, expired, paused or unknown; a paused link says
/// so, since its visitors can ask for it to be resumed.
pub fn link_gone_error(reason: &str) -> ApiError {
    ApiError::new(
        ErrorCode::LinkNotValid,
        match reason {
            "paused" => "this link is paused; ask the person who shared it",
            _ => "this link is no longer valid",
        },
    )
}

impl Sharing {
    /// `GET /s/TOKEN`: a public link's token or a recipient's invitation becomes a session.
    pub async fn open_share_token(
        &self,
        token: &str,
        meta: &RequestMeta,
    ) -> ApiResult<ShareOpened> {
        let hash = token_hash(token);
        let not_valid = || ApiError::new(ErrorCode::LinkNotValid, "this link is no longer valid");
        let now = now_ms();
        let (link, recipient) = self.link_of_token(&hash).await?.ok_or_else(not_valid)?;
        match link.state(now) {
            LinkState::Active | LinkState::Locked => {}
            _ => return Err(not_valid()),
        }
        if let Some(r) = &recipient {
            self.store.invitation_opened(&r.uid, now).await?;
        }
        let session_token = new_token("vss");
        self.store
            .insert_share_session(&ShareSessionRecord {
                hash: token_hash(&session_token),
                link_uid: link.uid.clone(),
                recipient_uid: recipient.as_ref().map(|r| r.uid.clone()),
                signed_in: link.kind == LinkKind::Public,
                created_ms: now,
                expires_ms: now + SHARE_SESSION_TTL_MS,
            })
            .await?;
        self.audit_share(
            &link,
            recipient.as_ref(),
            AuditAction::ShareOpen,
            meta,
            recipient
                .as_ref()
                .map(|r| format!("recipient:{}", r.email))
                .unwrap_or_else(|| "public".into()),
        )
        .await?;
        Ok(ShareOpened {
            link_uid: link.uid.into(),
            session_token,
        })
    }

    /// Whether a token (a public link's, a copied view's or an invitation) still opens
    /// its link.
    pub async fn share_token_valid(&self, token: &str) -> ApiResult<bool> {
        let link = self.link_of_token(&token_hash(token)).await?;
        Ok(link.is_some_and(|(l, _)| !l.state(now_ms()).is_final()))
    }

    /// The link (and recipient, for an invitation) a token's hash opens. A revoked
    /// recipient's invitation opens nothing.
    async fn link_of_token(
        &self,
        hash: &str,
    ) -> ApiResult<Option<(ShareLinkRecord, Option<ShareRecipientRecord>)>> {
        if let Some(l) = self.store.share_link_by_token(hash).await? {
            return Ok(Some((l, None)));
        }
        if let Some(r) = self.store.share_recipient_by_token(hash).await? {
            if r.revoked_ms.is_some() {
                return Ok(None);
            }
            let link = self.store.share_link(&r.link_uid).await?;
            return Ok(link.map(|l| (l, Some(r))));
        }
        let link = self.store.share_link_by_view_token(hash).await?;
        Ok(link
            .filter(|l| l.kind == LinkKind::Public)
            .map(|l| (l, None)))
    }

    /// A URL to exactly what the visitor sees (`query`: the viewer's report, tab and
    /// filters). Public links need a token in it, so a fresh one is minted for the same
    /// link (rate-limited per visitor like wrong passwords: 30 in five minutes); every
    /// other kind's page needs no token, since the visitor signs in there.
    pub async fn share_copy_link(&self, a: &ShareAccess, query: &str) -> ApiResult<String> {
        let query = viewer_query(query);
        if a.link.kind != LinkKind::Public {
            return Ok(format!("{}{query}", super::link_path(&a.link.uid)));
        }
        let who = a.session_hash.as_deref().unwrap_or("none");
        if let Err(r) = self.copied_links.reserve(&[who]).await {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!("too many copied links; try again in {} s", r.seconds()),
            ));
        }
        let token = new_token("vts");
        self.store
            .insert_share_view_token(&token_hash(&token), &a.link.uid, now_ms())
            .await?;
        self.audit_share(&a.link, None, AuditAction::ShareCopyLink, &a.meta, a.who())
            .await?;
        Ok(format!("/s/{token}{query}"))
    }

    pub(super) async fn audit_share(
        &self,
        link: &ShareLinkRecord,
        recipient: Option<&ShareRecipientRecord>,
        action: AuditAction,
        meta: &RequestMeta,
        actor: String,
    ) -> ApiResult<()> {
        let event = share_event(link, recipient, action, meta, actor);
        self.audit.append(event).await
    }

    /// Records a change a link visitor asked for and was refused (the member path's
    /// `MUTATION_REFUSED`), named by the visitor and the link. Best-effort like every
    /// refusal record: the refusal itself is the answer.
    pub async fn audit_link_refusal(
        &self,
        a: &ShareAccess,
        field: &str,
        code: &str,
        message: &str,
    ) {
        let mut event = share_event(
            &a.link,
            a.recipient.as_ref(),
            AuditAction::MutationRefused,
            &a.meta,
            a.who(),
        );
        event.object = format!("mutation:{field}");
        event.outcome = code.to_owned();
        event.detail = format!("share_link:{} {} {message}", a.link.uid, event.detail);
        let _ = self.audit.append(event).await;
    }

    /// Decides what a request to `/s/v/LINK` may see. Reads the link, session, recipient
    /// and creator afresh, so a revocation or expiry acts on the very next request.
    pub async fn share_page(
        &self,
        link_uid: &str,
        session_token: Option<&str>,
        user: Option<&Caller>,
        meta: &RequestMeta,
    ) -> ApiResult<SharePage> {
        let link_uid = &vitrine_core::LinkId::from(link_uid);
        let now = now_ms();
        let Some(link) = self.store.share_link(link_uid).await? else {
            return Ok(gone("unknown"));
        };
        let state = link.state(now);
        match state {
            LinkState::Revoked => return Ok(gone("revoked")),
            LinkState::Expired => return Ok(gone("expired")),
            LinkState::Paused => return Ok(gone("paused")),
            LinkState::Active | LinkState::Locked => {}
        }
        // A link to whole projects stands on the first one it covers; each view moves it
        // to the project of the report asked for (see `coverage`).
        let projects = self.visit_projects(&link).await?;
        let Some(project) = projects.first().cloned() else {
            return Ok(gone("unknown"));
        };
        let session = match session_token {
            Some(t) => self
                .store
                .share_session(&token_hash(t))
                .await?
                .filter(|s| s.link_uid == link.uid && s.expires_ms > now),
            None => None,
        };
        let base = |scope_user: UserRecord, role: Role, rights: LinkRights| ShareAccess {
            link: link.clone(),
            project: project.clone(),
            projects: projects.clone(),
            recipient: None,
            session_hash: session.as_ref().map(|s| s.hash.clone()),
            user: None,
            scope_user,
            role,
            rights,
            meta: meta.clone(),
        };
        match link.kind {
            LinkKind::Private | LinkKind::Authenticated => {
                let Some(caller) = user else {
                    return Ok(SharePage::SignInUser);
                };
                let role = self
                    .authz
                    .effective_role(caller, &crate::directory::project_obj(&project.uid));
                let role = if role >= Role::Viewer {
                    role
                } else if link.kind == LinkKind::Authenticated
                    && link.report_uid.is_some()
                    && self
                        .authz
                        .has_permission(caller, ServerPermission::SharedReportViewer)
                {
                    Role::Viewer
                } else {
                    return Err(ApiError::forbidden(
                        "your permissions do not include what this link shares",
                    ));
                };
                // A read-only token writes nothing, on this path as on every other.
                let may_write = !caller.read_only();
                let rights = if link.kind == LinkKind::Private {
                    // Members act with their own role: editors edit the report itself.
                    // Download and drill are then decided as on the member path
                    // (abilities, connection role) by the share view.
                    LinkRights {
                        download: true,
                        edit: role >= Role::Editor && may_write,
                        sync_edits: role >= Role::Editor && may_write,
                        drill: true,
                        // Members schedule deliveries as tasks of their own.
                        schedule: false,
                    }
                } else {
                    LinkRights {
                        edit: link.rights.edit && may_write,
                        sync_edits: link.rights.sync_edits && may_write,
                        ..link.rights
                    }
                };
                let mut a = base(caller.user().clone(), role, rights);
                a.user = Some(caller.user().clone());
                Ok(SharePage::Ready(Box::new(a)))
            }
            LinkKind::Public => {
                let Some(_) = session else {
                    return Ok(SharePage::NeedsToken);
                };
                let Some(mut creator) = self.live_creator(&link).await? else {
                    return Ok(gone("owner"));
                };
                // Rows are selected with the link's own values, never the creator's today.
                creator.attributes = audience_of(&link, None);
                Ok(SharePage::Ready(Box::new(base(
                    creator,
                    Role::Viewer,
                    link.rights,
                ))))
            }
            LinkKind::Recipients => {
                let recipient = match session.as_ref().and_then(|s| s.recipient_uid.clone()) {
                    Some(r) => self
                        .store
                        .share_recipient(&r)
                        .await?
                        .filter(|r| r.revoked_ms.is_none()),
                    None => None,
                };
                let signed_in = session.as_ref().is_some_and(|s| s.signed_in);
                match recipient {
                    Some(r) if signed_in => {
                        let hash = session.as_ref().map(|s| s.hash.clone());
                        let visit = self
                            .recipient_visit(&link, &projects, r, hash, meta)
                            .await?;
                        Ok(visit.map_or(gone("owner"), |a| SharePage::Ready(Box::new(a))))
                    }
                    Some(r) if r.password_hash.is_none() => {
                        Ok(SharePage::SetPassword { name: r.name })
                    }
                    _ => Ok(SharePage::SignIn {
                        locked: state == LinkState::Locked,
                    }),
                }
            }
        }
    }

    /// A recipient's visit of `link`: rows selected with their own (or the link's)
    /// attribute values, never the creator's, within the link's rights. `None` once the
    /// link's creator can no longer see what it shares.
    pub(super) async fn recipient_visit(
        &self,
        link: &ShareLinkRecord,
        projects: &[ProjectRecord],
        r: ShareRecipientRecord,
        session_hash: Option<String>,
        meta: &RequestMeta,
    ) -> ApiResult<Option<ShareAccess>> {
        let (Some(mut creator), Some(project)) =
            (self.live_creator(link).await?, projects.first().cloned())
        else {
            return Ok(None);
        };
        creator.attributes = audience_of(link, Some(&r));
        Ok(Some(ShareAccess {
            link: link.clone(),
            project,
            projects: projects.to_vec(),
            rights: r.role.rights(link.rights, r.rights),
            recipient: Some(r),
            session_hash,
            user: None,
            scope_user: creator,
            role: Role::Viewer,
            meta: meta.clone(),
        }))
    }

    /// The link's creator, if they can still see the project: a link never outlives its
    /// creator's own access.
    pub(super) async fn live_creator(
        &self,
        link: &ShareLinkRecord,
    ) -> ApiResult<Option<UserRecord>> {
        let Some(u) = self.store.user(&link.created_by).await? else {
            return Ok(None);
        };
        if link.content.is_some() {
            // Each covered project was checked against the creator's role already.
            return Ok((!u.disabled).then_some(u));
        }
        let role = self
            .authz
            .effective_role(&u.uid, &crate::directory::project_obj(&link.project_uid));
        Ok((!u.disabled && role >= Role::Viewer).then_some(u))
    }

    /// Whether a link's page may be framed by other sites: links made for one tab are the
    /// product's embeds; everything else is framed by this instance only.
    pub async fn share_link_embeddable(&self, link_uid: &str) -> ApiResult<bool> {
        let link_uid = &vitrine_core::LinkId::from(link_uid);
        Ok(self
            .store
            .share_link(link_uid)
            .await?
            .is_some_and(|l| matches!(l.target(), LinkTarget::Tab { .. })))
    }
}

pub(super) fn share_detail(
    recipient: Option<&ShareRecipientRecord>,
    user_agent: Option<&str>,
) -> String {
    let ua = user_agent.unwrap_or("");
    match recipient {
        Some(r) => format!("recipient:{} ua:{ua}", r.uid),
        None => format!("ua:{ua}"),
    }
}

/// Only the viewer's own parameters (report, tab, filters) of a query string, re-encoded,
/// with the leading `?`; empty when none is left.
fn viewer_query(raw: &str) -> String {
    let kept: Vec<(String, String)> =
        form_urlencoded::parse(raw.trim_start_matches('?').as_bytes())
            .filter(|(k, _)| matches!(k.as_ref(), "report" | "tab" | "filters"))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    if kept.is_empty() {
        return String::new();
    }
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(kept)
        .finish();
    format!("?{encoded}")
}

/// The audit event of a link visitor's action: named by the link, not by a user.
pub(crate) fn share_event(
    link: &ShareLinkRecord,
    recipient: Option<&ShareRecipientRecord>,
    action: AuditAction,
    meta: &RequestMeta,
    actor: String,
) -> NewAuditEvent {
    NewAuditEvent {
        actor_uid: None,
        actor_name: actor,
        action,
        object: format!("share_link:{}", link.uid),
        outcome: "ok".into(),
        address: meta.address.clone(),
        detail: share_detail(recipient, meta.user_agent.as_deref()),
    }
}
