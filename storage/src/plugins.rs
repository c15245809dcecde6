//! Published plugin versions. The record keeps what the host learnt when it checked the
//! component (its self-description), so listing plugins or validating a workflow never
//! needs to load WebAssembly.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{StorageError, StorageResult, Store};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginRecord {
    pub uid: vitrine_core::PluginId,
    pub name: String,
    /// Semantic version, as the plugin describes itself.
    pub version: String,
    pub description: String,
    /// SHA-256 of the component file, which is stored as [`Artifact::Plugin`](crate::Artifact::Plugin).
    pub content_hash: String,
    pub bytes: i64,
    /// The host's checked description: ports, configuration schema, contract, SDK.
    pub info: Value,
    pub enabled: bool,
    pub published_by: vitrine_core::UserId,
    pub published_ms: i64,
}

impl Store {
    pub async fn insert_plugin(&self, p: &PluginRecord) -> StorageResult<()> {
        self.exec("CREATE plugin CONTENT $p", json!({ "p": p }))
            .await
            .map_err(|e| match e {
                StorageError::Conflict(_) => StorageError::Conflict(format!(
                    "plugin `{}` version {} is published already; versions never change, publish a higher one",
                    p.name, p.version
                )),
                other => other,
            })
    }

    pub async fn plugin(&self, name: &str, version: &str) -> StorageResult<Option<PluginRecord>> {
        self.first(
            "SELECT * FROM plugin WHERE name = $n AND version = $v",
            json!({ "n": name, "v": version }),
        )
        .await
    }

    pub async fn plugin_by_uid(
        &self,
        uid: &vitrine_core::PluginId,
    ) -> StorageResult<Option<PluginRecord>> {
        self.first("SELECT * FROM plugin WHERE uid = $u", json!({ "u": uid }))
            .await
    }

    /// Every published version, by name then publication.
    pub async fn plugins(&self) -> StorageResult<Vec<PluginRecord>> {
        self.rows(
            "SELECT * FROM plugin ORDER BY name, published_ms",
            json!({}),
        )
        .await
    }

    pub async fn set_plugin_enabled(
        &self,
        uid: &vitrine_core::PluginId,
        enabled: bool,
    ) -> StorageResult<()> {
        self.exec(
            "UPDATE plugin SET enabled = $e WHERE uid = $u",
            json!({ "u": uid, "e": enabled }),
        )
        .await
    }
}
