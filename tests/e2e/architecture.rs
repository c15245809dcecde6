//! The dependency direction of ARCHITECTURE.md, checked against `cargo metadata`.

use std::collections::HashMap;

/// (crate, workspace crates it must never depend on, frameworks it must never use)
const RULES: &[(&str, &[&str], &[&str])] = &[
    (
        "vitrine-core",
        &[
            "vitrine-storage",
            "vitrine-authz",
            "vitrine-api",
            "vitrine-server",
            "vitrine",
        ],
        &["poem", "async-graphql", "surrealdb", "casbin", "tokio"],
    ),
    (
        "vitrine-storage",
        &[
            "vitrine-authz",
            "vitrine-api",
            "vitrine-server",
            "vitrine",
            "vitrine-queue",
        ],
        &["poem", "async-graphql", "casbin"],
    ),
    (
        "vitrine-authz",
        &["vitrine-api", "vitrine-server", "vitrine"],
        &["poem", "async-graphql"],
    ),
    (
        "vitrine-plugins",
        &[
            "vitrine-storage",
            "vitrine-authz",
            "vitrine-engine",
            "vitrine-api",
            "vitrine-server",
            "vitrine",
            "vitrine-sdk",
        ],
        &["poem", "async-graphql", "casbin", "surrealdb", "datafusion"],
    ),
    (
        "vitrine-engine",
        &[
            "vitrine-api",
            "vitrine-server",
            "vitrine",
            "vitrine-sdk",
            "vitrine-queue",
        ],
        &["poem", "async-graphql", "casbin"],
    ),
    (
        "vitrine-queue",
        &["vitrine-authz", "vitrine-api", "vitrine-server", "vitrine"],
        &["poem", "async-graphql", "casbin"],
    ),
    ("vitrine-api", &["vitrine-server", "vitrine"], &["poem"]),
    ("vitrine-server", &["vitrine"], &[]),
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
    for (krate, forbidden_crates, forbidden_frameworks) in RULES {
        let deps = direct
            .get(*krate)
            .unwrap_or_else(|| panic!("{krate} not in the workspace"));
        for bad in forbidden_crates.iter().chain(forbidden_frameworks.iter()) {
            if deps.iter().any(|d| d == bad) {
                problems.push(format!("{krate} depends on {bad}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "forbidden dependency edges: {problems:?}"
    );
}
