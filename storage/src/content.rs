//! A change to a project's content (workflow, parameters, reports) as one unit of work:
//! the change, the revision that records it, the access warnings it raised and its audit
//! event are written in one transaction, so a successful save always has its revision and
//! its audit row, and a failed one leaves none of them.

use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::{ReportRecord, RevisionRecord, ShareWarning, StorageResult, Store, WorkflowRecord};

/// What changes in the project's content.
#[derive(Debug, Clone, Copy)]
pub enum ContentWrite<'a> {
    /// Nothing: the commit records the current content as a revision (a project saved
    /// before history existed gets its first one).
    Nothing,
    /// The workflow and parameters, if the stored version is still `expected` (0 when
    /// none is stored).
    Workflow {
        record: &'a WorkflowRecord,
        expected: i64,
    },
    NewReport(&'a ReportRecord),
    /// A report's name, definition or both, and nothing else, so a concurrent edit of the
    /// other field survives.
    ReportFields {
        uid: &'a str,
        name: Option<&'a str>,
        definition: Option<&'a vitrine_core::report::ReportDefinition>,
        updated_ms: i64,
    },
    DeleteReport {
        uid: &'a str,
    },
}

/// One commit of a project's content.
#[derive(Debug, Clone, Copy)]
pub struct ContentCommit<'a> {
    pub project_uid: &'a str,
    pub write: ContentWrite<'a>,
    /// The number of the latest revision when the new content was computed (0: none).
    /// A revision recorded since makes this commit stale: its revision would describe
    /// content that no longer exists, so nothing is written and the caller reads again.
    pub seen_revision: i64,
    /// The revision this change makes; none when the content equals the latest one's.
    pub revision: Option<&'a RevisionRecord>,
    /// Access warnings the change raised, appended to each named share link.
    pub warnings: &'a [(String, Vec<ShareWarning>)],
    pub audit: &'a NewAuditEvent,
}

impl Store {
    /// Writes a content commit in one transaction. Fails with
    /// [`StorageError::Stale`](crate::StorageError::Stale) when another commit recorded a
    /// revision in between, with `Conflict` when the workflow moved past `expected`, and
    /// with `NotFound("report")` when the report to change is gone.
    pub async fn commit_content(&self, c: &ContentCommit<'_>) -> StorageResult<()> {
        let mut sql = String::from(
            "BEGIN;
            LET $latest = (SELECT VALUE number FROM revision WHERE project_uid = $p ORDER BY number DESC LIMIT 1)[0] ?? 0;
            IF $latest != $seen { THROW \"vitrine-stale: revision \" + <string>$latest + \" was recorded meanwhile\" };",
        );
        let mut vars =
            json!({ "p": c.project_uid, "seen": c.seen_revision, "at": crate::now_ms() });
        match c.write {
            ContentWrite::Nothing => {}
            ContentWrite::Workflow { record, expected } => {
                sql.push_str(
                    "LET $cur = (SELECT VALUE version FROM workflow WHERE project_uid = $p)[0] ?? 0;
                    IF $cur != $expected { THROW \"vitrine-conflict: the workflow changed since version \" + <string>$expected + \"; it is now at version \" + <string>$cur };
                    DELETE workflow WHERE project_uid = $p;
                    CREATE workflow CONTENT $w;",
                );
                vars["w"] = json!(record);
                vars["expected"] = json!(expected);
            }
            ContentWrite::NewReport(r) => {
                sql.push_str("CREATE report CONTENT $r;");
                vars["r"] = json!(r);
            }
            ContentWrite::ReportFields {
                uid,
                name,
                definition,
                updated_ms,
            } => {
                sql.push_str(
                    "LET $changed = UPDATE report SET name = $n ?? name, definition = $d ?? definition, updated_ms = $ms
                    WHERE uid = $u AND project_uid = $p RETURN AFTER;
                    IF array::len($changed) = 0 { THROW \"vitrine-gone: report\" };",
                );
                vars["u"] = json!(uid);
                vars["n"] = json!(name);
                vars["d"] = json!(definition);
                vars["ms"] = json!(updated_ms);
            }
            ContentWrite::DeleteReport { uid } => {
                sql.push_str(
                    "LET $gone = DELETE report WHERE uid = $u AND project_uid = $p RETURN BEFORE;
                    IF array::len($gone) = 0 { THROW \"vitrine-gone: report\" };",
                );
                vars["u"] = json!(uid);
            }
        }
        if let Some(r) = c.revision {
            sql.push_str("CREATE revision CONTENT $rev;");
            vars["rev"] = json!(r);
        }
        if !c.warnings.is_empty() {
            sql.push_str(crate::sharing::APPEND_WARNINGS);
            vars["warn"] = json!(c.warnings);
        }
        sql.push_str("CREATE audit_event CONTENT $audit; COMMIT;");
        vars["audit"] = json!(c.audit.clone().into_record(crate::now_ms()));
        self.exec(&sql, vars).await
    }
}
