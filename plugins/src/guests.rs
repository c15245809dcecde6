//! Builds guest blocks from source for tests and benchmarks: the fixtures under
//! `plugins/guests` and the examples under `examples/plugins`, in Rust, Python and
//! JavaScript. Installs what each needs first (the wasm32-wasip2 target; componentize-py
//! from PyPI in a virtual environment; componentize-js from npm), under the guest target
//! directory, so a fresh machine needs nothing by hand.

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

/// An empty component importing the interface `import` (e.g. `acme:db/query@1.0.0`):
/// enough to test how the host treats an import.
pub fn importing(import: &str) -> Vec<u8> {
    use wasm_encoder::{
        Component, ComponentImportSection, ComponentTypeRef, ComponentTypeSection, InstanceType,
    };
    let mut types = ComponentTypeSection::new();
    types.instance(&InstanceType::new());
    let mut imports = ComponentImportSection::new();
    imports.import(import, ComponentTypeRef::Instance(0));
    let mut component = Component::new();
    component.section(&types).section(&imports);
    component.finish()
}

/// A component exporting an empty instance named `export` (e.g.
/// `vitrine:block/block@9.0.0`): enough to test how the host reads a block's contract
/// version.
pub fn exporting(export: &str) -> Vec<u8> {
    use wasm_encoder::{
        Component, ComponentExportKind, ComponentExportSection, ComponentInstanceSection,
    };
    let mut instances = ComponentInstanceSection::new();
    instances.export_items::<&str, _>([]);
    let mut exports = ComponentExportSection::new();
    exports.export(export, ComponentExportKind::Instance, 0, None);
    let mut component = Component::new();
    component.section(&instances).section(&exports);
    component.finish()
}

/// The Python toolchain, pinned: the version the docs and examples are written against.
pub const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";
/// The JavaScript toolchain, pinned likewise.
pub const COMPONENTIZE_JS: &str = "@bytecodealliance/componentize-js@0.23.0";

static TOOLCHAINS: Mutex<()> = Mutex::new(());

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let out = command.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Where the component built from `dir` goes.
fn output(dir: &str) -> PathBuf {
    let components = target_dir().join("components");
    let _ = std::fs::create_dir_all(&components);
    components.join(format!("{}.wasm", dir.replace('/', "-")))
}

/// `componentize-py`, installed once into a virtual environment.
fn componentize_py() -> Result<PathBuf, String> {
    let _once = TOOLCHAINS.lock().unwrap_or_else(|e| e.into_inner());
    let venv = target_dir().join("toolchains/python");
    let program = venv.join("bin/componentize-py");
    if !program.exists() {
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv",
        )?;
        run(
            Command::new(venv.join("bin/pip")).args(["install", "--quiet", COMPONENTIZE_PY]),
            "pip install componentize-py",
        )?;
    }
    Ok(program)
}

/// `componentize-js`, installed once with npm.
fn componentize_js() -> Result<PathBuf, String> {
    let _once = TOOLCHAINS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = target_dir().join("toolchains/js");
    let program = dir.join("node_modules/.bin/componentize-js");
    if !program.exists() {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::write(dir.join("package.json"), "{\"private\": true}\n")
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        run(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", COMPONENTIZE_JS])
                .current_dir(&dir),
            "npm install componentize-js",
        )?;
    }
    Ok(program)
}

/// Builds the Python block in `dir` (relative to the repository: an `app.py` beside a
/// `wit` link) with componentize-py's default command; returns the component.
pub fn python(dir: &str) -> Result<PathBuf, String> {
    let program = componentize_py()?;
    let out = output(dir);
    run(
        Command::new(program)
            .args(["-d", "wit", "-w", "plugin", "componentize", "app", "-o"])
            .arg(&out)
            // Bytecode caches would land in the source tree.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(repo().join(dir)),
        "componentize-py",
    )?;
    Ok(out)
}

/// Builds the JavaScript block in `dir` (relative to the repository: `source` beside a
/// `wit` link) with componentize-js's default command; returns the component.
pub fn javascript(dir: &str, source: &str) -> Result<PathBuf, String> {
    let program = componentize_js()?;
    let out = output(dir);
    run(
        Command::new(program)
            .arg(source)
            .args(["--wit", "wit", "--world-name", "plugin", "-o"])
            .arg(&out)
            .current_dir(repo().join(dir)),
        "componentize-js",
    )?;
    Ok(out)
}

/// The bytes of a component built by a Python or JavaScript toolchain, or `None` (said
/// on stderr) when the toolchain cannot be installed here. With
/// `VITRINE_REQUIRE_TOOLCHAINS` set, as CI sets it, a missing toolchain panics instead.
pub fn built_or_skip(component: Result<PathBuf, String>) -> Option<Vec<u8>> {
    match component {
        Ok(path) => {
            Some(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        }
        Err(e) if std::env::var_os("VITRINE_REQUIRE_TOOLCHAINS").is_none() => {
            eprintln!("skipped: the toolchain is not available here: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// The Python and JavaScript translations of the Rust `zscore` example
/// (`examples/plugins/zscore-py`, `zscore-js`), built; `None` when a toolchain cannot be
/// had here (see [`built_or_skip`]).
pub fn zscore_translations() -> Option<(Vec<u8>, Vec<u8>)> {
    let python = built_or_skip(python("examples/plugins/zscore-py"))?;
    let javascript = built_or_skip(javascript("examples/plugins/zscore-js", "zscore.js"))?;
    Some((python, javascript))
}
