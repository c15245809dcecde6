//! Working copies, their links, and exported files waiting to be downloaded. What a push,
//! a pull or an import writes into a project is in [`replace`](crate::replace).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{StorageResult, Store};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkingCopyRecord {
    pub uid: vitrine_core::CopyId,
    /// The copy: a project of this instance.
    pub copy_uid: vitrine_core::ProjectId,
    /// The origin project's uid, on this instance or on `origin_url`'s.
    pub origin_project_uid: vitrine_core::ProjectId,
    pub origin_name: String,
    /// Base URL of the origin's instance; none when it is this one.
    #[serde(default)]
    pub origin_url: Option<String>,
    /// The working-copy link token the origin issued (remote origins only). A secret:
    /// never returned to clients.
    #[serde(default)]
    pub origin_token: Option<String>,
    /// The origin's latest revision number when the two were last in step.
    pub base_origin_number: i64,
    /// The copy's latest revision number at that moment.
    pub base_copy_number: i64,
    /// Report uids of the copy → the origin's, so a push updates the reports share links
    /// point at instead of replacing them.
    #[serde(default)]
    pub report_map: BTreeMap<String, String>,
    pub created_by: vitrine_core::UserId,
    pub created_ms: i64,
    pub synced_ms: i64,
}

/// A link the origin hands to another instance so that it can make and sync a working
/// copy over HTTP. Acts for `acts_as` (a service account) or else `created_by`, whose
/// rights are checked at every use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkingCopyLinkRecord {
    pub uid: vitrine_core::CopyLinkId,
    /// The project the link opens; empty for a folder's link (see `folder_uid`).
    pub project_uid: vitrine_core::ProjectId,
    /// A folder's link opens any project inside the folder that its identity may reach;
    /// the copy names the project on each request.
    #[serde(default)]
    pub folder_uid: Option<vitrine_core::FolderId>,
    pub token_hash: String,
    pub created_by: vitrine_core::UserId,
    pub created_ms: i64,
    pub expires_ms: i64,
    #[serde(default)]
    pub revoked: bool,
    #[serde(default)]
    pub last_used_ms: Option<i64>,
    /// What the copy may do besides reading: push its revisions, and force a push past
    /// changes made on the origin meanwhile. Links made before these existed allow
    /// neither.
    #[serde(default)]
    pub allow_push: bool,
    #[serde(default)]
    pub allow_force: bool,
    /// The service account the link acts as, whose own roles are checked at every use;
    /// none: the link acts as its creator.
    #[serde(default)]
    pub acts_as: Option<vitrine_core::UserId>,
}

impl WorkingCopyLinkRecord {
    /// What the link reaches: its project, or its folder and everything inside it.
    pub fn scope(&self) -> vitrine_core::TokenScope {
        match &self.folder_uid {
            Some(f) => vitrine_core::TokenScope::Folder(f.clone()),
            None => vitrine_core::TokenScope::Project(self.project_uid.clone()),
        }
    }
}

/// A file made for download (a project bundle, a report file): the bytes are an
/// artifact at `path`, downloadable by whoever asked for it until `expires_ms`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportRecord {
    pub uid: vitrine_core::ExportId,
    pub project_uid: vitrine_core::ProjectId,
    pub requested_by: vitrine_core::UserId,
    pub path: String,
    pub filename: String,
    pub content_type: String,
    pub bytes: i64,
    pub created_ms: i64,
    pub expires_ms: i64,
}

impl Store {
    pub async fn working_copy_of(
        &self,
        copy_uid: &vitrine_core::ProjectId,
    ) -> StorageResult<Option<WorkingCopyRecord>> {
        self.first(
            "SELECT * FROM working_copy WHERE copy_uid = $c",
            json!({ "c": copy_uid }),
        )
        .await
    }

    /// Working copies of `origin_uid` on this instance.
    pub async fn working_copies_of_origin(
        &self,
        origin_uid: &vitrine_core::ProjectId,
    ) -> StorageResult<Vec<WorkingCopyRecord>> {
        self.rows(
            "SELECT * FROM working_copy WHERE origin_project_uid = $o AND !origin_url ORDER BY uid",
            json!({ "o": origin_uid }),
        )
        .await
    }

