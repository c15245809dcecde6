//! Resource locations (admins), workflows, runs, uploads and datasets (project roles).

use std::collections::BTreeMap;
use vitrine_core::AuditAction;

use serde_json::Value;
use sha2::{Digest, Sha256};
use vitrine_authz::{Action, Object};
use vitrine_core::{Ability, ErrorCode, Role, ServerPermission};
use vitrine_engine::locations::{Access, LocationKind};
use vitrine_engine::workflow::{Workflow, validate};
use vitrine_engine::{EngineError, INSTANCE_PARAMETERS, RunRequest};
use vitrine_storage::{
    ContentWrite, DatasetRecord, LocationGrant, LocationRecord, RunRecord, UploadRecord,
    WorkflowRecord, new_uid, now_ms,
};

use super::Data;
use crate::Audit;
use crate::caller::Caller;
use crate::commits::Commit;
use crate::directory::ProjectView;
use crate::guard::Edit;
use crate::{ApiError, ApiResult};

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e.code() {
            ErrorCode::Internal => ApiError::internal("engine", &e),
            code => ApiError::new(code, e.to_string()),
        }
    }
}

/// A saved workflow as the API shows it.
#[derive(Debug, Clone)]
pub struct WorkflowView {
    pub project_uid: String,
    pub workflow: Workflow,
    pub parameters: BTreeMap<String, String>,
    pub version: i64,
    pub updated_ms: i64,
}

/// The most bytes one uploaded file may have.
pub const MAX_UPLOAD_BYTES: usize = 256 << 20;
const MAX_PARAMETERS: usize = 100;

impl Data {
    pub fn require_admin_caller(&self, caller: &Caller) -> ApiResult<()> {
        self.authz
            .require_permission(caller, ServerPermission::Admin)
            .map_err(Into::into)
    }

    /// The project's folder first, then its ancestors.
    pub(crate) fn folder_chain(&self, project_uid: &vitrine_core::ProjectId) -> Vec<String> {
        let obj = Object::Project(project_uid.to_owned().into()).to_string();
        self.authz
            .snapshot()
            .chain(&obj)
            .filter_map(|o| o.strip_prefix("folder:").map(str::to_owned))
            .collect()
    }

    // ---- resource locations ---------------------------------------------------------

    pub async fn locations(&self, caller: &Caller) -> ApiResult<Vec<LocationRecord>> {
        self.require_admin_caller(caller)?;
        Ok(self.store.locations().await?)
    }

    pub async fn create_location(
        &self,
        caller: &Caller,
        name: &str,
        definition: Value,
    ) -> ApiResult<LocationRecord> {
        caller.require_write()?;
        self.require_admin_caller(caller)?;
        let name = vitrine_core::Name::parse("name", name)?.into_inner();
        LocationKind::parse(&definition)?;
        let record = LocationRecord {
            uid: new_uid().into(),
            name,
            definition,
            grants: vec![],
            created_ms: now_ms(),
        };
        self.store.insert_location(&record).await?;
        self.audit
            .record(
                caller,
                AuditAction::LocationCreate,
                &format!("location:{}", record.uid),
                "ok",
                &record.name,
            )
            .await?;
        Ok(record)
    }

    /// Grants (or with `None` revokes) a folder's projects access to a location.
    pub async fn grant_location(
        &self,
        caller: &Caller,
        uid: &str,
        folder_uid: &str,
        access: Option<Access>,
    ) -> ApiResult<LocationRecord> {
        let folder_uid = &vitrine_core::FolderId::from(folder_uid);
        let uid = &vitrine_core::LocationId::from(uid);
        caller.require_write()?;
        self.require_admin_caller(caller)?;
        if self.store.folder(folder_uid).await?.is_none() {
            return Err(ApiError::not_found("folder"));
        }
        let grant = access.map(|a| LocationGrant {
            folder_uid: folder_uid.into(),
            access: a,
        });
        let record = self
            .store
            .set_location_grant(uid, folder_uid, grant.as_ref())
            .await?
            .ok_or_else(|| ApiError::not_found("resource location"))?;
        self.audit
            .record(
                caller,
                AuditAction::LocationGrant,
                &format!("location:{uid}"),
                "ok",
                &format!(
                    "folder:{folder_uid} {}",
                    access.map(Access::as_str).unwrap_or("none")
                ),
            )
            .await?;
        Ok(record)
    }

