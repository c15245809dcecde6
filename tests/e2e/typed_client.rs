//! A client team's view of the API: TypeScript types generated from the committed SDL
//! with a pinned graphql-codegen (examples/graphql-client), a small client compiled with
//! `tsc --strict`, then run against a live server. The definitions it reads and writes
//! (blocks with their configurations, tabs, tiles, filters) must be real types, not
//! `unknown`, and what the client reads must be what it can send back.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::*;

fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/graphql-client")
}

/// Installs the example's npm packages (from its lock file), generates its types and
/// compiles it; answers the generated types.
fn generate_and_compile() -> String {
    let dir = client_dir();
    if !dir.join("node_modules/@graphql-codegen/core").exists()
        || !dir.join("node_modules/typescript").exists()
    {
        run_checked(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir),
            "npm ci in examples/graphql-client",
        );
    }
    run_checked(
        Command::new("node").arg("codegen.mjs").current_dir(&dir),
        "graphql-codegen",
    );
    run_checked(
        Command::new("node")
            .args(["node_modules/typescript/bin/tsc", "-p", "."])
            .current_dir(&dir),
        "tsc",
    );
    std::fs::read_to_string(dir.join("src/generated.ts")).expect("generated types")
}

/// Lines of generated TypeScript that give a definition no real type: `unknown` or
/// `any` anywhere but codegen's own `Exact` helper, and free-form JSON anywhere but a
/// plugin's own `settings` (checked against the plugin's schema instead).
fn untyped_lines(generated: &str) -> Vec<&str> {
    let word = |line: &str, w: &str| {
        line.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .any(|t| t == w)
    };
    generated
        .lines()
        .filter(|l| {
            let code = l.trim_start();
            !(code.starts_with("//") || code.starts_with("/*") || code.starts_with('*'))
        })
        .filter(|l| {
            (word(l, "unknown") && !l.starts_with("type Exact<"))
                || word(l, "any")
                || (word(l, "JsonValue")
                    && !l.starts_with("export type JsonValue")
                    && !l.contains("settings"))
        })
        .collect()
}

#[test]
fn the_untyped_check_sees_untyped_definitions() {
    let generated = "type Exact<T extends { [key: string]: unknown }> = T;\n\
        export type A = { config: JsonValue };\n\
        export type B = { rows: any };\n\
        export type C = { settings: JsonValue };\n\
        /** any JSON value */\n";
    assert_eq!(
        untyped_lines(generated),
        [
            "export type A = { config: JsonValue };",
            "export type B = { rows: any };"
        ]
    );
}

#[tokio::test]
async fn a_typescript_client_generated_from_the_sdl_compiles_and_runs() {
    let generated = tokio::task::spawn_blocking(generate_and_compile)
        .await
        .unwrap();
    let untyped = untyped_lines(&generated);
    assert!(
        untyped.is_empty(),
        "untyped definitions:\n{}",
        untyped.join("\n")
    );
    for ty in [
        "BlockConfigurationInput",
        "CsvSourceConfigInput",
        "TabInput",
        "TileQueryInput",
        "ReportFilterInput",
    ] {
        assert!(
            generated.contains(&format!("export type {ty} =")),
            "{ty} is generated"
        );
    }

    let w = crate::data::data_world().await;
    let Auth::Bearer(token) = &w.editor.auth else {
        unreachable!("actors carry API tokens")
    };
    let out = tokio::process::Command::new("node")
        .arg(client_dir().join("dist/client.js"))
        .env("VITRINE_URL", &w.s.url)
        .env("VITRINE_TOKEN", token)
        .env("PROJECT_ID", &w.project)
        .env("LOCATION", "files")
        .env("CSV_PATH", "in/superstore.csv")
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["kinds"], 19, "{summary}");
    assert_eq!(summary["filterField"], "filter");
    assert_eq!(summary["versions"], serde_json::json!([1, 2]));
    assert_eq!(
        summary["csvDefaults"],
        serde_json::json!({"header": true, "delimiter": ",", "onError": "FAIL"})
    );
    assert_eq!(summary["run"], "succeeded");
    assert_eq!(summary["staleCode"], "CONFLICT");
    assert_eq!(summary["tile"], "Sales by region (typed)");
    assert_eq!(summary["filterOp"], "IN");
    assert_eq!(summary["rows"], 2, "West and East");
}
