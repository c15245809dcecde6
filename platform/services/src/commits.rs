//! Saving a project's content as one unit of work. Every change to a workflow, its
//! parameters or a report goes through [`Commits::commit_content`]: the change, the
//! revision recording it, the share-link warnings it raised and its audit event land in
//! one storage transaction, or none of them do.
//!
//! The revision is computed here (its diff and message need the engine's view of the
//! content) from a read made just before; the transaction refuses to write when another
//! revision was recorded since, and the commit is then computed again from a fresh read.
//! So concurrent saves each get their own revision, in order, and none describes content
//! that never existed.
//!
//! A component below the capabilities that change content (data, sharing's synced
//! edits, versions): it needs only the store, and holds no rights of its own — each
//! commit takes the proof that the caller may edit the project.

use std::collections::BTreeMap;
use std::time::Duration;
use vitrine_core::AuditAction;

use vitrine_core::revision::diff;
use vitrine_core::{Change, ChangeKind, ErrorCode, ReportContent, RevisionContent};
use vitrine_storage::{
    ContentCommit, ContentWrite, NewAuditEvent, ProjectRecord, RevisionRecord, ShareWarning,
    StorageError, Store, new_uid, now_ms,
};

use crate::Audit;
use crate::caller::Caller;
use crate::guard::{Authorized, Edit, View};
use crate::{ApiError, ApiResult};

/// Fresh reads before a commit that keeps losing to other saves gives up with CONFLICT.
/// Each loss means another save landed, so this only runs out under a flood of saves to
/// one project.
const STALE_RETRIES: u32 = 16;

/// Changes named in a generated message before it says "and N more".
const MESSAGE_CHANGES: usize = 3;

/// One change to a project's content, with what records it.
pub(crate) struct Commit<'a> {
    /// Who the revision names: a user's id (none for a link visitor) and a display name.
    pub author: (Option<&'a str>, &'a str),
    /// The revision's message; made from the change when none is given.
    pub message: Option<&'a str>,
    pub write: ContentWrite<'a>,
    pub warnings: Vec<(String, Vec<ShareWarning>)>,
    pub audit: NewAuditEvent,
}

/// Content changes with their revisions, one transaction each.
#[derive(Clone)]
pub(crate) struct Commits {
    store: Store,
}

impl Commits {
    pub(crate) fn new(store: Store) -> Self {
        Commits { store }
    }

    /// The project's content as it is now, read past the storage cache: revisions are
    /// computed from it.
    pub(crate) async fn current_content(
        &self,
        project_uid: &vitrine_core::ProjectId,
    ) -> ApiResult<RevisionContent> {
        let workflow = self.store.workflow(project_uid).await?;
        let (workflow, parameters) = match workflow {
            Some(w) => (
                w.definition.to_json(),
                w.parameters
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect(),
            ),
            None => (serde_json::json!({"blocks": []}), BTreeMap::new()),
        };
        let reports = self
            .store
            .reports_uncached(project_uid)
            .await?
            .into_iter()
            .map(|r| ReportContent {
                uid: r.uid.into(),
                name: r.name,
                definition: r.definition.to_json(),
            })
            .collect();
        Ok(RevisionContent {
            workflow,
            reports,
            parameters,
        })
    }

    /// Writes a content change with its revision, warnings and audit event in one
    /// transaction (see the module documentation).
    pub(crate) async fn commit_content(
        &self,
        project: &Authorized<ProjectRecord, Edit>,
        c: Commit<'_>,
    ) -> ApiResult<()> {
        self.commit(&project.get().uid, c).await
    }

    /// Records a project's current content as its first revision, for a project saved
    /// before history existed (so there is a revision to be in step with). It changes
    /// no content, so seeing the project is enough.
    pub(crate) async fn record_first_revision(
        &self,
        project: &Authorized<ProjectRecord, View>,
        caller: &Caller,
    ) -> ApiResult<()> {
        let uid = &project.get().uid;
        let commit = Commit {
            author: caller.as_author(),
            message: Some("recorded before copying"),
            write: ContentWrite::Nothing,
            warnings: Vec::new(),
            audit: Audit::event(
                caller,
                AuditAction::RevisionRecord,
                &format!("project:{uid}"),
                "recorded before copying",
            ),
        };
        self.commit(uid, commit).await
    }

