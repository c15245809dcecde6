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

    /// Read-modify-write of one setting that no concurrent writer can undo: `change`
    /// gets the current value (or `None`) and returns the next one, which is stored only
    /// if the setting is still at the revision that was read; otherwise `change` runs
    /// again on the newer value. Returns what was stored.
    pub async fn update_setting<T, F>(&self, key: &str, mut change: F) -> StorageResult<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Option<T>) -> T,
    {
        for _ in 0..50 {
            let row: Option<serde_json::Value> = self
                .first(
                    "SELECT data, rev FROM setting WHERE name = $k",
                    json!({ "k": key }),
                )
                .await?;
            let (current, rev) = match row {
                Some(mut r) => (
                    Some(serde_json::from_value(r["data"].take())?),
                    r["rev"].as_i64().unwrap_or(0),
                ),
                None => (None, -1),
            };
            let next = change(current);
            let written = if rev < 0 {
                // The unique index on `name` refuses a second concurrent create.
                match self
                    .exec(
                        "CREATE setting CONTENT { name: $k, data: $v, rev: 1 }",
                        json!({ "k": key, "v": &next }),
                    )
                    .await
                {
                    Ok(()) => true,
                    Err(crate::StorageError::Conflict(_)) => false,
                    Err(e) => return Err(e),
                }
            } else {
                self.count(
                    "UPDATE setting SET data = $v, rev = $rev + 1 WHERE name = $k AND (rev ?? 0) = $rev RETURN AFTER",
                    json!({ "k": key, "v": &next, "rev": rev }),
                )
                .await?
                    > 0
            };
            if written {
                return Ok(next);
            }
        }
        Err(crate::StorageError::Conflict(format!(
            "setting `{key}` keeps changing under concurrent writes; try again"
        )))
    }

    pub async fn put_setting<T: Serialize>(&self, key: &str, value: &T) -> StorageResult<()> {
        self.exec(
            "BEGIN; LET $old = (SELECT VALUE rev FROM setting WHERE name = $k)[0] ?? 0; \
             DELETE setting WHERE name = $k; CREATE setting CONTENT { name: $k, data: $v, rev: $old + 1 }; COMMIT;",
            json!({ "k": key, "v": value }),
        )
        .await
    }
}
