//! Engine benchmark, compared in the same run with DuckDB (`pip install duckdb`):
//! (a) a tile query "sum of a measure by a dimension of 1,000 values" over 10 million
//!     rows, cold (dataset not in memory, no cached result) and warm (cached result);
//! (b) CSV ingest throughput;
//! (c) warm-up time of a 20-tile report.
//!
//! `cargo bench -p vitrine-engine --bench tile_query` (rows: `VITRINE_BENCH_ROWS`).

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use serde_json::json;
use vitrine_engine::report::{ReportDefinition, TileQuery};
use vitrine_engine::{Engine, EngineLimits, FileFormat, QuerySpec, Scope};
use vitrine_storage::{DatasetRecord, ReportRecord, Store, new_uid, now_ms};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn generate(rows: usize) -> (Arc<Schema>, Vec<RecordBatch>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer", DataType::Utf8, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, false),
    ]));
    let names: Vec<String> = (0..1000).map(|i| format!("customer-{i:04}")).collect();
    let regions = ["West", "East", "Central", "South"];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut batches = Vec::new();
    let mut left = rows;
    while left > 0 {
        let n = left.min(65_536);
        let mut c = Vec::with_capacity(n);
        let mut r = Vec::with_capacity(n);
        let mut a = Vec::with_capacity(n);
        for _ in 0..n {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            c.push(names[(state % 1000) as usize].as_str());
            r.push(regions[((state >> 20) % 4) as usize]);
            a.push(((state >> 32) % 100_000) as f64 / 100.0);
        }
        batches.push(
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(c)),
                    Arc::new(StringArray::from(r)),
                    Arc::new(Float64Array::from(a)),
                ],
            )
            .unwrap(),
        );
        left -= n;
    }
    (schema, batches)
}

