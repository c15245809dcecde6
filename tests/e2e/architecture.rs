//! The dependency direction of ARCHITECTURE.md, checked against `cargo metadata`.

use std::collections::HashMap;

/// (crate, the workspace crates it may depend on, frameworks it must never use). An
/// allowlist: a new edge between workspace crates fails here until it is added on
/// purpose. The direction is core ← storage, authz, plugins, sources ← engine ← queue ← services
/// ← api (with query-limits and definitions) ← server ← cli.
const ALLOWED: &[(&str, &[&str], &[&str])] = &[
    (
        "vitrine-core",
        &[],
        &["poem", "async-graphql", "surrealdb", "casbin", "tokio"],
    ),
    (
        "vitrine-storage",
        &["vitrine-core"],
        &["poem", "async-graphql", "casbin"],
    ),
    (
        "vitrine-authz",
        &["vitrine-core", "vitrine-storage"],
        &["poem", "async-graphql"],
    ),
    (
        "vitrine-plugins",
        &["vitrine-core"],
        &["poem", "async-graphql", "casbin", "surrealdb", "datafusion"],
    ),
    // Outside databases read into Arrow: no storage of its own, no framework above it.
    (
        "vitrine-sources",
        &["vitrine-core"],
        &[
            "poem",
            "async-graphql",
            "casbin",
            "surrealdb",
            "datafusion",
            "wasmtime",
        ],
    ),
    (
        "vitrine-engine",
        &[
            "vitrine-core",
            "vitrine-storage",
            "vitrine-plugins",
            "vitrine-sources",
        ],
        &["poem", "async-graphql", "casbin"],
    ),
    (
        "vitrine-queue",
        &["vitrine-core", "vitrine-storage"],
        &["poem", "async-graphql", "casbin"],
    ),
    (
        "vitrine-services",
        &[
            "vitrine-core",
            "vitrine-storage",
            "vitrine-authz",
            "vitrine-engine",
            "vitrine-queue",
            "vitrine-sources",
        ],
        &["poem", "async-graphql"],
    ),
    // Request-shape limits know GraphQL, never Vitrine's services or storage.
    (
        "vitrine-query-limits",
        &["vitrine-core"],
        &[
            "poem",
            "surrealdb",
            "casbin",
            "datafusion",
            "wasmtime",
            "tokio",
        ],
    ),
    // The typed definitions (reports, workflows, blocks) know the services' errors and
    // the block parser they re-export; types only, no HTTP, no storage.
    (
        "vitrine-definitions",
        &["vitrine-core", "vitrine-services"],
        &["poem", "surrealdb", "casbin", "datafusion", "wasmtime"],
    ),
    // The API reaches storage, the engine and the policy engine only through the names
    // the services re-export (`records`, `values`).
    (
        "vitrine-api",
        &[
            "vitrine-core",
            "vitrine-services",
            "vitrine-query-limits",
            "vitrine-definitions",
        ],
        &["poem", "surrealdb", "casbin", "datafusion", "wasmtime"],
    ),
    ("vitrine-server", &["vitrine-core", "vitrine-api"], &[]),
    // The command also hosts `vitrine plugin test` (the engine's file codecs and the
    // plugin host, with no server) and the plugin compiler child process.
    (
        "vitrine",
        &[
            "vitrine-core",
            "vitrine-api",
            "vitrine-server",
            "vitrine-engine",
            "vitrine-plugins",
        ],
        &[],
    ),
];

#[test]
fn dependencies_point_one_way() {
    // `--no-deps`: the workspace crates' own manifests are all the rules need, and they
    // are on disk even on a machine that fetched only this platform's packages (a full
    // resolve would want every platform's, and fail offline).
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
            "--manifest-path",
        ])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml"))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Each workspace crate's direct normal (non-dev, non-build) dependencies, by package
    // name (a renamed dependency keeps its package name here).
    let direct: HashMap<String, Vec<String>> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect();
    let mut problems = Vec::new();
    for krate in direct.keys() {
        if !ALLOWED.iter().any(|(k, _, _)| k == krate) {
            problems.push(format!("{krate} has no rule: add it to ALLOWED"));
        }
    }
    for (krate, allowed, forbidden_frameworks) in ALLOWED {
        let deps = direct
            .get(*krate)
            .unwrap_or_else(|| panic!("{krate} not in the workspace"));
        for dep in deps.iter().filter(|d| d.starts_with("vitrine")) {
            if !allowed.contains(&dep.as_str()) {
                problems.push(format!("{krate} depends on {dep}, which is not allowed"));
            }
        }
        for bad in *forbidden_frameworks {
            if deps.iter().any(|d| d == bad) {
                problems.push(format!("{krate} uses {bad}"));
            }
        }
    }
    assert!(problems.is_empty(), "dependency edges: {problems:?}");
}
