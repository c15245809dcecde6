//! A block's result is a function of its inputs: the same inputs store the same bytes run
//! after run, so content addressing dedupes a forced refresh of unchanged data, nothing
//! downstream re-runs for nothing, and a report's cache survives. Blocks that pass rows
//! through keep the order they came in.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;
use serde_json::json;

use super::{Fixture, fixture, status};

/// More rows than one decoded batch holds (64 Ki), so every block sees several batches.
const ROWS: usize = 80_000;

fn orders_csv() -> String {
    let mut out = String::from("order_id,customer,region,amount\n");
    for i in 0..ROWS {
        let _ = writeln!(
            out,
            "{i},c{:03},{},{}.{:02}",
            (i * 7919) % 601,
            ["West", "East", "North", "South"][(i * 31) % 4],
            (i * 13) % 97,
            i % 100
        );
    }
    out
}

/// A project whose `files` location holds `orders.csv`.
async fn orders_fixture() -> Fixture {
    let f = fixture().await;
    std::fs::write(f.files.path().join("orders.csv"), orders_csv()).unwrap();
    f
}

async fn forced_run(f: &Fixture) -> BTreeMap<String, String> {
    let mut req = f.request(None);
    req.force = true;
    let run = f.run_to_end(req).await;
    assert_eq!(run.status.as_str(), "succeeded", "{:?}", run.blocks);
    f.store
        .block_states(&f.project)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.block_id, s.content_hash))
        .collect()
}

async fn column(f: &Fixture, hash: &str, name: &str) -> Vec<i64> {
    let t = f.engine.datasets.get(hash).await.unwrap();
    let i = t.schema.index_of(name).unwrap();
    t.batches
        .iter()
        .flat_map(|b| {
            let c = b.column(i).as_primitive::<Int64Type>();
            assert_eq!(c.null_count(), 0);
            c.values().to_vec()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_runs_over_the_same_data_store_the_same_bytes() {
    let f = orders_fixture().await;
    f.save(json!([
        {"id": "orders", "kind": "csv_source", "config": {"location": "files", "path": "orders.csv"}},
        {"id": "big", "kind": "filter", "config": {"condition": "amount > 20"}, "inputs": {"in": "orders"}},
        {"id": "by_customer", "kind": "aggregate", "config": {"group_by": ["customer", "region"], "measures": [
            {"column": "amount", "function": "sum", "name": "total"},
            {"column": "amount", "function": "avg", "name": "mean"},
            {"function": "count", "name": "n"}]}, "inputs": {"in": "big"}},
        {"id": "joined", "kind": "join", "config": {"how": "left", "on": [{"left": "customer", "right": "customer"}]},
            "inputs": {"left": "orders", "right": "by_customer"}},
        {"id": "by_region", "kind": "sort", "config": {"by": [{"column": "region"}]}, "inputs": {"in": "big"}},
        {"id": "both", "kind": "union", "config": {}, "inputs": {"a": "big", "b": "orders"}},
        {"id": "regions", "kind": "union", "config": {"distinct": true}, "inputs": {"a": "big", "b": "orders"}},
        {"id": "taxed", "kind": "formula", "config": {"name": "gross", "expression": "amount * 1.2"}, "inputs": {"in": "big"}},
        {"id": "sql_group", "kind": "sql", "config": {"query": "SELECT region, customer, sum(amount) AS s FROM t GROUP BY region, customer"}, "inputs": {"t": "orders"}},
        {"id": "sql_union", "kind": "sql", "config": {"query": "SELECT customer, count(*) AS n, sum(amount) AS s FROM (SELECT customer, amount FROM a UNION ALL SELECT customer, amount FROM b) u GROUP BY customer"}, "inputs": {"a": "big", "b": "orders"}},
        {"id": "sql_window", "kind": "sql", "config": {"query": "SELECT order_id, sum(amount) OVER (PARTITION BY region ORDER BY order_id) AS running FROM t"}, "inputs": {"t": "orders"}},
    ]))
    .await;
    let first = forced_run(&f).await;
    assert_eq!(first.len(), 11, "{first:?}");
    for round in 1..=2 {
        let again = forced_run(&f).await;
        let differ: Vec<&String> = first
            .iter()
            .filter(|(b, h)| again.get(*b) != Some(h))
            .map(|(b, _)| b)
            .collect();
        assert!(
            differ.is_empty(),
            "forced run {round} stored different results for {differ:?}"
        );
    }
    // A plain refresh afterwards finds everything up to date.
    let run = f.run(None).await;
    assert_eq!(status(&run, "sql_union"), "up_to_date");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_that_pass_rows_through_keep_their_order() {
    let f = orders_fixture().await;
    f.save(json!([
        {"id": "orders", "kind": "csv_source", "config": {"location": "files", "path": "orders.csv"}},
        {"id": "big", "kind": "filter", "config": {"condition": "amount > 20"}, "inputs": {"in": "orders"}},
        {"id": "picked", "kind": "select", "config": {"columns": [{"column": "order_id"}, {"column": "amount"}]}, "inputs": {"in": "big"}},
        {"id": "taxed", "kind": "formula", "config": {"name": "gross", "expression": "amount * 1.2"}, "inputs": {"in": "picked"}},
        {"id": "small", "kind": "filter", "config": {"condition": "amount <= 20"}, "inputs": {"in": "orders"}},
        {"id": "both", "kind": "union", "config": {}, "inputs": {"a": "big", "b": "small"}},
    ]))
    .await;
    let hashes = forced_run(&f).await;
    let ascending = |v: &[i64]| v.windows(2).all(|w| w[0] < w[1]);
    for block in ["big", "picked", "taxed", "small"] {
        let ids = column(&f, &hashes[block], "order_id").await;
        assert!(ids.len() > 10_000, "{block}: {}", ids.len());
        assert!(ascending(&ids), "{block} reordered its rows");
    }
    // A union lists its first input's rows, then the next one's.
    let big = column(&f, &hashes["big"], "order_id").await;
    let small = column(&f, &hashes["small"], "order_id").await;
    let both = column(&f, &hashes["both"], "order_id").await;
    assert_eq!(both.len(), ROWS);
    assert_eq!(both[..big.len()], big[..]);
    assert_eq!(both[big.len()..], small[..]);
}
