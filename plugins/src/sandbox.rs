//! The sandbox: the wasmtime engine and linker every plugin shares, and the fresh store
//! each call gets, with its memory limit, deadline, log and the denied WASI of
//! [`crate::wasi`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::contract::{self, Linked, host, wit};
use crate::tables::{self, PortTable};
use crate::{HostLimits, InputFormat, Plugin, PluginError, PluginResult};

/// How often the deadline clock ticks; a block overruns its limit by at most about this.
const TICK: Duration = Duration::from_millis(5);
/// Log lines kept per call, and bytes per line: a chatty block cannot fill the server.
const MAX_LOG_LINES: usize = 1000;
const MAX_LOG_LINE: usize = 4096;
/// Bytes of stdout and stderr kept per call.
const MAX_STDIO: usize = 64 << 10;
/// Bytes of each pooled memory kept mapped between calls (see `Sandbox::new`): a small
/// block's whole footprint, and the working set of a block over a million rows. Held
/// only by slots that calls have used, each for the memory its block dirtied: a block
/// has one memory as a rule, so 512 MiB after the default 32 calls ran at once.
const KEEP_RESIDENT: usize = 16 << 20;
/// The same for tables, whose elements are a few bytes each.
const KEEP_RESIDENT_TABLE: usize = 64 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// A line the block logged (or printed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
}

/// What one call's store holds.
pub(crate) struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    memory_limit: usize,
    /// Bytes of every linear memory of the instance together: the limit is the
    /// instance's, not each memory's (a component may hold several).
    memory_used: usize,
    /// Set when the block asked for more memory than its limit.
    over_memory: bool,
    log: Vec<LogLine>,
    progress: Option<crate::Progress>,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wasmtime::ResourceLimiter for State {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let Some(total) = grow_within(self.memory_used, current, desired, self.memory_limit) else {
            self.over_memory = true;
            return Err(wasmtime::Error::msg("memory limit"));
        };
        self.memory_used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// The instance's memory once one of its memories grows from `current` to `desired`
/// bytes, if that stays within `limit`.
fn grow_within(used: usize, current: usize, desired: usize, limit: usize) -> Option<usize> {
    let total = used.saturating_sub(current).saturating_add(desired);
    (total <= limit).then_some(total)
}

#[cfg(test)]
#[test]
fn the_memory_limit_counts_every_memory_of_the_instance() {
    let mib = 1 << 20;
    // One memory grows to 40 MiB, a second to 20 MiB: together within 64 MiB.
    let used = grow_within(0, 0, 40 * mib, 64 * mib).unwrap();
    let used = grow_within(used, 0, 20 * mib, 64 * mib).unwrap();
    assert_eq!(used, 60 * mib);
    // The second growing by 10 MiB more passes its own size but not the instance's.
    assert_eq!(grow_within(used, 20 * mib, 30 * mib, 64 * mib), None);
    // The first growing by 4 MiB fits exactly.
    assert_eq!(
        grow_within(used, 40 * mib, 44 * mib, 64 * mib),
        Some(64 * mib)
    );
}

impl State {
    fn push_log(&mut self, level: LogLevel, message: &str) {
        if self.log.len() >= MAX_LOG_LINES {
            return;
        }
        let mut m = message.to_owned();
        if m.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !m.is_char_boundary(cut) {
                cut -= 1;
            }
            m.truncate(cut);
        }
        self.log.push(LogLine { level, message: m });
    }

    /// The log, with what the block printed to stdout and stderr.
    fn finish_log(&mut self) -> Vec<LogLine> {
        for (pipe, level) in [
            (self.stdout.contents(), LogLevel::Info),
            (self.stderr.contents(), LogLevel::Warn),
        ] {
            for line in String::from_utf8_lossy(&pipe).lines() {
                if !line.trim().is_empty() {
                    self.push_log(level, line);
                }
            }
        }
        std::mem::take(&mut self.log)
    }
}

