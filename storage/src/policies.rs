//! casbin policy lines as rows. The casbin adapter in `vitrine-authz` is the only caller.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{StorageResult, Store};

/// One casbin line: `ptype, v0, v1, v2` (`p, user:U, folder:F, editor`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PolicyLine {
    pub ptype: String,
    pub v0: String,
    pub v1: String,
    #[serde(default)]
    pub v2: String,
}

impl PolicyLine {
    pub fn new(ptype: &str, v0: &str, v1: &str, v2: &str) -> Self {
        PolicyLine {
            ptype: ptype.into(),
            v0: v0.into(),
            v1: v1.into(),
            v2: v2.into(),
        }
    }

    /// The rule's values without the type, as casbin wants them.
    pub fn values(&self) -> Vec<String> {
        let mut v = vec![self.v0.clone(), self.v1.clone()];
        if !self.v2.is_empty() {
            v.push(self.v2.clone());
        }
        v
    }
}

impl Store {
    pub async fn policy_lines(&self) -> StorageResult<Vec<PolicyLine>> {
        self.rows("SELECT ptype, v0, v1, v2 FROM policy", json!({}))
            .await
    }

    /// Adds lines; lines already present are left as they are (idempotent).
    pub async fn add_policy_lines(&self, lines: &[PolicyLine]) -> StorageResult<()> {
        self.exec(
            "BEGIN; FOR $l IN $lines { IF array::len(SELECT ptype FROM policy WHERE ptype = $l.ptype AND v0 = $l.v0 AND v1 = $l.v1 AND v2 = $l.v2) == 0 { CREATE policy CONTENT $l; }; }; COMMIT;",
            json!({ "lines": lines }),
        )
        .await
    }

    pub async fn remove_policy_lines(&self, lines: &[PolicyLine]) -> StorageResult<()> {
        self.exec(
            "BEGIN; FOR $l IN $lines { DELETE policy WHERE ptype = $l.ptype AND v0 = $l.v0 AND v1 = $l.v1 AND v2 = $l.v2; }; COMMIT;",
            json!({ "lines": lines }),
        )
        .await
    }

    /// Replaces every line of the given types in one transaction: the stored set is the old
    /// one or the new one, never a mix. Only the difference is written: a unique index does
    /// not see rows deleted earlier in the same transaction, so delete-then-recreate of an
    /// unchanged line would conflict with itself.
    pub async fn replace_policy_lines(
        &self,
        ptypes: &[&str],
        lines: &[PolicyLine],
    ) -> StorageResult<()> {
        use std::collections::BTreeSet;
        let old: BTreeSet<PolicyLine> = self
            .policy_lines()
            .await?
            .into_iter()
            .filter(|l| ptypes.contains(&l.ptype.as_str()))
            .collect();
        let new: BTreeSet<PolicyLine> = lines.iter().cloned().collect();
        let remove: Vec<&PolicyLine> = old.difference(&new).collect();
        let add: Vec<&PolicyLine> = new.difference(&old).collect();
        self.exec(
            "BEGIN; FOR $l IN $remove { DELETE policy WHERE ptype = $l.ptype AND v0 = $l.v0 AND v1 = $l.v1 AND v2 = $l.v2; }; FOR $l IN $add { CREATE policy CONTENT $l; }; COMMIT;",
            json!({ "remove": remove, "add": add }),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes starting together each add the default lines they find missing; every one
    /// of them must start, and each line must be stored once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_same_lines_added_at_once_by_several_callers_are_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::store(dir.path()).await;
        let lines: Vec<PolicyLine> = (0..20)
            .map(|i| PolicyLine::new("g3", &format!("role:{i}"), "ability", ""))
            .collect();
        let mut adds = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (store, lines) = (store.clone(), lines.clone());
            adds.spawn(async move { store.add_policy_lines(&lines).await });
        }
        while let Some(added) = adds.join_next().await {
            added
                .unwrap()
                .expect("an add beside another of the same lines");
        }
        let mut stored = store.policy_lines().await.unwrap();
        stored.retain(|l| l.ptype == "g3" && l.v1 == "ability");
        stored.sort();
        let mut expected = lines.clone();
        expected.sort();
        assert_eq!(stored, expected);
    }
}
