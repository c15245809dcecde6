//! vitrine-plugins: the wasmtime host for plugin blocks. Sits under the engine (which
//! calls it for `plugin` blocks) and above core; knows nothing of storage or HTTP.
//!
//! A plugin is a WebAssembly component implementing `vitrine:block` (schema/wit). The
//! host checks that an uploaded file is such a component and asks for nothing plugins
//! are not given, compiles it once under a time limit, caches the compiled code by
//! content hash and engine build, and runs every call in a fresh store taken from a
//! pooling allocator, with a memory limit and a deadline enforced by epoch interruption.
//! Guests get WASI with everything denied (see [`wasi`]): no files, sockets or
//! environment, frozen clocks, seeded random numbers; stdout and stderr go to the
//! block's log. A block that overruns, crashes or misbehaves fails its own run with a
//! coded [`PluginError`]; the host carries on.

mod cache;
mod compiler;
mod contract;
mod crash;
mod error;
#[cfg(any(test, feature = "testing"))]
pub mod guests;
mod ipc_bounds;
mod metadata;
#[cfg(any(test, feature = "testing"))]
pub mod peer;
mod sandbox;
mod tables;
mod toolchain;
mod wasi;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use compiler::{COMPILE_ARG, child_main as compiler_main};
pub use error::{PluginError, PluginResult};
#[cfg(any(test, feature = "testing"))]
pub use ipc_bounds::samples as ipc_samples;
pub use ipc_bounds::{check_ipc, inflate_bound};
pub use metadata::{ColumnSpec, InputFormat, PluginInfo, PortInfo, check_config};
pub use sandbox::{LogLevel, LogLine};
pub use tables::PortTable;

pub use contract::{NEWEST as CONTRACT_VERSION, VERSIONS as CONTRACT_VERSIONS};

/// What plugins may use. Each run may ask for less time than `time_limit`, never more.
#[derive(Debug, Clone)]
pub struct HostLimits {
    /// Largest accepted component file.
    pub max_plugin_bytes: usize,
    /// Longest compilation of one component.
    pub compile_timeout: Duration,
    /// Longest run of one block call.
    pub time_limit: Duration,
    /// Most linear memory one block call may use.
    pub memory_bytes: usize,
    /// Most WebAssembly stack one call may use; deeper recursion traps.
    pub wasm_stack_bytes: usize,
    /// Block calls that can run at the same time (slots of the pooling allocator).
    pub concurrent_calls: u32,
    /// The program compiles run in, as `<program> __compile-plugin` (see
    /// [`compiler_main`]), killed at `compile_timeout`. `None` compiles on a thread,
    /// which cannot be stopped: fine for tools and tests, not for a server.
    pub compiler: Option<PathBuf>,
}

impl Default for HostLimits {
    fn default() -> Self {
        HostLimits {
            max_plugin_bytes: 64 << 20,
            compile_timeout: Duration::from_secs(60),
            time_limit: Duration::from_secs(60),
            memory_bytes: 512 << 20,
            wasm_stack_bytes: 1 << 20,
            concurrent_calls: 32,
            compiler: None,
        }
    }
}

/// A plugin ready to run: compiled, linked and described.
pub struct Plugin {
    /// SHA-256 of the component file.
    pub hash: String,
    pub info: PluginInfo,
    pre: contract::Linked<sandbox::State>,
    /// The configuration schema, compiled once.
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("hash", &self.hash)
            .field("name", &self.info.name)
            .field("version", &self.info.version.to_string())
            .finish()
    }
}

/// One block call's result.
#[derive(Debug)]
pub struct RunOutput {
    pub outputs: Vec<PortTable>,
    pub log: Vec<LogLine>,
    pub elapsed: Duration,
}

/// Receives a block's progress reports (done, total).
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Receives the log of a call that failed (a call that succeeds returns its log in
/// [`RunOutput`]).
pub type FailureLog = Arc<parking_lot::Mutex<Vec<LogLine>>>;

/// Options of one block call.
#[derive(Default)]
pub struct RunOptions {
    /// Shorter than the host's limit, for this call.
    pub time_limit: Option<Duration>,
    pub progress: Option<Progress>,
    /// Filled with the block's log when the call fails.
    pub failure_log: Option<FailureLog>,
}

/// The plugin host: one wasmtime engine, its linker, and the compiled-code cache.
pub struct Host {
    sandbox: sandbox::Sandbox,
    cache: cache::Compiled,
    limits: HostLimits,
    slots: Slots,
}

/// Calls in flight, at most one per slot of the pooling allocator: past that, a call
/// waits for a slot instead of failing to instantiate.
struct Slots {
    busy: parking_lot::Mutex<u32>,
    freed: parking_lot::Condvar,
    max: u32,
}

struct Slot<'a>(&'a Slots);