impl host::Host for State {
    fn log(&mut self, level: host::Level, message: String) {
        let level = match level {
            host::Level::Debug => LogLevel::Debug,
            host::Level::Info => LogLevel::Info,
            host::Level::Warn => LogLevel::Warn,
            host::Level::Error => LogLevel::Error,
        };
        self.push_log(level, &message);
    }

    fn progress(&mut self, done: u64, total: u64) {
        if let Some(p) = &self.progress {
            p(done, total);
        }
    }
}

impl wit::Host for State {}

/// Blocks built against 0.1.0 call the same host.
impl contract::v0_1::vitrine::block::host::Host for State {
    fn log(&mut self, level: contract::v0_1::vitrine::block::host::Level, message: String) {
        host::Host::log(self, contract::level(level), message);
    }

    fn progress(&mut self, done: u64, total: u64) {
        host::Host::progress(self, done, total);
    }
}

impl contract::v0_1::vitrine::block::types::Host for State {}

/// The settings that shape compiled code, shared by the sandbox and compiler children
/// (whose engines must agree, or wasmtime refuses the code they hand back). Runtime
/// settings (stack, allocator) are added by [`Sandbox::new`] alone.
pub(crate) fn code_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true).epoch_interruption(true);
    config
}

pub(crate) struct Sandbox {
    pub(crate) engine: Engine,
    linker: Linker<State>,
    stop: Arc<AtomicBool>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn internal(e: impl std::fmt::Display) -> PluginError {
    PluginError::Internal(e.to_string())
}

impl Sandbox {
    pub(crate) fn new(limits: &HostLimits) -> PluginResult<Sandbox> {
        let mut pool = PoolingAllocationConfig::new();
        let n = limits.concurrent_calls.max(1);
        pool.total_component_instances(n)
            .total_core_instances(n * 16)
            .total_memories(n * 4)
            .total_tables(n * 16)
            .max_memory_size(limits.memory_bytes)
            .max_unused_warm_slots(n);
        // A call's memory stays mapped when it ends and is reset in place: PAGEMAP_SCAN
        // (Linux 6.7+) finds the pages it dirtied, and up to `KEEP_RESIDENT` bytes of
        // them are restored to the component's image instead of being unmapped. Unmapping
        // meant a page fault on every page the next call touched, plus a TLB shootdown
        // across the server's threads: half of a trivial block's call (29 µs -> 14 µs),
        // and a third of a pass-through of a million rows (38 ms -> 26 ms; both from the
        // `plugin_block` bench). Beyond the bound, or on older kernels, pages are unmapped
        // as before. Either way no call sees another's memory (see the tests).
        pool.pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT_TABLE);
        let mut config = code_config();
        config
            .max_wasm_stack(limits.wasm_stack_bytes)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(internal)?;
        let mut linker = Linker::new(&engine);
        crate::wasi::link(&mut linker).map_err(internal)?;
        contract::link(&mut linker).map_err(internal)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (e, s) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("plugin-deadlines".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    e.increment_epoch();
                }
            })
            .map_err(internal)?;
        Ok(Sandbox {
            engine,
            linker,
            stop,
        })
    }

    /// Links a compiled component, after checking it asks only for what plugins are
    /// given and exports the block interface.
    pub(crate) fn prepare(&self, component: &Component) -> PluginResult<Linked<State>> {
        let ty = component.component_type();
        let imports = crate::wasi::check_imports(component, &self.engine)?;
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        let Some(version) = exports
            .iter()
            .find_map(|e| e.strip_prefix("vitrine:block/block@"))
        else {
            return Err(PluginError::Invalid(format!(
                "the component does not implement `vitrine:block/block` (it exports: {})",
                if exports.is_empty() {
                    "nothing".to_owned()
                } else {
                    exports.join(", ")
                }
            )));
        };
        if !contract::VERSIONS.contains(&version) {
            return Err(PluginError::Invalid(format!(
                "the component implements vitrine:block@{version}, which this host does not run (it runs {})",
                contract::VERSIONS.join(", ")
            )));
        }
        // A component importing WASI the host does not implement gets its own linker,
        // with those interfaces failing when called.
        let stubbed;
        let linker = if imports.stubbed.is_empty() {
            &self.linker
        } else {
            let mut own = self.linker.clone();
            crate::wasi::link_stubs(&mut own, component, &self.engine, &imports.stubbed)
                .map_err(|e| PluginError::Invalid(format!("the plugin cannot be linked: {e:#}")))?;
            stubbed = own;
            &stubbed
        };
        let pre = linker
            .instantiate_pre(component)
            .map_err(|e| PluginError::Invalid(format!("the plugin cannot be linked: {e:#}")))?;
        Linked::new(version, pre).map_err(|e| {
            PluginError::Invalid(format!(
                "the component does not implement vitrine:block@{version}: {e}"
            ))
        })
    }

    /// A store for one call of the component with content hash `hash`.
    fn store(&self, limits: &HostLimits, deadline: Duration, hash: &str) -> Store<State> {
        let stdout = MemoryOutputPipe::new(MAX_STDIO);
        let stderr = MemoryOutputPipe::new(MAX_STDIO);
        let wasi = crate::wasi::context(&stdout, &stderr, crate::wasi::seed(hash));
        let mut store = Store::new(
            &self.engine,
            State {
                wasi,
                table: ResourceTable::new(),
                memory_limit: limits.memory_bytes,
                memory_used: 0,
                over_memory: false,
                log: Vec::new(),
                progress: None,
                stdout,
                stderr,
            },
        );
        store.limiter(|s| s);
        let ticks = deadline.as_nanos().div_ceil(TICK.as_nanos()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        store
    }

    pub(crate) fn describe(
        &self,
        pre: &Linked<State>,
        limits: &HostLimits,
        hash: &str,
    ) -> PluginResult<wit::Metadata> {
        let limit = limits.time_limit.min(Duration::from_secs(10));
        let mut store = self.store(limits, limit, hash);
        let result = pre.describe(&mut store);
        result.map_err(|e| match classify(e, &mut store, limit, limits) {
            PluginError::Timeout(ms) => PluginError::Invalid(format!(
                "describing itself took the plugin longer than {ms} ms"
            )),
            other => PluginError::Invalid(format!("the plugin failed to describe itself: {other}")),
        })
    }

    pub(crate) fn transform(
        &self,
        plugin: &Plugin,
        config: &Value,
        inputs: Vec<PortTable>,
        time_limit: Duration,
        limits: &HostLimits,
        options: crate::RunOptions,
    ) -> PluginResult<(Vec<PortTable>, Vec<crate::LogLine>)> {
        let inputs = inputs
            .iter()
            .map(|t| {
                Ok(wit::NamedTable {
                    port: t.port.clone(),
                    data: match plugin.info.input_format {
                        InputFormat::Columns => wit::TableData::Columns(tables::to_columns(t)?),
                        InputFormat::ArrowIpc => wit::TableData::ArrowIpc(tables::to_ipc(t)?),
                    },
                })
            })
            .collect::<PluginResult<Vec<_>>>()?;
        let mut store = self.store(limits, time_limit, &plugin.hash);
        store.data_mut().progress = options.progress;
        let config = config.to_string();
        let result = plugin.pre.transform(&mut store, &config, inputs);
        store.data_mut().progress = None;
        let log = store.data_mut().finish_log();
        // A failed call's log goes to whoever asked for it: it is what explains the failure.
        let keep_log = |log: &[crate::LogLine]| {
            if let Some(sink) = &options.failure_log {
                *sink.lock() = log.to_vec();
            }
        };
        let returned = match result {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => {
                keep_log(&log);
                return Err(PluginError::Failed(match e {
                    wit::BlockError::InvalidConfig(m) => format!("invalid configuration: {m}"),
                    wit::BlockError::InvalidInput(m) => format!("invalid input: {m}"),
                    wit::BlockError::Failed(m) => m,
                }));
            }
            Err(e) => {
                let mut err = classify(e, &mut store, time_limit, limits);
                // Language runtimes say why on stderr before they stop.
                if let PluginError::Crashed(m) = &mut err
                    && let Some(said) = crate::crash::guest_said(&log)
                {
                    *m = said;
                }
                keep_log(&log);
                return Err(err);
            }
        };
        match check_outputs(plugin, returned) {
            Ok(outputs) => Ok((outputs, log)),
            Err(e) => {
                keep_log(&log);
                Err(e)
            }
        }
    }
}

