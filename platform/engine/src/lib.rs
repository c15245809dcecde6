//! `vitrine-engine`: a project's data work. Workflows of blocks run here (built-in blocks
//! over Arrow and DataFusion; plugin blocks through the sandboxed `vitrine-plugins` host), their
//! results become content-addressed Arrow IPC datasets, and report tiles query them.
//!
//! Sits above `vitrine-storage` and `vitrine-core`; knows nothing of HTTP or GraphQL and
//! nothing of who is asking: callers in `vitrine-api` check permissions, work out the
//! viewer's access-filter [`Scope`] and hand it in.

pub mod blocks;
mod cache;
pub use cache::CacheStats;
pub mod connections;
mod content_hash;
mod datasets;
mod error;
pub mod locations;
pub mod plugins;
pub mod query;
pub mod report;
mod run;
mod text;
mod types;
pub mod workflow;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use vitrine_storage::Store;

pub use blocks::{FileFormat, KINDS};
pub use datasets::{Datasets, Table};
pub use error::{EngineError, EngineResult};
pub use query::{QueryResult, QuerySpec, Scope};
pub use run::{
    BlockError, BlockResult, BlockStatus, FinishedRun, INSTANCE_PARAMETERS, RunEvent, RunRequest,
};
pub use types::{ColumnInfo, ColumnType, describe};
pub use vitrine_plugins::HostLimits;
/// What a plugin declares about itself, as the engine's callers show it.
pub use vitrine_plugins::{InputFormat, PluginInfo, PortInfo};

/// Sizes and limits of the engine.
#[derive(Debug, Clone)]
pub struct EngineLimits {
    /// Largest file a source block reads.
    pub max_source_bytes: u64,
    /// Memory for decoded datasets kept between queries.
    pub table_cache_bytes: usize,
    /// Memory for query results kept for repeat queries and warm-ups.
    pub result_cache_bytes: usize,
    /// Time, memory and size limits of plugin blocks.
    pub plugins: vitrine_plugins::HostLimits,
    /// Where compiled plugins are kept across restarts (inside the data directory).
    pub plugin_cache: Option<PathBuf>,
    /// Most rows one built-in block may produce; past it the block fails.
    pub block_max_rows: usize,
    /// Longest run of one built-in block; past it the block is stopped.
    pub block_time_limit: std::time::Duration,
}

impl Default for EngineLimits {
    fn default() -> Self {
        EngineLimits {
            max_source_bytes: 4 << 30,
            table_cache_bytes: 2 << 30,
            result_cache_bytes: 256 << 20,
            plugins: vitrine_plugins::HostLimits::default(),
            plugin_cache: None,
            block_max_rows: 100_000_000,
            block_time_limit: std::time::Duration::from_secs(3600),
        }
    }
}

/// The engine: shared by every request and run.
pub struct Engine {
    store: Store,
    pub datasets: Arc<Datasets>,
    results: Mutex<cache::Lru<[u8; 32], QueryResult>>,
    active: Mutex<HashMap<vitrine_core::ProjectId, run::ActiveRun>>,
    /// Every run's end, for whoever reacts to refreshes (event-triggered tasks).
    finished: tokio::sync::broadcast::Sender<run::FinishedRun>,
    limits: EngineLimits,
    plugin_host: OnceLock<Result<Arc<vitrine_plugins::Host>, String>>,
    /// Wakes the background collector of unreferenced artifacts (started on first use).
    gc: OnceLock<Arc<tokio::sync::Notify>>,
    /// This process, as its runs name it; with a shared database it beats in
    /// `node_seen` so other processes know its runs are alive.
    node: String,
    /// The instance's data connections, as the services open them (set once at start).
    connections: OnceLock<Arc<dyn connections::Connections>>,
}

/// How often a process sharing its database says it is alive.
const NODE_BEAT: std::time::Duration = std::time::Duration::from_secs(5);
/// A process silent this long is gone, and its runs are marked interrupted.
const NODE_GONE_MS: i64 = 30_000;