    /// Stores a copy's link to its origin, replacing the one it had in one transaction, so
    /// no reader ever finds the copy without its link.
    /// Working copies holding a sealed link token, for key rotation: (uid, token).
    pub async fn sealed_origin_tokens(&self) -> StorageResult<Vec<(String, String)>> {
        #[derive(serde::Deserialize)]
        struct Row {
            uid: String,
            origin_token: String,
        }
        let rows: Vec<Row> = self
            .rows(
                "SELECT uid, origin_token FROM working_copy WHERE origin_token != NONE AND origin_token != NULL",
                json!({}),
            )
            .await?;
        Ok(rows.into_iter().map(|r| (r.uid, r.origin_token)).collect())
    }

    /// Seals a working copy's link token again, only if it is still the one read.
    pub async fn reseal_origin_token(
        &self,
        uid: &str,
        read: &str,
        sealed: &str,
    ) -> StorageResult<bool> {
        let changed: Option<serde_json::Value> = self
            .first(
                "UPDATE working_copy SET origin_token = $s WHERE uid = $u AND origin_token = $r RETURN AFTER",
                json!({ "u": uid, "r": read, "s": sealed }),
            )
            .await?;
        Ok(changed.is_some())
    }

    pub async fn put_working_copy(&self, w: &WorkingCopyRecord) -> StorageResult<()> {
        self.exec(
            "BEGIN; DELETE working_copy WHERE copy_uid = $w.copy_uid; CREATE working_copy CONTENT $w; COMMIT;",
            json!({ "w": w }),
        )
        .await
    }

    pub async fn delete_working_copy(
        &self,
        copy_uid: &vitrine_core::ProjectId,
    ) -> StorageResult<()> {
        self.exec(
            "DELETE working_copy WHERE copy_uid = $c",
            json!({ "c": copy_uid }),
        )
        .await
    }

    pub async fn insert_working_copy_link(&self, l: &WorkingCopyLinkRecord) -> StorageResult<()> {
        self.exec("CREATE working_copy_link CONTENT $l", json!({ "l": l }))
            .await
    }

    pub async fn working_copy_link_by_hash(
        &self,
        hash: &str,
    ) -> StorageResult<Option<WorkingCopyLinkRecord>> {
        self.first(
            "SELECT * FROM working_copy_link WHERE token_hash = $h",
            json!({ "h": hash }),
        )
        .await
    }

    /// The links of one project, or of one folder (not its projects' own links).
    pub async fn working_copy_links(
        &self,
        scope: &vitrine_core::TokenScope,
    ) -> StorageResult<Vec<WorkingCopyLinkRecord>> {
        let (sql, id) = match scope {
            vitrine_core::TokenScope::Project(p) => (
                "SELECT * FROM working_copy_link WHERE project_uid = $id ORDER BY uid",
                p.as_str(),
            ),
            vitrine_core::TokenScope::Folder(f) => (
                "SELECT * FROM working_copy_link WHERE folder_uid = $id ORDER BY uid",
                f.as_str(),
            ),
        };
        self.rows(sql, json!({ "id": id })).await
    }

    pub async fn revoke_working_copy_link(
        &self,
        uid: &vitrine_core::CopyLinkId,
    ) -> StorageResult<()> {
        self.exec(
            "UPDATE working_copy_link SET revoked = true WHERE uid = $u",
            json!({ "u": uid }),
        )
        .await
    }

    pub async fn touch_working_copy_link(
        &self,
        uid: &vitrine_core::CopyLinkId,
        at: i64,
    ) -> StorageResult<()> {
        self.exec(
            "UPDATE working_copy_link SET last_used_ms = $at WHERE uid = $u",
            json!({ "u": uid, "at": at }),
        )
        .await
    }

    pub async fn insert_export(&self, e: &ExportRecord) -> StorageResult<()> {
        self.exec("CREATE bundle_export CONTENT $e", json!({ "e": e }))
            .await
    }

    pub async fn export(
        &self,
        uid: &vitrine_core::ExportId,
    ) -> StorageResult<Option<ExportRecord>> {
        self.first(
            "SELECT * FROM bundle_export WHERE uid = $u",
            json!({ "u": uid }),
        )
        .await
    }

    /// Removes export records past their expiry and returns them (their files go next).
    pub async fn take_expired_exports(&self, now: i64) -> StorageResult<Vec<ExportRecord>> {
        self.rows(
            "DELETE bundle_export WHERE expires_ms < $now RETURN BEFORE",
            json!({ "now": now }),
        )
        .await
    }
}