impl Slots {
    fn take(&self) -> Slot<'_> {
        let mut busy = self.busy.lock();
        while *busy >= self.max {
            self.freed.wait(&mut busy);
        }
        *busy += 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.busy.lock() -= 1;
        self.0.freed.notify_one();
    }
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("limits", &self.limits)
            .finish()
    }
}

impl Host {
    /// A host whose compiled components persist under `cache_dir` (when given), so a
    /// restart does not compile them again.
    pub fn new(limits: HostLimits, cache_dir: Option<PathBuf>) -> PluginResult<Host> {
        let sandbox = sandbox::Sandbox::new(&limits)?;
        let cache = cache::Compiled::new(cache_dir, &sandbox.engine)?;
        Ok(Host {
            sandbox,
            cache,
            slots: Slots {
                busy: parking_lot::Mutex::new(0),
                freed: parking_lot::Condvar::new(),
                max: limits.concurrent_calls.max(1),
            },
            limits,
        })
    }

    pub fn limits(&self) -> &HostLimits {
        &self.limits
    }

    /// The plugin with content hash `hash`, when this host has loaded it already.
    pub fn loaded(&self, hash: &str) -> Option<Arc<Plugin>> {
        self.cache.loaded(hash)
    }

    /// Checks, compiles (or finds compiled) and describes a component. Anything that is
    /// not a well-formed `vitrine:block` plugin is refused with [`PluginError::Invalid`].
    pub fn load(&self, bytes: &[u8]) -> PluginResult<Arc<Plugin>> {
        if bytes.len() > self.limits.max_plugin_bytes {
            return Err(PluginError::Invalid(format!(
                "the plugin is {} bytes; at most {} are accepted",
                bytes.len(),
                self.limits.max_plugin_bytes
            )));
        }
        let hash = cache::content_hash(bytes);
        if let Some(p) = self.cache.loaded(&hash) {
            return Ok(p);
        }
        sandbox::check_is_component(bytes)?;
        let component = self.cache.compile(
            &self.sandbox.engine,
            self.limits.compiler.as_deref(),
            &hash,
            bytes,
            self.limits.compile_timeout,
        )?;
        let pre = self.sandbox.prepare(&component)?;
        let metadata = {
            let _slot = self.slots.take();
            self.sandbox.describe(&pre, &self.limits, &hash)?
        };
        let info = metadata::check(metadata, pre.version(), toolchain::marks(bytes))?;
        let validator = metadata::validator(&info)?;
        let plugin = Arc::new(Plugin {
            hash,
            info,
            pre,
            validator,
        });
        self.cache.keep(plugin.clone());
        Ok(plugin)
    }

    /// Runs a block: checks the configuration and the inputs, calls `transform` in a
    /// fresh sandbox, and holds the outputs to the contract. Blocking: call it from a
    /// thread that may wait.
    pub fn run(
        &self,
        plugin: &Plugin,
        config: &Value,
        inputs: Vec<PortTable>,
        options: RunOptions,
    ) -> PluginResult<RunOutput> {
        metadata::check_with(&plugin.validator, &plugin.info, config)?;
        for port in &plugin.info.inputs {
            if !inputs.iter().any(|t| t.port == port.name) {
                return Err(PluginError::InvalidConfig(format!(
                    "input `{}` of plugin `{}` is not connected",
                    port.name, plugin.info.name
                )));
            }
        }
        if let Some(extra) = inputs
            .iter()
            .find(|t| !plugin.info.inputs.iter().any(|p| p.name == t.port))
        {
            return Err(PluginError::InvalidConfig(format!(
                "plugin `{}` has no input `{}`",
                plugin.info.name, extra.port
            )));
        }
        let time_limit = options
            .time_limit
            .unwrap_or(self.limits.time_limit)
            .min(self.limits.time_limit);
        let _slot = self.slots.take();
        let start = Instant::now();
        let ran =
            (self.sandbox).transform(plugin, config, inputs, time_limit, &self.limits, options);
        // For `/metrics`: run time, and which runs ended how (limit hits among them).
        let outcome = match &ran {
            Ok(_) => "ok",
            Err(PluginError::Timeout(_)) => "time_limit",
            Err(PluginError::Memory(_)) => "memory_limit",
            Err(_) => "failed",
        };
        metrics::counter!("vitrine_plugin_runs_total", "outcome" => outcome).increment(1);
        metrics::histogram!("vitrine_plugin_run_duration_seconds").record(start.elapsed());
        let (outputs, log) = ran?;
        Ok(RunOutput {
            outputs,
            log,
            elapsed: start.elapsed(),
        })
    }
}
#[cfg(test)]
mod tests;
