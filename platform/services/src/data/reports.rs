//! Reports and their tile queries, drill-downs, downloads and warm-up. Each query
//! decides first whether the caller may run it at all (role, connection role, boost),
//! then which rows they may see (access filters, in [`super::security`]).

use std::sync::Arc;
use vitrine_core::AuditAction;

use serde_json::Value;
use vitrine_authz::{Action, Object};
use vitrine_core::Role;
use vitrine_engine::report::{FilterState, ReportDefinition, WarmUpSummary, check_state};
use vitrine_engine::{QueryResult, Scope};
use vitrine_storage::{ContentWrite, PageRequest, ReportRecord, new_uid, now_ms};

use super::Data;
use crate::Audit;
use crate::caller::Caller;
use crate::commits::Commit;
use crate::directory::ProjectView;
use crate::guard::Edit;
use crate::security::scope_of;
use crate::viewer::{Grant, TileContext, Viewer};
use crate::{ApiError, ApiResult};

/// What a download route needs: the result and a name for the file.
pub struct TileDownload {
    pub result: Arc<QueryResult>,
    pub filename: String,
}
impl Data {
    // ---- reports --------------------------------------------------------------------

    pub async fn reports(
        &self,
        caller: &Caller,
        project_uid: &str,
    ) -> ApiResult<Vec<ReportRecord>> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        self.directory
            .project_for(caller, project_uid, Action::View)
            .await?;
        Ok(self.store.reports(project_uid).await?)
    }

    pub async fn report(
        &self,
        caller: &Caller,
        uid: &str,
    ) -> ApiResult<(ReportRecord, ProjectView)> {
        let uid = &vitrine_core::ReportId::from(uid);
        let r = self
            .store
            .report(uid)
            .await?
            .ok_or_else(|| ApiError::not_found("report"))?;
        let p = self
            .directory
            .project_for(caller, &r.project_uid, Action::View)
            .await
            .map_err(|_| ApiError::not_found("report"))?;
        Ok((r, p))
    }

    pub async fn create_report(
        &self,
        caller: &Caller,
        project_uid: &str,
        name: &str,
        definition: Value,
    ) -> ApiResult<ReportRecord> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        let project = self
            .directory
            .authorize::<Edit>(caller, project_uid)
            .await?;
        let name = vitrine_core::Name::parse("name", name)?.into_inner();
        let def = ReportDefinition::parse(&definition)?;
        self.check_report_data(project_uid, &def).await?;
        let now = now_ms();
        let r = ReportRecord {
            uid: new_uid().into(),
            project_uid: project_uid.into(),
            name,
            definition: def,
            created_ms: now,
            updated_ms: now,
        };
        let commit = Commit {
            author: caller.as_author(),
            message: None,
            write: ContentWrite::NewReport(&r),
            warnings: Vec::new(),
            audit: Audit::event(
                caller,
                AuditAction::ReportCreate,
                &format!("report:{}", r.uid),
                &r.name,
            ),
        };
        self.commits.commit_content(&project, commit).await?;
        Ok(r)
    }

    pub async fn update_report(
        &self,
        caller: &Caller,
        uid: &str,
        name: Option<&str>,
        definition: Option<Value>,
    ) -> ApiResult<ReportRecord> {
        let uid = &vitrine_core::ReportId::from(uid);
        let (r, _) = self.report(caller, uid).await?;
        let project = self
            .directory
            .authorize::<Edit>(caller, &r.project_uid)
            .await?;
        let name = name
            .map(|n| vitrine_core::Name::parse("name", n).map(|n| n.into_inner()))
            .transpose()?;
        let mut exposure = Vec::new();
        let mut stored = None;
        if let Some(d) = definition {
            let def = ReportDefinition::parse(&d)?;
            self.check_report_data(&r.project_uid, &def).await?;
            // Refused here, before anything is written, when the project says so.
            exposure = self.exposure.check_exposure(&r, &def).await?;
            stored = Some(def);
        }
        // Only what this call changes is written, so a concurrent edit of the other field
        // (or a push) survives; the answer is the report as stored after both.
        let commit = Commit {
            author: caller.as_author(),
            message: None,
            write: ContentWrite::ReportFields {
                uid,
                name: name.as_deref(),
                definition: stored.as_ref(),
                updated_ms: now_ms(),
            },
            warnings: self.exposure.exposure_warnings(uid, exposure),
            audit: Audit::event(
                caller,
                AuditAction::ReportUpdate,
                &format!("report:{uid}"),
                name.as_deref().unwrap_or(&r.name),
            ),
        };
        self.commits.commit_content(&project, commit).await?;
        self.store
            .report(uid)
            .await?
            .ok_or_else(|| ApiError::not_found("report"))
    }

    pub async fn delete_report(&self, caller: &Caller, uid: &str) -> ApiResult<bool> {
        let (r, _) = self.report(caller, uid).await?;
        let project = self
            .directory
            .authorize::<Edit>(caller, &r.project_uid)
            .await?;
        let commit = Commit {
            author: caller.as_author(),
            message: None,
            write: ContentWrite::DeleteReport { uid },
            warnings: Vec::new(),
            audit: Audit::event(
                caller,
                AuditAction::ReportDelete,
                &format!("report:{uid}"),
                &r.name,
            ),
        };
        self.commits.commit_content(&project, commit).await?;
        Ok(true)
    }

    // ---- queries (a member's side of the one viewer path, see [`crate::viewer`]) -----

    /// A report `caller` may view, its parsed definition, what the caller may do there,
    /// and what its tiles need, read once.
    pub(super) async fn member_view(
        &self,
        caller: &Caller,
        report_uid: &vitrine_core::ReportId,
        state: &FilterState,
    ) -> ApiResult<(ReportRecord, ReportDefinition, Grant, TileContext)> {
        let (r, _) = self.report(caller, report_uid).await?;
        let def = r.definition.clone();
        check_state(&def, state)?;
        let ctx = self.tile_context(&r.project_uid).await?;
        let grant = self
            .grant(Viewer::Member(caller), &r.project_uid, &ctx)
            .await?;
        Ok((r, def, grant, ctx))
    }

    /// A tile's result, with `drill` the rows behind one of its values.
    async fn member_tile(
        &self,
        caller: &Caller,
        report_uid: &vitrine_core::ReportId,
        tile_id: &str,
        state: &FilterState,
        drill: Option<&[(String, Value)]>,
    ) -> ApiResult<(ReportRecord, Grant, Arc<QueryResult>)> {
        let (r, def, grant, ctx) = self.member_view(caller, report_uid, state).await?;
        let tile = def
            .tile(tile_id)
            .ok_or_else(|| ApiError::not_found("tile"))?;
        let result = self
            .answer_tile(&grant, &ctx, &r.uid, &def, tile, state, drill)
            .await?;
        Ok((r, grant, result))
    }

    /// A tile's result under the caller's filters and access scope. Every view is
    /// audited: who saw which tile.
    pub async fn tile_result(
        &self,
        caller: &Caller,
        report_uid: &str,
        tile_id: &str,
        state: &FilterState,
    ) -> ApiResult<Arc<QueryResult>> {
        let report_uid = &vitrine_core::ReportId::from(report_uid);
        let (_, _, result) = self
            .member_tile(caller, report_uid, tile_id, state, None)
            .await?;
        self.audit.record_view(
            caller,
            AuditAction::TileView,
            &format!("report:{report_uid}"),
            tile_id,
        );
        Ok(result)
    }

    /// The rows behind one value of a tile: needs the drill ability and a connection
    /// role that allows row-level queries (boost does not widen this).
    pub async fn drill(
        &self,
        caller: &Caller,
        report_uid: &str,
        tile_id: &str,
        values: Vec<(String, Value)>,
        state: &FilterState,
    ) -> ApiResult<Arc<QueryResult>> {
        let report_uid = &vitrine_core::ReportId::from(report_uid);
        let (_, _, result) = self
            .member_tile(caller, report_uid, tile_id, state, Some(&values))
            .await?;
        self.audit
            .record(
                caller,
                AuditAction::TileDrill,
                &format!("report:{report_uid}"),
                "ok",
                tile_id,
            )
            .await?;
        Ok(result)
    }

    /// A tile's result for download (CSV or Arrow): needs the download ability.
    pub async fn tile_download(
        &self,
        caller: &Caller,
        report_uid: &str,
        tile_id: &str,
        state: &FilterState,
    ) -> ApiResult<TileDownload> {
        let report_uid = &vitrine_core::ReportId::from(report_uid);
        let (r, def, grant, ctx) = self.member_view(caller, report_uid, state).await?;
        if let Some(why) = grant.download_refused {
            return Err(ApiError::forbidden(why));
        }
        let tile = def
            .tile(tile_id)
            .ok_or_else(|| ApiError::not_found("tile"))?;
        let result = self
            .answer_tile(&grant, &ctx, &r.uid, &def, tile, state, None)
            .await?;
        self.audit
            .record(
                caller,
                AuditAction::TileDownload,
                &format!("report:{report_uid}"),
                "ok",
                tile_id,
            )
            .await?;
        Ok(TileDownload {
            result,
            filename: download_name(&r.name, tile_id),
        })
    }

    /// The values a report filter control lists, under the caller's scope.
    pub async fn filter_values(
        &self,
        caller: &Caller,
        report_uid: &str,
        filter_id: &str,
    ) -> ApiResult<Vec<Value>> {
        let report_uid = &vitrine_core::ReportId::from(report_uid);
        let (_, def, grant, ctx) = self
            .member_view(caller, report_uid, &FilterState::new())
            .await?;
        self.answer_filter_values(&grant, &ctx, &def, filter_id)
            .await
    }

    /// Computes every tile's default result for each access scope the project's viewers
    /// have, so they open reports from the cache (editors).
    pub async fn warm_up(&self, caller: &Caller, project_uid: &str) -> ApiResult<WarmUpSummary> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        caller.require_write()?;
        self.directory
            .project_for(caller, project_uid, Action::Edit)
            .await?;
        let summary = self.warm_up_project(project_uid).await?;
        self.audit
            .record(
                caller,
                AuditAction::ReportsWarmUp,
                &format!("project:{project_uid}"),
                "ok",
                &format!("{} entries", summary.entries),
            )
            .await?;
        Ok(summary)
    }

    /// The warm-up itself, with no caller: the scheduler runs it as the task's identity
    /// after checking that identity itself.
    pub async fn warm_up_project(&self, project_uid: &str) -> ApiResult<WarmUpSummary> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        let rules = self.rules_of(project_uid).await?;
        // Scopes: unrestricted (editors and above), plus one per distinct attribute set
        // among users who see the project as viewers.
        let obj = Object::Project(project_uid.to_string());
        let mut viewers = Vec::new();
        let mut audiences = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .users_page(&PageRequest {
                    after: after.clone(),
                    first: 500,
                })
                .await?;
            after = page.last().map(|u| u.uid.clone()).map(Into::into);
            let done = page.len() < 500;
            viewers.extend(page.into_iter().filter(|u| {
                !u.disabled && self.authz.effective_role(&u.uid, &obj) == Role::Viewer
            }));
            if done {
                break;
            }
        }
        // Public and recipients links select rows with their own attribute values, and
        // recipients with their own when they have some.
        let now = now_ms();
        let mut after = None;
        loop {
            let page = self
                .store
                .share_links_page(
                    Some(project_uid),
                    &PageRequest {
                        after: after.clone(),
                        first: 500,
                    },
                )
                .await?;
            after = page.last().map(|l| l.uid.clone()).map(Into::into);
            let done = page.len() < 500;
            for l in page {
                if l.kind.reaches_outsiders() && !l.state(now).is_final() {
                    audiences.push(l.attributes.clone().unwrap_or_default());
                    if l.kind == vitrine_core::LinkKind::Recipients {
                        let recipients = self.store.share_recipients(&l.uid).await?;
                        audiences.extend(recipients.into_iter().filter_map(|r| r.attributes));
                    }
                }
            }
            if done {
                break;
            }
        }
        let scopes = move |dataset: &str| -> Vec<Scope> {
            let mut set = vec![Scope::unrestricted()];
            if let Some(r) = rules.get(dataset) {
                let members = viewers.iter().map(|u| &u.attributes);
                for attributes in members.chain(audiences.iter()) {
                    let s = scope_of(attributes, Some(r));
                    if !set.contains(&s) {
                        set.push(s);
                    }
                }
            }
            set
        };
        Ok(self.engine.warm_up(project_uid, &scopes).await?)
    }
}

/// A download's file name: the report's name (letters and digits kept) and the tile.
pub(crate) fn download_name(report_name: &str, tile_id: &str) -> String {
    format!(
        "{}-{tile_id}",
        report_name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    )
}