    pub async fn delete_location(&self, caller: &Caller, uid: &str) -> ApiResult<bool> {
        let uid = &vitrine_core::LocationId::from(uid);
        caller.require_write()?;
        self.require_admin_caller(caller)?;
        let location = self
            .store
            .location(uid)
            .await?
            .ok_or_else(|| ApiError::not_found("resource location"))?;
        self.store.delete_location(uid).await?;
        self.forget_location_boost(&location.name).await?;
        self.audit
            .record(
                caller,
                AuditAction::LocationDelete,
                &format!("location:{uid}"),
                "ok",
                "",
            )
            .await?;
        Ok(true)
    }

    // ---- parameters -----------------------------------------------------------------

    pub async fn instance_parameters(
        &self,
        caller: &Caller,
    ) -> ApiResult<BTreeMap<String, String>> {
        self.require_admin_caller(caller)?;
        Ok(self
            .store
            .setting(INSTANCE_PARAMETERS)
            .await?
            .unwrap_or_default())
    }

    /// Instance values that override project parameters of the same name.
    pub async fn set_instance_parameters(
        &self,
        caller: &Caller,
        values: BTreeMap<String, String>,
    ) -> ApiResult<BTreeMap<String, String>> {
        caller.require_write()?;
        self.require_admin_caller(caller)?;
        check_parameters(&values)?;
        self.store.put_setting(INSTANCE_PARAMETERS, &values).await?;
        self.audit
            .record(
                caller,
                AuditAction::ParametersInstance,
                "instance",
                "ok",
                "",
            )
            .await?;
        Ok(values)
    }

    // ---- workflows ------------------------------------------------------------------

