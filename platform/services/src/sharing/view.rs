//! What a visitor of a share link sees: the report (or their own edited copy), the tiles
//! of one tab under the filter state, filter values, CSV downloads, drill-down, and edits.
//! [`visit`](super::visit) decides who the visitor is; this module only serves what that
//! [`ShareAccess`] allows.
//!
//! One view reads the project's data-security settings, access filters and datasets once,
//! not once per tile, and takes tile results from the warm-up cache when the report was
//! warmed (the cache key carries the visitor's scope, so cached rows never cross scopes).

use std::sync::Arc;
use vitrine_core::AuditAction;

use serde::Serialize;
use serde_json::Value;
use vitrine_core::{LinkKind, LinkRights};
use vitrine_engine::QueryResult;
use vitrine_engine::report::{FilterState, ReportDefinition, check_state};
use vitrine_storage::{ContentWrite, NewAuditEvent, ReportRecord, ShareCopyRecord, now_ms};

use super::Sharing;
use super::visit::{ShareAccess, share_detail, share_event};
use crate::TileDownload;
use crate::commits::Commit;
use crate::data::notes::{TileNote, tile_notes};
use crate::viewer::{Grant, TileContext, Viewer};
use crate::{ApiError, ApiResult};

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
    /// When the version a pinned link shows was pinned (ms since the epoch).
    pub pinned_at: Option<i64>,
    pub visitor: String,
    /// Reports a project link opens.
    pub reports: Vec<(String, String)>,
    /// Why some viewers see less of some tiles (see [`crate::data::notes`]).
    pub notes: Vec<TileNote>,
}

