//! Users, groups, sessions and API tokens.

use std::collections::BTreeMap;

use serde_json::json;

use crate::{
    ApiTokenRecord, GroupRecord, PageRequest, SessionRecord, StorageError, StorageResult, Store,
    UserRecord, now_ms,
};

impl Store {
    pub async fn insert_user(&self, user: &UserRecord) -> StorageResult<()> {
        self.exec("CREATE user CONTENT $u", json!({ "u": user }))
            .await
            .map_err(|e| match e {
                StorageError::Conflict(_) => {
                    StorageError::Conflict(format!("username `{}` is taken", user.username))
                }
                other => other,
            })
    }

    pub async fn user(&self, uid: &vitrine_core::UserId) -> StorageResult<Option<UserRecord>> {
        self.cached_first("SELECT * FROM user WHERE uid = $uid", json!({ "uid": uid }))
            .await
    }

    pub async fn user_by_username(&self, username: &str) -> StorageResult<Option<UserRecord>> {
        self.first(
            "SELECT * FROM user WHERE username = $n",
            json!({ "n": username }),
        )
        .await
    }

    /// Does any user carry a value (or an empty list) for attribute `key`?
    pub async fn any_user_with_attribute(&self, key: &str) -> StorageResult<bool> {
        let hit: Vec<serde_json::Value> = self
            .rows(
                "SELECT uid FROM user WHERE object::keys(attributes ?? {}) CONTAINS $k LIMIT 1",
                json!({ "k": key }),
            )
            .await?;
        Ok(!hit.is_empty())
    }

    pub async fn users_page(&self, page: &PageRequest) -> StorageResult<Vec<UserRecord>> {
        self.rows(
            "SELECT * FROM user WHERE uid > $after ORDER BY uid LIMIT $limit",
            json!({ "after": page.after.clone().unwrap_or_default(), "limit": page.first }),
        )
        .await
    }

    pub async fn set_user_disabled(
        &self,
        uid: &vitrine_core::UserId,
        disabled: bool,
    ) -> StorageResult<()> {
        self.update_one("user", uid, "disabled = $v", json!({ "v": disabled }))
            .await?;
        if disabled {
            // Sessions die with the account; tokens are checked against the user on use.
            self.exec(
                "DELETE session WHERE user_uid = $uid",
                json!({ "uid": uid }),
            )
            .await?;
        }
        Ok(())
    }

    pub async fn set_password_hash(
        &self,
        uid: &vitrine_core::UserId,
        hash: &str,
    ) -> StorageResult<()> {
        self.update_one("user", uid, "password_hash = $v", json!({ "v": hash }))
            .await
    }

    pub async fn set_user_attributes(
        &self,
        uid: &vitrine_core::UserId,
        attributes: &BTreeMap<String, Vec<String>>,
    ) -> StorageResult<()> {
        self.update_one("user", uid, "attributes = $v", json!({ "v": attributes }))
            .await
    }

    pub async fn set_connection_role(
        &self,
        uid: &vitrine_core::UserId,
        role: Option<vitrine_core::ConnectionRole>,
    ) -> StorageResult<()> {
        self.update_one("user", uid, "connection_role = $v", json!({ "v": role }))
            .await
    }

    /// Updates exactly one row by uid, or reports it missing.
    pub(crate) async fn update_one(
        &self,
        table: &'static str,
        uid: &str,
        set: &str,
        mut vars: serde_json::Value,
    ) -> StorageResult<()> {
        vars["uid"] = json!(uid);
        let changed = self
            .count(
                &format!("UPDATE {table} SET {set} WHERE uid = $uid RETURN uid"),
                vars,
            )
            .await?;
        if changed == 0 {
            return Err(StorageError::NotFound(table));
        }
        Ok(())
    }

    // ---- groups -------------------------------------------------------------------

    pub async fn insert_group(&self, group: &GroupRecord) -> StorageResult<()> {
        self.exec("CREATE group CONTENT $g", json!({ "g": group }))
            .await
            .map_err(|e| match e {
                StorageError::Conflict(_) => {
                    StorageError::Conflict(format!("a group named `{}` exists", group.name))
                }
                other => other,
            })
    }

