//! casbin adapter over SurrealDB: policy lines are rows of the `policy` table.

use async_trait::async_trait;
use casbin::{Adapter, Filter, Model};
use vitrine_storage::{PolicyLine, Store};

const PTYPES: [(&str, &str); 4] = [("p", "p"), ("g", "g"), ("g", "g2"), ("g", "g3")];

pub struct SurrealAdapter {
    store: Store,
}

impl SurrealAdapter {
    pub fn new(store: Store) -> Self {
        SurrealAdapter { store }
    }
}

fn adapter_err(e: vitrine_storage::StorageError) -> casbin::Error {
    casbin::Error::AdapterError(casbin::error::AdapterError(Box::new(e)))
}

fn line(ptype: &str, rule: &[String]) -> PolicyLine {
    let get = |i: usize| rule.get(i).map(String::as_str).unwrap_or("");
    PolicyLine::new(ptype, get(0), get(1), get(2))
}

#[async_trait]
impl Adapter for SurrealAdapter {
    async fn load_policy(&mut self, m: &mut dyn Model) -> casbin::Result<()> {
        for l in self.store.policy_lines().await.map_err(adapter_err)? {
            let sec = if l.ptype.starts_with('p') { "p" } else { "g" };
            m.add_policy(sec, &l.ptype, l.values());
        }
        Ok(())
    }

    async fn load_filtered_policy<'a>(
        &mut self,
        m: &mut dyn Model,
        _f: Filter<'a>,
    ) -> casbin::Result<()> {
        self.load_policy(m).await
    }

    async fn save_policy(&mut self, m: &mut dyn Model) -> casbin::Result<()> {
        let mut lines = Vec::new();
        for (sec, ptype) in PTYPES {
            for rule in m.get_policy(sec, ptype) {
                lines.push(line(ptype, &rule));
            }
        }
        self.store
            .replace_policy_lines(&["p", "g", "g2", "g3"], &lines)
            .await
            .map_err(adapter_err)
    }

    async fn clear_policy(&mut self) -> casbin::Result<()> {
        self.store
            .replace_policy_lines(&["p", "g", "g2", "g3"], &[])
            .await
            .map_err(adapter_err)
    }

    fn is_filtered(&self) -> bool {
        false
    }

    async fn add_policy(
        &mut self,
        _sec: &str,
        ptype: &str,
        rule: Vec<String>,
    ) -> casbin::Result<bool> {
        self.store
            .add_policy_lines(&[line(ptype, &rule)])
            .await
            .map_err(adapter_err)?;
        Ok(true)
    }

    async fn add_policies(
        &mut self,
        _sec: &str,
        ptype: &str,
        rules: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        let lines: Vec<PolicyLine> = rules.iter().map(|r| line(ptype, r)).collect();
        self.store
            .add_policy_lines(&lines)
            .await
            .map_err(adapter_err)?;
        Ok(true)
    }

    async fn remove_policy(
        &mut self,
        _sec: &str,
        ptype: &str,
        rule: Vec<String>,
    ) -> casbin::Result<bool> {
        self.store
            .remove_policy_lines(&[line(ptype, &rule)])
            .await
            .map_err(adapter_err)?;
        Ok(true)
    }

    async fn remove_policies(
        &mut self,
        _sec: &str,
        ptype: &str,
        rules: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        let lines: Vec<PolicyLine> = rules.iter().map(|r| line(ptype, r)).collect();
        self.store
            .remove_policy_lines(&lines)
            .await
            .map_err(adapter_err)?;
        Ok(true)
    }

    async fn remove_filtered_policy(
        &mut self,
        _sec: &str,
        ptype: &str,
        field_index: usize,
        field_values: Vec<String>,
    ) -> casbin::Result<bool> {
        // Resolve the filter against stored lines, then delete exactly those.
        let doomed: Vec<PolicyLine> = self
            .store
            .policy_lines()
            .await
            .map_err(adapter_err)?
            .into_iter()
            .filter(|l| l.ptype == ptype)
            .filter(|l| {
                let vals = [&l.v0, &l.v1, &l.v2];
                field_values.iter().enumerate().all(|(i, want)| {
                    want.is_empty() || vals.get(field_index + i).is_some_and(|v| *v == want)
                })
            })
            .collect();
        self.store
            .remove_policy_lines(&doomed)
            .await
            .map_err(adapter_err)?;
        Ok(!doomed.is_empty())
    }
}