/// Holds the returned tables to the block's declared outputs.
fn check_outputs(plugin: &Plugin, returned: Vec<wit::NamedTable>) -> PluginResult<Vec<PortTable>> {
    let mut out: Vec<PortTable> = Vec::with_capacity(returned.len());
    for n in returned {
        let Some(port) = plugin.info.output(&n.port) else {
            return Err(PluginError::BadOutput(format!(
                "it returned a table on `{}`, which is not one of its outputs",
                n.port
            )));
        };
        if out.iter().any(|t| t.port == n.port) {
            return Err(PluginError::BadOutput(format!(
                "it returned two tables on `{}`",
                n.port
            )));
        }
        let table = match n.data {
            wit::TableData::Columns(t) => tables::from_columns(&n.port, t)?,
            wit::TableData::ArrowIpc(b) => tables::from_ipc(&n.port, b)?,
        };
        if let Some(declared) = &port.columns {
            tables::check_declared(&table, declared)?;
        }
        out.push(table);
    }
    if let Some(missing) = plugin
        .info
        .outputs
        .iter()
        .find(|p| !out.iter().any(|t| t.port == p.name))
    {
        return Err(PluginError::BadOutput(format!(
            "it returned nothing on its output `{}`",
            missing.name
        )));
    }
    Ok(out)
}

