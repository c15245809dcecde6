//! Plugin blocks: publishing a component, the catalog a workflow is validated against,
//! and running a plugin block through the sandboxed host in `vitrine-plugins`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use vitrine_plugins::{FailureLog, Host, LogLine, PluginInfo, PortTable, RunOptions};

/// Lines of a plugin block's log kept as notes on its run.
const MAX_NOTES: usize = 20;
use vitrine_storage::{Artifact, PluginRecord, new_uid, now_ms};

use crate::blocks::{BlockInput, BlockOutput, PluginBlock};
use crate::{Engine, EngineError, EngineResult};

/// A published plugin version with its checked description.
#[derive(Debug, Clone)]
pub struct PluginEntry {
    pub record: PluginRecord,
    pub info: PluginInfo,
}

/// The plugin versions a workflow names, as published (enabled or not).
#[derive(Debug, Clone, Default)]
pub struct PluginCatalog {
    entries: BTreeMap<(String, String), PluginEntry>,
}

impl PluginCatalog {
    pub fn get(&self, name: &str, version: &str) -> Option<&PluginEntry> {
        self.entries.get(&(name.to_owned(), version.to_owned()))
    }

    pub fn insert(&mut self, entry: PluginEntry) {
        self.entries.insert(
            (entry.record.name.clone(), entry.record.version.clone()),
            entry,
        );
    }
}

pub(crate) fn entry(record: PluginRecord) -> EngineResult<PluginEntry> {
    let info: PluginInfo = serde_json::from_value(record.info.clone())
        .map_err(|e| EngineError::Internal(format!("stored plugin description: {e}")))?;
    Ok(PluginEntry { record, info })
}

impl Engine {
    /// The plugin host, started on first use: a server that never runs a plugin never
    /// reserves its memory pool, and one that cannot start it still serves the rest.
    pub fn plugin_host(&self) -> EngineResult<Arc<Host>> {
        self.plugin_host
            .get_or_init(|| {
                Host::new(
                    self.limits.plugins.clone(),
                    self.limits.plugin_cache.clone(),
                )
                .map(Arc::new)
                .map_err(|e| {
                    tracing::error!(error = %e, "the plugin host could not start");
                    e.to_string()
                })
            })
            .clone()
            .map_err(|e| EngineError::Internal(format!("the plugin host is not running: {e}")))
    }

    /// Checks a component and publishes it as a new plugin version. Nothing is stored
    /// unless the component is a valid plugin whose name and version are new.
    pub async fn publish_plugin(&self, bytes: Vec<u8>, by: &str) -> EngineResult<PluginRecord> {
        let host = self.plugin_host()?;
        let (plugin, bytes) = tokio::task::spawn_blocking(move || {
            let p = host.load(&bytes);
            (p, bytes)
        })
        .await
        .map_err(|e| EngineError::Internal(format!("plugin loader task: {e}")))?;
        let plugin = plugin?;
        let info = &plugin.info;
        let version = info.version.to_string();
        if self.store.plugin(&info.name, &version).await?.is_some() {
            return Err(EngineError::Conflict(format!(
                "plugin `{}` version {version} is published already; versions never change, publish a higher one",
                info.name
            )));
        }
        let path = Artifact::Plugin(&plugin.hash);
        if !self.store.artifacts().exists(path).await? {
            self.store.artifacts().put(path, bytes.clone()).await?;
        }
        let record = PluginRecord {
            uid: new_uid().into(),
            name: info.name.clone(),
            version,
            description: info.description.clone(),
            content_hash: plugin.hash.clone(),
            bytes: bytes.len() as i64,
            info: serde_json::to_value(info).expect("plugin info serializes"),
            enabled: true,
            published_by: by.into(),
            published_ms: now_ms(),
        };
        self.store.insert_plugin(&record).await?;
        tracing::info!(plugin = %record.name, version = %record.version, by, "published a plugin");
        Ok(record)
    }

    /// Runs one plugin block over its inputs; returns a table per output port, in the
    /// order the plugin declares them.
    pub(crate) async fn run_plugin(
        &self,
        entry: &PluginEntry,
        block: &PluginBlock,
        inputs: BTreeMap<String, BlockInput>,
    ) -> EngineResult<Vec<(String, BlockOutput)>> {
        let host = self.plugin_host()?;
        // The component is read (and hashed) only the first time this process runs it.
        let plugin = match host.loaded(&entry.record.content_hash) {
            Some(p) => p,
            None => {
                let bytes = self
                    .store
                    .artifacts()
                    .get(Artifact::Plugin(&entry.record.content_hash))
                    .await?;
                let h = host.clone();
                tokio::task::spawn_blocking(move || h.load(&bytes))
                    .await
                    .map_err(|e| EngineError::Internal(format!("plugin loader task: {e}")))??
            }
        };
        let inputs: Vec<PortTable> = inputs
            .into_iter()
            .map(|(port, t)| PortTable {
                port,
                schema: t.schema,
                batches: t.batches.as_ref().clone(),
            })
            .collect();
        let settings = block.settings.clone();
        let time_limit = block.time_limit_ms.map(Duration::from_millis);
        let failure_log = FailureLog::default();
        let sink = failure_log.clone();
        let out = tokio::task::spawn_blocking(move || {
            host.run(
                &plugin,
                &settings,
                inputs,
                RunOptions {
                    time_limit,
                    progress: None,
                    failure_log: Some(sink),
                },
            )
        })
        .await
        .map_err(|e| EngineError::Internal(format!("plugin task: {e}")))?;
        // The block's own lines (what it logged and printed) become the run's notes on the
        // block, whether it succeeded or failed: they are what explains a failure.
        let notes = |log: &[LogLine]| -> Vec<String> {
            log.iter()
                .take(MAX_NOTES)
                .map(|l| format!("{}: {}", l.level.as_str(), l.message))
                .collect()
        };
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                return Err(EngineError::PluginRun {
                    message: e.to_string(),
                    code: e.code(),
                    notes: notes(&failure_log.lock()),
                });
            }
        };
        let notes = notes(&out.log);
        let mut tables = out.outputs;
        let mut ordered = Vec::with_capacity(tables.len());
        for port in &entry.info.outputs {
            let at = tables
                .iter()
                .position(|t| t.port == port.name)
                .ok_or_else(|| {
                    EngineError::Internal(format!("output `{}` went missing", port.name))
                })?;
            let t = tables.swap_remove(at);
            ordered.push((
                port.name.clone(),
                BlockOutput {
                    schema: t.schema,
                    batches: t.batches,
                    notes: notes.clone(),
                },
            ));
        }
        Ok(ordered)
    }
}
