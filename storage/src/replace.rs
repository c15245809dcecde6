//! Whole-project replacement. A push, a pull, a working copy's creation and a bundle
//! import all end the same way: one project's workflow, reports, datasets and block
//! results are replaced and revisions appended, in a single transaction, so readers see
//! all-old or all-new and a process that dies midway leaves the old content in place.

use std::future::Future;

use serde_json::{Value, json};
use surrealdb::engine::any::Any;
use surrealdb::method::Transaction;

use crate::db::checked;
use crate::{
    BlockStateRecord, DatasetRecord, NewAuditEvent, NewProject, ReportRecord, RevisionRecord,
    StorageError, StorageResult, Store, WorkflowRecord, WorkingCopyRecord,
};

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

impl Replacement {
    /// The statements (without BEGIN and COMMIT) and their variables.
    fn script(&self) -> (String, Value) {
        let keep: Vec<&str> = self.reports.iter().map(|x| x.uid.as_str()).collect();
        let create = match &self.new_project {
            Some(_) => NewProject::statements(),
            None => String::new(),
        };
        let mut vars = json!({
            "p": self.project_uid,
            "expect_latest": self.expect_latest,
            "expect_version": self.expect_version,
            "keep": keep,
            "pause": format!("{}ms", self.pause_ms),
            "w": self.workflow,
            "reports": self.reports,
            "datasets": self.datasets,
            "states": self.block_states,
            "revisions": self.revisions,
            "wc": self.working_copy,
            "audit": self.audit.clone().map(|a| a.into_record(crate::now_ms())),
        });
        if let (Some(n), Some(v)) = (&self.new_project, vars.as_object_mut())
            && let Value::Object(more) = n.vars()
        {
            v.extend(more);
        }
        (format!("{create} {REPLACE}"), vars)
    }
}

impl Store {
    /// Replaces a project's content as `r` says, all or nothing (see the module docs).
    /// Access filters, share links and roles are the project's own and stay.
    pub async fn replace_project(&self, r: &Replacement) -> StorageResult<()> {
        let (script, vars) = r.script();
        let result = self.exec(&format!("BEGIN; {script} COMMIT;"), vars).await;
        if r.new_project.is_some() {
            self.projects_written();
        }
        result
    }

    /// [`replace_project`](Self::replace_project) while the caller is still making some
    /// of the datasets: the rest of `r` is written in an open transaction as `datasets`
    /// runs, then the datasets it yields (after `r.datasets`), then the commit. The
    /// database's work and the caller's overlap, and still nothing is visible before the
    /// commit, so no record ever points at data not yet checked.
    ///
    /// When `datasets` fails, the transaction is cancelled and its error comes back as
    /// it is (`Ok(Err(..))`); a storage failure is the outer error. A transaction that
    /// conflicts with another writer is written again the plain way, with retries.
    pub async fn replace_project_while<E>(
        &self,
        r: &Replacement,
        datasets: impl Future<Output = Result<Vec<DatasetRecord>, E>>,
    ) -> StorageResult<Result<(), E>> {
        let result = self.replace_overlapped(r, datasets).await;
        if r.new_project.is_some() {
            self.projects_written();
        }
        match result {
            Err(Retry(e, Some(more))) if e.is_retryable() => {
                tracing::debug!(error = %e, "replacing again after a transaction conflict");
                let mut all = r.clone();
                all.datasets.extend(more);
                self.replace_project(&all).await.map(Ok)
            }
            Err(Retry(e, _)) => Err(e),
            Ok(done) => Ok(done),
        }
    }

    async fn replace_overlapped<E>(
        &self,
        r: &Replacement,
        datasets: impl Future<Output = Result<Vec<DatasetRecord>, E>>,
    ) -> Result<Result<(), E>, Retry> {
        let (script, vars) = r.script();
        // The read cache is cleared again when this guard drops: after the commit.
        let (tx, _in_flight) = self.begin().await.map_err(|e| Retry(e, None))?;
        let tx = Open(Some(tx));
        // The statements run on a task of their own: they hold a core for as long as they
        // run, and `datasets` must go on meanwhile.
        let first = tokio::spawn(async move {
            let written = match &tx.0 {
                Some(t) => t.query(script).bind(vars).await.map_err(StorageError::from),
                None => unreachable!("the transaction is taken only to end it"),
            };
            (tx, written.and_then(checked).map(drop))
        });
        let made = datasets.await;
        let (mut tx, written) = first.await.map_err(|e| {
            Retry(
                StorageError::Database(format!("replacement task: {e}")),
                None,
            )
        })?;
        // Datasets that failed are the answer whatever the statements did: nothing is
        // written either way.
        let more = match made {
            Err(e) => {
                tx.cancel().await;
                return Ok(Err(e));
            }
            Ok(more) => more,
        };
        if let Err(e) = written {
            tx.cancel().await;
            return Err(Retry(e, Some(more)));
        }
        let t = tx.0.take().expect("an open transaction");
        let inserted = t
            .query("INSERT INTO dataset $datasets RETURN NONE")
            .bind(json!({ "datasets": more }))
            .await
            .map_err(StorageError::from)
            .and_then(checked);
        if let Err(e) = inserted {
            t.cancel().await.ok();
            return Err(Retry(e, Some(more)));
        }
        match t.commit().await {
            Ok(_) => Ok(Ok(())),
            Err(e) => Err(Retry(e.into(), Some(more))),
        }
    }
}