/// Turns a trap or host error into what the workflow's author should read.
fn classify(
    e: wasmtime::Error,
    store: &mut Store<State>,
    time_limit: Duration,
    limits: &HostLimits,
) -> PluginError {
    if store.data().over_memory {
        return PluginError::Memory(limits.memory_bytes >> 20);
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => PluginError::Timeout(time_limit.as_millis() as u64),
        Some(Trap::StackOverflow) => {
            PluginError::Crashed("stack overflow: it recursed too deep".into())
        }
        // Rust and C keep their own stack in linear memory; running off its end lands
        // here rather than on a stack-overflow trap.
        Some(Trap::MemoryOutOfBounds) => PluginError::Crashed(
            "out-of-bounds memory access (deep recursion overflowing the block's own stack does this)".into(),
        ),
        Some(Trap::UnreachableCodeReached) => {
            PluginError::Crashed("it stopped on an unreachable instruction (a panic or an abort)".into())
        }
        Some(t) => PluginError::Crashed(t.to_string()),
        None => {
            if let Some(denied) = e.downcast_ref::<crate::wasi::Denied>() {
                return PluginError::Crashed(denied.to_string());
            }
            if let Some(malformed) = e.downcast_ref::<contract::Malformed>() {
                return PluginError::BadOutput(malformed.to_string());
            }
            match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(code) => PluginError::Crashed(format!("it exited with status {}", code.0)),
                // The cause alone: the rest is wasmtime's backtrace of the guest.
                None => PluginError::Crashed(e.root_cause().to_string()),
            }
        }
    }
}

/// Refuses core modules and other files before compiling, with a message that says what
/// the file is instead.
pub(crate) fn check_is_component(bytes: &[u8]) -> PluginResult<()> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(PluginError::Invalid(
            "not a WebAssembly component: the file does not start with the WebAssembly magic number".into(),
        ));
    }
    if wasmparser::Parser::is_core_wasm(bytes) {
        return Err(PluginError::Invalid(
            "a core WebAssembly module, not a component: build the block for wasm32-wasip2 (which emits a component) or wrap the module with `wasm-tools component new`".into(),
        ));
    }
    Ok(())
}
