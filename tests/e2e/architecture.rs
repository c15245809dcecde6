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
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
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
    let ids: HashMap<String, String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut direct: HashMap<String, Vec<String>> = HashMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let name = &ids[node["id"].as_str().unwrap()];
        // Normal (non-dev) dependencies only.
        let deps = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].is_null())
            })
            .map(|d| ids[d["pkg"].as_str().unwrap()].clone())
            .collect();
        direct.insert(name.clone(), deps);
    }
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
