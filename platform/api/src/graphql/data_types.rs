//! GraphQL types of the data engine: locations, workflows, runs, datasets, reports.

use crate::services::records::{ReportRecord, RunRecord, UploadRecord};
use crate::services::values::WarmUpSummary;
use crate::services::values::{BlockResult, QueryResult, RunEvent};
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;
use vitrine_core::{ProjectId, ReportId};

use super::types::time;
use crate::services::{DataSecurity, FilterState, WorkflowView};
use crate::{ApiError, GqlResult};
use vitrine_definitions::CellValue;
use vitrine_definitions::blocks::BlockConfiguration;
pub use vitrine_definitions::connections::ConnectionRole;
use vitrine_definitions::report::{ReportFilter, Tab, filters_of, tabs_of};

pub use vitrine_definitions::locations::{BoostScope, LocationAccess, ResourceLocation};

#[derive(SimpleObject, Clone)]
pub struct Parameter {
    pub name: String,
    pub value: String,
}

#[derive(InputObject)]
pub struct ParameterInput {
    pub name: String,
    pub value: String,
}

#[derive(SimpleObject)]
pub struct BlockInputPort {
    pub port: String,
    /// `block` or `block.port`.
    pub source: String,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Block {
    pub id: String,
    /// As `blockKinds` names it (`csv_source`).
    pub kind: String,
    /// The configuration as saved, untyped.
    #[graphql(deprecation = "read `configuration`, typed per kind")]
    pub config: Json<Value>,
    pub inputs: Vec<BlockInputPort>,
}

#[ComplexObject]
impl Block {
    /// The kind's configuration, typed, with every default written out: the field named
    /// after the kind is set (`filter { condition }`), in the shape `saveWorkflow` takes.
    async fn configuration(&self) -> async_graphql::Result<BlockConfiguration> {
        BlockConfiguration::of(&self.kind, &self.config.0).gql()
    }
}

/// A project's workflow: its blocks and parameters, as last saved.
#[derive(SimpleObject)]
pub struct Workflow {
    pub project_id: ID,
    /// Bumped by every save; pass it back as `expectedVersion` to detect concurrent edits.
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    pub blocks: Vec<Block>,
    /// The whole graph as saved, in the shape the deprecated `saveWorkflow(workflow:)`
    /// takes.
    #[graphql(deprecation = "read `blocks`, whose `configuration` is typed")]
    pub definition: Json<Value>,
    pub parameters: Vec<Parameter>,
}

impl From<WorkflowView> for Workflow {
    fn from(v: WorkflowView) -> Self {
        let definition = Json(v.workflow.to_json());
        let blocks = v.workflow.blocks.into_iter().map(|b| Block {
            id: b.id,
            kind: b.kind,
            config: Json(b.config),
            inputs: (b.inputs.into_iter())
                .map(|(port, source)| BlockInputPort { port, source })
                .collect(),
        });
        Workflow {
            project_id: ID(v.project_uid),
            version: v.version,
            updated_at: time(v.updated_ms),
            blocks: blocks.collect(),
            definition,
            parameters: (v.parameters.into_iter())
                .map(|(name, value)| Parameter { name, value })
                .collect(),
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct BlockRunError {
    pub code: String,
    pub message: String,
}

/// Where a workflow run stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "vitrine_core::RunStatus", rename_items = "lowercase")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
    /// The server stopped mid-run.
    Interrupted,
}

/// Where a task run, or one project in it, stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "vitrine_core::TaskRunStatus", rename_items = "lowercase")]
pub enum TaskRunStatus {
    Queued,
    Running,
    Succeeded,
    /// Some projects failed (runs only).
    Partial,
    Failed,
    /// Nothing to do, or the identity may not act.
    Skipped,
    Cancelled,
}

#[derive(SimpleObject, Clone)]
pub struct BlockRun {
    pub block: String,
    /// pending, running, succeeded, up_to_date, failed, blocked or cancelled.
    pub status: String,
    pub rows: Option<i64>,
    pub duration_ms: Option<i64>,
    pub error: Option<BlockRunError>,
    pub notes: Vec<String>,
}

impl From<&BlockResult> for BlockRun {
    fn from(r: &BlockResult) -> Self {
        BlockRun {
            block: r.block.clone(),
            status: serde_json::to_value(r.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            rows: r.rows,
            duration_ms: r.duration_ms,
            error: r.error.as_ref().map(|e| BlockRunError {
                code: e.code.clone(),
                message: e.message.clone(),
            }),
            notes: r.notes.clone(),
        }
    }
}

/// One run of a project's workflow.
#[derive(SimpleObject)]
pub struct WorkflowRun {
    pub id: ID,
    pub project_id: ID,
    pub status: RunStatus,
    pub from_block: Option<String>,
    /// The user who started it (for a scheduled task: the task's identity).
    pub requested_by_id: Option<ID>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub blocks: Vec<BlockRun>,
}

impl From<RunRecord> for WorkflowRun {
    fn from(r: RunRecord) -> Self {
        let results: Vec<BlockResult> = serde_json::from_value(r.blocks).unwrap_or_default();
        WorkflowRun {
            id: ID(r.uid.into()),
            project_id: ID(r.project_uid.into()),
            status: r.status.into(),
            from_block: r.from_block,
            requested_by_id: r.requested_by.map(|u| ID(u.into())),
            started_at: time(r.started_ms),
            finished_at: r.finished_ms.map(time),
            blocks: results.iter().map(BlockRun::from).collect(),
        }
    }
}

/// One progress event of a run.
#[derive(SimpleObject)]
pub struct RunProgress {
    pub run_id: ID,
    /// The block whose status changed; absent on the final event.
    pub block: Option<BlockRun>,
    pub run_status: RunStatus,
}

impl From<RunEvent> for RunProgress {
    fn from(e: RunEvent) -> Self {
        RunProgress {
            run_id: ID(e.run),
            block: e.block.as_ref().map(BlockRun::from),
            run_status: e.run_status.into(),
        }
    }
}

pub use vitrine_definitions::datasets::{Dataset, DatasetColumn};

/// Tabs of tiles over the project's datasets.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Report {
    pub id: ID,
    pub project_id: ID,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Rendered as JSON only when asked for (lists of reports rarely are).
    #[graphql(skip)]
    spec: vitrine_core::report::ReportDefinition,
    #[graphql(skip)]
    uid: ReportId,
    #[graphql(skip)]
    project: ProjectId,
}

impl From<ReportRecord> for Report {
    fn from(r: ReportRecord) -> Self {
        Report {
            id: ID(r.uid.to_string()),
            project_id: ID(r.project_uid.to_string()),
            name: r.name,
            spec: r.definition,
            created_at: time(r.created_ms),
            updated_at: time(r.updated_ms),
            uid: r.uid,
            project: r.project_uid,
        }
    }
}

#[ComplexObject]
impl Report {
    /// Tabs, tiles and report filters as JSON, in the shape the deprecated
    /// `definition` argument of `createReport` takes.
    #[graphql(deprecation = "read `tabs` and `filters`, typed")]
    async fn definition(&self) -> Json<Value> {
        Json(self.spec.to_json())
    }
    /// The report's tabs and their tiles.
    async fn tabs(&self) -> async_graphql::Result<Vec<Tab>> {
        tabs_of(&self.spec).gql()
    }
    /// The report's filter controls.
    async fn filters(&self) -> async_graphql::Result<Vec<ReportFilter>> {
        filters_of(&self.spec).gql()
    }
    /// Markers on the tiles some of this report's viewers see less of, with the reason:
    /// for everyone who may view the report.
    async fn tile_notes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TileNote>> {
        let c = super::caller(ctx).gql()?;
        let data = super::services(ctx).data();
        let notes = data.report_tile_notes(c, &self.uid).await.gql()?;
        Ok(tile_notes(&notes))
    }
    /// Edits that widened what this report's public or recipients links show, until a
    /// manager acknowledges them on the link (visible to those who may edit the report).
    async fn access_warnings(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<super::sharing_types::AccessWarning>> {
        let s = super::services(ctx);
        let c = super::caller(ctx).gql()?;
        let list = s
            .sharing()
            .report_access_warnings(c, &self.project, &self.uid)
            .await
            .gql()?;
        Ok(super::sharing_types::warnings(&list))
    }
}

/// Why some viewers see less of a tile.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::services::TileNoteKind")]
pub enum TileNoteKind {
    /// Rows are filtered by each viewer's attribute values (none without a value).
    FilteredRows,
    /// The tile lists rows: viewers below the restricted querier connection role cannot
    /// see it (unless access boost applies).
    RowLevel,
}

/// A marker on a tile some of its viewers see less of, and why.
#[derive(SimpleObject)]
pub struct TileNote {
    pub tile_id: String,
    pub kind: TileNoteKind,
    pub message: String,
}

pub fn tile_notes(notes: &[crate::services::TileNote]) -> Vec<TileNote> {
    let note = |n: &crate::services::TileNote| TileNote {
        tile_id: n.tile_id.clone(),
        kind: n.kind.into(),
        message: n.message.clone(),
    };
    notes.iter().map(note).collect()
}

pub struct TileResult(pub std::sync::Arc<QueryResult>);

#[Object]
impl TileResult {
    async fn columns(&self) -> Vec<DatasetColumn> {
        self.0.columns().iter().cloned().map(Into::into).collect()
    }
    /// Rows as arrays in column order.
    async fn rows(&self) -> async_graphql::Result<Json<Value>> {
        // Parsed from the result's JSON text, which a cached result keeps.
        let text = self.0.json_rows_text().map_err(ApiError::from).gql()?;
        serde_json::from_str(&text)
            .map(Json)
            .map_err(|e| ApiError::internal("tile rows", e))
            .gql()
    }
    /// The same rows as JSON text: what `rows` holds, unparsed. The cheapest form for
    /// large tiles (a cached result keeps the text, so the server only copies it); the
    /// viewer page reads this.
    async fn rows_json(&self) -> async_graphql::Result<String> {
        let text = self.0.json_rows_text().map_err(ApiError::from).gql()?;
        Ok(text.to_string())
    }
    async fn row_count(&self) -> usize {
        self.0.rows()
    }
    /// More rows matched than the tile's limit returned.
    async fn truncated(&self) -> bool {
        self.0.truncated
    }
}

/// A report filter's chosen values; an empty list switches the filter off.
#[derive(InputObject)]
pub struct FilterValueInput {
    pub filter: String,
    /// The picked values (two for a BETWEEN filter: the range).
    pub values: Vec<Option<CellValue>>,
}

#[derive(InputObject)]
pub struct DrillValueInput {
    pub column: String,
    pub value: Option<CellValue>,
}

/// A filter state from its GraphQL input: defaults for the filters left out.
pub fn filter_state(filters: Option<Vec<FilterValueInput>>) -> FilterState {
    filters
        .unwrap_or_default()
        .into_iter()
        .map(|f| (f.filter, vitrine_definitions::values(f.values)))
        .collect()
}

/// The (column, value) pairs of a drill-down.
pub fn drill_values(values: Vec<DrillValueInput>) -> Vec<(String, Value)> {
    (values.into_iter())
        .map(|v| (v.column, vitrine_definitions::value(v.value)))
        .collect()
}

#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "AccessRuleInput")]
pub struct AccessRule {
    /// The dataset column…
    pub column: String,
    /// …must equal one of the viewer's values of this user attribute.
    pub attribute: String,
}

#[derive(SimpleObject)]
pub struct AccessFilter {
    pub dataset: String,
    pub rules: Vec<AccessRule>,
}

#[derive(SimpleObject)]
pub struct WarmUp {
    pub reports: usize,
    pub tiles: usize,
    pub filter_lists: usize,
    pub scopes: usize,
    /// Cache entries computed.
    pub entries: usize,
    pub failures: Vec<String>,
    pub duration_ms: u64,
}

impl From<WarmUpSummary> for WarmUp {
    fn from(s: WarmUpSummary) -> Self {
        WarmUp {
            reports: s.reports,
            tiles: s.tiles,
            filter_lists: s.filter_lists,
            scopes: s.scopes,
            entries: s.entries,
            failures: s.failures,
            duration_ms: s.duration_ms,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "UploadedFile")]
pub struct Upload {
    /// Name it in an `upload_source` block's `upload` field.
    pub id: ID,
    pub filename: String,
    pub bytes: i64,
    pub created_at: DateTime<Utc>,
}

impl From<UploadRecord> for Upload {
    fn from(r: UploadRecord) -> Self {
        Upload {
            id: ID(r.uid.into()),
            filename: r.filename,
            bytes: r.bytes,
            created_at: time(r.created_ms),
        }
    }
}

#[derive(SimpleObject)]
pub struct DataSecuritySettings {
    pub default_connection_role: ConnectionRole,
    /// Whether access boost is allowed: managers may switch it on, and any switch applies.
    pub instance_boost: bool,
    pub boosted_folders: Vec<ID>,
    pub boosted_projects: Vec<ID>,
    /// Folders and projects switched off explicitly.
    pub unboosted_folders: Vec<ID>,
    pub unboosted_projects: Vec<ID>,
    /// Resource locations (by name) whose datasets are boosted where nothing is switched.
    pub boosted_locations: Vec<String>,
}

impl From<DataSecurity> for DataSecuritySettings {
    fn from(s: DataSecurity) -> Self {
        let b = s.boost;
        let ids = |v: std::collections::BTreeSet<String>| v.into_iter().map(ID).collect();
        DataSecuritySettings {
            default_connection_role: s.default_connection_role.into(),
            instance_boost: b.allowed,
            boosted_folders: ids(b.boosted_folders),
            boosted_projects: ids(b.boosted_projects),
            unboosted_folders: ids(b.unboosted_folders),
            unboosted_projects: ids(b.unboosted_projects),
            boosted_locations: b.boosted_locations.into_iter().collect(),
        }
    }
}