    async fn commit(&self, project_uid: &vitrine_core::ProjectId, c: Commit<'_>) -> ApiResult<()> {
        for attempt in 0..STALE_RETRIES {
            // The latest revision first: content read after it can only be newer, and a
            // newer content comes with a newer revision, which makes the commit stale.
            let latest = self.store.latest_revision(project_uid).await?;
            let mut content = self.current_content(project_uid).await?;
            apply(&mut content, &c.write);
            let revision = revision_for(&c, project_uid, &content, latest.as_ref())?;
            let commit = ContentCommit {
                project_uid,
                write: c.write,
                seen_revision: latest.as_ref().map_or(0, |l| l.number),
                revision: revision.as_ref(),
                warnings: &c.warnings,
                audit: &c.audit,
            };
            match self.store.commit_content(&commit).await {
                Err(StorageError::Stale(why)) => {
                    tracing::debug!(
                        project = %project_uid,
                        attempt,
                        why,
                        "content commit is stale; reading again"
                    );
                    // Spread the retries of saves that collided, so they do not collide again.
                    let jitter = u64::from(rand::random::<u8>() % 8);
                    tokio::time::sleep(Duration::from_millis(1 + jitter)).await;
                }
                other => return Ok(other?),
            }
        }
        Err(ApiError::new(
            ErrorCode::Conflict,
            "the project kept changing while this change was saved; nothing was saved, try again",
        ))
    }
}

/// The content after `write`, as [`Commits::current_content`] would read it back.
fn apply(content: &mut RevisionContent, write: &ContentWrite<'_>) {
    match *write {
        ContentWrite::Nothing => {}
        ContentWrite::Workflow { record, .. } => {
            content.workflow = record.definition.to_json();
            content.parameters = record
                .parameters
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
        }
        ContentWrite::NewReport(r) => {
            content.reports.push(ReportContent {
                uid: r.uid.clone().into(),
                name: r.name.clone(),
                definition: r.definition.to_json(),
            });
            content.reports.sort_by(|a, b| a.uid.cmp(&b.uid));
        }
        ContentWrite::ReportFields {
            uid,
            name,
            definition,
            ..
        } => {
            if let Some(r) = content.reports.iter_mut().find(|r| r.uid == uid) {
                if let Some(n) = name {
                    r.name = n.to_owned();
                }
                if let Some(d) = definition {
                    r.definition = d.to_json();
                }
            }
        }
        ContentWrite::DeleteReport { uid } => content.reports.retain(|r| r.uid != uid),
    }
}

/// The revision recording `content`, or none when it equals the latest revision's.
fn revision_for(
    c: &Commit<'_>,
    project_uid: &vitrine_core::ProjectId,
    content: &RevisionContent,
    latest: Option<&RevisionRecord>,
) -> ApiResult<Option<RevisionRecord>> {
    let previous = match latest {
        Some(l) => serde_json::from_value(l.content.clone())
            .map_err(|e| ApiError::internal("revision", e))?,
        None => RevisionContent::default(),
    };
    let changes = diff(&previous, content);
    if latest.is_some() && changes.is_empty() {
        return Ok(None);
    }
    let message = match c.message.map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => m.chars().take(500).collect(),
        None => describe(&changes),
    };
    let (author_uid, author_name) = c.author;
    Ok(Some(RevisionRecord {
        uid: new_uid().into(),
        project_uid: project_uid.into(),
        number: latest.map_or(1, |l| l.number + 1),
        parent_uid: latest.map(|l| l.uid.clone()),
        author_uid: author_uid.map(str::to_owned).map(Into::into),
        author_name: author_name.to_owned(),
        message,
        created_ms: now_ms(),
        content: serde_json::to_value(content).map_err(|e| ApiError::internal("revision", e))?,
        pushed_from: None,
    }))
}

/// A message made from the changes: "changed block orders, added tile Sales/t4".
pub(crate) fn describe(changes: &[Change]) -> String {
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
