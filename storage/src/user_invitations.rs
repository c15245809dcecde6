//! Invitations of local users: an admin creates an account without a password and the
//! invitee chooses theirs through a mailed, expiring, single-use token.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{StorageError, StorageResult, Store};

/// A user's open (or last) invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInvitationRecord {
    pub user_uid: vitrine_core::UserId,
    /// SHA-256 of the token; the token itself is only ever in the mail.
    pub token_hash: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    #[serde(default)]
    pub sent_ms: Option<i64>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub accepted_ms: Option<i64>,
}

impl Store {
    /// Stores a user's invitation, replacing any earlier one (whose token stops working).
    pub async fn put_user_invitation(&self, r: &UserInvitationRecord) -> StorageResult<()> {
        self.exec(
            "BEGIN; DELETE user_invitation WHERE user_uid = $r.user_uid; \
             CREATE user_invitation CONTENT $r; COMMIT;",
            json!({ "r": r }),
        )
        .await
    }

    pub async fn user_invitation(
        &self,
        user_uid: &vitrine_core::UserId,
    ) -> StorageResult<Option<UserInvitationRecord>> {
        self.first(
            "SELECT * FROM user_invitation WHERE user_uid = $u",
            json!({ "u": user_uid }),
        )
        .await
    }

    pub async fn user_invitation_by_token(
        &self,
        hash: &str,
    ) -> StorageResult<Option<UserInvitationRecord>> {
        self.first(
            "SELECT * FROM user_invitation WHERE token_hash = $h",
            json!({ "h": hash }),
        )
        .await
    }

    /// Records the outcome of mailing the invitation with this token (a newer one keeps
    /// its own record).
    pub async fn user_invitation_mailed(
        &self,
        hash: &str,
        at_ms: i64,
        error: Option<&str>,
    ) -> StorageResult<()> {
        let set = if error.is_none() {
            "sent_ms = $at, error = NONE"
        } else {
            "error = $e"
        };
        self.exec(
            &format!("UPDATE user_invitation SET {set} WHERE token_hash = $h"),
            json!({ "h": hash, "at": at_ms, "e": error }),
        )
        .await
    }

    /// Accepts an invitation: sets the user's password and uses the token up, in one
    /// transaction; `NotFound("invitation")` when the token is unknown, used, replaced
    /// or expired at `now_ms`, and nothing is written.
    pub async fn accept_user_invitation(
        &self,
        hash: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> StorageResult<vitrine_core::UserId> {
        let r = self
            .user_invitation_by_token(hash)
            .await?
            .filter(|r| r.accepted_ms.is_none() && r.expires_ms > now_ms)
            .ok_or(StorageError::NotFound("invitation"))?;
        self.exec(
            "BEGIN; \
             LET $n = (UPDATE user_invitation SET accepted_ms = $now \
                WHERE token_hash = $h AND !accepted_ms AND expires_ms > $now RETURN AFTER); \
             IF array::len($n) = 0 { THROW \"vitrine-gone: invitation\" }; \
             UPDATE user SET password_hash = $p WHERE uid = $u; COMMIT;",
            json!({ "h": hash, "now": now_ms, "p": password_hash, "u": r.user_uid }),
        )
        .await?;
        Ok(r.user_uid)
    }
}
