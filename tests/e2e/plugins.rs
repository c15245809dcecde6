//! Plugin blocks through the real server and binary: publish a component over GraphQL
//! multipart, use it in a workflow, run it, read its output; who may publish; hostile
//! and broken components refused with nothing stored; `vitrine plugin check|run`.

use std::process::Command;

use serde_json::{Value, json};
use vitrine_plugins::guests;

use crate::data::{DataWorld, data_world, statuses};
use crate::support::*;

fn example(name: &str) -> Vec<u8> {
    std::fs::read(guests::example(name)).unwrap()
}

const PUBLISH: &str = "mutation($f:Upload!){publishPlugin(file:$f){id name version enabled contract sdkVersion toolchain inputFormat configSchema outputs{name columns{name type}}}}";

async fn publish(s: &TestServer, auth: &Auth, bytes: Vec<u8>) -> Value {
    let ops = json!({"query": PUBLISH, "variables": {"f": null}});
    let form = reqwest::multipart::Form::new()
        .text("operations", ops.to_string())
        .text("map", json!({"0": ["variables.f"]}).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(bytes).file_name("block.wasm"),
        );
    let mut req = TestServer::client().post(format!("{}/graphql", s.url));
    if let Auth::Bearer(t) = auth {
        req = req.bearer_auth(t);
    }
    req.multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn plugin_count(w: &DataWorld) -> usize {
    let r = w.s.gql(&w.editor.auth, "{plugins{id}}", json!({})).await;
    data(&r)["plugins"].as_array().unwrap().len()
}

async fn save(w: &DataWorld, workflow: &Value) -> Value {
    w.s.gql(
        &w.editor.auth,
        "mutation($p:ID!,$w:JSON!){saveWorkflow(projectId:$p,workflow:$w){version}}",
        json!({"p": w.project, "w": workflow}),
    )
    .await
}

async fn run_to_end(w: &DataWorld) -> Value {
    let r = w
        .s
        .gql(
            &w.editor.auth,
            "mutation($p:ID!){runWorkflow(projectId:$p,wait:true){id status blocks{block status notes error{code message}}}}",
            json!({"p": w.project}),
        )
        .await;
    data(&r)["runWorkflow"].clone()
}

#[tokio::test]
async fn plugins_are_published_used_in_workflows_and_refused_when_hostile() {
    let w = data_world().await;
    let s = &w.s;

    // Editors may not publish; a holder of plugin_publisher may; admins may.
    let refused = publish(s, &w.editor.auth, example("zscore")).await;
    assert_eq!(code(&refused), "FORBIDDEN", "{refused}");
    assert_eq!(plugin_count(&w).await, 0);
    let publisher = s.user(&w.admin, "pia").await;
    data(
        &s.gql(
            &w.admin.auth,
            "mutation($s:String!){grantServerPermission(subject:$s,permission:PLUGIN_PUBLISHER)}",
            json!({"s": format!("user:{}", publisher.id)}),
        )
        .await,
    );
    let z = publish(s, &publisher.auth, example("zscore")).await;
    let z = data(&z)["publishPlugin"].clone();
    assert_eq!(z["name"], "zscore");
    assert_eq!(z["version"], "1.0.0");
    assert_eq!(z["contract"], "0.2.0");
    assert_eq!(z["sdkVersion"], "0.2.0");
    assert_eq!(z["inputFormat"], "COLUMNS");
    assert_eq!(z["configSchema"]["required"], json!(["column"]));
    let r = publish(s, &w.admin.auth, example("regex-extract")).await;
    assert_eq!(data(&r)["publishPlugin"]["outputs"][1]["name"], "unmatched");
    // The same version again: refused, versions never change.
    let again = publish(s, &w.admin.auth, example("zscore")).await;
    assert_eq!(code(&again), "CONFLICT", "{again}");

    // Hostile and broken components are refused before anything is stored.
    let r = publish(s, &w.admin.auth, guests::importing("acme:db/query@1.0.0")).await;
    assert_eq!(code(&r), "INVALID_PLUGIN");
    assert!(message(&r).contains("`acme:db/query@1.0.0`"), "{r}");
    let r = publish(s, &w.admin.auth, b"\0asm\x01\0\0\0".to_vec()).await;
    assert_eq!(code(&r), "INVALID_PLUGIN");
    assert!(message(&r).contains("core WebAssembly module"), "{r}");
    assert_eq!(plugin_count(&w).await, 2);

    // A workflow over the Superstore file that scores sales and splits customer names.
    let wf = json!({"blocks": [
        {"id": "orders", "kind": "csv_source", "config": {"location": "files", "path": "in/superstore.csv"}},
        {"id": "score", "kind": "plugin", "inputs": {"in": "orders"},
         "config": {"plugin": "zscore", "version": "1.0.0", "settings": {"column": "sales", "threshold": 2}}},
        {"id": "names", "kind": "plugin", "inputs": {"in": "score"},
         "config": {"plugin": "regex-extract", "version": "1.0.0",
                    "settings": {"column": "state", "pattern": "^(?P<first>\\S+) (?P<rest>.+)$"}}},
        {"id": "flagged", "kind": "sql", "inputs": {"t": "score"},
         "config": {"query": "SELECT region, count(*) AS n FROM t WHERE anomaly GROUP BY region"}},
        {"id": "publish", "kind": "publish", "config": {"dataset": "anomalies"}, "inputs": {"in": "flagged"}},
        {"id": "odd", "kind": "publish", "config": {"dataset": "odd_names"}, "inputs": {"in": "names.unmatched"}},
    ]});
    let saved = save(&w, &wf).await;
    data(&saved);
    let run = run_to_end(&w).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let ds = s
        .gql(
            &w.editor.auth,
            "query($p:ID!){datasets(projectId:$p){name rows}}",
            json!({"p": w.project}),
        )
        .await;
    let list = data(&ds)["datasets"].as_array().unwrap().clone();
    let anomalies = list.iter().find(|d| d["name"] == "anomalies").unwrap();
    assert!(anomalies["rows"].as_i64().unwrap() >= 1, "{anomalies}");
    let odd = list.iter().find(|d| d["name"] == "odd_names").unwrap();
    assert!(
        odd["rows"].as_i64().unwrap() >= 1,
        "one-word states do not match: {odd}"
    );

    // Settings that break the plugin's schema are refused on save, naming the field.
    let mut bad = wf.clone();
    bad["blocks"][1]["config"]["settings"] = json!({"column": "sales", "threshold": "high"});
    let r = save(&w, &bad).await;
    assert_eq!(code(&r), "INVALID_WORKFLOW");
    assert!(
        message(&r).contains("block `score`, config.settings")
            && message(&r).contains("/threshold"),
        "{r}"
    );

    // Disabling a version (publishers only) stops the workflows that pin it.
    let zid = z["id"].as_str().unwrap();
    let r = s
        .gql(
            &w.editor.auth,
            "mutation($i:ID!){setPluginEnabled(id:$i,enabled:false){enabled}}",
            json!({"i": zid}),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN");
    let r = s
        .gql(
            &publisher.auth,
            "mutation($i:ID!){setPluginEnabled(id:$i,enabled:false){enabled}}",
            json!({"i": zid}),
        )
        .await;
    assert_eq!(data(&r)["setPluginEnabled"]["enabled"], false);
    let r = s
        .gql(
            &w.editor.auth,
            "mutation($p:ID!){runWorkflow(projectId:$p,wait:true){status}}",
            json!({"p": w.project}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_WORKFLOW");
    assert!(message(&r).contains("disabled"), "{r}");
    data(
        &s.gql(
            &w.admin.auth,
            "mutation($i:ID!){setPluginEnabled(id:$i,enabled:true){enabled}}",
            json!({"i": zid}),
        )
        .await,
    );

    // A block that overruns its limit fails alone; the server keeps serving.
    let spin = std::fs::read(guests::fixture("hostile-spin")).unwrap();
    data(&publish(s, &w.admin.auth, spin).await);
    let mut slow = wf.clone();
    slow["blocks"].as_array_mut().unwrap().push(json!(
        {"id": "spin", "kind": "plugin", "inputs": {"in": "orders"},
         "config": {"plugin": "spin", "version": "1.0.0", "time_limit_ms": 500}}));
    data(&save(&w, &slow).await);
    let run = run_to_end(&w).await;
    assert_eq!(run["status"], "failed");
    let st = statuses(&json!({"blocks": run["blocks"]}));
    assert_eq!(st["spin"], "failed", "{run}");
    assert_eq!(st["publish"], "up_to_date", "{run}");
    let spin = run["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block"] == "spin")
        .unwrap();
    assert_eq!(spin["error"]["code"], "PLUGIN_TIMEOUT");
    assert_eq!(plugin_count(&w).await, 3);

    // A block that crashes says why in its error, and what it printed stays on the run.
    let panic = std::fs::read(guests::fixture("hostile-panic")).unwrap();
    data(&publish(s, &w.admin.auth, panic).await);
    let mut crashing = wf.clone();
    crashing["blocks"].as_array_mut().unwrap().push(json!(
        {"id": "crash", "kind": "plugin", "inputs": {"in": "orders"},
         "config": {"plugin": "panic", "version": "1.0.0"}}));
    data(&save(&w, &crashing).await);
    let run = run_to_end(&w).await;
    let crash = run["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block"] == "crash")
        .unwrap()
        .clone();
    assert_eq!(crash["error"]["code"], "PLUGIN_CRASHED", "{crash}");
    assert!(
        crash["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("/src/lib.rs:16:9: the block gave up"),
        "{crash}"
    );
    let notes: Vec<&str> = crash["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("warn: ") && n.contains("panicked at")),
        "{crash}"
    );
}

/// A Python and a JavaScript block, built with their tools' default commands, publish
/// through the server (compiled in its compiler child) and run in a workflow beside the
/// Rust block they translate, giving its values row for row.
#[tokio::test]
async fn python_and_javascript_blocks_run_in_a_workflow_like_the_rust_one() {
    let Some((python, javascript)) = guests::zscore_translations() else {
        return;
    };
    let w = data_world().await;
    for (bytes, name, toolchain) in [
        (example("zscore"), "zscore", "Rust (vitrine-sdk 0.2.0"),
        (python, "zscore-py", "Python 3."),
        (javascript, "zscore-js", "JavaScript (ComponentizeJS"),
    ] {
        let r = publish(&w.s, &w.admin.auth, bytes).await;
        let p = &data(&r)["publishPlugin"];
        assert_eq!(p["name"], name, "{r}");
        assert!(
            p["toolchain"].as_str().unwrap().starts_with(toolchain),
            "{r}"
        );
    }
    let score = |id: &str, plugin: &str| {
        json!({"id": id, "kind": "plugin", "inputs": {"in": "orders"},
               "config": {"plugin": plugin, "version": "1.0.0",
                          "settings": {"column": "sales", "threshold": 2}}})
    };
    let wf = json!({"blocks": [
        {"id": "orders", "kind": "csv_source", "config": {"location": "files", "path": "in/superstore.csv"}},
        score("rs", "zscore"),
        score("py", "zscore-py"),
        score("js", "zscore-js"),
        {"id": "differ", "kind": "sql", "inputs": {"r": "rs", "p": "py", "j": "js"},
         "config": {"query": "SELECT r.order_id FROM r JOIN p ON r.order_id = p.order_id JOIN j ON r.order_id = j.order_id WHERE (r.zscore IS DISTINCT FROM p.zscore) OR (r.zscore IS DISTINCT FROM j.zscore) OR (r.anomaly IS DISTINCT FROM p.anomaly) OR (r.anomaly IS DISTINCT FROM j.anomaly)"}},
        {"id": "same", "kind": "sql", "inputs": {"r": "rs", "p": "py", "j": "js"},
         "config": {"query": "SELECT r.order_id FROM r JOIN p ON r.order_id = p.order_id JOIN j ON r.order_id = j.order_id WHERE r.anomaly AND p.anomaly AND j.anomaly"}},
        {"id": "publish_differ", "kind": "publish", "config": {"dataset": "differ"}, "inputs": {"in": "differ"}},
        {"id": "publish_same", "kind": "publish", "config": {"dataset": "same"}, "inputs": {"in": "same"}},
    ]});
    data(&save(&w, &wf).await);
    let run = run_to_end(&w).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let ds =
        w.s.gql(
            &w.editor.auth,
            "query($p:ID!){datasets(projectId:$p){name rows}}",
            json!({"p": w.project}),
        )
        .await;
    let rows = |name: &str| {
        data(&ds)["datasets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == name)
            .unwrap()["rows"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(rows("differ"), 0, "{ds}");
    assert!(rows("same") >= 1, "the three agree on some anomalies: {ds}");
}

#[test]
fn plugin_check_and_run_work_without_a_server() {
    let zscore = guests::example("zscore");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "name,amount\na,1\nb,2\nc,3\nd,100\ne,2.5\n").unwrap();
    let cache = dir.path().join("compiled");
    // Every command keeps compiled code in the test's own cache directory.
    let vitrine = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vitrine"));
        c.env("VITRINE_PLUGIN_CACHE", &cache);
        c
    };
    let cached = || -> Vec<(std::path::PathBuf, std::time::SystemTime)> {
        std::fs::read_dir(&cache)
            .map(|d| {
                d.map(|e| {
                    let e = e.unwrap();
                    (e.path(), e.metadata().unwrap().modified().unwrap())
                })
                .collect()
            })
            .unwrap_or_default()
    };

    let out = vitrine()
        .args(["plugin", "check"])
        .arg(&zscore)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["name"], "zscore");
    assert_eq!(info["sdk_version"], "0.2.0");
    assert!(
        info["toolchain"]
            .as_str()
            .is_some_and(|t| t.starts_with("Rust (vitrine-sdk 0.2.0")),
        "{info}"
    );
    // The check compiled the component once and kept the code.
    let kept = cached();
    assert_eq!(kept.len(), 1, "{kept:?}");

    let out = vitrine()
        .args(["plugin", "run"])
        .arg(&zscore)
        .arg("--input")
        .arg(&csv)
        .args(["--config", r#"{"column":"amount","threshold":1.5}"#])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The run loaded the kept code: nothing compiled, nothing rewritten.
    assert_eq!(cached(), kept);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().next(), Some("name,amount,zscore,anomaly"));
    assert!(
        text.lines()
            .any(|l| l.starts_with("d,100") && l.ends_with("true")),
        "{text}"
    );

    // --no-cache keeps nothing.
    std::fs::remove_dir_all(&cache).unwrap();
    let out = vitrine()
        .args(["plugin", "check", "--no-cache"])
        .arg(&zscore)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!cache.exists(), "--no-cache wrote {:?}", cached());

    // Bad settings and a non-component fail with their codes.
    let out = vitrine()
        .args(["plugin", "run"])
        .arg(&zscore)
        .arg("--input")
        .arg(&csv)
        .args(["--config", r#"{"colum":"amount"}"#])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("INVALID_WORKFLOW"));
    let out = vitrine()
        .args(["plugin", "check"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("INVALID_PLUGIN"));
}

/// A component whose one core module is slow to compile: `functions` functions, each a
/// long chain of additions. It is never valid as a block; it only has to keep Cranelift
/// busy.
fn slow_component(functions: u32, adds: u32) -> Vec<u8> {
    use wasm_encoder::{
        CodeSection, Component, Function, FunctionSection, Module, ModuleSection, TypeSection,
        ValType,
    };
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], [ValType::I32]);
    let mut funcs = FunctionSection::new();
    let mut code = CodeSection::new();
    for f in 0..functions {
        funcs.function(0);
        let mut body = Function::new([]);
        let mut ins = body.instructions();
        ins.local_get(0);
        for k in 0..adds {
            ins.i32_const((k ^ f) as i32)
                .i32_add()
                .local_get(0)
                .i32_xor();
        }
        ins.end();
        code.function(&body);
    }
    let mut module = Module::new();
    module.section(&types).section(&funcs).section(&code);
    let mut component = Component::new();
    component.section(&ModuleSection(&module));
    component.finish()
}

/// A compile that outlives its deadline is stopped, not left running: the publish is
/// refused at the deadline, and from then on the server spends no CPU on it.
#[tokio::test]
async fn a_compile_past_its_deadline_is_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("vitrine.toml");
    std::fs::write(&config, "[plugins]\ncompile_timeout_secs = 1\n").unwrap();
    let config = config.to_str().unwrap().to_owned();
    let s = TestServer::start_full(&tmp.path().join("data"), &["--config", &config], &[]).await;
    let admin = s.admin().await;

    let slow = slow_component(600, 2_000);
    let started = std::time::Instant::now();
    let r = publish(&s, &admin.auth, slow.clone()).await;
    let took = started.elapsed();
    assert_eq!(code(&r), "INVALID_PLUGIN", "{r}");
    assert!(message(&r).contains("took longer than 1 s"), "{r}");
    assert!(
        took < std::time::Duration::from_secs(10),
        "refused after {took:?}"
    );

    // The compiler child is gone, and the server idles: no thread compiles on.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let children = compiler_children(s.pid());
    assert!(
        children.is_empty(),
        "compiler children left running: {children:?}"
    );
    let before = s.cpu_time();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let spent = s.cpu_time() - before;
    assert!(
        spent < std::time::Duration::from_millis(500),
        "the server spent {spent:?} of CPU after refusing"
    );

    // Stopped compiles give their slot back: more of them than there are slots each get
    // one and time out themselves, rather than finding every slot still taken.
    for _ in 0..3 {
        let r = publish(&s, &admin.auth, slow.clone()).await;
        assert!(message(&r).contains("took longer than 1 s"), "{r}");
    }
    assert!(compiler_children(s.pid()).is_empty());
    let r = s.gql(&admin.auth, "{plugins{id}}", json!({})).await;
    assert_eq!(data(&r)["plugins"], json!([]));
}

/// Processes whose parent is `pid` and whose command line names the compiler argument.
fn compiler_children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let parent = rest.split(' ').nth(1).and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if parent == Some(pid)
            && String::from_utf8_lossy(&cmdline).contains(vitrine_plugins::COMPILE_ARG)
        {
            found.push(child);
        }
    }
    found
}
