//! Reports and their tile queries, drill-downs, downloads and warm-up. Each query
//! decides first whether the caller may run it at all (role, connection role, boost),
//! then which rows they may see (access filters, in [`super::security`]).

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;
use vitrine_authz::{Action, Object};
use vitrine_core::{Ability, ConnectionRole, Role, may_query};
use vitrine_engine::report::{
    FilterState, ReportDefinition, Tile, WarmUpSummary, check_state, tile_conditions,
};
use vitrine_engine::{QueryResult, QuerySpec, Scope};
use vitrine_storage::{ContentWrite, DatasetRecord, PageRequest, ReportRecord, new_uid, now_ms};

use super::Services;
use super::commits::Commit;
use super::directory::ProjectView;
use super::security::{has_column, scope_of};
use crate::Audit;
use crate::caller::Caller;
use crate::guard::Edit;
use crate::{ApiError, ApiResult};

/// What a download route needs: the result and a name for the file.
pub struct TileDownload {
    pub result: Arc<QueryResult>,
    pub filename: String,
}
impl Services {
    // ---- reports --------------------------------------------------------------------

    pub async fn reports(
        &self,
        caller: &Caller,
        project_uid: &str,
    ) -> ApiResult<Vec<ReportRecord>> {
        self.project_for(caller, project_uid, Action::View).await?;
        Ok(self.store.reports(project_uid).await?)
    }

