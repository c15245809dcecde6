//! OpenID Connect sign-ins in progress, and the users they sign in.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{GroupRecord, StorageResult, Store, UserRecord};

/// A sign-in sent to a provider and not back yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OidcLoginRecord {
    /// SHA-256 of the `state` parameter; the state itself lives only in the browser.
    pub state_hash: String,
    /// The provider's configured name.
    pub provider: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where the browser goes once signed in (a path of this server).
    pub return_to: String,
    pub expires_ms: i64,
}

impl Store {
    pub async fn insert_oidc_login(&self, l: &OidcLoginRecord) -> StorageResult<()> {
        // Abandoned sign-ins go with the next one that starts.
        self.exec(
            "DELETE oidc_login WHERE expires_ms < $now; CREATE oidc_login CONTENT $l;",
            json!({ "l": l, "now": crate::now_ms() }),
        )
        .await
    }

    /// Takes the sign-in `state_hash` started with `provider`, if it has not expired:
    /// read and deleted in one statement, so a replayed state finds nothing.
    pub async fn take_oidc_login(
        &self,
        state_hash: &str,
        provider: &str,
    ) -> StorageResult<Option<OidcLoginRecord>> {
        let gone: Vec<OidcLoginRecord> = self
            .rows(
                "DELETE oidc_login WHERE state_hash = $h RETURN BEFORE",
                json!({ "h": state_hash }),
            )
            .await?;
        Ok(gone
            .into_iter()
            .find(|l| l.provider == provider && l.expires_ms > crate::now_ms()))
    }

    /// The user an identity provider knows as `subject`.
    pub async fn user_by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> StorageResult<Option<UserRecord>> {
        self.first(
            "SELECT * FROM user WHERE issuer = $i AND subject = $s",
            json!({ "i": issuer, "s": subject }),
        )
        .await
    }

    /// Refreshes what a provider says of a user at each sign-in.
    pub async fn refresh_oidc_user(&self, u: &UserRecord) -> StorageResult<()> {
        self.update_one(
            "user",
            &u.uid,
            "email = $u.email, display_name = $u.display_name, attributes = $u.attributes, \
             provider_groups = $u.provider_groups",
            json!({ "u": u }),
        )
        .await
    }

    pub async fn group_by_name(&self, name: &str) -> StorageResult<Option<GroupRecord>> {
        self.first("SELECT * FROM group WHERE name = $n", json!({ "n": name }))
            .await
    }
}
