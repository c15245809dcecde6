//! One viewer path. A report is seen by a [`Viewer`]: a member (signed in, by their
//! roles) or a share link's visitor (by the link's rights, perhaps as a recipient). What
//! a viewer may see and do in a project is decided by one function, [`Services::grant`],
//! and every tile, drill-down and filter list is answered by one function each
//! ([`Services::answer_tile`], [`Services::answer_filter_values`]) for both kinds, so the
//! GraphQL API and the share routes cannot drift apart on drill, boost, access filters or
//! the auditing of refusals.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use vitrine_core::AuditAction;

use serde_json::Value;
use vitrine_authz::Action;
use vitrine_core::{Ability, ConnectionRole, Role, may_query};
use vitrine_engine::report::{FilterState, ReportDefinition, Tile, tile_conditions};
use vitrine_engine::{QueryResult, QuerySpec, Scope};
use vitrine_storage::{DatasetRecord, NewAuditEvent, ProjectRecord, UserRecord};

use super::Data;
use crate::caller::Caller;
use crate::security::{AccessRule, DataSecurity, has_column, scope_of};
use crate::sharing::visit::ShareAccess;
use crate::{ApiError, ApiResult};

/// Who is looking at a report.
#[derive(Clone, Copy)]
pub enum Viewer<'a> {
    Member(&'a Caller),
    Link(&'a ShareAccess),
}

/// What one viewer may see and do in one project: made only by [`Data::grant`].
#[derive(Debug, Clone)]
pub struct Grant {
    pub project: ProjectRecord,
    /// The role the viewer's queries run with (a link's visitor: the role the link
    /// carries).
    pub role: Role,
    /// The connection role: which kinds of query the viewer may run.
    pub connection: ConnectionRole,
    /// The viewer's role on each data connection the project's datasets were read
    /// through; such a dataset is queried with the lowest of its connections' roles.
    pub by_connection: BTreeMap<String, ConnectionRole>,
    /// Where access boost is on: viewers may see those tiles as if they were queriers
    /// (never for drill-down, and never past access filters).
    pub boost: super::boost::Boost,
    /// Every row, past access filters: a signed-in member with an editing role.
    pub all_rows: bool,
    /// Why a download is refused, when it is.
    pub download_refused: Option<&'static str>,
    /// Why a drill-down is refused, when it is.
    pub drill_refused: Option<&'static str>,
    /// Whose attributes select rows.
    scope_user: UserRecord,
    /// Who audit events name.
    actor: (Option<String>, String, Option<String>),
}

impl Grant {
    /// The connection role queries of `dataset` run with, and whether a data connection
    /// it was read through refuses this viewer everything (NO_ACCESS there).
    fn connection_for(&self, dataset: &DatasetRecord) -> (ConnectionRole, bool) {
        let on: Vec<ConnectionRole> = dataset
            .connections
            .iter()
            .map(|c| {
                self.by_connection
                    .get(c)
                    .copied()
                    .unwrap_or(ConnectionRole::NoAccess)
            })
            .collect();
        match on.iter().min() {
            Some(&lowest) => (lowest, lowest == ConnectionRole::NoAccess),
            None => (self.connection, false),
        }
    }

    /// The rows of `dataset` this viewer sees.
    pub fn scope(&self, rules: &BTreeMap<String, Vec<AccessRule>>, dataset: &str) -> Scope {
        if self.all_rows {
            Scope::unrestricted()
        } else {
            scope_of(&self.scope_user.attributes, rules.get(dataset))
        }
    }

    /// An audit event naming this viewer.
    pub(crate) fn event(
        &self,
        action: AuditAction,
        object: &str,
        outcome: &str,
        detail: &str,
    ) -> NewAuditEvent {
        let (uid, name, address) = self.actor.clone();
        NewAuditEvent {
            actor_uid: uid.map(Into::into),
            actor_name: name,
            action,
            object: object.into(),
            outcome: outcome.into(),
            address,
            detail: detail.into(),
        }
    }
}

/// What every tile of one request needs, read once.
pub(crate) struct TileContext {
    pub security: DataSecurity,
    pub rules: BTreeMap<String, Vec<AccessRule>>,
    pub datasets: HashMap<String, DatasetRecord>,
}

impl Data {
    pub(crate) async fn tile_context(
        &self,
        project_uid: &vitrine_core::ProjectId,
    ) -> ApiResult<TileContext> {
        let (security, rules, datasets) =
            tokio::try_join!(self.data_security(), self.rules_of(project_uid), async {
                Ok::<_, ApiError>(self.store.datasets(project_uid).await?)
            },)?;
        Ok(TileContext {
            security,
            rules,
            datasets: datasets.into_iter().map(|d| (d.name.clone(), d)).collect(),
        })
    }

    /// What `viewer` may see and do in project `project_uid`. A member must be able to
    /// view the project; a link's visitor only reaches the link's own project. Anything
    /// else is "not found", as for a project that does not exist.
    pub(crate) async fn grant(
        &self,
        viewer: Viewer<'_>,
        project_uid: &str,
        ctx: &TileContext,
    ) -> ApiResult<Grant> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        let security = &ctx.security;
        let settings = self.authz.settings();
        match viewer {
            Viewer::Member(caller) => {
                let p = self
                    .directory
                    .project_for(caller, project_uid, Action::View)
                    .await?;
                let download = settings.ability(&p.record.abilities, Ability::Download);
                let drill = settings.ability(&p.record.abilities, Ability::Drill);
                Ok(Grant {
                    boost: self.boost_in(project_uid, ctx).await?,
                    connection: self.connection_role(caller.user(), security),
                    by_connection: self
                        .roles_on_connections(caller.user(), ctx.datasets.values(), security)
                        .await?,
                    role: p.role,
                    all_rows: p.role >= Role::Editor,
                    download_refused: (!download)
                        .then_some("downloads are switched off for this project"),
                    drill_refused: (!drill)
                        .then_some("drill-down is switched off for this project"),
                    scope_user: caller.user().clone(),
                    actor: (
                        Some(caller.user().uid.clone().into()),
                        caller.user().username.clone(),
                        caller.address().map(str::to_owned),
                    ),
                    project: p.record,
                })
            }
            Viewer::Link(a) => {
                if a.project.uid != project_uid {
                    return Err(ApiError::not_found("project"));
                }
                let abilities = &a.project.abilities;
                let download_refused = if !a.rights.download {
                    Some("this link does not allow downloads")
                } else if !settings.ability(abilities, Ability::Download) {
                    Some("downloads are switched off for this project")
                } else {
                    None
                };
                let drill_refused = if !a.rights.drill {
                    Some("this link does not allow drill-down")
                } else if !settings.ability(abilities, Ability::Drill) {
                    Some("drill-down is switched off for this project")
                } else {
                    None
                };
                Ok(Grant {
                    project: a.project.clone(),
                    role: a.role,
                    connection: self.connection_role(&a.scope_user, security),
                    by_connection: self
                        .roles_on_connections(&a.scope_user, ctx.datasets.values(), security)
                        .await?,
                    boost: self.boost_in(project_uid, ctx).await?,
                    // Only a signed-in member's own role lifts access filters; a link's
                    // creator's role never does for the link's audience.
                    all_rows: a.user.is_some() && a.role >= Role::Editor,
                    download_refused,
                    drill_refused,
                    scope_user: a.scope_user.clone(),
                    actor: (
                        a.user.as_ref().map(|u| u.uid.clone()).map(Into::into),
                        a.who(),
                        a.meta.address.clone(),
                    ),
                })
            }
        }
    }

    /// One tile of `def` for the viewer `grant` describes, under the filter state, and
    /// with `drill` the rows behind one of its values. Refusals are audited.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn answer_tile(
        &self,
        grant: &Grant,
        ctx: &TileContext,
        report_uid: &vitrine_core::ReportId,
        def: &ReportDefinition,
        tile: &Tile,
        state: &FilterState,
        drill: Option<&[(String, Value)]>,
    ) -> ApiResult<Arc<QueryResult>> {
        // Only refusals are audited; a served tile builds no audit text.
        let object = || format!("report:{report_uid}");
        if drill.is_some()
            && let Some(why) = grant.drill_refused
        {
            self.audit
                .append(grant.event(AuditAction::TileDrill, &object(), "refused", &tile.id))
                .await?;
            return Err(ApiError::forbidden(why));
        }
        let ds = ctx.datasets.get(&tile.query.dataset).ok_or_else(|| {
            ApiError::not_found(&format!(
                "dataset `{}` (run the workflow first)",
                tile.query.dataset
            ))
        })?;
        let needed = if tile.query.is_aggregate() && drill.is_none() {
            ConnectionRole::Viewer
        } else {
            ConnectionRole::RestrictedQuerier
        };
        // Boost lets viewers see a report's tiles; it never widens drill-down.
        let boost = grant.boost.applies(&tile.query.dataset) && drill.is_none();
        let (connection, shut_out) = grant.connection_for(ds);
        let boosted_viewer = boost && grant.role == Role::Viewer;
        if (shut_out && !boosted_viewer) || !may_query(grant.role, connection, needed, boost) {
            self.audit
                .append(grant.event(AuditAction::TileQuery, &object(), "refused", &tile.id))
                .await?;
            return Err(ApiError::forbidden(format!(
                "the connection role ({}) does not allow this query of dataset `{}`; it needs {}",
                connection.as_str().to_uppercase(),
                tile.query.dataset,
                needed.as_str().to_uppercase()
            )));
        }
        let conditions = tile_conditions(def, ds, state);
        let scope = grant.scope(&ctx.rules, &ds.name);
        Ok(self
            .engine
            .query(
                ds,
                &QuerySpec {
                    query: &tile.query,
                    report_filters: &conditions,
                    drill,
                    scope: &scope,
                },
            )
            .await?)
    }

    /// The values a report filter control lists: from the datasets the report shows,
    /// under the viewer's scope.
    pub(crate) async fn answer_filter_values(
        &self,
        grant: &Grant,
        ctx: &TileContext,
        def: &ReportDefinition,
        filter_id: &str,
    ) -> ApiResult<Vec<Value>> {
        let f = def
            .filters
            .iter()
            .find(|f| f.id == filter_id)
            .ok_or_else(|| ApiError::not_found("report filter"))?;
        let shown: HashSet<&str> = def.tiles().map(|t| t.query.dataset.as_str()).collect();
        let mut datasets: Vec<&DatasetRecord> = ctx
            .datasets
            .values()
            .filter(|ds| {
                shown.contains(ds.name.as_str())
                    && f.dataset.as_deref().is_none_or(|d| d == ds.name)
                    && has_column(ds, &f.column)
            })
            .collect();
        datasets.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for ds in datasets {
            let scope = grant.scope(&ctx.rules, &ds.name);
            let res = self
                .engine
                .column_values(ds, &f.column, &scope, vitrine_engine::report::FILTER_VALUES)
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
}
