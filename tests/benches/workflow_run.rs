//! Engine benchmark: a forced refresh of a workflow over `VITRINE_BENCH_ROWS` CSV rows
//! (default one million): source → filter → aggregate → join back → sort → publish.
//! Prints the wall time of each run and each block's median, and whether repeated runs
//! over the same file stored the same results (content hashes), which they must.
//!
//! `cargo bench -p vitrine --bench workflow_run`

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::json;
use vitrine_engine::{Engine, EngineLimits, RunRequest};
use vitrine_storage::{LocationGrant, LocationRecord, Store, WorkflowRecord, new_uid, now_ms};

const RUNS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Orders over 1,000 customers in 4 regions, from a fixed pseudo-random sequence.
fn orders_csv(rows: usize) -> String {
    let regions = ["West", "East", "Central", "South"];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = String::with_capacity(rows * 40);
    out.push_str("order_id,customer,region,amount\n");
    for i in 0..rows {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let _ = writeln!(
            out,
            "{i},customer-{:04},{},{:.2}",
            state % 1000,
            regions[((state >> 20) % 4) as usize],
            ((state >> 32) % 100_000) as f64 / 100.0
        );
    }
    out
}

#[tokio::main]
async fn main() {
    let rows: usize = std::env::var("VITRINE_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let csv = orders_csv(rows);
    std::fs::write(files.path().join("orders.csv"), &csv).unwrap();
    let url = format!("surrealkv://{}", dir.path().join("db").display());
    let store = Store::open(
        &url,
        &vitrine_storage::ArtifactConfig::in_data_dir(dir.path()),
    )
    .await
    .unwrap();
    let engine = Engine::new(store.clone(), EngineLimits::default());
    let folder = new_uid();
    let project = new_uid();
    store
        .insert_location(&LocationRecord {
            uid: new_uid().into(),
            name: "files".into(),
            definition: json!({"kind": "fs", "root": files.path().to_string_lossy()}),
            grants: vec![LocationGrant {
                folder_uid: folder.clone().into(),
                access: vitrine_core::LocationAccess::Read,
            }],
            created_ms: now_ms(),
        })
        .await
        .unwrap();
    let blocks = json!([
        {"id": "orders", "kind": "csv_source", "config": {"location": "files", "path": "orders.csv"}},
        {"id": "big", "kind": "filter", "config": {"condition": "amount > 100"}, "inputs": {"in": "orders"}},
        {"id": "by_customer", "kind": "aggregate", "config": {"group_by": ["customer", "region"], "measures": [
            {"column": "amount", "function": "sum", "name": "total"},
            {"function": "count", "name": "orders"}]}, "inputs": {"in": "big"}},
        {"id": "enriched", "kind": "join", "config": {"on": [{"left": "customer", "right": "customer"}]},
            "inputs": {"left": "big", "right": "by_customer"}},
        {"id": "ranked", "kind": "sort", "config": {"by": [{"column": "amount", "descending": true}]}, "inputs": {"in": "enriched"}},
        {"id": "publish", "kind": "publish", "config": {"dataset": "orders"}, "inputs": {"in": "ranked"}},
    ]);
    store
        .save_workflow(
            &WorkflowRecord {
                project_uid: project.clone().into(),
                definition: serde_json::from_value(json!({ "blocks": blocks })).unwrap(),
                parameters: BTreeMap::new(),
                version: 1,
                updated_ms: now_ms(),
                updated_by: None,
            },
            0,
        )
        .await
        .unwrap();

    println!(
        "forced refresh of {rows} rows ({:.1} MB of CSV), {RUNS} runs after one warm-up",
        csv.len() as f64 / 1e6
    );
    let mut walls = Vec::new();
    let mut per_block: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut results: BTreeSet<Vec<(String, String)>> = BTreeSet::new();
    for i in 0..=RUNS {
        let started = Instant::now();
        let run = engine
            .start_run(RunRequest {
                project_uid: project.clone().into(),
                folders: vec![folder.clone()],
                requested_by: None,
                from_block: None,
                force: true,
            })
            .await
            .unwrap();
        while engine.is_running(&run.uid) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let wall = started.elapsed().as_secs_f64() * 1000.0;
        let record = store.workflow_run(&run.uid).await.unwrap().unwrap();
        assert_eq!(record.status.as_str(), "succeeded", "{:?}", record.blocks);
        let mut hashes: Vec<(String, String)> = store
            .block_states(&vitrine_core::ProjectId::from(&project))
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.block_id, s.content_hash))
            .collect();
        hashes.sort();
        results.insert(hashes);
        if i == 0 {
            continue;
        }
        walls.push(wall);
        println!("  run {i}: {wall:.0} ms");
        for b in record.blocks.as_array().unwrap() {
            if let Some(ms) = b["duration_ms"].as_f64() {
                per_block
                    .entry(b["block"].as_str().unwrap().to_owned())
                    .or_default()
                    .push(ms);
            }
        }
    }
    println!("median wall time: {:.0} ms", median(walls));
    for (block, ms) in per_block {
        println!("  {block:<12} median {:>6.0} ms", median(ms));
    }
    println!(
        "distinct results over {} runs: {} (1 means every run stored the same bytes)",
        RUNS + 1,
        results.len()
    );
}
