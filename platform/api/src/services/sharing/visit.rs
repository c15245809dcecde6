//! Share links as their visitors see them: a token becomes a session, a recipient sets a
//! password and signs in, and every view runs the report's tiles under the link's access
//! scope. Every request re-reads the link, so revocation and expiry act at once.
//!
//! Whose rows a view shows: visitors of private and authenticated links are users and see
//! what their own role and attributes allow. Public and recipients links show what their
//! creator would see as a viewer (access filters resolved with the creator's attributes),
//! never more, whatever the creator's own role.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use vitrine_core::{
    ConnectionRole, ErrorCode, LinkKind, LinkRights, LinkState, RecipientPassword, Role,
    ServerPermission, check_email, may_query,
};
use vitrine_engine::report::{FilterState, ReportDefinition, Tile, check_state, tile_conditions};
use vitrine_engine::{QueryResult, QuerySpec, Scope};
use vitrine_storage::{
    NewAuditEvent, ProjectRecord, ReportRecord, ShareCopyRecord, ShareLinkRecord,
    ShareRecipientRecord, ShareSessionRecord, UserRecord, now_ms,
};

use super::{LOCK_AFTER_FAILURES, link_state};
use crate::caller::{Caller, RequestMeta};
use crate::secrets::{new_token, token_hash};
use crate::services::security::{has_column, scope_of};
use crate::services::{Services, TileDownload};
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
    pub project: ProjectRecord,
    pub recipient: Option<ShareRecipientRecord>,
    pub session_hash: Option<String>,
    /// The signed-in user (private and authenticated links).
    pub user: Option<UserRecord>,
    /// Whose attributes select rows: the user, or the link's creator.
    scope_user: UserRecord,
    /// The role the scope is resolved with.
    role: Role,
    pub rights: LinkRights,
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

impl ShareAccess {
    fn copy_owner(&self) -> Option<String> {
        match (&self.recipient, &self.user, &self.session_hash) {
            (Some(r), _, _) => Some(format!("recipient:{}", r.uid)),
            (None, Some(u), _) => Some(format!("user:{}", u.uid)),
            (None, None, Some(s)) => Some(format!("session:{s}")),
            _ => None,
        }
    }

    fn who(&self) -> String {
        match (&self.recipient, &self.user) {
            (Some(r), _) => format!("recipient:{}", r.email),
            (None, Some(u)) => u.username.clone(),
            (None, None) => "public".into(),
        }
    }
}

/// The report as the viewer page draws it.
#[derive(Debug, Clone, Serialize)]
pub struct ShareView {
    pub kind: LinkKind,
    pub report_uid: String,
    pub report_name: String,
    pub project_name: String,
    /// Only the linked tab for a tab link.
    pub definition: ReportDefinition,
    pub rights: LinkRights,
    /// Set when the viewer sees their own edited copy.
    pub own_copy: bool,
    pub visitor: String,
    /// Reports a project link opens.
    pub reports: Vec<(String, String)>,
}

fn gone(reason: &'static str) -> SharePage {
    SharePage::Gone { reason }
}

fn wrong_password() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidCredentials,
        "the e-mail address or password is wrong",
    )
}

impl Services {
    /// `GET /s/TOKEN`: a public link's token or a recipient's invitation becomes a session.
    pub async fn open_share_token(
        &self,
        token: &str,
        meta: &RequestMeta,
    ) -> ApiResult<ShareOpened> {
        let hash = token_hash(token);
        let not_valid = || ApiError::new(ErrorCode::LinkNotValid, "this link is no longer valid");
        let now = now_ms();
        let (link, recipient) = if let Some(l) = self.store.share_link_by_token(&hash).await? {
            (l, None)
        } else if let Some(r) = self.store.share_recipient_by_token(&hash).await? {
            if r.revoked_ms.is_some() {
                return Err(not_valid());
            }
            let l = self
                .store
                .share_link(&r.link_uid)
                .await?
                .ok_or_else(not_valid)?;
            (l, Some(r))
        } else {
            return Err(not_valid());
        };
        match link_state(&link, now) {
            LinkState::Active | LinkState::Locked => {}
            _ => return Err(not_valid()),
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
            "share.open",
            meta,
            recipient
                .as_ref()
                .map(|r| format!("recipient:{}", r.email))
                .unwrap_or_else(|| "public".into()),
        )
        .await;
        Ok(ShareOpened {
            link_uid: link.uid,
            session_token,
        })
    }

