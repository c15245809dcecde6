//! The grouped path against DataFusion's hash aggregation on the same queries.

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use serde_json::{Value, json};

use super::{QuerySpec, Scope, grouped::Grouped, run_query_by};
use crate::datasets::{Table, dictionary_encode};
use vitrine_core::report::{Condition, TileQuery};

/// Twelve thousand rows over three batches, with nulls in keys and values.
fn table() -> Table {
    let schema = Arc::new(Schema::new(vec![
        Field::new("region", DataType::Utf8, true),
        Field::new("product", DataType::Utf8, false),
        Field::new("qty", DataType::Int32, true),
        Field::new("price", DataType::Float64, true),
        Field::new("units", DataType::Int64, false),
    ]));
    let regions = ["West", "East", "Central", "South"];
    let batches: Vec<RecordBatch> = (0..3)
        .map(|b| {
            let rows = 0..4000usize;
            let at = move |i: usize| b * 4000 + i;
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from_iter(
                        rows.clone()
                            .map(|i| (at(i) % 11 != 0).then(|| regions[at(i) % 4])),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        rows.clone().map(|i| format!("p{}", at(i) * 7 % 30)),
                    )),
                    Arc::new(Int32Array::from_iter(
                        rows.clone()
                            .map(|i| (at(i) % 13 != 0).then_some((at(i) % 50) as i32 - 10)),
                    )),
                    Arc::new(Float64Array::from_iter(rows.clone().map(|i| {
                        (at(i) % 17 != 0 && at(i) % 4 != 3).then_some((at(i) % 997) as f64 / 8.0)
                    }))),
                    Arc::new(Int64Array::from_iter_values(
                        rows.map(|i| (at(i) as i64 % 9) * 1_000_000_007),
                    )),
                ],
            )
            .unwrap()
        })
        .collect();
    let (schema, batches) = dictionary_encode(&schema, &batches);
    assert!(matches!(
        schema.field(0).data_type(),
        DataType::Dictionary(..)
    ));
    Table {
        schema,
        batches: Arc::new(batches),
        bytes: 0,
    }
}

fn query(v: Value) -> TileQuery {
    serde_json::from_value(v).unwrap()
}

fn close(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

/// Both paths, their rows and their schemas equal (floats up to summation order).
async fn same(table: &Table, q: &TileQuery, filters: &[Condition], scope: &Scope) -> usize {
    assert!(
        Grouped::plan(table, &q.dimensions, &q.measures).is_some(),
        "{q:?} should take the grouped path"
    );
    let spec = QuerySpec {
        query: q,
        report_filters: filters,
        drill: None,
        scope,
    };
    let fast = run_query_by(table, &spec, true).await.unwrap();
    let slow = run_query_by(table, &spec, false).await.unwrap();
    assert_eq!(fast.schema, slow.schema, "{q:?}");
    let (a, b) = (fast.json_rows().unwrap(), slow.json_rows().unwrap());
    assert_eq!(a.len(), b.len(), "{q:?}");
    for (x, y) in a.iter().zip(&b) {
        assert!(
            x.iter().zip(y).all(|(p, q)| close(p, q)),
            "{q:?}: {x:?} != {y:?}"
        );
    }
    a.len()
}

#[tokio::test]
async fn grouped_path_answers_like_datafusion() {
    let t = table();
    let all = Scope::unrestricted();
    let by_region = query(json!({"dataset": "d", "dimensions": ["region"],
        "measures": [{"column": "price", "function": "sum", "name": "s"}]}));
    assert_eq!(
        same(&t, &by_region, &[], &all).await,
        5,
        "four regions and null"
    );
    let many = query(
        json!({"dataset": "d", "dimensions": ["region", "product"], "measures": [
        {"column": "qty", "function": "avg"}, {"column": "price", "function": "min"},
        {"column": "price", "function": "max"}, {"column": "qty", "function": "min"},
        {"column": "qty", "function": "max"}, {"column": "qty", "function": "sum"},
        {"column": "price", "function": "count"}, {"function": "count", "name": "rows"},
        {"column": "units", "function": "sum"}]}),
    );
    assert!(same(&t, &many, &[], &all).await > 30);
    let kpi = query(json!({"dataset": "d", "measures": [
        {"column": "units", "function": "sum"}, {"column": "price", "function": "avg"},
        {"column": "qty", "function": "min"}, {"function": "count", "name": "rows"}]}));
    assert_eq!(same(&t, &kpi, &[], &all).await, 1);

    // Filters, report filters and an access scope cut rows before aggregating.
    let filtered = query(json!({"dataset": "d", "dimensions": ["product"],
        "measures": [{"column": "price", "function": "avg"}, {"function": "count", "name": "n"}],
        "filters": [{"column": "qty", "op": "gt", "values": [5]}]}));
    let report: Vec<Condition> = serde_json::from_value(
        json!([{"column": "region", "op": "in", "values": ["West", "East"]}]),
    )
    .unwrap();
    let scope = Scope {
        rules: Some(vec![(
            "product".into(),
            vec!["p1".into(), "p2".into(), "p7".into()],
        )]),
    };
    assert_eq!(same(&t, &filtered, &report, &scope).await, 3);

    // Nothing matches: no groups, or one group of nulls and zero counts without dimensions.
    let none: Vec<Condition> =
        serde_json::from_value(json!([{"column": "region", "op": "eq", "values": ["Nowhere"]}]))
            .unwrap();
    assert_eq!(same(&t, &by_region, &none, &all).await, 0);
    assert_eq!(same(&t, &kpi, &none, &all).await, 1);
}

#[test]
fn queries_that_do_not_fit_take_datafusion() {
    let t = table();
    let plan = |v: Value| {
        let q = query(v);
        Grouped::plan(&t, &q.dimensions, &q.measures).is_some()
    };
    assert!(!plan(json!({"dataset": "d", "dimensions": ["region"],
        "measures": [{"column": "price", "function": "count_distinct"}]})));
    assert!(
        !plan(json!({"dataset": "d", "dimensions": ["qty"],
        "measures": [{"column": "price", "function": "sum"}]})),
        "not dictionary text"
    );
    assert!(
        !plan(json!({"dataset": "d", "dimensions": ["region"],
        "measures": [{"column": "product", "function": "min"}]})),
        "min of text"
    );
    // Dictionaries that differ per batch do not number groups.
    let mut batches = t.batches.as_ref().clone();
    let recoded = datafusion::arrow::compute::cast(
        &datafusion::arrow::compute::cast(batches[1].column(0), &DataType::Utf8).unwrap(),
        t.schema.field(0).data_type(),
    )
    .unwrap();
    let mut cols = batches[1].columns().to_vec();
    cols[0] = recoded;
    batches[1] = RecordBatch::try_new(t.schema.clone(), cols).unwrap();
    let split = Table {
        schema: t.schema.clone(),
        batches: Arc::new(batches),
        bytes: 0,
    };
    let q = query(
        json!({"dataset": "d", "dimensions": ["region"], "measures": [{"function": "count"}]}),
    );
    assert!(Grouped::plan(&t, &q.dimensions, &q.measures).is_some());
    assert!(Grouped::plan(&split, &q.dimensions, &q.measures).is_none());
}
