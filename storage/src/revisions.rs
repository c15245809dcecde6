//! Revisions: the immutable version history of a project's workflow, reports and
//! parameters. Rows are only ever created; numbers are unique per project.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{PageRequest, StorageResult, Store};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevisionRecord {
    pub uid: vitrine_core::RevisionId,
    pub project_uid: vitrine_core::ProjectId,
    /// 1 for a project's first revision, then one more for each.
    pub number: i64,
    /// The revision this one was made from; none for the first.
    pub parent_uid: Option<vitrine_core::RevisionId>,
    pub author_uid: Option<vitrine_core::UserId>,
    pub author_name: String,
    pub message: String,
    pub created_ms: i64,
    /// The whole content (`vitrine_core::RevisionContent` as JSON). Stored as JSON text
    /// ([`json_text`]): the database never looks inside it, and converting it as a tree
    /// of values, in and out, was most of what writing a revision cost.
    #[serde(with = "json_text")]
    pub content: Value,
    /// Set on revisions a working copy pushed into this project: where they were made.
    #[serde(default)]
    pub pushed_from: Option<PushedFrom>,
}

/// A JSON value kept in the database as its text. Revisions written before were stored
/// as objects; they read back as they are.
mod json_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_json::Value;

    pub fn serialize<S: Serializer>(v: &Value, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        match Value::deserialize(d)? {
            Value::String(text) => serde_json::from_str(&text).map_err(serde::de::Error::custom),
            other => Ok(other),
        }
    }
}

/// The working copy a pushed revision came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PushedFrom {
    pub project_uid: vitrine_core::ProjectId,
    pub project_name: String,
    /// The copy's instance, when it is another one.
    #[serde(default)]
    pub instance: Option<String>,
    /// The revision's number in the copy's own history.
    pub number: i64,
}

impl Store {
    pub async fn revision(
        &self,
        uid: &vitrine_core::RevisionId,
    ) -> StorageResult<Option<RevisionRecord>> {
        self.first("SELECT * FROM revision WHERE uid = $u", json!({ "u": uid }))
            .await
    }

    pub async fn latest_revision(
        &self,
        project_uid: &vitrine_core::ProjectId,
    ) -> StorageResult<Option<RevisionRecord>> {
        self.first(
            "SELECT * FROM revision WHERE project_uid = $p ORDER BY number DESC LIMIT 1",
            json!({ "p": project_uid }),
        )
        .await
    }

    /// A project's revisions numbered above `after`, oldest first.
    pub async fn revisions_after(
        &self,
        project_uid: &vitrine_core::ProjectId,
        after: i64,
    ) -> StorageResult<Vec<RevisionRecord>> {
        self.rows(
            "SELECT * FROM revision WHERE project_uid = $p AND number > $n ORDER BY number",
            json!({ "p": project_uid, "n": after }),
        )
        .await
    }

    /// A project's revisions newest first; `page.after` is the uid of the last one seen.
    pub async fn revisions_page(
        &self,
        project_uid: &vitrine_core::ProjectId,
        page: &PageRequest,
    ) -> StorageResult<Vec<RevisionRecord>> {
        self.rows(
            "SELECT * FROM revision WHERE project_uid = $p AND (!$after OR number < (SELECT VALUE number FROM revision WHERE uid = $after)[0]) ORDER BY number DESC LIMIT $n",
            json!({ "p": project_uid, "after": page.after, "n": page.first }),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::RevisionRecord;

    fn record(uid: &str, number: i64) -> RevisionRecord {
        RevisionRecord {
            uid: uid.into(),
            project_uid: "p".into(),
            number,
            parent_uid: None,
            author_uid: None,
            author_name: "a".into(),
            message: "m".into(),
            created_ms: 1,
            content: json!({"workflow": {"blocks": [{"id": "b", "config": {"n": 1.5}}]}, "reports": []}),
            pushed_from: None,
        }
    }

    /// A revision's content is kept as JSON text and reads back as the same value; one
    /// written before, as an object, reads back as it is.
    #[tokio::test]
    async fn content_is_kept_as_text_and_old_objects_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::store(dir.path()).await;
        let new = record("r1", 1);
        store
            .exec("CREATE revision CONTENT $r", json!({ "r": new }))
            .await
            .unwrap();
        let kept: Vec<serde_json::Value> = store
            .rows(
                "SELECT VALUE content FROM revision WHERE uid = 'r1'",
                json!({}),
            )
            .await
            .unwrap();
        assert!(kept[0].is_string(), "{kept:?}");
        let mut old = serde_json::to_value(record("r2", 2)).unwrap();
        old["content"] = record("r2", 2).content;
        store
            .exec("CREATE revision CONTENT $r", json!({ "r": old }))
            .await
            .unwrap();
        for uid in ["r1", "r2"] {
            let back = store.revision(&uid.into()).await.unwrap().unwrap();
            assert_eq!(back.content, new.content, "{uid}");
        }
    }
}
