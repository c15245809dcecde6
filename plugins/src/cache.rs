//! Compiled components, in memory and on disk. The disk key joins the component's
//! content hash with the engine's compatibility hash (wasmtime version and every code
//! generation setting), so a server upgrade or a changed setting compiles afresh instead
//! of loading code built for another engine.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::{Plugin, PluginError, PluginResult};

pub(crate) fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(crate) struct Compiled {
    dir: Option<PathBuf>,
    engine_key: String,
    loaded: Mutex<HashMap<String, Arc<Plugin>>>,
}

impl Compiled {
    pub(crate) fn new(dir: Option<PathBuf>, engine: &Engine) -> PluginResult<Compiled> {
        if let Some(d) = &dir {
            std::fs::create_dir_all(d).map_err(|e| {
                PluginError::Internal(format!("compiled plugin cache {}: {e}", d.display()))
            })?;
        }
        let mut h = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Ok(Compiled {
            dir,
            engine_key: format!("{:016x}", h.finish()),
            loaded: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn loaded(&self, hash: &str) -> Option<Arc<Plugin>> {
        self.loaded.lock().get(hash).cloned()
    }

    pub(crate) fn keep(&self, plugin: Arc<Plugin>) {
        self.loaded.lock().insert(plugin.hash.clone(), plugin);
    }

    /// The compiled component: from disk when this engine compiled it before, else
    /// compiled now on a thread of its own, given up after `timeout`.
    pub(crate) fn compile(
        &self,
        engine: &Engine,
        hash: &str,
        bytes: &[u8],
        timeout: Duration,
    ) -> PluginResult<Component> {
        let path = self
            .dir
            .as_ref()
            .map(|d| d.join(format!("{hash}-{}.cwasm", self.engine_key)));
        if let Some(p) = &path
            && p.exists()
        {
            match deserialize(engine, p) {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "dropping an unreadable compiled plugin");
                    let _ = std::fs::remove_file(p);
                }
            }
        }
        // Cranelift cannot be interrupted: past the deadline a compile thread finishes on
        // its own and its result is dropped. So compiles take a slot first, held by the
        // thread until it ends: one that overran keeps its slot, and a stream of hostile
        // components can never have more than `COMPILE_SLOTS` threads compiling at once.
        let started = std::time::Instant::now();
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
        let (tx, rx) = std::sync::mpsc::channel();
        let (e, b) = (engine.clone(), bytes.to_vec());
        std::thread::Builder::new()
            .name("plugin-compile".into())
            .spawn(move || {
                let _slot = slot;
                let _ = tx.send(Component::new(&e, &b));
            })
            .map_err(|e| PluginError::Internal(format!("compile thread: {e}")))?;
        let timeout = timeout.saturating_sub(started.elapsed());
        let component = match rx.recv_timeout(timeout) {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(PluginError::Invalid(format!(
                    "not a valid WebAssembly component: {}",
                    root_cause(&e)
                )));
            }
            Err(_) => {
                return Err(PluginError::Invalid(format!(
                    "compiling the plugin took longer than {} s",
                    timeout.as_secs()
                )));
            }
        };
        if let Some(p) = &path {
            // Written aside and renamed, so a crash never leaves half a file to load.
            let tmp = p.with_extension(format!("tmp-{}", std::process::id()));
            let written = component
                .serialize()
                .map_err(|e| e.to_string())
                .and_then(|code| std::fs::write(&tmp, code).map_err(|e| e.to_string()))
                .and_then(|_| std::fs::rename(&tmp, p).map_err(|e| e.to_string()));
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                tracing::warn!(path = %p.display(), error = %e, "could not cache a compiled plugin");
            }
        }
        Ok(component)
    }
}

/// Compile threads running in this process, overrun ones included.
static COMPILING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many plugin compilations may run at once.
pub(crate) const COMPILE_SLOTS: usize = 2;

/// One of the [`COMPILE_SLOTS`], given back when dropped (when its thread ends).
struct CompileSlot;

impl CompileSlot {
    fn take() -> Option<CompileSlot> {
        use std::sync::atomic::Ordering;
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
        COMPILING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Loads compiled code this host wrote itself. The file is read into memory rather than
/// mapped: a mapped file truncated by someone else would crash the server.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &std::path::Path) -> wasmtime::Result<Component> {
    let code = std::fs::read(path)?;
    // SAFETY: wasmtime runs deserialized code without checking it, so it must come from
    // a trusted compiler. These files are written only by `compile` above, into the
    // server's own data directory, under a name carrying this engine's compatibility
    // hash; wasmtime still refuses bytes from another version or configuration.
    unsafe { Component::deserialize(engine, &code) }
}

fn root_cause(e: &wasmtime::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}
