//! Compiling a component, under a deadline that holds.
//!
//! Cranelift cannot be interrupted, so a component built to compile slowly would keep a
//! thread busy long after its deadline. When the host is given a compiler program
//! ([`crate::HostLimits::compiler`], the `vitrine` binary itself), every compile runs in
//! a child process started as `<program> __compile-plugin`: the component goes in on
//! stdin, the serialized code comes back on stdout, and at the deadline the child is
//! killed, its CPU and memory given back at once. The child also runs under an address
//! space limit, so a component that makes Cranelift balloon fails alone.
//!
//! Without a program (library use, unit tests) the compile runs on a thread, which past
//! its deadline finishes on its own and has its result dropped. Either way at most
//! [`COMPILE_SLOTS`] compiles run at once.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::{PluginError, PluginResult};

/// The argument that turns the `vitrine` binary into a compiler child.
pub const COMPILE_ARG: &str = "__compile-plugin";

/// Most address space a compiler child may map. Cranelift needs a small multiple of the
/// component's size; the largest accepted component (64 MiB) compiles in well under this.
const CHILD_ADDRESS_SPACE: u64 = 6 << 30;

/// Largest compiled artifact read back from a child; anything bigger is refused rather
/// than held in memory.
const MAX_COMPILED_BYTES: usize = 1 << 30;

/// Exit status of a child whose input is not a valid component (stderr says why).
const EXIT_INVALID: i32 = 2;

/// How many plugin compilations may run at once.
pub(crate) const COMPILE_SLOTS: usize = 2;

/// Compiles `bytes`, in a child process of `program` when given, else on a thread;
/// refused once `timeout` has passed, waiting for a free slot included.
pub(crate) fn compile(
    engine: &Engine,
    program: Option<&Path>,
    bytes: &[u8],
    timeout: Duration,
) -> PluginResult<Component> {
    let started = Instant::now();
    let slot = loop {
        if let Some(slot) = CompileSlot::take() {
            break slot;
        }
        if started.elapsed() >= timeout {
            return Err(PluginError::Invalid(format!(
                "other compilations took the last {} s; try again later",
                timeout.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let deadline = started + timeout;
    match program {
        Some(program) => {
            let compiled = in_child(program, bytes, deadline, timeout);
            drop(slot);
            compiled.and_then(|code| trusted_code(engine, &code))
        }
        None => on_thread(engine, bytes, slot, deadline, timeout),
    }
}

fn too_slow(timeout: Duration) -> PluginError {
    PluginError::Invalid(format!(
        "compiling the plugin took longer than {} s",
        timeout.as_secs()
    ))
}

fn invalid(reason: &str) -> PluginError {
    PluginError::Invalid(format!("not a valid WebAssembly component: {reason}"))
}

fn on_thread(
    engine: &Engine,
    bytes: &[u8],
    slot: CompileSlot,
    deadline: Instant,
    timeout: Duration,
) -> PluginResult<Component> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (e, b) = (engine.clone(), bytes.to_vec());
    std::thread::Builder::new()
        .name("plugin-compile".into())
        .spawn(move || {
            // The slot is held until the thread ends: one that overran keeps it.
            let _slot = slot;
            let _ = tx.send(Component::new(&e, &b));
        })
        .map_err(|e| PluginError::Internal(format!("compile thread: {e}")))?;
    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(invalid(&root_cause(&e))),
        Err(_) => Err(too_slow(timeout)),
    }
}

/// Runs one compile in a child and returns its serialized code. The child is killed
/// (and reaped) at the deadline, whatever it is doing.
fn in_child(
    program: &Path,
    bytes: &[u8],
    deadline: Instant,
    timeout: Duration,
) -> PluginResult<Vec<u8>> {
    let spawn_failed = |e: std::io::Error| {
        PluginError::Internal(format!(
            "starting the plugin compiler {}: {e}",
            program.display()
        ))
    };
    let mut child = Command::new(program)
        .arg(COMPILE_ARG)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_failed)?;
    let (mut stdin, mut stdout, mut stderr) =
        match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
            (Some(i), Some(o), Some(e)) => (i, o, e),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(PluginError::Internal("plugin compiler pipes".into()));
            }
        };
    // Pipes are drained on threads of their own so a child blocked on a full pipe never
    // holds up the deadline; each thread ends when the child's end closes (or it dies).
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let reader = std::thread::spawn(move || {
        let mut code = Vec::new();
        let read = (&mut stdout)
            .take(MAX_COMPILED_BYTES as u64 + 1)
            .read_to_end(&mut code);
        read.map(|_| code)
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = (&mut stderr).take(16 << 10).read_to_string(&mut text);
        text
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                tracing::warn!(
                    timeout_secs = timeout.as_secs(),
                    "plugin compile stopped at its deadline"
                );
                return Err(too_slow(timeout));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(PluginError::Internal(format!(
                    "waiting for the plugin compiler: {e}"
                )));
            }
        }
    };
    let _ = writer.join();
    let code = reader.join().ok().and_then(|r| r.ok()).unwrap_or_default();
    let errors = errors.join().unwrap_or_default();
    match status.code() {
        Some(0) if code.len() <= MAX_COMPILED_BYTES => Ok(code),
        Some(0) => Err(PluginError::Invalid(format!(
            "the compiled plugin is larger than {} MiB",
            MAX_COMPILED_BYTES >> 20
        ))),
        Some(EXIT_INVALID) => Err(invalid(errors.trim())),
        _ => {
            // Killed by a signal or crashed: most often the address space limit.
            tracing::warn!(status = %status, stderr = %errors.trim(), "plugin compiler failed");
            Err(PluginError::Invalid(format!(
                "compiling the plugin needed more than {} GiB of memory, or crashed the compiler",
                CHILD_ADDRESS_SPACE >> 30
            )))
        }
    }
}

