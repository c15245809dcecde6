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

impl Store {
    /// Audit events since `since_ms`, oldest first, as the `instance_log` block reads
    /// them (no uid, no actor id).
    pub async fn audit_rows_since(
        &self,
        since_ms: i64,
        limit: usize,
    ) -> StorageResult<Vec<serde_json::Value>> {
        self.rows(
            "SELECT at_ms, actor_name AS actor, action, object, outcome, address, detail \
             FROM audit_event WHERE at_ms >= $since ORDER BY at_ms LIMIT $limit",
            json!({ "since": since_ms, "limit": limit }),
        )
        .await
    }

    /// Deletes audit events older than `before_ms` (the configured retention); answers
    /// how many went.
    pub async fn prune_audit(&self, before_ms: i64) -> StorageResult<usize> {
        self.count(
            "DELETE audit_event WHERE at_ms < $before RETURN BEFORE",
            json!({ "before": before_ms }),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::store;

    #[tokio::test]
    async fn retention_deletes_only_what_is_older_and_rows_read_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path()).await;
        for (uid, at) in [("a", 1_000), ("b", 5_000), ("c", 9_000)] {
            store
                .exec(
                    "CREATE audit_event CONTENT { uid: $u, at_ms: $at, actor_name: 'ann', \
                     action: 'auth.login', object: 'user:1', outcome: 'ok', detail: '' }",
                    serde_json::json!({ "u": uid, "at": at }),
                )
                .await
                .unwrap();
        }
        let rows = store.audit_rows_since(2_000, 10).await.unwrap();
        let at: Vec<i64> = rows.iter().map(|r| r["at_ms"].as_i64().unwrap()).collect();
        assert_eq!(at, [5_000, 9_000]);
        assert_eq!(rows[0]["actor"], "ann");
        assert_eq!(store.prune_audit(6_000).await.unwrap(), 2);
        assert_eq!(store.audit_rows_since(0, 10).await.unwrap().len(), 1);
    }
}