    pub async fn group(&self, uid: &vitrine_core::GroupId) -> StorageResult<Option<GroupRecord>> {
        self.first(
            "SELECT * FROM group WHERE uid = $uid",
            json!({ "uid": uid }),
        )
        .await
    }

    pub async fn groups_page(&self, page: &PageRequest) -> StorageResult<Vec<GroupRecord>> {
        self.rows(
            "SELECT * FROM group WHERE uid > $after ORDER BY uid LIMIT $limit",
            json!({ "after": page.after.clone().unwrap_or_default(), "limit": page.first }),
        )
        .await
    }

    pub async fn rename_group(&self, uid: &vitrine_core::GroupId, name: &str) -> StorageResult<()> {
        self.update_one("group", uid, "name = $n", json!({ "n": name }))
            .await
            .map_err(|e| match e {
                StorageError::Conflict(_) => {
                    StorageError::Conflict(format!("a group named `{name}` exists"))
                }
                other => other,
            })
    }

    pub async fn delete_group(&self, uid: &vitrine_core::GroupId) -> StorageResult<()> {
        let gone = self
            .count(
                "DELETE group WHERE uid = $uid RETURN BEFORE",
                json!({ "uid": uid }),
            )
            .await?;
        if gone == 0 {
            return Err(StorageError::NotFound("group"));
        }
        Ok(())
    }

    // ---- sessions -----------------------------------------------------------------

    pub async fn insert_session(&self, session: &SessionRecord) -> StorageResult<()> {
        self.exec("CREATE session CONTENT $s", json!({ "s": session }))
            .await
    }

    /// The live session with this token hash (expired ones are not returned).
    pub async fn session_by_hash(&self, hash: &str) -> StorageResult<Option<SessionRecord>> {
        self.first(
            "SELECT * FROM session WHERE token_hash = $h AND expires_ms > $now",
            json!({ "h": hash, "now": now_ms() }),
        )
        .await
    }

    pub async fn delete_session(&self, hash: &str) -> StorageResult<()> {
        self.exec("DELETE session WHERE token_hash = $h", json!({ "h": hash }))
            .await
    }

    pub async fn delete_sessions_of(
        &self,
        user_uid: &vitrine_core::UserId,
        except_hash: Option<&str>,
    ) -> StorageResult<()> {
        self.exec(
            "DELETE session WHERE user_uid = $uid AND token_hash != $keep",
            json!({ "uid": user_uid, "keep": except_hash.unwrap_or("") }),
        )
        .await
    }

    // ---- API tokens ---------------------------------------------------------------

    pub async fn insert_api_token(&self, token: &ApiTokenRecord) -> StorageResult<()> {
        self.exec("CREATE api_token CONTENT $t", json!({ "t": token }))
            .await
    }

    pub async fn api_token_by_hash(&self, hash: &str) -> StorageResult<Option<ApiTokenRecord>> {
        self.first(
            "SELECT * FROM api_token WHERE token_hash = $h",
            json!({ "h": hash }),
        )
        .await
    }

    pub async fn api_token(
        &self,
        uid: &vitrine_core::TokenId,
    ) -> StorageResult<Option<ApiTokenRecord>> {
        self.first(
            "SELECT * FROM api_token WHERE uid = $uid",
            json!({ "uid": uid }),
        )
        .await
    }

    pub async fn api_tokens_of(
        &self,
        user_uid: &vitrine_core::UserId,
    ) -> StorageResult<Vec<ApiTokenRecord>> {
        self.rows(
            "SELECT * FROM api_token WHERE user_uid = $uid ORDER BY uid",
            json!({ "uid": user_uid }),
        )
        .await
    }

    pub async fn revoke_api_token(&self, uid: &vitrine_core::TokenId) -> StorageResult<()> {
        self.update_one(
            "api_token",
            uid,
            "revoked_ms = $now",
            json!({ "now": now_ms() }),
        )
        .await
    }

    pub async fn touch_api_token(&self, uid: &vitrine_core::TokenId) -> StorageResult<()> {
        self.update_one(
            "api_token",
            uid,
            "last_used_ms = $now",
            json!({ "now": now_ms() }),
        )
        .await
    }
}
