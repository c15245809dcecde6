//! The audit trail: append-only, queried by admins.

use serde_json::json;
use vitrine_core::AuditAction;

use crate::{AuditRecord, PageRequest, StorageResult, Store, new_uid, now_ms};

/// What a caller knows when recording an event; time and id are added here.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewAuditEvent {
    pub actor_uid: Option<vitrine_core::UserId>,
    pub actor_name: String,
    pub action: AuditAction,
    pub object: String,
    pub outcome: String,
    pub address: Option<String>,
    pub detail: String,
}

impl NewAuditEvent {
    /// The stored row, stamped now: an id and a time are all the store adds.
    pub(crate) fn into_record(self, at_ms: i64) -> AuditRecord {
        AuditRecord {
            uid: new_uid().into(),
            at_ms,
            actor_uid: self.actor_uid,
            actor_name: self.actor_name,
            action: self.action.as_str().to_owned(),
            object: self.object,
            outcome: self.outcome,
            address: self.address,
            detail: self.detail,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor_uid: Option<vitrine_core::UserId>,
    pub action_prefix: Option<String>,
    /// Any of these actions (empty: any action).
    pub actions: Vec<AuditAction>,
    pub object: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

impl Store {
    pub async fn append_audit(&self, event: NewAuditEvent) -> StorageResult<AuditRecord> {
        let record = event.into_record(now_ms());
        self.append_to_audit_log("CREATE audit_event CONTENT $e", json!({ "e": record }))
            .await?;
        Ok(record)
    }

    /// Appends many events in one transaction: shared views arrive by the thousand, and
    /// one synced commit per view would cost more than the view.
    pub async fn append_audit_batch(&self, events: Vec<NewAuditEvent>) -> StorageResult<()> {
        let at = now_ms();
        let records: Vec<AuditRecord> = events.into_iter().map(|e| e.into_record(at)).collect();
        self.append_to_audit_log("INSERT INTO audit_event $e", json!({ "e": records }))
            .await
    }

    /// Newest first: the cursor is the last uid seen, and uids are time-ordered.
    pub async fn audit_page(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> StorageResult<Vec<AuditRecord>> {
        let mut clauses = vec!["uid < $before"];
        if filter.actor_uid.is_some() {
            clauses.push("actor_uid = $actor");
        }
        if filter.action_prefix.is_some() {
            clauses.push("string::starts_with(action, $action)");
        }
        if !filter.actions.is_empty() {
            clauses.push("action INSIDE $actions");
        }
        if filter.object.is_some() {
            clauses.push("object = $object");
        }
        if filter.since_ms.is_some() {
            clauses.push("at_ms >= $since");
        }
        if filter.until_ms.is_some() {
            clauses.push("at_ms < $until");
        }
        let sql = format!(
            "SELECT * FROM audit_event WHERE {} ORDER BY uid DESC LIMIT $limit",
            clauses.join(" AND ")
        );
        self.rows(
            &sql,
            json!({
                // "~" sorts after every hex digit and dash of a uuid: "before everything".
                "before": page.after.clone().unwrap_or_else(|| "~".into()),
                "actor": filter.actor_uid,
                "action": filter.action_prefix,
                "actions": filter.actions.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                "object": filter.object,
                "since": filter.since_ms,
                "until": filter.until_ms,
                "limit": page.first,
            }),
        )
        .await
    }
}
