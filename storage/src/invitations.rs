//! What became of a recipient's invitation e-mail: sent (or why not), opened, asked for
//! again. Field-level updates, so they never undo a concurrent change of the recipient.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{StorageResult, Store};

/// A recipient's invitation e-mail, as the share ledger shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationLog {
    /// When the current invitation was last e-mailed.
    #[serde(default)]
    pub sent_ms: Option<i64>,
    /// Why the last attempt to e-mail it failed.
    #[serde(default)]
    pub error: Option<String>,
    /// When the current invitation was first opened.
    #[serde(default)]
    pub opened_ms: Option<i64>,
    /// When the recipient last asked for a new one.
    #[serde(default)]
    pub requested_ms: Option<i64>,
}

impl Store {
    /// Records the outcome of e-mailing the invitation whose token hashes to
    /// `token_hash`; a newer invitation issued meanwhile keeps its own record. A sent
    /// invitation answers any pending request and has not been opened yet.
    pub async fn invitation_mailed(
        &self,
        uid: &vitrine_core::RecipientId,
        token_hash: &str,
        at_ms: i64,
        error: Option<&str>,
    ) -> StorageResult<()> {
        let set = if error.is_none() {
            "invitation.sent_ms = $at, invitation.error = NONE, invitation.opened_ms = NONE, \
             invitation.requested_ms = NONE"
        } else {
            "invitation.error = $e"
        };
        self.exec(
            &format!("UPDATE share_recipient SET {set} WHERE uid = $u AND token_hash = $h"),
            json!({ "u": uid, "h": token_hash, "at": at_ms, "e": error }),
        )
        .await
    }

    /// The first opening of the current invitation.
    pub async fn invitation_opened(
        &self,
        uid: &vitrine_core::RecipientId,
        at_ms: i64,
    ) -> StorageResult<()> {
        self.exec(
            "UPDATE share_recipient SET invitation.opened_ms = $at WHERE uid = $u AND !invitation.opened_ms",
            json!({ "u": uid, "at": at_ms }),
        )
        .await
    }

    /// Records a request for a new invitation, at most one per `min_gap_ms`; answers
    /// whether this one was recorded (so its managers are told once, not per click).
    pub async fn invitation_requested(
        &self,
        uid: &vitrine_core::RecipientId,
        at_ms: i64,
        min_gap_ms: i64,
    ) -> StorageResult<bool> {
        Ok(self
            .count(
                "UPDATE share_recipient SET invitation.requested_ms = $at WHERE uid = $u \
                 AND !revoked_ms AND (!invitation.requested_ms OR invitation.requested_ms < $before) \
                 RETURN AFTER",
                json!({ "u": uid, "at": at_ms, "before": at_ms - min_gap_ms }),
            )
            .await?
            == 1)
    }
}