impl Sharing {
    /// The report a visitor sees: their own copy when they edited one, only the linked
    /// tab for a tab link.
    pub(super) async fn shared_report(
        &self,
        a: &ShareAccess,
        report_uid: Option<&str>,
    ) -> ApiResult<(ReportRecord, ReportDefinition, bool)> {
        if a.link.content.is_some_and(|c| !c.dashboard) {
            return Err(ApiError::forbidden(
                "this link shares delivered files only; download them from its list",
            ));
        }
        let uid: vitrine_core::ReportId = match (&a.link.report_uid, report_uid) {
            (Some(r), _) => r.clone(),
            (None, Some(r)) => r.into(),
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
        // A pinned link shows its pinned version; it carries no edit right, so no copy.
        let mut def = match &a.link.pinned {
            Some(p) => p.definition.clone(),
            None => report.definition.clone(),
        };
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
        let a = &*self.rebase(a, report_uid).await?;
        let (report, definition, own_copy) = self.shared_report(a, report_uid).await?;
        let reports = match a.link.report_uid {
            Some(_) => Vec::new(),
            None => self
                .store
                .reports(&a.project.uid)
                .await?
                .into_iter()
                .map(|r| (r.uid.into_string(), r.name))
                .collect(),
        };
        let (grant, ctx) = self.link_grant(a).await?;
        let notes = tile_notes(&definition, &ctx.rules, &grant.boost);
        Ok(ShareView {
            notes,
            kind: a.link.kind,
            report_uid: report.uid.into(),
            report_name: report.name,
            project_name: a.project.name.clone(),
            definition,
            rights: a.rights,
            own_copy,
            pinned_at: a.link.pinned.as_ref().map(|p| p.at_ms),
            visitor: a.who(),
            reports,
        })
    }

    /// What the visitor may see and do, with what the project's tiles need.
    pub(super) async fn link_grant(&self, a: &ShareAccess) -> ApiResult<(Grant, TileContext)> {
        let ctx = self.data.tile_context(&a.project.uid).await?;
        let grant = self
            .data
            .grant(Viewer::Link(a), &a.project.uid, &ctx)
            .await?;
        Ok((grant, ctx))
    }

    /// One view: every tile of one tab under the filter state, each its result or why it
    /// cannot be shown (one refused tile leaves the others drawn). Counted and audited.
    pub async fn share_tiles(
        &self,
        a: &ShareAccess,
        report_uid: Option<&str>,
        tab: Option<&str>,
        state: &FilterState,
    ) -> ApiResult<Vec<(String, ApiResult<Arc<QueryResult>>)>> {
        let a = &*self.rebase(a, report_uid).await?;
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
        let (grant, ctx) = self.link_grant(a).await?;
        let mut out = Vec::with_capacity(tab.tiles.len());
        for tile in &tab.tiles {
            let r = self
                .data
                .answer_tile(&grant, &ctx, &report.uid, &def, tile, state, None)
                .await;
            out.push((tile.id.clone(), r));
        }
        metrics::counter!("vitrine_share_link_views_total").increment(1);
        self.access_log.record(
            &a.link.uid,
            a.recipient.as_ref().map(|r| r.uid.as_str()),
            NewAuditEvent {
                actor_uid: a.user.as_ref().map(|u| u.uid.clone()),
                actor_name: a.who(),
                action: AuditAction::ShareView,
                object: format!("share_link:{}", a.link.uid),
                outcome: "ok".into(),
                address: a.meta.address.clone(),
                detail: format!(
                    "report:{} tab:{} {}",
                    report.uid,
                    tab.id,
                    share_detail(a.recipient.as_ref(), a.meta.user_agent.as_deref())
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
        let a = &*self.rebase(a, report_uid).await?;
        let (_, def, _) = self.shared_report(a, report_uid).await?;
        let (grant, ctx) = self.link_grant(a).await?;
        self.data
            .answer_filter_values(&grant, &ctx, &def, filter_id)
            .await
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
        let (report, result) = self
            .shared_tile(a, report_uid, tile_id, state, None, true)
            .await?;
        self.audit_share(
            &a.link,
            a.recipient.as_ref(),
            AuditAction::ShareDownload,
            &a.meta,
            a.who(),
        )
        .await?;
        Ok(TileDownload {
            result,
            filename: crate::reports::download_name(&report.name, tile_id),
        })
    }

    /// Where a tile's rows download as CSV under the filter state (`GET` with the link's
    /// session), when the link grants downloads.
    pub fn share_download_path(
        &self,
        a: &ShareAccess,
        report_uid: Option<&str>,
        tile_id: &str,
        state: &FilterState,
    ) -> ApiResult<Option<String>> {
        if !a.rights.download {
            return Ok(None);
        }
        let mut q = form_urlencoded::Serializer::new(String::new());
        if let Some(r) = report_uid {
            q.append_pair("report", r);
        }
        q.append_pair("tile", tile_id);
        if !state.is_empty() {
            let text =
                serde_json::to_string(state).map_err(|e| ApiError::internal("filters", e))?;
            q.append_pair("filters", &text);
        }
        let page = super::link_path(&a.link.uid);
        Ok(Some(format!("{page}/download?{}", q.finish())))
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
        let (_, result) = self
            .shared_tile(a, report_uid, tile_id, state, Some(&values), false)
            .await?;
        Ok(result)
    }

    /// One tile of the shared report under the filter state (download and drill).
    async fn shared_tile(
        &self,
        a: &ShareAccess,
        report_uid: Option<&str>,
        tile_id: &str,
        state: &FilterState,
        drill: Option<&[(String, Value)]>,
        download: bool,
    ) -> ApiResult<(ReportRecord, Arc<QueryResult>)> {
        let a = &*self.rebase(a, report_uid).await?;
        let (report, def, _) = self.shared_report(a, report_uid).await?;
        check_state(&def, state)?;
        // Refused before the tile is looked up, so a refusal tells nothing about it.
        let (grant, ctx) = self.link_grant(a).await?;
        if download && let Some(why) = grant.download_refused {
            return Err(ApiError::forbidden(why));
        }
        let tile = def
            .tile(tile_id)
            .ok_or_else(|| ApiError::not_found("tile"))?;
        let result = self
            .data
            .answer_tile(&grant, &ctx, &report.uid, &def, tile, state, drill)
            .await?;
        Ok((report, result))
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
        let master = report.definition.clone();
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
        if a.rights.sync_edits {
            let found = self.exposure.check_exposure(&report, &def).await?;
            let who = a.who();
            let commit = Commit {
                author: (a.user.as_ref().map(|u| u.uid.as_str()), who.as_str()),
                message: Some("edited through a share link"),
                write: ContentWrite::ReportFields {
                    uid: &report.uid,
                    name: None,
                    definition: Some(&def),
                    updated_ms: now_ms(),
                },
                warnings: self.exposure.exposure_warnings(&report.uid, found),
                audit: share_event(
                    &a.link,
                    a.recipient.as_ref(),
                    AuditAction::ShareEditSync,
                    &a.meta,
                    who.clone(),
                ),
            };
            let project = self
                .directory
                .authorize_link_edit(&a.project, &a.rights)
                .await?;
            self.commits.commit_content(&project, commit).await?;
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
                AuditAction::ShareEditCopy,
                &a.meta,
                a.who(),
            )
            .await?;
        }
        Ok(def)
    }
}