/// Least time between two collection passes. A pass reads every block state and lists
/// every artifact, so it must not run once per workflow run: a task refreshing a
/// hundred projects would pay for a hundred full scans.
const GC_SPACING: std::time::Duration = std::time::Duration::from_secs(1);

impl Engine {
    pub fn new(store: Store, limits: EngineLimits) -> Arc<Engine> {
        Arc::new(Engine {
            datasets: Arc::new(Datasets::new(store.clone(), limits.table_cache_bytes)),
            results: Mutex::new(cache::Lru::new("tile_results", limits.result_cache_bytes)),
            active: Mutex::new(HashMap::new()),
            finished: tokio::sync::broadcast::channel(256).0,
            store,
            limits,
            plugin_host: OnceLock::new(),
            gc: OnceLock::new(),
            node: vitrine_storage::new_uid(),
            connections: OnceLock::new(),
        })
    }

    /// Gives the engine the way to open data connections (the services, at start).
    pub fn use_connections(&self, c: Arc<dyn connections::Connections>) {
        let _ = self.connections.set(c);
    }

    /// Marks runs a previous process left unfinished; call once at start-up. With the
    /// embedded database every running run is this process's predecessor's. With a
    /// shared one, other live processes may be mid-run: only runs of processes that
    /// stopped beating are marked, now and from then on every few seconds.
    pub async fn recover(self: &Arc<Self>) -> EngineResult<usize> {
        let now = vitrine_storage::now_ms();
        let n = if self.store.is_exclusive() {
            self.store.interrupt_stale_runs(now).await?
        } else {
            let n = self.beat_once(now).await?;
            self.beat();
            n
        };
        if n > 0 {
            tracing::warn!(runs = n, "marked runs of a stopped process as interrupted");
        }
        Ok(n)
    }

    /// Records this process as alive at `now` and marks the runs of silent ones.
    async fn beat_once(&self, now: i64) -> EngineResult<usize> {
        self.store.node_beat(&self.node, now).await?;
        Ok(self
            .store
            .interrupt_runs_of_dead_nodes(now, now - NODE_GONE_MS)
            .await?)
    }

    /// Beats for this process and marks runs of silent ones, until the engine is dropped.
    fn beat(self: &Arc<Self>) {
        let engine = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(NODE_BEAT).await;
                let Some(e) = engine.upgrade() else { break };
                let beat = e.beat_once(vitrine_storage::now_ms()).await;
                match beat {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::warn!(runs = n, "marked runs of a stopped process as interrupted")
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot record that this process is alive")
                    }
                }
            }
        });
    }

    /// With a database shared between processes, another one may be mid-run: leave fresh
    /// unreferenced artifacts alone for a while.
    fn gc_grace_ms(&self) -> i64 {
        if self.store.is_exclusive() {
            0
        } else {
            15 * 60 * 1000
        }
    }

    /// Asks for a collection of unreferenced artifacts. Passes run in the background, one
    /// at a time and at most one per `GC_SPACING`; requests meanwhile make one more pass.
    /// Nothing waits for it: a deleted-too-late artifact only takes disk space for a while.
    pub fn request_gc(self: &Arc<Self>) {
        self.gc
            .get_or_init(|| {
                let wanted = Arc::new(tokio::sync::Notify::new());
                let engine = Arc::downgrade(self);
                let woken = wanted.clone();
                tokio::spawn(async move {
                    loop {
                        woken.notified().await;
                        let Some(e) = engine.upgrade() else { break };
                        if let Err(err) = e.datasets.collect_garbage(e.gc_grace_ms()).await {
                            tracing::warn!(error = %err, "dataset garbage collection failed");
                        }
                        drop(e);
                        tokio::time::sleep(GC_SPACING).await;
                    }
                });
                wanted
            })
            .notify_one();
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