    /// Editors see the workflow; viewers too when the project lets them.
    pub async fn workflow(&self, caller: &Caller, project_uid: &str) -> ApiResult<WorkflowView> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        let p = self
            .directory
            .project_for(caller, project_uid, Action::View)
            .await?;
        if p.role < Role::Editor && !self.ability_on(&p, Ability::ViewersSeeWorkflow) {
            return Err(ApiError::forbidden(
                "viewers of this project do not see its workflow",
            ));
        }
        let record = self.store.workflow(project_uid).await?;
        Ok(match record {
            Some(r) => WorkflowView {
                project_uid: r.project_uid.into(),
                workflow: r.definition,
                parameters: r.parameters,
                version: r.version,
                updated_ms: r.updated_ms,
            },
            None => WorkflowView {
                project_uid: project_uid.to_owned().into(),
                workflow: Workflow::default(),
                parameters: BTreeMap::new(),
                version: 0,
                updated_ms: p.record.created_ms,
            },
        })
    }

    pub(crate) fn ability_on(&self, p: &ProjectView, ability: Ability) -> bool {
        self.authz.settings().ability(&p.record.abilities, ability)
    }

    /// Validates and saves a workflow. `expected_version` guards against overwriting a
    /// save made in between; nothing is stored unless the whole workflow is valid.
    pub async fn save_workflow(
        &self,
        caller: &Caller,
        project_uid: &str,
        workflow: Value,
        parameters: Option<BTreeMap<String, String>>,
        expected_version: Option<i64>,
        message: Option<&str>,
    ) -> ApiResult<WorkflowView> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        let project = self
            .directory
            .authorize::<Edit>(caller, project_uid)
            .await?;
        vitrine_core::shape::check_definition_depth("workflow", &workflow)
            .map_err(|e| ApiError::new(ErrorCode::InvalidWorkflow, e.to_string()))?;
        let wf: Workflow = serde_json::from_value(workflow).map_err(|e| {
            let why = vitrine_core::json_words(&e);
            ApiError::new(ErrorCode::InvalidWorkflow, format!("workflow: {why}"))
        })?;
        self.require_log_reader(caller, &wf)?;
        let current = self.store.workflow(project_uid).await?;
        let parameters = match parameters {
            Some(p) => p,
            None => current
                .as_ref()
                .map(|c| c.parameters.clone())
                .unwrap_or_default(),
        };
        check_parameters(&parameters)?;
        let resolved = self.engine.parameters(parameters.clone()).await?;
        let plugins = self.engine.plugin_catalog(&wf, &resolved).await?;
        let plan = validate(&wf, &resolved, &plugins)?;
        self.require_connection_uses(caller, &plan).await?;
        let stored = current.as_ref().map(|c| c.version).unwrap_or(0);
        let expected = expected_version.unwrap_or(stored);
        let record = WorkflowRecord {
            project_uid: project_uid.into(),
            definition: wf,
            parameters: parameters.clone(),
            version: expected + 1,
            updated_ms: now_ms(),
            updated_by: Some(caller.uid().into()),
        };
        let audit = Audit::event(
            caller,
            AuditAction::WorkflowSave,
            &format!("project:{project_uid}"),
            &format!("version {}", record.version),
        );
        let commit = Commit {
            author: caller.as_author(),
            message,
            write: ContentWrite::Workflow {
                record: &record,
                expected,
            },
            warnings: Vec::new(),
            audit,
        };
        self.commits.commit_content(&project, commit).await?;
        Ok(WorkflowView {
            project_uid: record.project_uid.into(),
            workflow: record.definition,
            parameters,
            version: record.version,
            updated_ms: record.updated_ms,
        })
    }

    // ---- runs -----------------------------------------------------------------------

    /// Starts a run (editors). With `wait`, returns once it has finished.
    pub async fn run_workflow(
        &self,
        caller: &Caller,
        project_uid: &str,
        from_block: Option<String>,
        force: bool,
        wait: bool,
    ) -> ApiResult<RunRecord> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        caller.require_write()?;
        self.directory
            .project_for(caller, project_uid, Action::Edit)
            .await?;
        if let Some(w) = self.store.workflow(project_uid).await? {
            self.require_log_reader(caller, &w.definition)?;
            // Refused here rather than as a failed block, so a lowered role answers at once.
            if w.definition
                .blocks
                .iter()
                .any(|b| b.kind == "database_source")
            {
                let (plan, _) = self.engine.plan(project_uid).await?;
                self.require_connection_uses(caller, &plan).await?;
            }
        }
        let run = self
            .engine
            .start_run(RunRequest {
                project_uid: project_uid.to_owned(),
                folders: self.folder_chain(project_uid),
                requested_by: Some(caller.uid().to_owned()),
                from_block,
                force,
            })
            .await?;
        self.audit
            .record(
                caller,
                AuditAction::WorkflowRun,
                &format!("project:{project_uid}"),
                "ok",
                &run.uid,
            )
            .await?;
        if !wait {
            return Ok(run);
        }
        self.wait_for_run(&run.uid).await
    }

    /// Waits until the run has ended and its record is final.
    pub async fn wait_for_run(&self, run_uid: &str) -> ApiResult<RunRecord> {
        let run_uid = &vitrine_core::RunId::from(run_uid);
        // Listen before looking, so an end between the two is not missed. A run leaves
        // the active set after its final record is written, then its end is announced.
        let mut ends = self.engine.finished_runs();
        while self.engine.is_running(run_uid) {
            match ends.recv().await {
                Ok(end) if end.run_uid == run_uid => break,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
        self.store
            .workflow_run(run_uid)
            .await?
            .ok_or_else(|| ApiError::not_found("run"))
    }

    pub async fn cancel_run(&self, caller: &Caller, run_uid: &str) -> ApiResult<bool> {
        let run_uid = &vitrine_core::RunId::from(run_uid);
        caller.require_write()?;
        let run = self
            .store
            .workflow_run(run_uid)
            .await?
            .ok_or_else(|| ApiError::not_found("run"))?;
        self.directory
            .project_for(caller, &run.project_uid, Action::Edit)
            .await?;
        let stopped = self.engine.cancel(run_uid);
        self.audit
            .record(
                caller,
                AuditAction::WorkflowCancel,
                &format!("project:{}", run.project_uid),
                if stopped { "ok" } else { "finished" },
                run_uid,
            )
            .await?;
        Ok(stopped)
    }

    pub async fn run(&self, caller: &Caller, run_uid: &str) -> ApiResult<RunRecord> {
        let run_uid = &vitrine_core::RunId::from(run_uid);
        let run = self
            .store
            .workflow_run(run_uid)
            .await?
            .ok_or_else(|| ApiError::not_found("run"))?;
        self.directory
            .project_for(caller, &run.project_uid, Action::Edit)
            .await
            .map_err(|_| ApiError::not_found("run"))?;
        Ok(run)
    }

    pub async fn runs(
        &self,
        caller: &Caller,
        project_uid: &str,
        limit: usize,
    ) -> ApiResult<Vec<RunRecord>> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        self.directory
            .project_for(caller, project_uid, Action::Edit)
            .await?;
        Ok(self
            .store
            .workflow_runs(project_uid, limit.min(200))
            .await?)
    }

    /// Progress events of a run, for the subscription; `None` when it already finished.
    pub async fn run_events(
        &self,
        caller: &Caller,
        run_uid: &str,
    ) -> ApiResult<Option<tokio::sync::broadcast::Receiver<vitrine_engine::RunEvent>>> {
        let run_uid = &vitrine_core::RunId::from(run_uid);
        self.run(caller, run_uid).await?;
        Ok(self.engine.subscribe(run_uid))
    }

    // ---- uploads and datasets -------------------------------------------------------

    /// Stores an uploaded file for `upload_source` blocks (editors).
    pub async fn upload_file(
        &self,
        caller: &Caller,
        project_uid: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> ApiResult<UploadRecord> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        caller.require_write()?;
        self.directory
            .project_for(caller, project_uid, Action::Edit)
            .await?;
        if bytes.len() > MAX_UPLOAD_BYTES {
            return Err(ApiError::new(
                ErrorCode::QueryTooLarge,
                format!("uploads are at most {MAX_UPLOAD_BYTES} bytes"),
            ));
        }
        let filename = vitrine_core::Name::parse("filename", filename)?.into_inner();
        let hash = hex::encode(Sha256::digest(&bytes));
        let size = bytes.len() as i64;
        self.store
            .artifacts()
            .put(vitrine_storage::Artifact::Upload(&hash), bytes)
            .await?;
        let record = UploadRecord {
            uid: new_uid().into(),
            project_uid: project_uid.into(),
            filename,
            content_hash: hash,
            bytes: size,
            uploaded_by: caller.uid().into(),
            created_ms: now_ms(),
        };
        self.store.insert_upload(&record).await?;
        self.audit
            .record(
                caller,
                AuditAction::UploadCreate,
                &format!("project:{project_uid}"),
                "ok",
                &record.filename,
            )
            .await?;
        Ok(record)
    }

    pub async fn datasets(
        &self,
        caller: &Caller,
        project_uid: &str,
    ) -> ApiResult<Vec<DatasetRecord>> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        self.directory
            .project_for(caller, project_uid, Action::View)
            .await?;
        Ok(self.store.datasets(project_uid).await?)
    }
}

/// Parameters as a client lists them, each name once.
pub fn parameter_map(list: Vec<(String, String)>) -> ApiResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (name, value) in list {
        if out.contains_key(&name) {
            return Err(ApiError::invalid(format!(
                "parameters: `{name}` is given twice"
            )));
        }
        out.insert(name, value);
    }
    Ok(out)
}

fn check_parameters(values: &BTreeMap<String, String>) -> ApiResult<()> {
    if values.len() > MAX_PARAMETERS {
        return Err(ApiError::invalid(format!(
            "parameters: at most {MAX_PARAMETERS}"
        )));
    }
    for (k, v) in values {
        vitrine_engine::workflow::check_ident(k)
            .map_err(|r| ApiError::invalid(format!("parameters.{k}: {r}")))?;
        if v.len() > 4096 {
            return Err(ApiError::invalid(format!(
                "parameters.{k}: at most 4096 bytes"
            )));
        }
    }
    Ok(())
}