    /// Whether a token (a public link's or an invitation) still opens its link.
    pub async fn share_token_valid(&self, token: &str) -> ApiResult<bool> {
        let hash = token_hash(token);
        let link = match self.store.share_link_by_token(&hash).await? {
            Some(l) => Some(l),
            None => match self.store.share_recipient_by_token(&hash).await? {
                Some(r) if r.revoked_ms.is_none() => self.store.share_link(&r.link_uid).await?,
                _ => None,
            },
        };
        Ok(link.is_some_and(|l| !link_state(&l, now_ms()).is_final()))
    }

    async fn audit_share(
        &self,
        link: &ShareLinkRecord,
        recipient: Option<&ShareRecipientRecord>,
        action: &str,
        meta: &RequestMeta,
        actor: String,
    ) {
        let event = NewAuditEvent {
            actor_uid: None,
            actor_name: actor,
            action: action.into(),
            object: format!("share_link:{}", link.uid),
            outcome: "ok".into(),
            address: meta.address.clone(),
            detail: share_detail(recipient, meta.user_agent.as_deref()),
        };
        if let Err(e) = self.store.append_audit(event).await {
            tracing::error!(action, error = %e, "audit event not written");
        }
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
        let now = now_ms();
        let Some(link) = self.store.share_link(link_uid).await? else {
            return Ok(gone("unknown"));
        };
        let state = link_state(&link, now);
        match state {
            LinkState::Revoked => return Ok(gone("revoked")),
            LinkState::Expired => return Ok(gone("expired")),
            LinkState::Paused => return Ok(gone("paused")),
            LinkState::Active | LinkState::Locked => {}
        }
        let Some(project) = self.store.project(&link.project_uid).await? else {
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
            recipient: None,
            session_hash: session.as_ref().map(|s| s.hash.clone()),
            user: None,
            scope_user,
            role,
            rights,
            address: meta.address.clone(),
            user_agent: meta.user_agent.clone(),
        };
        match link.kind {
            LinkKind::Private | LinkKind::Authenticated => {
                let Some(caller) = user else {
                    return Ok(SharePage::SignInUser);
                };
                let role = self
                    .authz
                    .effective_role(caller.uid(), &Services::project_obj(&project.uid));
                let role = if role >= Role::Viewer {
                    role
                } else if link.kind == LinkKind::Authenticated
                    && link.report_uid.is_some()
                    && self
                        .authz
                        .has_permission(caller.uid(), ServerPermission::SharedReportViewer)
                {
                    Role::Viewer
                } else {
                    return Err(ApiError::forbidden(
                        "your permissions do not include what this link shares",
                    ));
                };
                let rights = if link.kind == LinkKind::Private {
                    // Members act with their own role: editors edit the report itself.
                    LinkRights {
                        download: true,
                        edit: role >= Role::Editor,
                        sync_edits: role >= Role::Editor,
                        drill: true,
                    }
                } else {
                    link.rights
                };
                let mut a = base(caller.user.clone(), role, rights);
                a.user = Some(caller.user.clone());
                Ok(SharePage::Ready(Box::new(a)))
            }
            LinkKind::Public => {
                let Some(_) = session else {
                    return Ok(SharePage::NeedsToken);
                };
                let Some(creator) = self.live_creator(&link).await? else {
                    return Ok(gone("owner"));
                };
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
                        let Some(creator) = self.live_creator(&link).await? else {
                            return Ok(gone("owner"));
                        };
                        let rights = r.role.rights(link.rights, r.rights);
                        let mut a = base(creator, Role::Viewer, rights);
                        a.recipient = Some(r);
                        Ok(SharePage::Ready(Box::new(a)))
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

    /// The link's creator, if they can still see the project: a link never outlives its
    /// creator's own access.
    async fn live_creator(&self, link: &ShareLinkRecord) -> ApiResult<Option<UserRecord>> {
        let Some(u) = self.store.user(&link.created_by).await? else {
            return Ok(None);
        };
        let role = self
            .authz
            .effective_role(&u.uid, &Services::project_obj(&link.project_uid));
        Ok((!u.disabled && role >= Role::Viewer).then_some(u))
    }

    /// Sets a recipient's first password (from their invitation session) and signs them in.
    pub async fn share_set_password(
        &self,
        link_uid: &str,
        session_token: &str,
        password: &str,
        meta: &RequestMeta,
    ) -> ApiResult<()> {
        let hash = token_hash(session_token);
        let session = self
            .store
            .share_session(&hash)
            .await?
            .filter(|s| s.link_uid == link_uid && s.expires_ms > now_ms())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthenticated,
                    "open your invitation link to set a password",
                )
            })?;
        let link = self.usable_link(link_uid).await?;
        let rec = match &session.recipient_uid {
            Some(r) => self.store.share_recipient(r).await?,
            None => None,
        }
        .filter(|r| r.revoked_ms.is_none())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthenticated,
                "open your invitation link to set a password",
            )
        })?;
        let password = RecipientPassword::parse(password)?;
        if rec.password_hash.is_some() {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "a password is set already; sign in with it",
            ));
        }
        let hashed = self.hasher.hash(password.expose()).await?;
        if !self.store.set_recipient_password(&rec.uid, &hashed).await? {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "a password is set already; sign in with it",
            ));
        }
        self.store.sign_in_share_session(&hash, &rec.uid).await?;
        self.audit_share(
            &link,
            Some(&rec),
            "share.password_set",
            meta,
            format!("recipient:{}", rec.email),
        )
        .await;
        Ok(())
    }

    async fn usable_link(&self, link_uid: &str) -> ApiResult<ShareLinkRecord> {
        let link = self.store.share_link(link_uid).await?.ok_or_else(|| {
            ApiError::new(ErrorCode::LinkNotValid, "this link is no longer valid")
        })?;
        match link_state(&link, now_ms()) {
            LinkState::Active => Ok(link),
            LinkState::Locked => Err(locked()),
            _ => Err(ApiError::new(
                ErrorCode::LinkNotValid,
                "this link is no longer valid",
            )),
        }
    }

    /// Signs a recipient in with e-mail and password. Rate limits (per link, per address)
    /// and the link's lock are checked before any hashing, and hashing itself is bounded
    /// by the hasher's permits, so a flood of guesses costs little and locks the link.
    pub async fn share_sign_in(
        &self,
        link_uid: &str,
        session_token: Option<&str>,
        email: &str,
        password: &str,
        meta: &RequestMeta,
    ) -> ApiResult<String> {
        let link = self.usable_link(link_uid).await?;
        if link.kind != LinkKind::Recipients {
            return Err(ApiError::invalid("this link has no recipients to sign in"));
        }
        let by_link = format!("link:{link_uid}");
        let by_address = format!("share:{}", meta.address.as_deref().unwrap_or("unknown"));
        for key in [&by_link, &by_address] {
            if let Some(wait) = self.share_failures.blocked_for(key) {
                return Err(ApiError::new(
                    ErrorCode::RateLimited,
                    format!("too many wrong passwords; try again in {wait} s"),
                ));
            }
        }
        let email = check_email(email).unwrap_or_default();
        let rec = self
            .store
            .share_recipient_by_email(link_uid, &email)
            .await?
            .filter(|r| r.revoked_ms.is_none());
        let stored = rec.as_ref().and_then(|r| r.password_hash.clone());
        let ok = self.hasher.verify(password, stored.as_deref()).await?;
        let Some(rec) = rec.filter(|_| ok) else {
            self.share_failures.record_failure(&by_link);
            self.share_failures.record_failure(&by_address);
            let after = self
                .store
                .share_link_failure(link_uid, LOCK_AFTER_FAILURES, now_ms())
                .await?;
            let event = NewAuditEvent {
                actor_uid: None,
                actor_name: format!("recipient:{email}"),
                action: "share.sign_in".into(),
                object: format!("share_link:{link_uid}"),
                outcome: "denied".into(),
                address: meta.address.clone(),
                detail: meta.user_agent.clone().unwrap_or_default(),
            };
            self.access_log.queue_event(event);
            if after.is_some_and(|l| l.locked_ms.is_some()) {
                tracing::warn!(
                    link = link_uid,
                    "share link locked after repeated wrong passwords"
                );
                return Err(locked());
            }
            return Err(wrong_password());
        };
        self.share_failures.clear(&by_link);
        self.store.share_link_success(link_uid).await?;
        // A fresh session on every sign-in: a session fixed before sign-in is never promoted.
        if let Some(t) = session_token {
            self.store.delete_share_session(&token_hash(t)).await?;
        }
        let token = new_token("vss");
        let now = now_ms();
        self.store
            .insert_share_session(&ShareSessionRecord {
                hash: token_hash(&token),
                link_uid: link_uid.to_owned(),
                recipient_uid: Some(rec.uid.clone()),
                signed_in: true,
                created_ms: now,
                expires_ms: now + SHARE_SESSION_TTL_MS,
            })
            .await?;
        self.audit_share(
            &link,
            Some(&rec),
            "share.sign_in",
            meta,
            format!("recipient:{}", rec.email),
        )
        .await;
        Ok(token)
    }

    pub async fn share_sign_out(&self, session_token: &str) -> ApiResult<()> {
        Ok(self
            .store
            .delete_share_session(&token_hash(session_token))
            .await?)
    }

    /// The report a visitor sees: their own copy when they edited one, only the linked
    /// tab for a tab link.
    async fn shared_report(
        &self,
        a: &ShareAccess,
        report_uid: Option<&str>,
    ) -> ApiResult<(ReportRecord, ReportDefinition, bool)> {
        let uid = match (&a.link.report_uid, report_uid) {
            (Some(r), _) => r.clone(),
            (None, Some(r)) => r.to_owned(),
            (None, None) => self
                .store
                .reports(&a.project.uid)
                .await?
                .into_iter()
                .next()
                .map(|r| r.uid)
                .ok_or_else(|| ApiError::not_found("report (the project has none yet)"))?,
        };
        let report = self
            .store
            .report(&uid)
            .await?
            .filter(|r| r.project_uid == a.project.uid)
            .ok_or_else(|| ApiError::not_found("report"))?;
        let mut own = false;
        let mut def = ReportDefinition::parse(&report.definition)?;
        if let Some(owner) = a
            .copy_owner()
            .filter(|_| a.rights.edit && !a.rights.sync_edits)
            && let Some(c) = self.store.share_copy(&a.link.uid, &owner).await?
            && c.report_uid == report.uid
        {
            def = ReportDefinition::parse(&c.definition)?;
            own = true;
        }
        if let Some(tab) = &a.link.tab {
            def.tabs.retain(|t| &t.id == tab);
        }
        Ok((report, def, own))
    }

    pub async fn share_view(
        &self,
        a: &ShareAccess,
        report_uid: Option<&str>,
    ) -> ApiResult<ShareView> {
        let (report, definition, own_copy) = self.shared_report(a, report_uid).await?;
        let reports = match a.link.report_uid {
            Some(_) => Vec::new(),
            None => self
                .store
                .reports(&a.project.uid)
                .await?
                .into_iter()
                .map(|r| (r.uid, r.name))
                .collect(),
        };
        Ok(ShareView {
            kind: a.link.kind,
            report_uid: report.uid,
            report_name: report.name,
            project_name: a.project.name.clone(),
            definition,
            rights: a.rights,
            own_copy,
            visitor: a.who(),
            reports,
        })
    }

    /// The scope and permission check of one tile for a visitor.
    async fn share_scope(
        &self,
        a: &ShareAccess,
        tile: &Tile,
        needed: ConnectionRole,
    ) -> ApiResult<Scope> {
        let sec = self.data_security().await?;
        let connection = self.connection_role(&a.scope_user, &sec);
        if !may_query(
            a.role,
            connection,
            needed,
            self.boosted(&a.project.uid, &sec),
        ) {
            return Err(ApiError::forbidden(format!(
                "tile `{}` needs the {} connection role, which this link does not carry",
                tile.id,
                needed.as_str()
            )));
        }
        if a.user.is_some() {
            self.scope_for(&a.scope_user, a.role, &a.project.uid, &tile.query.dataset)
                .await
        } else {
            let rules = self.rules_of(&a.project.uid).await?;
            Ok(scope_of(&a.scope_user, rules.get(&tile.query.dataset)))
        }
    }

    async fn share_tile_result(
        &self,
        a: &ShareAccess,
        def: &ReportDefinition,
        tile: &Tile,
        state: &FilterState,
        drill: Option<&[(String, Value)]>,
    ) -> ApiResult<Arc<QueryResult>> {
        let needed = if tile.query.is_aggregate() && drill.is_none() {
            ConnectionRole::Viewer
        } else {
            ConnectionRole::RestrictedQuerier
        };
        let scope = self.share_scope(a, tile, needed).await?;
        let ds = self
            .store
            .dataset(&a.project.uid, &tile.query.dataset)
            .await?
            .ok_or_else(|| ApiError::not_found(&format!("dataset `{}`", tile.query.dataset)))?;
        let conditions = tile_conditions(def, &ds, state);
        Ok(self
            .engine
            .query(
                &ds,
                &QuerySpec {
                    query: &tile.query,
                    report_filters: &conditions,
                    drill,
                    scope: &scope,
                },
            )
            .await?)
    }

    /// One view: every tile of one tab under the filter state. Counted and audited.
    pub async fn share_tiles(
        &self,
        a: &ShareAccess,
        report_uid: Option<&str>,
        tab: Option<&str>,
        state: &FilterState,
    ) -> ApiResult<Vec<(String, Arc<QueryResult>)>> {
        let (report, def, _) = self.shared_report(a, report_uid).await?;
        check_state(&def, state)?;
        let tab = match tab {
            Some(t) => def
                .tabs
                .iter()
                .find(|x| x.id == t)
                .ok_or_else(|| ApiError::not_found("tab"))?,
            None => def.tabs.first().ok_or_else(|| ApiError::not_found("tab"))?,
        };
        let mut out = Vec::with_capacity(tab.tiles.len());
        for tile in &tab.tiles {
            let r = self.share_tile_result(a, &def, tile, state, None).await?;
            out.push((tile.id.clone(), r));
        }
        self.access_log.record(
            &a.link.uid,
            a.recipient.as_ref().map(|r| r.uid.as_str()),
            NewAuditEvent {
                actor_uid: a.user.as_ref().map(|u| u.uid.clone()),
                actor_name: a.who(),
                action: "share.view".into(),
                object: format!("share_link:{}", a.link.uid),
                outcome: "ok".into(),
                address: a.address.clone(),
                detail: format!(
                    "report:{} tab:{} {}",
                    report.uid,
                    tab.id,
                    share_detail(a.recipient.as_ref(), a.user_agent.as_deref())
                ),
            },
        );
        Ok(out)
    }

    pub async fn share_filter_values(
        &self,
        a: &ShareAccess,
        report_uid: Option<&str>,
        filter_id: &str,
    ) -> ApiResult<Vec<Value>> {
        let (_, def, _) = self.shared_report(a, report_uid).await?;
        let f = def
            .filters
            .iter()
            .find(|f| f.id == filter_id)
            .ok_or_else(|| ApiError::not_found("report filter"))?;
        let rules = self.rules_of(&a.project.uid).await?;
        let datasets: std::collections::BTreeSet<&str> =
            def.tiles().map(|t| t.query.dataset.as_str()).collect();
        let mut out: Vec<Value> = Vec::new();
        for ds in self.store.datasets(&a.project.uid).await? {
            if !datasets.contains(ds.name.as_str())
                || f.dataset.as_deref().is_some_and(|d| d != ds.name)
                || !has_column(&ds, &f.column)
            {
                continue;
            }
            let scope = if a.user.is_some() {
                self.scope_for(&a.scope_user, a.role, &a.project.uid, &ds.name)
                    .await?
            } else {
                scope_of(&a.scope_user, rules.get(&ds.name))
            };
            let res = self
                .engine
                .column_values(
                    &ds,
                    &f.column,
                    &scope,
                    vitrine_engine::report::FILTER_VALUES,
                )
                .await?;
            for row in res.json_rows()? {
                let v = row.into_iter().next().unwrap_or(Value::Null);
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
        Ok(out)
    }

    /// A tile's data as a file: needs the link's download right and the project's
    /// download ability.
    pub async fn share_download(
        &self,
        a: &ShareAccess,
        report_uid: Option<&str>,
        tile_id: &str,
        state: &FilterState,
    ) -> ApiResult<TileDownload> {
        if !a.rights.download {
            return Err(ApiError::forbidden("this link does not allow downloads"));
        }
        if !self
            .authz
            .settings()
            .ability(&a.project.abilities, vitrine_core::Ability::Download)
        {
            return Err(ApiError::forbidden(
                "downloads are switched off for this project",
            ));
        }
        let (report, def, _) = self.shared_report(a, report_uid).await?;
        check_state(&def, state)?;
        let tile = def
            .tile(tile_id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("tile"))?;
        let result = self.share_tile_result(a, &def, &tile, state, None).await?;
        let meta = RequestMeta {
            address: a.address.clone(),
            user_agent: a.user_agent.clone(),
        };
        self.audit_share(
            &a.link,
            a.recipient.as_ref(),
            "share.download",
            &meta,
            a.who(),
        )
        .await;
        Ok(TileDownload {
            result,
            filename: format!(
                "{}-{tile_id}",
                report
                    .name
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            ),
        })
    }

    /// The rows behind one value of a tile: needs the link's drill right.
    pub async fn share_drill(
        &self,
        a: &ShareAccess,
        report_uid: Option<&str>,
        tile_id: &str,
        values: Vec<(String, Value)>,
        state: &FilterState,
    ) -> ApiResult<Arc<QueryResult>> {
        if !a.rights.drill {
            return Err(ApiError::forbidden("this link does not allow drill-down"));
        }
        let (_, def, _) = self.shared_report(a, report_uid).await?;
        check_state(&def, state)?;
        let tile = def
            .tile(tile_id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("tile"))?;
        self.share_tile_result(a, &def, &tile, state, Some(&values))
            .await
    }

    /// Saves a visitor's edit: into the master report with the sync right, else into
    /// their own copy. Edits may only use datasets the report already shows, so an edit
    /// through a link can never reach data the link did not share.
    pub async fn share_save(
        &self,
        a: &ShareAccess,
        report_uid: Option<&str>,
        definition: &Value,
    ) -> ApiResult<ReportDefinition> {
        if !a.rights.edit {
            return Err(ApiError::forbidden("this link does not allow edits"));
        }
        let (report, _, _) = self.shared_report(a, report_uid).await?;
        let master = ReportDefinition::parse(&report.definition)?;
        let def = ReportDefinition::parse(definition)?;
        let allowed: std::collections::BTreeSet<&str> =
            master.tiles().map(|t| t.query.dataset.as_str()).collect();
        if let Some(t) = def
            .tiles()
            .find(|t| !allowed.contains(t.query.dataset.as_str()))
        {
            return Err(ApiError::forbidden(format!(
                "tile `{}` reads dataset `{}`, which this report does not show",
                t.id, t.query.dataset
            )));
        }
        let meta = RequestMeta {
            address: a.address.clone(),
            user_agent: a.user_agent.clone(),
        };
        if a.rights.sync_edits {
            let found = self.check_exposure(&report, &def).await?;
            let mut r = report.clone();
            r.definition =
                serde_json::to_value(&def).map_err(|e| ApiError::internal("report", e))?;
            r.updated_ms = now_ms();
            self.store.update_report(&r).await?;
            self.record_exposure(&report.uid, found).await?;
            self.audit_share(
                &a.link,
                a.recipient.as_ref(),
                "share.edit_sync",
                &meta,
                a.who(),
            )
            .await;
        } else {
            let owner = a.copy_owner().ok_or_else(|| {
                ApiError::forbidden("this visit has no session to keep a copy in")
            })?;
            self.store
                .put_share_copy(&ShareCopyRecord {
                    link_uid: a.link.uid.clone(),
                    owner,
                    report_uid: report.uid.clone(),
                    definition: serde_json::to_value(&def)
                        .map_err(|e| ApiError::internal("report", e))?,
                    updated_ms: now_ms(),
                })
                .await?;
            self.audit_share(
                &a.link,
                a.recipient.as_ref(),
                "share.edit_copy",
                &meta,
                a.who(),
            )
            .await;
        }
        Ok(def)
    }
}

fn locked() -> ApiError {
    ApiError::new(
        ErrorCode::LinkLocked,
        "this link is locked after too many wrong passwords; ask the person who shared it to unlock it",
    )
}

fn share_detail(recipient: Option<&ShareRecipientRecord>, user_agent: Option<&str>) -> String {
    let ua = user_agent.unwrap_or("");
    match recipient {
        Some(r) => format!("recipient:{} ua:{ua}", r.uid),
        None => format!("ua:{ua}"),
    }
}