fn tile(dimension: &str, measure: &str) -> TileQuery {
    serde_json::from_value(json!({
        "dataset": "facts",
        "dimensions": [dimension],
        "measures": [{"column": "amount", "function": measure, "name": "amount"}]
    }))
    .unwrap()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let rows: usize = std::env::var("VITRINE_BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &format!("surrealkv://{}", dir.path().join("db").display()),
        &vitrine_storage::ArtifactConfig::in_data_dir(dir.path()),
    )
    .await
    .unwrap();
    println!("generating {rows} rows");
    let (schema, batches) = generate(rows);

    // Peer files: Parquet for the query, CSV for ingest (a tenth of the rows).
    let parquet = dir.path().join("facts.parquet");
    std::fs::write(
        &parquet,
        vitrine_engine::blocks::encode_file(FileFormat::Parquet, &schema, &batches).unwrap(),
    )
    .unwrap();
    let csv_rows: Vec<RecordBatch> = batches
        .iter()
        .take(batches.len().div_ceil(10))
        .cloned()
        .collect();
    let csv_bytes =
        vitrine_engine::blocks::encode_file(FileFormat::Csv, &schema, &csv_rows).unwrap();
    let csv = dir.path().join("facts.csv");
    std::fs::write(&csv, &csv_bytes).unwrap();

    // (a) cold and warm tile query.
    let mut cold = Vec::new();
    let mut load = Vec::new();
    let mut hash = String::new();
    let mut size = 0;
    for _ in 0..5 {
        let engine = Engine::new(store.clone(), EngineLimits::default());
        let (h, s) = engine.datasets.put(&schema, &batches).await.unwrap();
        (hash, size) = (h, s);
        let engine = Engine::new(store.clone(), EngineLimits::default());
        let ds = dataset(&hash, rows, size);
        let q = tile("customer", "sum");
        let t = Instant::now();
        engine.datasets.get(&hash).await.unwrap();
        let loaded = t.elapsed().as_secs_f64() * 1000.0;
        let r = engine
            .query(
                &ds,
                &QuerySpec {
                    query: &q,
                    report_filters: &[],
                    drill: None,
                    scope: &Scope::unrestricted(),
                },
            )
            .await
            .unwrap();
        cold.push(t.elapsed().as_secs_f64() * 1000.0);
        println!(
            "  cold run: load {loaded:.1} ms, load + query {:.1} ms",
            cold.last().unwrap()
        );
        assert_eq!(r.rows(), 1000);
        // The load alone, which is most of a cold query.
        let fresh = Engine::new(store.clone(), EngineLimits::default());
        let t = Instant::now();
        fresh.datasets.get(&hash).await.unwrap();
        load.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let file = dir
        .path()
        .join("artifacts")
        .join(vitrine_storage::Artifact::Dataset(&hash).path());
    let mut raw = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let b = std::fs::read(&file).unwrap();
        raw.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(b.len(), size);
    }
    println!("raw read of the artifact: {:.1} ms", median(raw));
    let engine = Engine::new(store.clone(), EngineLimits::default());
    let ds = dataset(&hash, rows, size);
    let q = tile("customer", "sum");
    let spec = QuerySpec {
        query: &q,
        report_filters: &[],
        drill: None,
        scope: &Scope::unrestricted(),
    };
    engine.query(&ds, &spec).await.unwrap();
    let mut warm = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        engine.query(&ds, &spec).await.unwrap();
        warm.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    // In memory but not cached: a scope no one asked for before, each time.
    let mut hot = Vec::new();
    for i in 0..5 {
        let scope = Scope {
            rules: Some(vec![(
                "region".into(),
                vec!["West".into(), format!("x{i}")],
            )]),
        };
        let s = QuerySpec {
            scope: &scope,
            ..spec.clone()
        };
        let t = Instant::now();
        engine.query(&ds, &s).await.unwrap();
        hot.push(t.elapsed().as_secs_f64() * 1000.0);
    }

    // (b) CSV ingest.
    let mut ingest = Vec::new();
    for _ in 0..3 {
        let bytes = bytes::Bytes::from(csv_bytes.clone());
        let t = Instant::now();
        let d = tokio::task::spawn_blocking(move || {
            vitrine_engine::blocks::decode_file(FileFormat::Csv, bytes, None).unwrap()
        })
        .await
        .unwrap();
        ingest.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(!d.batches.is_empty());
    }
    let ingest_ms = median(ingest);

    // (c) warm-up of a 20-tile report.
    let project = ds.project_uid.clone();
    store.put_dataset(&ds).await.unwrap();
    let dims = ["customer", "region"];
    let fns = [
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "count_distinct",
        "sum",
        "avg",
        "min",
        "max",
    ];
    let tiles: Vec<_> = (0..20)
        .map(|i| {
            json!({"id": format!("t{i}"), "title": format!("Tile {i}"), "kind": "bar",
                   "query": {"dataset": "facts", "dimensions": [dims[i % 2]], "measures": [{"column": "amount", "function": fns[i / 2], "name": "v"}]}})
        })
        .collect();
    let def = json!({"tabs": [{"id": "main", "title": "Main", "tiles": tiles}]});
    let def = ReportDefinition::parse(&def).unwrap();
    store
        .insert_report(&ReportRecord {
            uid: new_uid().into(),
            project_uid: project.clone(),
            name: "Bench".into(),
            definition: def,
            created_ms: now_ms(),
            updated_ms: now_ms(),
        })
        .await
        .unwrap();
    let fresh = Engine::new(store.clone(), EngineLimits::default());
    let t = Instant::now();
    let summary = fresh
        .warm_up(&project, &|_| vec![Scope::unrestricted()])
        .await
        .unwrap();
    let warm_up_ms = t.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(summary.entries, 20, "{:?}", summary.failures);

    let peer = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/duckdb_peer.py"
        ))
        .arg(&parquet)
        .arg(&csv)
        .arg(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .to_string(),
        )
        .output();
    let peer: Option<serde_json::Value> = match peer {
        Ok(o) if o.status.success() => serde_json::from_slice(&o.stdout).ok(),
        Ok(o) => {
            eprintln!("duckdb peer failed: {}", String::from_utf8_lossy(&o.stderr));
            None
        }
        Err(e) => {
            eprintln!("duckdb peer not run: {e}");
            None
        }
    };
    let p = |k: &str| {
        peer.as_ref()
            .and_then(|v| v[k].as_f64())
            .map(|x| format!("{x:.1}"))
            .unwrap_or_else(|| "n/a".into())
    };
    let csv_mb = csv_bytes.len() as f64 / 1e6;
    println!("\n== tile query: sum(amount) by customer (1,000 values), {rows} rows ==");
    println!(
        "vitrine cold (artifact -> memory -> aggregate), median of 5: {:.1} ms",
        median(cold)
    );
    println!(
        "vitrine loading the {:.0} MB artifact into memory, median of 5: {:.1} ms",
        size as f64 / 1e6,
        median(load)
    );
    println!(
        "vitrine in memory, uncached, scope keeps 1/4 of rows, median of 5: {:.1} ms",
        median(hot)
    );
    println!(
        "vitrine warm (cached result), median of 200:                 {:.3} ms",
        median(warm)
    );
    println!(
        "duckdb cold (fresh connection, parquet file), median of 5:   {} ms",
        p("cold_parquet_ms")
    );
    println!(
        "duckdb warm (native table), median of 20:                    {} ms",
        p("warm_table_ms")
    );
    println!("\n== CSV ingest: {csv_mb:.1} MB ==");
    println!(
        "vitrine: {:.1} ms, {:.0} MB/s",
        ingest_ms,
        csv_mb / (ingest_ms / 1000.0)
    );
    println!(
        "duckdb:  {} ms, {} MB/s",
        p("csv_ingest_ms"),
        p("csv_ingest_mb_s")
    );
    println!("\n== warm-up of a 20-tile report over {rows} rows ==");
    println!(
        "vitrine: {warm_up_ms:.0} ms ({} cache entries)",
        summary.entries
    );
}

fn dataset(hash: &str, rows: usize, size: usize) -> DatasetRecord {
    DatasetRecord {
        uid: new_uid().into(),
        project_uid: "bench".into(),
        name: "facts".into(),
        block_id: "publish".into(),
        content_hash: hash.to_owned(),
        schema: json!([]),
        rows: rows as i64,
        bytes: size as i64,
        published_ms: now_ms(),
        connections: vec![],
    }
}
