//! Working copies and whole-project replacement. A push, a pull and a bundle import all
//! end the same way: one project's workflow, reports, datasets and block results are
//! replaced and revisions appended, in a single transaction, so readers see all-old or
//! all-new and a process that dies midway leaves the old content in place.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    BlockStateRecord, DatasetRecord, NewAuditEvent, NewProject, ReportRecord, RevisionRecord,
    StorageResult, Store, WorkflowRecord,
};

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

/// Everything that replaces a project's content in one transaction.
#[derive(Debug, Clone)]
pub struct Replacement {
    pub project_uid: vitrine_core::ProjectId,
    /// Refused unless the project's latest revision number is still this (none: forced).
    pub expect_latest: Option<i64>,
    /// The stored workflow version the new one replaces.
    pub expect_version: i64,
    pub workflow: WorkflowRecord,
    pub reports: Vec<ReportRecord>,
    pub datasets: Vec<DatasetRecord>,
    pub block_states: Vec<BlockStateRecord>,
    /// Appended to the project's history (numbers already assigned).
    pub revisions: Vec<RevisionRecord>,
    /// The working-copy link to write along (created or updated).
    pub working_copy: Option<WorkingCopyRecord>,
    /// Fault injection for crash tests: sleep this long inside the transaction, after
    /// the old content is deleted and before anything new is written.
    pub pause_ms: u64,
    /// The project is created in the same transaction (an import, a working copy, a copy
    /// of a revision): it exists only with its content.
    pub new_project: Option<NewProject>,
    /// The audit event of the operation, written in the same transaction.
    pub audit: Option<NewAuditEvent>,
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

    /// Replaces a project's content as `r` says, all or nothing (see the module docs).
    /// Access filters, share links and roles are the project's own and stay.
    pub async fn replace_project(&self, r: &Replacement) -> StorageResult<()> {
        let keep: Vec<&str> = r.reports.iter().map(|x| x.uid.as_str()).collect();
        let pause = format!("{}ms", r.pause_ms);
        let create = match &r.new_project {
            Some(_) => NewProject::statements(),
            None => String::new(),
        };
        let script = format!("BEGIN; {create} {REPLACE}");
        let mut vars = json!({
            "p": r.project_uid,
            "expect_latest": r.expect_latest,
            "expect_version": r.expect_version,
            "keep": keep,
            "pause": pause,
            "w": r.workflow,
            "reports": r.reports,
            "datasets": r.datasets,
            "states": r.block_states,
            "revisions": r.revisions,
            "wc": r.working_copy,
            "audit": r.audit.clone().map(|a| a.into_record(crate::now_ms())),
        });
        if let (Some(n), Some(v)) = (&r.new_project, vars.as_object_mut())
            && let serde_json::Value::Object(more) = n.vars()
        {
            v.extend(more);
        }
        let result = self.exec(&script, vars).await;
        if r.new_project.is_some() {
            self.projects_written();
        }
        result
    }
}

/// The replacement itself, after the optional project creation (see
/// [`Store::replace_project`]).
const REPLACE: &str = r#"
            LET $latest = (SELECT VALUE number FROM revision WHERE project_uid = $p ORDER BY number DESC LIMIT 1)[0] ?? 0;
            IF $expect_latest != NULL AND $expect_latest != NONE AND $latest != $expect_latest {
                THROW "vitrine-conflict: the project moved on since revision " + <string>$expect_latest + "; it is now at revision " + <string>$latest
            };
            LET $cur = (SELECT VALUE version FROM workflow WHERE project_uid = $p)[0] ?? 0;
            IF $cur != $expect_version {
                THROW "vitrine-conflict: the workflow changed since version " + <string>$expect_version + "; it is now at version " + <string>$cur
            };
            DELETE workflow WHERE project_uid = $p;
            DELETE report WHERE project_uid = $p AND uid NOTINSIDE $keep;
            DELETE dataset WHERE project_uid = $p;
            DELETE block_state WHERE project_uid = $p;
            IF $pause != "0ms" { sleep(<duration>$pause) };
            CREATE workflow CONTENT $w;
            FOR $x IN $reports { DELETE report WHERE uid = $x.uid AND project_uid = $p; CREATE report CONTENT $x; };
            FOR $x IN $datasets { CREATE dataset CONTENT $x; };
            FOR $x IN $states { CREATE block_state CONTENT $x; };
            FOR $x IN $revisions { CREATE revision CONTENT $x; };
            IF $wc { DELETE working_copy WHERE copy_uid = $wc.copy_uid; CREATE working_copy CONTENT $wc; };
            IF $audit { CREATE audit_event CONTENT $audit; };
            COMMIT;"#;

