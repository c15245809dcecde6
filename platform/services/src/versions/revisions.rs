//! Version history: every saved change to a project's workflow, reports or parameters
//! adds a revision holding the whole content, its author and a message (given, or made
//! from the change). History is listed newest first and any two revisions can be
//! compared ([`vitrine_core::revision::diff`]). Editors of a project see its history.

use std::collections::BTreeMap;
use vitrine_core::AuditAction;

use vitrine_authz::Action;
use vitrine_core::revision::diff;
use vitrine_core::{Change, RevisionContent};
use vitrine_engine::workflow::{Workflow, validate};
use vitrine_storage::{PageRequest, RevisionRecord};

use super::Versions;
use super::install::{Install, Payload, content_of};
use super::templates::Start;
use crate::caller::Caller;
use crate::directory::Creation;
use crate::guard::Edit;
use crate::{ApiError, ApiResult};

impl Versions {
    /// A project's history, newest first (editors).
    pub async fn revisions(
        &self,
        caller: &Caller,
        project_uid: &str,
        page: &PageRequest,
    ) -> ApiResult<Vec<RevisionRecord>> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        self.directory
            .project_for(caller, project_uid, Action::Edit)
            .await?;
        Ok(self.store.revisions_page(project_uid, page).await?)
    }

    /// One revision, for editors of its project; anyone else is told it does not exist.
    pub async fn revision(&self, caller: &Caller, uid: &str) -> ApiResult<RevisionRecord> {
        let uid = &vitrine_core::RevisionId::from(uid);
        let r = self
            .store
            .revision(uid)
            .await?
            .ok_or_else(|| ApiError::not_found("revision"))?;
        self.directory
            .project_for(caller, &r.project_uid, Action::Edit)
            .await
            .map_err(|_| ApiError::not_found("revision"))?;
        Ok(r)
    }

    /// What turns revision `from` into revision `to` (both of one project).
    pub async fn revision_diff(
        &self,
        caller: &Caller,
        from: &str,
        to: &str,
    ) -> ApiResult<Vec<Change>> {
        let (a, b) = (
            self.revision(caller, from).await?,
            self.revision(caller, to).await?,
        );
        if a.project_uid != b.project_uid {
            return Err(ApiError::invalid(
                "toId: the two revisions belong to different projects",
            ));
        }
        Ok(diff(&content_of(&a)?, &content_of(&b)?))
    }

    /// What a revision changed from its parent (everything, for the first).
    pub async fn revision_changes(&self, caller: &Caller, uid: &str) -> ApiResult<Vec<Change>> {
        let r = &self.revision(caller, uid).await?;
        let before = match &r.parent_uid {
            Some(p) => match self.store.revision(p).await? {
                Some(parent) => content_of(&parent)?,
                None => RevisionContent::default(),
            },
            None => RevisionContent::default(),
        };
        Ok(diff(&before, &content_of(r)?))
    }

    /// Puts the project back as revision `uid` had it — workflow, parameters and reports,
    /// in one transaction with the new revision that records it, so nothing is lost. The
    /// old workflow must still validate (plugins and locations may have changed), and
    /// report edits that would widen share links are checked as any edit is
    /// ([`install`](Self::install)). Datasets stay as they are until the next run.
    pub async fn revert_to_revision(
        &self,
        caller: &Caller,
        uid: &str,
        message: Option<&str>,
    ) -> ApiResult<RevisionRecord> {
        caller.require_write()?;
        let target = self.revision(caller, uid).await?;
        let project_uid = target.project_uid.clone();
        let mut payload = self.payload_of(&project_uid, i64::MAX).await?;
        let content = content_of(&target)?;
        // Reverting to what the project already holds adds nothing, as a save would.
        if payload.head != content {
            payload.head = content;
            let message = message
                .map(str::to_owned)
                .unwrap_or_else(|| format!("reverted to revision {}", target.number));
            let how = Install {
                keep_report_uids: true,
                label: Some(format!("revision {}", target.number)),
                one_revision: Some((
                    Some(caller.uid().to_owned()),
                    caller.user().username.clone(),
                    message,
                )),
                ..Install::default()
            };
            let target = self
                .directory
                .authorize::<Edit>(caller, &project_uid)
                .await?;
            self.install(&target, &payload, how, caller.as_author())
                .await?;
        }
        self.audit
            .record(
                caller,
                AuditAction::RevisionRevert,
                &format!("project:{project_uid}"),
                "ok",
                &format!("to revision {}", target.number),
            )
            .await?;
        self.store
            .latest_revision(&project_uid)
            .await?
            .ok_or_else(|| ApiError::internal("revision", "no revision after a revert"))
    }

    /// A content's workflow and parameters, if the workflow still validates today
    /// (plugins and locations may have changed since). `label` names the content in
    /// errors: "revision 3", "the incoming content".
    pub(crate) async fn restorable(
        &self,
        content: &RevisionContent,
        label: &str,
    ) -> ApiResult<(Workflow, BTreeMap<String, String>)> {
        let parameters = parameter_strings(content);
        let wf: Workflow = serde_json::from_value(content.workflow.clone()).map_err(|e| {
            ApiError::new(
                vitrine_core::ErrorCode::InvalidWorkflow,
                format!("{label}: workflow: {e}"),
            )
        })?;
        let resolved = self.engine.parameters(parameters.clone()).await?;
        let plugins = self.engine.plugin_catalog(&wf, &resolved).await?;
        validate(&wf, &resolved, &plugins).map_err(|e| {
            ApiError::new(
                e.code(),
                format!("the workflow of {label} no longer validates: {e}"),
            )
        })?;
        Ok((wf, parameters))
    }

    /// A new project in `folder` holding what revision `uid` held (its workflow,
    /// parameters and reports; datasets come from the new project's first run). Its
    /// history starts with one revision saying where it came from.
    pub async fn create_project_from_revision(
        &self,
        caller: &Caller,
        uid: &str,
        folder: &str,
        name: &str,
        slug: Option<&str>,
    ) -> ApiResult<crate::directory::ProjectView> {
        caller.require_write()?;
        let source = self.revision(caller, uid).await?;
        let label = format!("revision {}", source.number);
        let payload = Payload {
            head: content_of(&source)?,
            revisions: Vec::new(),
            datasets: Vec::new(),
            block_states: Vec::new(),
        };
        let origin = self.store.project(&source.project_uid).await?;
        let mut plan = self
            .directory
            .plan_project(caller, folder, name, slug, Creation::Authored)
            .await?;
        // The copy holds the origin's data: it is born with the origin's filters.
        if let Some(origin) = &origin {
            let security = self.security_of(origin).await?;
            self.govern(&mut plan, &security).await?;
        }
        let origin = origin.map(|p| p.name).unwrap_or_default();
        let start = Start {
            message: format!("copied from {origin} {label}"),
            label,
            action: AuditAction::RevisionCopy,
        };
        self.start_project(caller, plan, &payload, start).await
    }
}

/// A content's parameters as the workflow uses them: text (a value stored as another
/// JSON type, by an older version, as its JSON text).
pub(crate) fn parameter_strings(content: &RevisionContent) -> BTreeMap<String, String> {
    content
        .parameters
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect()
}
