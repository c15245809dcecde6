//! Revisions: the immutable version history of a project's workflow, reports and
//! parameters. Rows are only ever created; numbers are unique per project.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{PageRequest, StorageResult, Store};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevisionRecord {
    pub uid: vitrine_core::RevisionId,
    pub project_uid: vitrine_core::ProjectId,
    /// 1 for a project's first revision, then one more for each.
    pub number: i64,
    /// The revision this one was made from; none for the first.
    pub parent_uid: Option<vitrine_core::RevisionId>,
    pub author_uid: Option<vitrine_core::UserId>,
    pub author_name: String,
    pub message: String,
    pub created_ms: i64,
    /// The whole content (`vitrine_core::RevisionContent` as JSON).
    pub content: Value,
    /// Set on revisions a working copy pushed into this project: where they were made.
    #[serde(default)]
    pub pushed_from: Option<PushedFrom>,
}

/// The working copy a pushed revision came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PushedFrom {
    pub project_uid: vitrine_core::ProjectId,
    pub project_name: String,
    /// The copy's instance, when it is another one.
    #[serde(default)]
    pub instance: Option<String>,
    /// The revision's number in the copy's own history.
    pub number: i64,
}

impl Store {
    pub async fn revision(
        &self,
        uid: &vitrine_core::RevisionId,
    ) -> StorageResult<Option<RevisionRecord>> {
        self.first("SELECT * FROM revision WHERE uid = $u", json!({ "u": uid }))
            .await
    }

    pub async fn latest_revision(
        &self,
        project_uid: &vitrine_core::ProjectId,
    ) -> StorageResult<Option<RevisionRecord>> {
        self.first(
            "SELECT * FROM revision WHERE project_uid = $p ORDER BY number DESC LIMIT 1",
            json!({ "p": project_uid }),
        )
        .await
    }

    /// A project's revisions numbered above `after`, oldest first.
    pub async fn revisions_after(
        &self,
        project_uid: &vitrine_core::ProjectId,
        after: i64,
    ) -> StorageResult<Vec<RevisionRecord>> {
        self.rows(
            "SELECT * FROM revision WHERE project_uid = $p AND number > $n ORDER BY number",
            json!({ "p": project_uid, "n": after }),
        )
        .await
    }

    /// A project's revisions newest first; `page.after` is the uid of the last one seen.
    pub async fn revisions_page(
        &self,
        project_uid: &vitrine_core::ProjectId,
        page: &PageRequest,
    ) -> StorageResult<Vec<RevisionRecord>> {
        self.rows(
            "SELECT * FROM revision WHERE project_uid = $p AND (!$after OR number < (SELECT VALUE number FROM revision WHERE uid = $after)[0]) ORDER BY number DESC LIMIT $n",
            json!({ "p": project_uid, "after": page.after, "n": page.first }),
        )
        .await
    }
}
