//! Plugin host benchmark, in one run:
//! (a) instantiating and running a trivial block (`echo` over one row) with a warm
//!     compiled cache: p50 and p99 over many calls, against the floor of instantiating
//!     and calling an empty component from the same pool;
//! (b) a pass-through block over 1 million rows, as Arrow IPC and as typed columns,
//!     against the built-in select block on the same data, alone (where the select,
//!     sharing its input's buffers, costs next to nothing) and as workflow steps, whose
//!     result is stored;
//! (c) compile time of the example plugins, cold and from the compiled cache.
//!
//! `cargo bench --workspace --bench plugin_block` (builds the guests first); add
//! `-- trivial` to run (a) alone, e.g. under a profiler.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use serde_json::json;
use vitrine_engine::blocks::{BlockConfig, BlockInput, execute};
use vitrine_engine::{Engine, EngineLimits};
use vitrine_plugins::peer::EmptyCall;
use vitrine_plugins::{Host, HostLimits, PortTable, RunOptions, guests};
use vitrine_storage::Store;

/// The server's allocator: with glibc's, every large column would be a fresh mapping
/// faulted in page by page, which the server never pays.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p) as usize]
}

fn table(rows: usize) -> (Arc<Schema>, Vec<RecordBatch>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, true),
    ]));
    let regions = ["West", "East", "Central", "South"];
    let mut batches = Vec::new();
    let mut start = 0;
    while start < rows {
        let n = (rows - start).min(65_536);
        let ids = start as i64..(start + n) as i64;
        batches.push(
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from_iter_values(ids.clone())),
                    Arc::new(StringArray::from_iter_values(
                        ids.clone().map(|i| regions[(i % 4) as usize]),
                    )),
                    Arc::new(Float64Array::from_iter(
                        ids.map(|i| (i % 10 != 0).then_some(i as f64 * 0.5)),
                    )),
                ],
            )
            .unwrap(),
        );
        start += n;
    }
    (schema, batches)
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let host = Host::new(HostLimits::default(), None).unwrap();

    // (a) A trivial block, compiled once, instantiated fresh for every call; against the
    // floor of an empty component instantiated from the same pool and called.
    let echo = host
        .load(&std::fs::read(guests::fixture("echo")).unwrap())
        .unwrap();
    let peer = EmptyCall::new(&host).unwrap();
    let (schema, batches) = table(1);
    let one = PortTable {
        port: "in".into(),
        schema,
        batches,
    };
    let calls_wanted = 20_000;
    for _ in 0..500 {
        host.run(&echo, &json!({}), vec![one.clone()], RunOptions::default())
            .unwrap();
        peer.call().unwrap();
    }
    let mut calls = Vec::with_capacity(calls_wanted);
    let mut floor = Vec::with_capacity(calls_wanted);
    for _ in 0..calls_wanted {
        let t = Instant::now();
        host.run(&echo, &json!({}), vec![one.clone()], RunOptions::default())
            .unwrap();
        calls.push(t.elapsed());
        let t = Instant::now();
        peer.call().unwrap();
        floor.push(t.elapsed());
    }
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let (p50, p99) = (
        micros(percentile(&mut calls, 0.5)),
        micros(percentile(&mut calls, 0.99)),
    );
    let (floor50, floor99) = (
        micros(percentile(&mut floor, 0.5)),
        micros(percentile(&mut floor, 0.99)),
    );
    println!("\n== (a) trivial block (echo, 1 row), warm compiled cache, {calls_wanted} calls ==");
    println!("instantiate + run: p50 {p50:.1} µs, p99 {p99:.1} µs");
    println!(
        "empty component, instantiate + call (the floor): p50 {floor50:.1} µs, p99 {floor99:.1} µs"
    );
    println!(
        "the host's own work per call: p50 {:.1} µs ({:.1}x the floor)",
        p50 - floor50,
        p50 / floor50
    );
    if std::env::args().any(|a| a == "trivial") {
        return;
    }

    // (b) One million rows through a pass-through block and through the built-in select.
    let rows = 1_000_000;
    let (schema, batches) = table(rows);
    let input = PortTable {
        port: "in".into(),
        schema: schema.clone(),
        batches: batches.clone(),
    };
    let ipc = host
        .load(&std::fs::read(guests::fixture("passthrough-ipc")).unwrap())
        .unwrap();
    // One call of a pass-through block over the million rows.
    let pass = |plugin: &vitrine_plugins::Plugin| {
        host.run(
            plugin,
            &json!({}),
            vec![input.clone()],
            RunOptions::default(),
        )
        .unwrap()
    };
    let mut via_ipc = Vec::new();
    let mut via_columns = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let out = pass(&ipc);
        via_ipc.push(t.elapsed());
        assert_eq!(out.outputs[0].rows(), rows);
        let t = Instant::now();
        let out = pass(&echo);
        via_columns.push(t.elapsed());
        assert_eq!(out.outputs[0].rows(), rows);
    }
    let select = BlockConfig::parse(
        "select",
        &json!({"columns": [{"column": "id"}, {"column": "region"}, {"column": "amount"}]}),
    )
    .unwrap();
    let shared = Arc::new(batches);
    let select_inputs = || {
        BTreeMap::from([(
            "in".to_owned(),
            BlockInput {
                schema: schema.clone(),
                batches: shared.clone(),
            },
        )])
    };
    let mut builtin = Vec::new();
    for _ in 0..5 {
        let inputs = select_inputs();
        let t = Instant::now();
        let out = execute(&select, inputs, None, usize::MAX).await.unwrap();
        builtin.push(t.elapsed());
        assert_eq!(out.rows(), rows);
    }
    // The same, as a workflow step costs: the block's result is also stored as a dataset
    // artifact (dictionary encoding, IPC, SHA-256; the file is written once).
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &format!("surrealkv://{}", dir.path().join("db").display()),
        &vitrine_storage::ArtifactConfig::in_data_dir(dir.path()),
    )
    .await
    .unwrap();
    let engine = Engine::new(store, EngineLimits::default());
    let mut step_builtin = Vec::new();
    let mut step_ipc = Vec::new();
    let mut step_columns = Vec::new();
    for _ in 0..5 {
        let inputs = select_inputs();
        let t = Instant::now();
        let out = execute(&select, inputs, None, usize::MAX).await.unwrap();
        engine
            .datasets
            .put(&out.schema, &out.batches)
            .await
            .unwrap();
        step_builtin.push(t.elapsed());
        let t = Instant::now();
        let out = pass(&ipc);
        let t0 = &out.outputs[0];
        engine.datasets.put(&t0.schema, &t0.batches).await.unwrap();
        step_ipc.push(t.elapsed());
        let t = Instant::now();
        let out = pass(&echo);
        let t0 = &out.outputs[0];
        engine.datasets.put(&t0.schema, &t0.batches).await.unwrap();
        step_columns.push(t.elapsed());
    }
    let step_builtin_ms = millis(percentile(&mut step_builtin, 0.5));
    let step_ipc_ms = millis(percentile(&mut step_ipc, 0.5));
    let step_columns_ms = millis(percentile(&mut step_columns, 0.5));
    let ipc_ms = millis(percentile(&mut via_ipc, 0.5));
    let columns_ms = millis(percentile(&mut via_columns, 0.5));
    let builtin_ms = millis(percentile(&mut builtin, 0.5));

    // (c) Compiling the example plugins, then loading them from the compiled cache.
    let mut compile = Vec::new();
    for name in ["zscore", "regex-extract"] {
        let bytes = std::fs::read(guests::example(name)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cold_host = Host::new(HostLimits::default(), Some(dir.path().into())).unwrap();
        let t = Instant::now();
        cold_host.load(&bytes).unwrap();
        let cold = t.elapsed();
        let warm_host = Host::new(HostLimits::default(), Some(dir.path().into())).unwrap();
        let t = Instant::now();
        warm_host.load(&bytes).unwrap();
        compile.push((name, bytes.len(), cold, t.elapsed()));
    }

    println!(
        "\n== (b) pass-through over {rows} rows (int64, text, float64 with nulls), median of 5 =="
    );
    println!("built-in select block:            {builtin_ms:.1} ms");
    println!(
        "plugin, Arrow IPC:                {ipc_ms:.1} ms ({:.2}x)",
        ipc_ms / builtin_ms
    );
    println!(
        "plugin, typed columns:            {columns_ms:.1} ms ({:.2}x)",
        columns_ms / builtin_ms
    );
    println!("as workflow steps (the block, then storing its result as a dataset artifact):");
    println!("built-in select block:            {step_builtin_ms:.1} ms");
    println!(
        "plugin, Arrow IPC:                {step_ipc_ms:.1} ms ({:.2}x)",
        step_ipc_ms / step_builtin_ms
    );
    println!(
        "plugin, typed columns:            {step_columns_ms:.1} ms ({:.2}x)",
        step_columns_ms / step_builtin_ms
    );
    println!("\n== (c) compile time of the example plugins ==");
    for (name, size, cold, cached) in compile {
        println!(
            "{name} ({} KiB): cold {:.0} ms, from the compiled cache {:.1} ms",
            size / 1024,
            millis(cold),
            millis(cached)
        );
    }
}
