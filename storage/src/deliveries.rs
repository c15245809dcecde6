//! Scheduled deliveries that share-link recipients set up for themselves: tasks that
//! carry the recipient they belong to. A revoked recipient's deliveries are cancelled or
//! handed to the link's owner inside the revocation's own transaction (see
//! [`Store::save_share_recipient`]); [`SETTLE_DELIVERIES`] is that step.

use serde_json::json;

use crate::{StorageResult, Store, TaskRecord};

/// Applies a revoked recipient's stored choice to their deliveries: `cancel` deletes the
/// tasks with their runs; `transfer_to_owner` makes the link's creator their owner and
/// only addressee, and notes whom they came from. Expects `$r` (the recipient: `uid`,
/// `link_uid`, `email`) and `$now`; does nothing unless the recipient is revoked.
pub(crate) const SETTLE_DELIVERIES: &str = "
    LET $settled = (SELECT revoked_ms, deliveries_on_revoke FROM share_recipient WHERE uid = $r.uid)[0];
    LET $mine = (SELECT VALUE uid FROM task WHERE recipient_uid = $r.uid);
    IF $settled.revoked_ms AND $settled.deliveries_on_revoke = 'cancel' {
        DELETE task_run_project WHERE run_uid IN (SELECT VALUE uid FROM task_run WHERE task_uid IN $mine);
        DELETE task_run WHERE task_uid IN $mine;
        DELETE task WHERE uid IN $mine;
    } ELSE IF $settled.revoked_ms AND $settled.deliveries_on_revoke = 'transfer_to_owner' {
        LET $owner = (SELECT VALUE created_by FROM share_link WHERE uid = $r.link_uid)[0];
        LET $to = (SELECT VALUE email FROM user WHERE uid = $owner)[0];
        IF !$to AND array::len($mine) > 0 { THROW \"vitrine-gone: owner address\" };
        UPDATE task SET owner_uid = $owner, recipient_uid = NONE, transferred_from = $r.email,
            updated_ms = $now,
            spec.actions = spec.actions.map(|$a| IF $a.kind = 'deliver' {
                object::extend($a, { recipients: [$to] }) } ELSE { $a })
            WHERE uid IN $mine;
    };";

impl Store {
    /// The deliveries a recipient set up, oldest first.
    pub async fn recipient_tasks(
        &self,
        recipient_uid: &vitrine_core::RecipientId,
    ) -> StorageResult<Vec<TaskRecord>> {
        self.rows(
            "SELECT * FROM task WHERE recipient_uid = $r ORDER BY created_ms, uid",
            json!({ "r": recipient_uid }),
        )
        .await
    }

    /// Owners' tasks (not recipients') that are not paused and deliver a report: what a
    /// link sharing projects' delivered files offers.
    pub async fn delivering_tasks(&self) -> StorageResult<Vec<TaskRecord>> {
        self.rows(
            "SELECT * FROM task WHERE !recipient_uid AND !paused AND 'deliver' IN spec.actions.kind ORDER BY uid",
            json!({}),
        )
        .await
    }

    /// Stores a recipient's delivery if the recipient is still live, in one transaction
    /// with that check: a delivery saved during a revocation either is settled by it or
    /// is refused (`NotFound("recipient")`).
    pub async fn insert_recipient_task(&self, t: &TaskRecord) -> StorageResult<()> {
        self.exec(
            "BEGIN;
             IF array::len(SELECT uid FROM share_recipient WHERE uid = $t.recipient_uid AND !revoked_ms) = 0 {
                 THROW \"vitrine-gone: recipient\" };
             CREATE task CONTENT $t; COMMIT;",
            json!({ "t": t }),
        )
        .await
    }

    /// Applies a revoked recipient's choice to deliveries left over (one saved while the
    /// revocation ran). Does nothing for a live recipient.
    pub async fn settle_recipient_tasks(
        &self,
        r: &crate::ShareRecipientRecord,
        now: i64,
    ) -> StorageResult<()> {
        let sql = format!("BEGIN; {SETTLE_DELIVERIES} COMMIT;");
        self.exec(&sql, json!({ "r": r, "now": now })).await
    }
}