/// A failed overlapped replacement, with the datasets it had been given once they were
/// made (written again the plain way when the failure was a conflict).
struct Retry(StorageError, Option<Vec<DatasetRecord>>);

/// An interactive transaction that is cancelled if dropped unfinished (a request given
/// up half-way): none may stay open on the engine.
struct Open(Option<Transaction<Any>>);

impl Open {
    async fn cancel(&mut self) {
        if let Some(t) = self.0.take()
            && let Err(e) = t.cancel().await
        {
            tracing::warn!(error = %e, "transaction not cancelled");
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if let (Some(t), Ok(rt)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(async move { t.cancel().await.ok() });
        }
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
            INSERT INTO dataset $datasets RETURN NONE;
            INSERT INTO block_state $states RETURN NONE;
            INSERT INTO revision $revisions RETURN NONE;
            IF $wc { DELETE working_copy WHERE copy_uid = $wc.copy_uid; CREATE working_copy CONTENT $wc; };
            IF $audit { CREATE audit_event CONTENT $audit; };"#;

#[cfg(test)]
mod tests {
    use vitrine_core::AuditAction;

    use crate::testing::event;
    use crate::{
        DatasetRecord, NewProject, PolicyLine, ProjectRecord, Replacement, RevisionRecord,
        StorageError, Store, WorkflowRecord,
    };

    fn born(expect_latest: i64) -> Replacement {
        Replacement {
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
        }
    }

    /// A project born with content (an import, a working copy) is created by the same
    /// transaction as its content: when the content is refused, the project, its policy
    /// lines and its audit events are not there either.
    #[tokio::test]
    async fn a_project_born_with_its_content_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::store_with_folder(dir.path()).await;
        let replacement = born;
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

    fn revision(number: i64) -> RevisionRecord {
        RevisionRecord {
            uid: format!("born-{number}").into(),
            project_uid: "born".into(),
            number,
            parent_uid: None,
            author_uid: None,
            author_name: "Ann".into(),
            message: "imported".into(),
            created_ms: 1,
            content: serde_json::json!({"workflow": {"blocks": []}}),
            pushed_from: None,
        }
    }

    fn dataset(name: &str) -> DatasetRecord {
        DatasetRecord {
            uid: format!("d-{name}").into(),
            project_uid: "born".into(),
            name: name.into(),
            block_id: "b".into(),
            content_hash: "00".repeat(32),
            schema: serde_json::json!({}),
            rows: 1,
            bytes: 1,
            published_ms: 1,
            connections: Vec::new(),
        }
    }

    /// An import writes its project and history in an open transaction while its
    /// datasets are still being checked: none of it shows before the commit, datasets
    /// that fail leave nothing behind, and refused content leaves nothing whatever the
    /// datasets did.
    #[tokio::test]
    async fn a_replacement_written_while_its_datasets_are_made_shows_only_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::store_with_folder(dir.path()).await;
        let id = vitrine_core::ProjectId::from("born");
        let mut r = born(0);
        r.revisions = vec![revision(1)];
        r.datasets = vec![dataset("first")];
        let nothing_shows = || async {
            assert!(store.project(&id).await.unwrap().is_none());
            assert!(store.latest_revision(&id).await.unwrap().is_none());
            assert!(store.datasets(&id).await.unwrap().is_empty());
            assert!(store.policy_lines().await.unwrap().is_empty());
        };
        // The datasets fail after the rest has had time to be written.
        let failed = store
            .replace_project_while(&r, async {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                nothing_shows().await;
                Err::<Vec<DatasetRecord>, _>("dataset `orders`: not Arrow IPC")
            })
            .await
            .unwrap();
        assert_eq!(failed, Err("dataset `orders`: not Arrow IPC"));
        nothing_shows().await;
        // Refused content (a revision it did not expect) with datasets that were fine.
        let refused = store
            .replace_project_while(&born(7), async { Ok::<_, ()>(vec![dataset("orders")]) })
            .await;
        assert!(
            matches!(refused, Err(StorageError::Conflict(_))),
            "{refused:?}"
        );
        nothing_shows().await;
        // Accepted: the datasets made go in after those `r` carried, all at the commit.
        store
            .replace_project_while(&r, async {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                nothing_shows().await;
                Ok::<_, ()>(vec![dataset("orders")])
            })
            .await
            .unwrap()
            .unwrap();
        let mut names: Vec<String> = store
            .datasets(&id)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        names.sort();
        assert_eq!(names, ["first", "orders"]);
        assert_eq!(store.latest_revision(&id).await.unwrap().unwrap().number, 1);
        assert_eq!(store.project(&id).await.unwrap().unwrap().slug, "born");
    }
}
