//! Instance settings: small named JSON values (default role, ability defaults).

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::{StorageResult, Store};

impl Store {
    pub async fn setting<T: DeserializeOwned>(&self, key: &str) -> StorageResult<Option<T>> {
        let row: Option<serde_json::Value> = self
            .cached_first(
                "SELECT data FROM setting WHERE name = $k",
                json!({ "k": key }),
            )
            .await?;
        match row {
            Some(mut r) => Ok(Some(serde_json::from_value(r["data"].take())?)),
            None => Ok(None),
        }
    }

    pub async fn put_setting<T: Serialize>(&self, key: &str, value: &T) -> StorageResult<()> {
        self.exec(
            "BEGIN; DELETE setting WHERE name = $k; CREATE setting CONTENT { name: $k, data: $v }; COMMIT;",
            json!({ "k": key, "v": value }),
        )
        .await
    }
}