/// The body of a compiler child (`vitrine __compile-plugin`): a component on stdin, its
/// compiled code on stdout, exit status 0, or the reason on stderr and status 2.
/// Returns the process's exit status.
pub fn child_main() -> i32 {
    limit_address_space(CHILD_ADDRESS_SPACE);
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin()
        .lock()
        .take(crate::HostLimits::default().max_plugin_bytes as u64 + 1)
        .read_to_end(&mut bytes)
    {
        eprintln!("reading the component: {e}");
        return 1;
    }
    let engine = match Engine::new(&crate::sandbox::code_config()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("plugin compiler engine: {e}");
            return 1;
        }
    };
    let code = match Component::new(&engine, &bytes).and_then(|c| c.serialize()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", root_cause(&e));
            return EXIT_INVALID;
        }
    };
    match std::io::stdout().lock().write_all(&code) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("writing the compiled code: {e}");
            1
        }
    }
}

#[allow(unsafe_code)]
fn limit_address_space(bytes: u64) {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: setrlimit reads the struct we pass and touches no memory of ours; it only
    // lowers this (child) process's own limit.
    let _ = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
}

/// Loads code this host compiled: from its disk cache, or from a compiler child.
#[allow(unsafe_code)]
pub(crate) fn trusted_code(engine: &Engine, code: &[u8]) -> PluginResult<Component> {
    // SAFETY: wasmtime runs deserialized code without checking it, so it must come from a
    // trusted compiler. Callers pass only bytes written by this binary: a compiler child
    // (our own executable, fed the component on stdin) or the server's own cache
    // directory under a name carrying this engine's compatibility hash. wasmtime still
    // refuses bytes from another version or configuration.
    unsafe { Component::deserialize(engine, code) }.map_err(|e| {
        PluginError::Internal(format!("loading compiled plugin code: {}", root_cause(&e)))
    })
}

pub(crate) fn root_cause(e: &wasmtime::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

/// Compiles running in this process, overrun threads included.
static COMPILING: AtomicUsize = AtomicUsize::new(0);

/// One of the [`COMPILE_SLOTS`], given back when dropped.
struct CompileSlot;

impl CompileSlot {
    fn take() -> Option<CompileSlot> {
        COMPILING
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < COMPILE_SLOTS).then_some(n + 1)
            })
            .ok()
            .map(|_| CompileSlot)
    }
}

impl Drop for CompileSlot {
    fn drop(&mut self) {
        COMPILING.fetch_sub(1, Ordering::SeqCst);
    }
}
