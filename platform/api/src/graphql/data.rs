//! Resolvers of the data engine: resource locations, workflows and runs, datasets,
//! reports and tile queries, data security and warm-up.

use std::collections::BTreeMap;

use crate::services::values::Access;
use async_graphql::{Context, ID, Json, Object, Subscription, Upload as UploadScalar};
use futures::Stream;
use serde_json::Value;

use super::data_types::*;
use super::types::Project;
use super::{member, on};
use crate::services::{BoostTarget, MAX_UPLOAD_BYTES, Services};
use crate::{ApiError, GqlResult};
use vitrine_definitions::CellValue;
use vitrine_definitions::kinds::BlockKind;
use vitrine_definitions::locations::{
    LocationStorageInput, location_argument, location_in_typed_terms,
};
use vitrine_definitions::report::{ReportFilter, Tab, definition_argument};
use vitrine_definitions::workflow::{BlockInput, in_typed_terms, workflow_argument};

fn params(list: Vec<ParameterInput>) -> async_graphql::Result<BTreeMap<String, String>> {
    crate::services::parameter_map(list.into_iter().map(|p| (p.name, p.value)).collect()).gql()
}

#[derive(Default)]
pub struct DataQuery;

#[Object]
impl DataQuery {
    /// Storage places blocks read and write (admins).
    async fn resource_locations(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<ResourceLocation>> {
        let (s, c) = on(ctx, Services::data)?;
        let list = s.locations(c).await.gql()?;
        Ok(list.into_iter().map(ResourceLocation::from).collect())
    }

    /// Instance values overriding project parameters of the same name (admins).
    async fn instance_parameters(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<Parameter>> {
        let (s, c) = on(ctx, Services::data)?;
        let p = s.instance_parameters(c).await.gql()?;
        Ok(p.into_iter()
            .map(|(name, value)| Parameter { name, value })
            .collect())
    }

    /// The built-in block kinds a workflow may use, with their ports and the JSON Schema
    /// of their `config` (plugins: `plugins { configSchema }` gives each one's settings).
    async fn block_kinds(&self) -> Vec<BlockKind> {
        vitrine_definitions::kinds::block_kinds()
    }

    /// A project's workflow (editors; viewers when the project lets them).
    async fn workflow(&self, ctx: &Context<'_>, project_id: ID) -> async_graphql::Result<Workflow> {
        let (s, c) = on(ctx, Services::data)?;
        Ok(s.workflow(c, &project_id).await.gql()?.into())
    }

    async fn workflow_run(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<WorkflowRun> {
        let (s, c) = member(ctx)?;
        Ok(WorkflowRun::from(s.data().run(c, &id).await.gql()?))
    }

    /// A project's most recent runs, newest first.
    async fn workflow_runs(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        #[graphql(default = 20, validator(minimum = 1, maximum = 200))] last: usize,
    ) -> async_graphql::Result<Vec<WorkflowRun>> {
        let (s, c) = on(ctx, Services::data)?;
        let runs = s.runs(c, &project_id, last).await.gql()?;
        Ok(runs.into_iter().map(WorkflowRun::from).collect())
    }

    async fn datasets(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
    ) -> async_graphql::Result<Vec<Dataset>> {
        let (s, c) = on(ctx, Services::data)?;
        let list = s.datasets(c, &project_id).await.gql()?;
        Ok(list.into_iter().map(Dataset::from).collect())
    }

    async fn reports(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
    ) -> async_graphql::Result<Vec<Report>> {
        let (s, c) = on(ctx, Services::data)?;
        let list = s.reports(c, &project_id).await.gql()?;
        Ok(list.into_iter().map(Report::from).collect())
    }

    async fn report(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Report> {
        let (s, c) = member(ctx)?;
        Ok(Report::from(s.data().report(c, &id).await.gql()?.0))
    }

    /// A tile's data under the given report filter values (defaults for filters left
    /// out), cut to the rows your access filters allow.
    async fn tile_result(
        &self,
        ctx: &Context<'_>,
        report_id: ID,
        tile_id: String,
        filters: Option<Vec<FilterValueInput>>,
    ) -> async_graphql::Result<TileResult> {
        let (s, c) = on(ctx, Services::data)?;
        let r = s
            .tile_result(c, &report_id, &tile_id, &filter_state(filters))
            .await
            .gql()?;
        Ok(TileResult(r))
    }

    /// The rows behind one value of a tile (needs the drill ability).
    async fn drill_down(
        &self,
        ctx: &Context<'_>,
        report_id: ID,
        tile_id: String,
        values: Vec<DrillValueInput>,
        filters: Option<Vec<FilterValueInput>>,
    ) -> async_graphql::Result<TileResult> {
        let (s, c) = on(ctx, Services::data)?;
        let values = drill_values(values);
        let r = s
            .drill(c, &report_id, &tile_id, values, &filter_state(filters))
            .await
            .gql()?;
        Ok(TileResult(r))
    }

    /// The values a report filter control offers, within your access filters.
    async fn filter_values(
        &self,
        ctx: &Context<'_>,
        report_id: ID,
        filter_id: String,
    ) -> async_graphql::Result<Vec<Option<CellValue>>> {
        let (s, c) = on(ctx, Services::data)?;
        let values = s.filter_values(c, &report_id, &filter_id).await.gql()?;
        Ok(vitrine_definitions::cells(values))
    }

    async fn access_filters(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
    ) -> async_graphql::Result<Vec<AccessFilter>> {
        let (s, c) = on(ctx, Services::data)?;
        let map = s.access_filters(c, &project_id).await.gql()?;
        Ok(map
            .into_iter()
            .map(|(dataset, rules)| AccessFilter {
                dataset,
                rules: rules
                    .into_iter()
                    .map(|r| AccessRule {
                        column: r.column,
                        attribute: r.attribute,
                    })
                    .collect(),
            })
            .collect())
    }

    /// Connection-role default and access-boost switches (admins).
    async fn data_security(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<DataSecuritySettings> {
        let (s, c) = on(ctx, Services::data)?;
        s.require_admin_caller(c).gql()?;
        Ok(s.data_security().await.gql()?.into())
    }
}

#[derive(Default)]
pub struct DataMutation;

#[Object]
impl DataMutation {
    /// Defines a storage place (admins): `storage: {fs: {root: "/abs/dir"}}` or
    /// `{s3: {bucket, endpoint, region, accessKeyId, secretAccessKey}}`. The deprecated
    /// `definition` takes `{"kind": "fs", "root": …}` as JSON instead.
    async fn create_resource_location(
        &self,
        ctx: &Context<'_>,
        name: String,
        storage: Option<LocationStorageInput>,
        #[graphql(deprecation = "pass `storage`, typed")] definition: Option<Json<Value>>,
    ) -> async_graphql::Result<ResourceLocation> {
        let (s, c) = on(ctx, Services::data)?;
        let (definition, kind) = location_argument(storage, definition).gql()?;
        let l = (s.create_location(c, &name, definition).await)
            .map_err(|e| location_in_typed_terms(e, kind))
            .gql()?;
        Ok(ResourceLocation::from(l))
    }

    /// Lets the projects of a folder (and its subfolders) read or write a location.
    async fn grant_resource_location(
        &self,
        ctx: &Context<'_>,
        id: ID,
        folder_id: ID,
        access: LocationAccess,
    ) -> async_graphql::Result<ResourceLocation> {
        let (s, c) = on(ctx, Services::data)?;
        let access = match access {
            LocationAccess::Read => Some(Access::Read),
            LocationAccess::Write => Some(Access::Write),
            LocationAccess::None => None,
        };
        let l = s.grant_location(c, &id, &folder_id, access).await.gql()?;
        Ok(ResourceLocation::from(l))
    }

    async fn delete_resource_location(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<bool> {
        let (s, c) = on(ctx, Services::data)?;
        s.delete_location(c, &id).await.gql()
    }

    async fn set_instance_parameters(
        &self,
        ctx: &Context<'_>,
        parameters: Vec<ParameterInput>,
    ) -> async_graphql::Result<Vec<Parameter>> {
        let (s, c) = member(ctx)?;
        let saved = s
            .data()
            .set_instance_parameters(c, params(parameters)?)
            .await
            .gql()?;
        Ok(saved
            .into_iter()
            .map(|(name, value)| Parameter { name, value })
            .collect())
    }

    /// Saves the whole workflow: `blocks`, each with its kind's typed configuration,
    /// after validating it; `parameters` replaces the project's parameters when given.
    /// The save adds a revision to the project's history, with `message` or one made
    /// from the change. The deprecated `workflow` takes the graph as JSON instead
    /// (`{"blocks": [{"id", "kind", "config", "inputs"}]}`); give one of the two.
    #[allow(clippy::too_many_arguments)]
    async fn save_workflow(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        blocks: Option<Vec<BlockInput>>,
        #[graphql(deprecation = "pass `blocks`, typed")] workflow: Option<Json<Value>>,
        parameters: Option<Vec<ParameterInput>>,
        expected_version: Option<i64>,
        message: Option<String>,
    ) -> async_graphql::Result<Workflow> {
        let (s, c) = on(ctx, Services::data)?;
        let (workflow, typed) = workflow_argument(blocks, workflow).gql()?;
        let parameters = parameters.map(params).transpose()?;
        let w = s
            .save_workflow(
                c,
                &project_id,
                workflow,
                parameters,
                expected_version,
                message.as_deref(),
            )
            .await
            .map_err(|e| match &typed {
                Some(kinds) => in_typed_terms(e, kinds),
                None => e,
            })
            .gql()?;
        Ok(w.into())
    }

    /// Runs the workflow, or `fromBlock` and what depends on it. Unchanged blocks are
    /// reused unless `force`. With `wait`, answers when the run has finished.
    async fn run_workflow(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        from_block: Option<String>,
        #[graphql(default = false)] force: bool,
        #[graphql(default = false)] wait: bool,
    ) -> async_graphql::Result<WorkflowRun> {
        let (s, c) = on(ctx, Services::data)?;
        let r = s
            .run_workflow(c, &project_id, from_block, force, wait)
            .await
            .gql()?;
        Ok(WorkflowRun::from(r))
    }

    async fn cancel_workflow_run(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let (s, c) = on(ctx, Services::data)?;
        s.cancel_run(c, &id).await.gql()
    }

    /// Uploads a file (GraphQL multipart request) for `upload_source` blocks.
    async fn upload_file(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        file: UploadScalar,
    ) -> async_graphql::Result<Upload> {
        let (s, c) = on(ctx, Services::data)?;
        let caller = c;
        let value = file.value(ctx)?;
        let filename = value.filename.clone();
        let mut bytes = Vec::new();
        use std::io::Read;
        value
            .into_read()
            .take(MAX_UPLOAD_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| ApiError::internal("upload", e))
            .gql()?;
        let u = s
            .upload_file(caller, &project_id, &filename, bytes)
            .await
            .gql()?;
        Ok(Upload::from(u))
    }

    /// A report of `tabs` and `filters` (none when left out); saving refuses a dataset or
    /// column the project's workflow does not publish. The deprecated `definition` takes
    /// both as JSON instead (`{"tabs": […], "filters": […]}`).
    async fn create_report(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        name: String,
        tabs: Option<Vec<Tab>>,
        filters: Option<Vec<ReportFilter>>,
        #[graphql(deprecation = "pass `tabs` and `filters`, typed")] definition: Option<
            Json<Value>,
        >,
    ) -> async_graphql::Result<Report> {
        let (s, c) = on(ctx, Services::data)?;
        let empty = async { Ok(Default::default()) };
        let definition = definition_argument(tabs, filters, definition, empty)
            .await
            .gql()?
            .unwrap_or_else(|| serde_json::json!({}));
        let r = s
            .create_report(c, &project_id, &name, definition)
            .await
            .gql()?;
        Ok(Report::from(r))
    }

    /// Renames the report, replaces its `tabs`, its `filters`, or any of them; what is
    /// left out stays as it is. The deprecated `definition` replaces both, as JSON.
    async fn update_report(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: Option<String>,
        tabs: Option<Vec<Tab>>,
        filters: Option<Vec<ReportFilter>>,
        #[graphql(deprecation = "pass `tabs` and `filters`, typed")] definition: Option<
            Json<Value>,
        >,
    ) -> async_graphql::Result<Report> {
        let (s, c) = on(ctx, Services::data)?;
        let current = async { Ok(s.report(c, &id).await?.0.definition) };
        let definition = definition_argument(tabs, filters, definition, current)
            .await
            .gql()?;
        let r = s
            .update_report(c, &id, name.as_deref(), definition)
            .await
            .gql()?;
        Ok(Report::from(r))
    }

    async fn delete_report(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let (s, c) = on(ctx, Services::data)?;
        s.delete_report(c, &id).await.gql()
    }

    /// Row-level rules for a dataset (managers); an empty list removes the filter.
    async fn set_access_filter(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        dataset: String,
        rules: Vec<AccessRule>,
    ) -> async_graphql::Result<AccessFilter> {
        let (s, c) = member(ctx)?;
        let rules = rules
            .into_iter()
            .map(|r| crate::services::AccessRule {
                column: r.column,
                attribute: r.attribute,
            })
            .collect();
        let saved = s
            .data()
            .set_access_filter(c, &project_id, &dataset, rules)
            .await
            .gql()?;
        Ok(AccessFilter {
            dataset,
            rules: saved
                .into_iter()
                .map(|r| AccessRule {
                    column: r.column,
                    attribute: r.attribute,
                })
                .collect(),
        })
    }

    /// Sets a user's connection role; null returns them to the instance default (admins).
    async fn set_connection_role(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        role: Option<ConnectionRole>,
    ) -> async_graphql::Result<bool> {
        let (s, c) = on(ctx, Services::data)?;
        s.set_connection_role(c, &user_id, role.map(Into::into))
            .await
            .gql()?;
        Ok(true)
    }

    async fn set_default_connection_role(
        &self,
        ctx: &Context<'_>,
        role: ConnectionRole,
    ) -> async_graphql::Result<DataSecuritySettings> {
        let (s, c) = on(ctx, Services::data)?;
        Ok(s.set_default_connection_role(c, role.into())
            .await
            .gql()?
            .into())
    }

    /// Access boost lets viewers see a report's tiles above their connection role (never
    /// drill-down, never past access filters). `INSTANCE` (admins) allows it, or stops
    /// every boost; `FOLDER` and `PROJECT` (their managers, once allowed) switch it on or
    /// off, or with `enabled: null` inherit again (the project wins, then the nearest
    /// folder); `LOCATION` (admins; `id` is the location's name) sets the default for
    /// datasets read from that resource location where nothing is switched.
    async fn set_access_boost(
        &self,
        ctx: &Context<'_>,
        scope: BoostScope,
        id: Option<ID>,
        enabled: Option<bool>,
    ) -> async_graphql::Result<DataSecuritySettings> {
        let (s, c) = member(ctx)?;
        let target = match (scope, id) {
            (BoostScope::Instance, _) => BoostTarget::Instance,
            (BoostScope::Folder, Some(id)) => BoostTarget::Folder(id.0),
            (BoostScope::Project, Some(id)) => BoostTarget::Project(id.0),
            (BoostScope::Location, Some(id)) => BoostTarget::Location(id.0),
            _ => {
                return Err(ApiError::invalid(
                    "id: a folder, project or location boost needs its id",
                ))
                .gql();
            }
        };
        let r = s.data().set_access_boost(c, target, enabled).await;
        Ok(r.gql()?.into())
    }

    /// Installs the built-in "Instance activity" project (admins): the audit log and task
    /// runs as datasets, with a report of views, shared-link usage, sign-ins and task
    /// runs. Answers the installed project when it exists already.
    async fn install_instance_activity(&self, ctx: &Context<'_>) -> async_graphql::Result<Project> {
        let (s, c) = member(ctx)?;
        let p = s.data().install_instance_activity(c).await;
        Ok(p.gql()?.into())
    }

    /// Computes and caches every tile of every report for the default filters and for
    /// each access scope of the project's viewers.
    async fn warm_up_reports(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
    ) -> async_graphql::Result<WarmUp> {
        let (s, c) = on(ctx, Services::data)?;
        Ok(s.warm_up(c, &project_id).await.gql()?.into())
    }
}

#[derive(Default)]
pub struct DataSubscription;

#[Subscription]
impl DataSubscription {
    /// Progress of a run: one event per block status change, then a final one. A run
    /// that has already finished yields its final state at once.
    async fn workflow_run_progress(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<impl Stream<Item = RunProgress> + use<>> {
        let (s, c) = member(ctx)?;
        let services = s;
        let caller = c;
        let rx = services.data().run_events(caller, &id).await.gql()?;
        let finished = services.data().run(caller, &id).await.gql()?;
        Ok(futures::stream::unfold(
            (rx, Some(finished)),
            |(rx, finished)| async move {
                match rx {
                    None => {
                        let f = finished?;
                        Some((
                            RunProgress {
                                run_id: ID(f.uid.clone().into()),
                                block: None,
                                run_status: f.status.into(),
                            },
                            (None, None),
                        ))
                    }
                    Some(mut rx) => loop {
                        match rx.recv().await {
                            Ok(e) => {
                                let last = e.block.is_none();
                                let next = if last { (None, None) } else { (Some(rx), None) };
                                return Some((RunProgress::from(e), next));
                            }
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                        }
                    },
                }
            },
        ))
    }
}
