//! Version history: every saved change to a project's workflow, reports or parameters
//! adds a revision holding the whole content, its author and a message (given, or made
//! from the change). History is listed newest first and any two revisions can be
//! compared ([`vitrine_core::revision::diff`]). Editors of a project see its history.

use std::collections::BTreeMap;

use vitrine_authz::Action;
use vitrine_core::revision::diff;
use vitrine_core::{Change, ChangeKind, ReportContent, RevisionContent};
use vitrine_storage::{PageRequest, RevisionRecord, StorageError, new_uid, now_ms};

use super::Services;
use crate::caller::Caller;
use crate::{ApiError, ApiResult};

/// Changes named in a generated message before it says "and N more".
const MESSAGE_CHANGES: usize = 3;

impl Services {
    /// The project's content as it is now.
    async fn current_content(&self, project_uid: &str) -> ApiResult<RevisionContent> {
        let workflow = self.store.workflow(project_uid).await?;
        let (workflow, parameters) = match workflow {
            Some(w) => (
                w.definition,
                w.parameters
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect(),
            ),
            None => (serde_json::json!({"blocks": []}), BTreeMap::new()),
        };
        let reports = self
            .store
            .reports(project_uid)
            .await?
            .into_iter()
            .map(|r| ReportContent {
                uid: r.uid,
                name: r.name,
                definition: r.definition,
            })
            .collect();
        Ok(RevisionContent {
            workflow,
            reports,
            parameters,
        })
    }

    /// Records the project's content as a new revision, unless it equals the latest one.
    /// Called after every save; a failure is logged, not returned, because the save
    /// itself has landed (the next revision then carries its content).
    pub(crate) async fn record_revision(
        &self,
        caller: &Caller,
        project_uid: &str,
        message: Option<&str>,
    ) {
        let author = (Some(caller.uid()), caller.user.username.as_str());
        self.record_revision_by(author, project_uid, message).await;
    }

    /// [`record_revision`](Self::record_revision) for an author who may not be a user:
    /// a share link's visitor syncing an edit back is named by the link.
    pub(crate) async fn record_revision_by(
        &self,
        author: (Option<&str>, &str),
        project_uid: &str,
        message: Option<&str>,
    ) {
        // Two saves racing for the same number: the loser reads again and takes the next.
        for _ in 0..3 {
            match self.try_record_revision(author, project_uid, message).await {
                Err(e) if e.code == vitrine_core::ErrorCode::Conflict => continue,
                Err(e) => {
                    tracing::error!(project = project_uid, error = %e.message, "revision not recorded");
                    return;
                }
                Ok(()) => return,
            }
        }
        tracing::error!(
            project = project_uid,
            "revision not recorded after repeated conflicts"
        );
    }

    async fn try_record_revision(
        &self,
        (author_uid, author_name): (Option<&str>, &str),
        project_uid: &str,
        message: Option<&str>,
    ) -> ApiResult<()> {
        let content = self.current_content(project_uid).await?;
        let latest = self.store.latest_revision(project_uid).await?;
        let previous = match &latest {
            Some(l) => serde_json::from_value(l.content.clone())
                .map_err(|e| ApiError::internal("revision", e))?,
            None => RevisionContent::default(),
        };
        let changes = diff(&previous, &content);
        if latest.is_some() && changes.is_empty() {
            return Ok(());
        }
        let message = match message.map(str::trim).filter(|m| !m.is_empty()) {
            Some(m) => m.chars().take(500).collect(),
            None => describe(&changes),
        };
        let record = RevisionRecord {
            uid: new_uid(),
            project_uid: project_uid.to_owned(),
            number: latest.as_ref().map_or(1, |l| l.number + 1),
            parent_uid: latest.map(|l| l.uid),
            author_uid: author_uid.map(str::to_owned),
            author_name: author_name.to_owned(),
            message,
            created_ms: now_ms(),
            content: serde_json::to_value(&content)
                .map_err(|e| ApiError::internal("revision", e))?,
        };
        match self.store.insert_revision(&record).await {
            Err(StorageError::Conflict(c)) => Err(ApiError::new(
                vitrine_core::ErrorCode::Conflict,
                format!("revision number taken: {c}"),
            )),
            other => Ok(other?),
        }
    }

    /// A project's history, newest first (editors).
    pub async fn revisions(
        &self,
        caller: &Caller,
        project_uid: &str,
        page: &PageRequest,
    ) -> ApiResult<Vec<RevisionRecord>> {
        self.project_for(caller, project_uid, Action::Edit).await?;
        Ok(self.store.revisions_page(project_uid, page).await?)
    }

    /// One revision, for editors of its project; anyone else is told it does not exist.
    pub async fn revision(&self, caller: &Caller, uid: &str) -> ApiResult<RevisionRecord> {
        let r = self
            .store
            .revision(uid)
            .await?
            .ok_or_else(|| ApiError::not_found("revision"))?;
        self.project_for(caller, &r.project_uid, Action::Edit)
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
    pub async fn revision_changes(&self, r: &RevisionRecord) -> ApiResult<Vec<Change>> {
        let before = match &r.parent_uid {
            Some(p) => match self.store.revision(p).await? {
                Some(parent) => content_of(&parent)?,
                None => RevisionContent::default(),
            },
            None => RevisionContent::default(),
        };
        Ok(diff(&before, &content_of(r)?))
    }
}

pub(crate) fn content_of(r: &RevisionRecord) -> ApiResult<RevisionContent> {
    serde_json::from_value(r.content.clone()).map_err(|e| ApiError::internal("revision", e))
}

/// A message made from the changes: "changed block orders, added tile Sales/t4".
fn describe(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "created the project".into();
    }
    let mut parts: Vec<String> = changes
        .iter()
        .take(MESSAGE_CHANGES)
        .map(|c| {
            let verb = match c.kind {
                ChangeKind::Added => "added",
                ChangeKind::Removed => "removed",
                ChangeKind::Changed => "changed",
            };
            let object = serde_json::to_value(c.object)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            format!("{verb} {object} {}", c.path)
        })
        .collect();
    if changes.len() > MESSAGE_CHANGES {
        parts.push(format!("and {} more", changes.len() - MESSAGE_CHANGES));
    }
    parts.join(", ")
}
