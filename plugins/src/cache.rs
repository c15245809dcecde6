//! Compiled components, in memory and on disk. The disk key joins the component's
//! content hash with the engine's compatibility hash (wasmtime version and every code
//! generation setting), so a server upgrade or a changed setting compiles afresh instead
//! of loading code built for another engine.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::{Plugin, PluginError, PluginResult, compiler};

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
    /// compiled now (see [`compiler`]), given up after `timeout`.
    pub(crate) fn compile(
        &self,
        engine: &Engine,
        program: Option<&Path>,
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
        let component = compiler::compile(engine, program, bytes, timeout)?;
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

/// Loads compiled code this host wrote itself. The file is read into memory rather than
/// mapped: a mapped file truncated by someone else would crash the server.
fn deserialize(engine: &Engine, path: &std::path::Path) -> PluginResult<Component> {
    let code = std::fs::read(path).map_err(|e| PluginError::Internal(e.to_string()))?;
    compiler::trusted_code(engine, &code)
}
