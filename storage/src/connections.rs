//! Data connections: outside databases (PostgreSQL first) that source blocks read. The
//! record holds the kind's settings as a JSON document the services parse, the password
//! sealed, and the connection roles granted on it.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{StorageError, StorageResult, Store};

/// A connection role granted to a user or a group on one connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionGrant {
    /// `user:<uid>` or `group:<uid>`.
    pub subject: String,
    pub role: vitrine_core::ConnectionRole,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionRecord {
    pub uid: vitrine_core::ConnectionId,
    pub name: String,
    /// `postgres`.
    pub kind: String,
    /// The kind's settings without secrets (`{"host": …, "port": …}`).
    pub settings: Value,
    /// The password, sealed by the services; never returned to clients.
    #[serde(default)]
    pub sealed_password: Option<String>,
    #[serde(default)]
    pub grants: Vec<ConnectionGrant>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl Store {
    pub async fn insert_connection(&self, c: &ConnectionRecord) -> StorageResult<()> {
        self.exec("CREATE data_connection CONTENT $c", json!({ "c": c }))
            .await
            .map_err(|e| name_taken(e, &c.name))
    }

    /// Replaces the settings, name and password; grants are left as they are (they change
    /// one at a time through [`Store::set_connection_grant`]).
    pub async fn update_connection(&self, c: &ConnectionRecord) -> StorageResult<()> {
        self.exec(
            "UPDATE data_connection SET name = $c.name, settings = $c.settings, sealed_password = $c.sealed_password, updated_ms = $c.updated_ms WHERE uid = $c.uid",
            json!({ "c": c }),
        )
        .await
        .map_err(|e| name_taken(e, &c.name))
    }

    /// Seals a password again (key rotation) only if it is still the one read, so a
    /// password changed in between is never overwritten with the old one.
    pub async fn reseal_connection_password(
        &self,
        uid: &vitrine_core::ConnectionId,
        read: &str,
        sealed: &str,
    ) -> StorageResult<bool> {
        let changed: Option<ConnectionRecord> = self
            .first(
                "UPDATE data_connection SET sealed_password = $s WHERE uid = $u AND sealed_password = $r RETURN AFTER",
                json!({ "u": uid, "r": read, "s": sealed }),
            )
            .await?;
        Ok(changed.is_some())
    }

    /// Sets (or with `None` removes) one subject's role in one statement, so concurrent
    /// grants to different subjects never overwrite each other.
    pub async fn set_connection_grant(
        &self,
        uid: &vitrine_core::ConnectionId,
        subject: &str,
        role: Option<vitrine_core::ConnectionRole>,
    ) -> StorageResult<Option<ConnectionRecord>> {
        let add: Vec<ConnectionGrant> = role
            .map(|role| ConnectionGrant {
                subject: subject.to_owned(),
                role,
            })
            .into_iter()
            .collect();
        self.first(
            "UPDATE data_connection SET grants = array::concat(grants[WHERE subject != $s], $add) WHERE uid = $u RETURN AFTER",
            json!({ "u": uid, "s": subject, "add": add }),
        )
        .await
    }

    pub async fn connection(
        &self,
        uid: &vitrine_core::ConnectionId,
    ) -> StorageResult<Option<ConnectionRecord>> {
        self.first(
            "SELECT * FROM data_connection WHERE uid = $u",
            json!({ "u": uid }),
        )
        .await
    }

    pub async fn connection_by_name(&self, name: &str) -> StorageResult<Option<ConnectionRecord>> {
        self.first(
            "SELECT * FROM data_connection WHERE name = $n",
            json!({ "n": name }),
        )
        .await
    }

    pub async fn connections(&self) -> StorageResult<Vec<ConnectionRecord>> {
        self.rows("SELECT * FROM data_connection ORDER BY name", json!({}))
            .await
    }

    pub async fn delete_connection(&self, uid: &vitrine_core::ConnectionId) -> StorageResult<()> {
        self.exec("DELETE data_connection WHERE uid = $u", json!({ "u": uid }))
            .await
    }
}

fn name_taken(e: StorageError, name: &str) -> StorageError {
    match e {
        StorageError::Conflict(_) => {
            StorageError::Conflict(format!("a data connection is already named `{name}`"))
        }
        other => other,
    }
}
