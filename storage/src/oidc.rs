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

    /// Sign-ins started and not back or expired yet.
    pub async fn oidc_logins_pending(&self) -> StorageResult<i64> {
        let rows: Vec<serde_json::Value> = self
            .rows(
                "SELECT count() AS n FROM oidc_login WHERE expires_ms > $now GROUP ALL",
                json!({ "now": crate::now_ms() }),
            )
            .await?;
        Ok(rows.first().and_then(|r| r["n"].as_i64()).unwrap_or(0))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A state answers once, for its own provider, until it expires; pending sign-ins
    /// are counted (the start of a sign-in refuses past a cap).
    #[tokio::test]
    async fn a_sign_in_state_is_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::store(dir.path()).await;
        let login = |hash: &str, expires_ms| OidcLoginRecord {
            state_hash: hash.into(),
            provider: "corp".into(),
            nonce: "n".into(),
            pkce_verifier: "v".into(),
            return_to: "/".into(),
            expires_ms,
        };
        let later = crate::now_ms() + 60_000;
        store.insert_oidc_login(&login("a", later)).await.unwrap();
        store.insert_oidc_login(&login("b", later)).await.unwrap();
        store.insert_oidc_login(&login("old", 1)).await.unwrap();
        assert_eq!(store.oidc_logins_pending().await.unwrap(), 2);
        assert!(store.take_oidc_login("a", "other").await.unwrap().is_none());
        // Asked for the wrong provider, the state is gone all the same.
        assert!(store.take_oidc_login("a", "corp").await.unwrap().is_none());
        let b = store.take_oidc_login("b", "corp").await.unwrap().unwrap();
        assert_eq!(b.nonce, "n");
        assert!(store.take_oidc_login("b", "corp").await.unwrap().is_none());
        assert!(
            store
                .take_oidc_login("old", "corp")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(store.oidc_logins_pending().await.unwrap(), 0);
    }
}