#[cfg(test)]
mod tests {
    use vitrine_core::AuditAction;

    use crate::testing::event;
    use crate::{NewProject, PolicyLine, ProjectRecord, Replacement, Store, WorkflowRecord};

    /// A project born with content (an import, a working copy) is created by the same
    /// transaction as its content: when the content is refused, the project, its policy
    /// lines and its audit events are not there either.
    #[tokio::test]
    async fn a_project_born_with_its_content_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::store_with_folder(dir.path()).await;
        let replacement = |expect_latest: i64| Replacement {
            project_uid: "born".into(),
            expect_latest: Some(expect_latest),
            expect_version: 0,
            workflow: WorkflowRecord {
                project_uid: "born".into(),
                definition: Default::default(),
                parameters: Default::default(),
                version: 1,
                updated_ms: 1,
                updated_by: None,
            },
            reports: Vec::new(),
            datasets: Vec::new(),
            block_states: Vec::new(),
            revisions: Vec::new(),
            working_copy: None,
            pause_ms: 0,
            new_project: Some(NewProject {
                project: ProjectRecord {
                    uid: "born".into(),
                    name: "Born".into(),
                    slug: "born".into(),
                    folder_uid: "f".into(),
                    description: String::new(),
                    abilities: Default::default(),
                    created_ms: 1,
                    updated_ms: 1,
                    template: false,
                    template_origin: None,
                },
                policies: vec![PolicyLine::new("g2", "project:born", "folder:f", "")],
                audit: event(AuditAction::ProjectCreate, "project:born"),
                access_filters: vec![crate::AccessFilterRecord {
                    project_uid: "born".into(),
                    dataset: "orders".into(),
                    rules: serde_json::json!([{"column": "region", "attribute": "region"}]),
                    updated_ms: 1,
                }],
                settings: vec![(
                    "share_policy:born".into(),
                    serde_json::json!({"refuse_exposing_edits": true}),
                )],
            }),
            audit: Some(event(AuditAction::BundleImport, "project:born")),
        };
        let audits = |store: &Store| {
            let store = store.clone();
            async move {
                let page = crate::PageRequest {
                    after: None,
                    first: 50,
                };
                store
                    .audit_page(&Default::default(), &page)
                    .await
                    .unwrap()
                    .len()
            }
        };
        // The content is refused inside the transaction (a revision it did not expect).
        let refused = store.replace_project(&replacement(7)).await;
        assert!(refused.is_err(), "{refused:?}");
        assert!(
            store
                .project(&vitrine_core::ProjectId::from("born"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .workflow(&vitrine_core::ProjectId::from("born"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.policy_lines().await.unwrap().is_empty());
        let born = vitrine_core::ProjectId::from("born");
        assert!(store.access_filters(&born).await.unwrap().is_empty());
        let policy = || store.setting::<serde_json::Value>("share_policy:born");
        assert_eq!(policy().await.unwrap(), None);
        assert_eq!(audits(&store).await, 0);
        // Accepted: everything at once.
        store.replace_project(&replacement(0)).await.unwrap();
        assert_eq!(
            store
                .project(&vitrine_core::ProjectId::from("born"))
                .await
                .unwrap()
                .unwrap()
                .slug,
            "born"
        );
        assert_eq!(
            store
                .workflow(&vitrine_core::ProjectId::from("born"))
                .await
                .unwrap()
                .unwrap()
                .version,
            1
        );
        assert_eq!(store.policy_lines().await.unwrap().len(), 1);
        assert_eq!(store.access_filters(&born).await.unwrap().len(), 1);
        assert_eq!(
            policy().await.unwrap(),
            Some(serde_json::json!({"refuse_exposing_edits": true}))
        );
        assert_eq!(audits(&store).await, 2);
    }
}
