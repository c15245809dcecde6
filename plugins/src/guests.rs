//! Builds guest blocks from source for tests and benchmarks: the fixtures under
//! `plugins/guests` and the examples under `examples/plugins`. Installs the
//! wasm32-wasip2 target first, so a fresh machine needs nothing by hand.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

static BUILT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// Where guest builds go: beside the host's own target directory, shared by every
/// guest workspace so the SDK and its dependencies build once.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d).join("guests"),
        None => repo().join("target").join("guests"),
    }
}

/// Builds the workspace or package at `dir` (relative to the repository) for
/// wasm32-wasip2 in release mode, once per process.
pub fn build(dir: &str) -> Result<(), String> {
    let dir = repo().join(dir);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built.contains(&dir) {
        return Ok(());
    }
    if built.is_empty() {
        let out = Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .output()
            .map_err(|e| format!("rustup: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "rustup target add wasm32-wasip2: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("RUSTFLAGS")
        .current_dir(&dir)
        .output()
        .map_err(|e| format!("cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building {} for wasm32-wasip2 failed:\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    built.push(dir);
    Ok(())
}

/// The component a guest package built to (`name` with dashes, as in Cargo.toml).
pub fn component(name: &str) -> PathBuf {
    target_dir()
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")))
}

/// Builds example plugin `name` (under examples/plugins) and returns its component.
pub fn example(name: &str) -> PathBuf {
    build(&format!("examples/plugins/{name}")).unwrap_or_else(|e| panic!("{e}"));
    component(name)
}

/// Builds the fixture workspace and returns the component of fixture `name`.
pub fn fixture(name: &str) -> PathBuf {
    build("plugins/guests").unwrap_or_else(|e| panic!("{e}"));
    component(name)
}