    pub async fn report(
        &self,
        caller: &Caller,
        uid: &str,
    ) -> ApiResult<(ReportRecord, ProjectView)> {
        let r = self
            .store
            .report(uid)
            .await?
            .ok_or_else(|| ApiError::not_found("report"))?;
        let p = self
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
        let project = self.authorize::<Edit>(caller, project_uid).await?;
        let name = vitrine_core::Name::parse("name", name)?.into_inner();
        let def = ReportDefinition::parse(&definition)?;
        let now = now_ms();
        let r = ReportRecord {
            uid: new_uid(),
            project_uid: project_uid.to_owned(),
            name,
            definition: serde_json::to_value(&def).map_err(|e| ApiError::internal("report", e))?,
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
                "report.create",
                &format!("report:{}", r.uid),
                &r.name,
            ),
        };
        self.commit_content(&project, commit).await?;
        Ok(r)
    }

    pub async fn update_report(
        &self,
        caller: &Caller,
        uid: &str,
        name: Option<&str>,
        definition: Option<Value>,
    ) -> ApiResult<ReportRecord> {
        let (r, _) = self.report(caller, uid).await?;
        let project = self.authorize::<Edit>(caller, &r.project_uid).await?;
        let name = name
            .map(|n| vitrine_core::Name::parse("name", n).map(|n| n.into_inner()))
            .transpose()?;
        let mut exposure = Vec::new();
        let mut stored = None;
        if let Some(d) = definition {
            let def = ReportDefinition::parse(&d)?;
            // Refused here, before anything is written, when the project says so.
            exposure = self.check_exposure(&r, &def).await?;
            stored = Some(serde_json::to_value(&def).map_err(|e| ApiError::internal("report", e))?);
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
            warnings: self.exposure_warnings(uid, exposure),
            audit: Audit::event(
                caller,
                "report.update",
                &format!("report:{uid}"),
                name.as_deref().unwrap_or(&r.name),
            ),
        };
        self.commit_content(&project, commit).await?;
        self.store
            .report(uid)
            .await?
            .ok_or_else(|| ApiError::not_found("report"))
    }

    pub async fn delete_report(&self, caller: &Caller, uid: &str) -> ApiResult<bool> {
        let (r, _) = self.report(caller, uid).await?;
        let project = self.authorize::<Edit>(caller, &r.project_uid).await?;
        let commit = Commit {
            author: caller.as_author(),
            message: None,
            write: ContentWrite::DeleteReport { uid },
            warnings: Vec::new(),
            audit: Audit::event(caller, "report.delete", &format!("report:{uid}"), &r.name),
        };
        self.commit_content(&project, commit).await?;
        Ok(true)
    }

    // ---- queries --------------------------------------------------------------------

    /// Everything a tile query needs after the checks: the tile, its dataset, the
    /// report filters that apply, the caller's scope.
    async fn prepare(
        &self,
        caller: &Caller,
        report_uid: &str,
        tile_id: &str,
        state: &FilterState,
        needed: Option<ConnectionRole>,
    ) -> ApiResult<(
        ReportRecord,
        Tile,
        DatasetRecord,
        Vec<vitrine_engine::report::Condition>,
        Scope,
        ProjectView,
    )> {
        let (r, p) = self.report(caller, report_uid).await?;
        let def = ReportDefinition::parse(&r.definition)?;
        check_state(&def, state)?;
        let tile = def
            .tile(tile_id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("tile"))?;
        let needed = needed.unwrap_or(if tile.query.is_aggregate() {
            ConnectionRole::Viewer
        } else {
            ConnectionRole::RestrictedQuerier
        });
        let sec = self.data_security().await?;
        let connection = self.connection_role(&caller.user, &sec);
        if !may_query(
            p.role,
            connection,
            needed,
            self.boosted(&r.project_uid, &sec),
        ) {
            self.audit
                .record(
                    caller,
                    "tile.query",
                    &format!("report:{report_uid}"),
                    "refused",
                    tile_id,
                )
                .await?;
            return Err(ApiError::forbidden(format!(
                "your connection role ({}) does not allow this query; it needs {}",
                connection.as_str(),
                needed.as_str()
            )));
        }
        let ds = self
            .store
            .dataset(&r.project_uid, &tile.query.dataset)
            .await?
            .ok_or_else(|| {
                ApiError::not_found(&format!(
                    "dataset `{}` (run the workflow first)",
                    tile.query.dataset
                ))
            })?;
        let conditions = tile_conditions(&def, &ds, state);
        let scope = self
            .scope_for(&caller.user, p.role, &r.project_uid, &ds.name)
            .await?;
        Ok((r, tile, ds, conditions, scope, p))
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
        let (_, tile, ds, conditions, scope, _) = self
            .prepare(caller, report_uid, tile_id, state, None)
            .await?;
        let result = self
            .engine
            .query(
                &ds,
                &QuerySpec {
                    query: &tile.query,
                    report_filters: &conditions,
                    drill: None,
                    scope: &scope,
                },
            )
            .await?;
        self.audit.record_view(
            caller,
            "tile.view",
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
        let (r, p) = self.report(caller, report_uid).await?;
        if !self.ability_on(&p, Ability::Drill) {
            return Err(ApiError::forbidden(
                "drill-down is switched off for this project",
            ));
        }
        let sec = self.data_security().await?;
        let connection = self.connection_role(&caller.user, &sec);
        if !may_query(p.role, connection, ConnectionRole::RestrictedQuerier, false) {
            return Err(ApiError::forbidden(format!(
                "your connection role ({}) does not allow drill-down; it needs restricted_querier",
                connection.as_str()
            )));
        }
        let (_, tile, ds, conditions, scope, _) = self
            .prepare(
                caller,
                &r.uid,
                tile_id,
                state,
                Some(ConnectionRole::RestrictedQuerier),
            )
            .await?;
        let result = self
            .engine
            .query(
                &ds,
                &QuerySpec {
                    query: &tile.query,
                    report_filters: &conditions,
                    drill: Some(&values),
                    scope: &scope,
                },
            )
            .await?;
        self.audit
            .record(
                caller,
                "tile.drill",
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
        let (r, p) = self.report(caller, report_uid).await?;
        if !self.ability_on(&p, Ability::Download) {
            return Err(ApiError::forbidden(
                "downloads are switched off for this project",
            ));
        }
        let result = self.tile_result(caller, report_uid, tile_id, state).await?;
        self.audit
            .record(
                caller,
                "tile.download",
                &format!("report:{report_uid}"),
                "ok",
                tile_id,
            )
            .await?;
        Ok(TileDownload {
            result,
            filename: format!(
                "{}-{tile_id}",
                r.name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            ),
        })
    }

    /// The values a report filter control lists, under the caller's scope.
    pub async fn filter_values(
        &self,
        caller: &Caller,
        report_uid: &str,
        filter_id: &str,
    ) -> ApiResult<Vec<Value>> {
        let (r, p) = self.report(caller, report_uid).await?;
        let def = ReportDefinition::parse(&r.definition)?;
        let f = def
            .filters
            .iter()
            .find(|f| f.id == filter_id)
            .ok_or_else(|| ApiError::not_found("report filter"))?;
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for ds in self.store.datasets(&r.project_uid).await? {
            if f.dataset.as_deref().is_some_and(|d| d != ds.name) || !has_column(&ds, &f.column) {
                continue;
            }
            let scope = self
                .scope_for(&caller.user, p.role, &r.project_uid, &ds.name)
                .await?;
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
                if seen.insert(v.to_string()) {
                    out.push(v);
                }
            }
        }
        Ok(out)
    }

    /// Computes every tile's default result for each access scope the project's viewers
    /// have, so they open reports from the cache (editors).
    pub async fn warm_up(&self, caller: &Caller, project_uid: &str) -> ApiResult<WarmUpSummary> {
        caller.require_write()?;
        self.project_for(caller, project_uid, Action::Edit).await?;
        let summary = self.warm_up_project(project_uid).await?;
        self.audit
            .record(
                caller,
                "reports.warm_up",
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
        let rules = self.rules_of(project_uid).await?;
        // Scopes: unrestricted (editors and above), plus one per distinct attribute set
        // among users who see the project as viewers.
        let obj = Object::Project(project_uid.to_owned());
        let mut viewers = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .users_page(&PageRequest {
                    after: after.clone(),
                    first: 500,
                })
                .await?;
            after = page.last().map(|u| u.uid.clone());
            let done = page.len() < 500;
            viewers.extend(page.into_iter().filter(|u| {
                !u.disabled && self.authz.effective_role(&u.uid, &obj) == Role::Viewer
            }));
            if done {
                break;
            }
        }
        // Public and recipients links show what their creator sees as a viewer.
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
            after = page.last().map(|l| l.uid.clone());
            let done = page.len() < 500;
            for l in page {
                if l.kind.reaches_outsiders()
                    && !super::link_state(&l, now).is_final()
                    && !viewers.iter().any(|v| v.uid == l.created_by)
                    && let Some(u) = self.store.user(&l.created_by).await?
                {
                    viewers.push(u);
                }
            }
            if done {
                break;
            }
        }
        let scopes = move |dataset: &str| -> Vec<Scope> {
            let mut set = vec![Scope::unrestricted()];
            if let Some(r) = rules.get(dataset) {
                for u in &viewers {
                    let s = scope_of(u, Some(r));
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
