//! Workflows and reports written and read through the typed GraphQL definitions
//! (`blocks` with a configuration per kind; `tabs` and `filters`), beside the deprecated
//! JSON, which is still accepted and means the same.

use serde_json::{Value, json};

use super::{RUN, SAVE, data_world, pipeline, report_definition};
use crate::support::*;

const SAVE_TYPED: &str = "mutation($p:ID!,$b:[BlockInput!],$w:JSON){saveWorkflow(projectId:$p,blocks:$b,workflow:$w,\
    parameters:[{name:\"input\",value:\"in/superstore.csv\"}]){version}}";

const READ_TYPED: &str = "query($p:ID!){workflow(projectId:$p){version blocks{id kind inputs{port source} \
    configuration{csvSource{location path header delimiter onError columns{name type}} filter{condition} \
    aggregate{groupBy measures{column function name}} publish{dataset} writeFile{location path format} \
    sort{by{column descending} limit} inlineRows{columns{name type} rows} plugin{plugin version settings timeLimitMs}}}}}";

const TABS: &str = "tabs{id title tiles{id title kind query{dataset dimensions measures{column function name} \
    filters{column op values} sort{column descending} limit}}} filters{id label column dataset op default}";

/// [`pipeline`], written typed.
fn typed_pipeline() -> Value {
    json!([
        {"id": "orders", "configuration": {"csvSource": {"location": "files", "path": "${input}"}}},
        {"id": "big", "inputs": [{"port": "in", "source": "orders"}],
         "configuration": {"filter": {"condition": "sales > 0"}}},
        {"id": "by_region", "inputs": [{"port": "in", "source": "big"}],
         "configuration": {"aggregate": {"groupBy": ["region"], "measures": [
            {"column": "sales", "function": "SUM", "name": "sales"},
            {"function": "COUNT", "name": "orders"}]}}},
        {"id": "publish_regions", "inputs": [{"port": "in", "source": "by_region"}],
         "configuration": {"publish": {"dataset": "regions"}}},
        {"id": "publish_orders", "inputs": [{"port": "in", "source": "orders"}],
         "configuration": {"publish": {"dataset": "orders"}}},
        {"id": "export", "inputs": [{"port": "in", "source": "by_region"}],
         "configuration": {"writeFile": {"location": "files", "path": "out/regions.parquet", "format": "PARQUET"}}},
    ])
}

/// [`report_definition`], written typed.
fn typed_tabs() -> Value {
    json!([{"id": "overview", "title": "Overview", "tiles": [
        {"id": "by_region", "title": "Sales by region", "kind": "BAR",
         "query": {"dataset": "orders", "dimensions": ["region"],
                   "measures": [{"column": "sales", "function": "SUM", "name": "sales"}]}},
        {"id": "total", "title": "Orders", "kind": "KPI",
         "query": {"dataset": "orders", "measures": [{"function": "COUNT", "name": "orders"},
                   {"column": "state", "function": "COUNT_DISTINCT", "name": "states"}]}},
        {"id": "rows", "title": "Orders", "kind": "TABLE",
         "query": {"dataset": "orders", "dimensions": ["order_id", "region", "sales"],
                   "sort": [{"column": "sales", "descending": true}], "limit": 5}}
    ]}])
}

fn typed_filters() -> Value {
    json!([{"id": "segment", "label": "Segment", "column": "segment"}])
}

fn block<'a>(w: &'a Value, id: &str) -> &'a Value {
    w["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == id)
        .unwrap_or_else(|| panic!("no block {id} in {w}"))
}

/// A workflow saved typed reads back typed, defaults written out, and runs; a report
/// created typed reads back as a report created from JSON does; a partial update keeps
/// what it leaves out.
#[tokio::test]
async fn workflows_and_reports_are_written_and_read_typed() {
    let w = data_world().await;
    let (s, ed) = (&w.s, &w.editor);
    let r = s
        .gql(
            &ed.auth,
            SAVE_TYPED,
            json!({"p": w.project, "b": typed_pipeline()}),
        )
        .await;
    assert_eq!(data(&r)["saveWorkflow"]["version"], 1, "{r}");
    let r = s.gql(&ed.auth, READ_TYPED, json!({"p": w.project})).await;
    let wf = &data(&r)["workflow"];
    let csv = &block(wf, "orders")["configuration"];
    assert_eq!(
        csv["csvSource"],
        json!({"location": "files", "path": "${input}", "header": true, "delimiter": ",",
               "onError": "FAIL", "columns": null}),
        "defaults are written out"
    );
    assert_eq!(csv["filter"], Value::Null, "only the kind's field is set");
    assert_eq!(block(wf, "orders")["kind"], "csv_source");
    let agg = &block(wf, "by_region")["configuration"]["aggregate"];
    assert_eq!(
        agg["measures"][1],
        json!({"column": null, "function": "COUNT", "name": "orders"})
    );
    assert_eq!(
        block(wf, "big")["inputs"],
        json!([{"port": "in", "source": "orders"}])
    );
    assert_eq!(
        block(wf, "export")["configuration"]["writeFile"]["format"],
        "PARQUET"
    );
    let run = s.gql(&ed.auth, RUN, json!({"p": w.project})).await;
    assert_eq!(data(&run)["runWorkflow"]["status"], "succeeded", "{run}");

    // The same graph sent as deprecated JSON reads back with the same configurations.
    let typed_blocks = wf["blocks"].clone();
    let r = s
        .gql(
            &ed.auth,
            SAVE,
            json!({"p": w.project, "w": pipeline(0.0), "v": 1}),
        )
        .await;
    data(&r);
    let r = s.gql(&ed.auth, READ_TYPED, json!({"p": w.project})).await;
    assert_eq!(data(&r)["workflow"]["blocks"], typed_blocks);

    // A report created typed, and one created from the JSON, read back alike.
    let create = format!(
        "mutation($p:ID!,$t:[TabInput!],$f:[ReportFilterInput!],$d:JSON){{createReport(projectId:$p,\
         name:\"Sales\",tabs:$t,filters:$f,definition:$d){{id {TABS}}}}}"
    );
    let typed = s
        .gql(
            &ed.auth,
            &create,
            json!({"p": w.project, "t": typed_tabs(), "f": typed_filters()}),
        )
        .await;
    let typed = data(&typed)["createReport"].clone();
    let from_json = s
        .gql(
            &ed.auth,
            &create,
            json!({"p": w.project, "d": report_definition()}),
        )
        .await;
    let from_json = data(&from_json)["createReport"].clone();
    assert_eq!(typed["tabs"], from_json["tabs"]);
    assert_eq!(typed["filters"], from_json["filters"]);
    assert_eq!(typed["tabs"][0]["tiles"][0]["kind"], "BAR");
    assert_eq!(
        typed["filters"][0],
        json!({"id": "segment", "label": "Segment", "column": "segment", "dataset": null,
               "op": "IN", "default": []}),
        "a filter's operator defaults to IN"
    );
    let id = typed["id"].as_str().unwrap();
    let tile = s
        .gql(
            &ed.auth,
            super::TILE,
            json!({"r": id, "t": "by_region", "f": [{"filter": "segment", "values": ["Consumer"]}]}),
        )
        .await;
    assert!(
        !data(&tile)["tileResult"]["rows"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{tile}"
    );

    // Sending back what was read is a no-op; replacing only the filters keeps the tabs.
    let update = format!(
        "mutation($r:ID!,$t:[TabInput!],$f:[ReportFilterInput!]){{updateReport(id:$r,tabs:$t,filters:$f){{{TABS}}}}}"
    );
    let r = s
        .gql(
            &ed.auth,
            &update,
            json!({"r": id, "t": typed["tabs"], "f": typed["filters"]}),
        )
        .await;
    assert_eq!(data(&r)["updateReport"]["tabs"], typed["tabs"]);
    let region = json!([{"id": "region", "label": "Region", "column": "region", "op": "IN",
                         "default": ["West"]}]);
    let r = s
        .gql(&ed.auth, &update, json!({"r": id, "f": region}))
        .await;
    let updated = &data(&r)["updateReport"];
    assert_eq!(updated["tabs"], typed["tabs"], "tabs left out are kept");
    assert_eq!(updated["filters"][0]["id"], "region");
    assert_eq!(updated["filters"][0]["default"], json!(["West"]));
}

/// Bad typed input: a clear error with a stable code and the typed field's path, and
/// nothing saved.
#[tokio::test]
async fn bad_typed_definitions_are_refused_by_field() {
    let w = data_world().await;
    let (s, ed, project) = (&w.s, &w.editor, &w.project);
    let version = || async {
        let r = s
            .gql(
                &ed.auth,
                "query($p:ID!){workflow(projectId:$p){version}}",
                json!({"p": project}),
            )
            .await;
        data(&r)["workflow"]["version"].clone()
    };
    let before = version().await;
    let path = |r: &Value| r["errors"][0]["extensions"]["path"].clone();
    let save = |vars: Value| async move {
        let mut v = vars;
        v["p"] = json!(project);
        s.gql(&ed.auth, SAVE_TYPED, v).await
    };

    // Both forms, or neither.
    let r = save(json!({"b": typed_pipeline(), "w": pipeline(0.0)})).await;
    assert_eq!(
        (code(&r), path(&r)),
        ("INVALID_INPUT".into(), json!("workflow")),
        "{r}"
    );
    let r = save(json!({})).await;
    assert_eq!(
        (code(&r), path(&r)),
        ("INVALID_INPUT".into(), json!("blocks")),
        "{r}"
    );
    // A configuration naming two kinds.
    let two = json!([{"id": "a", "configuration": {"sql": {"query": "select 1"},
                                                   "filter": {"condition": "x"}}}]);
    let r = save(json!({"b": two})).await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    assert!(message(&r).contains("exactly one"), "{r}");
    // A rule beyond the types (sort by at least one column): the typed field's path.
    let mut bad = typed_pipeline();
    bad.as_array_mut().unwrap().push(
        json!({"id": "top", "inputs": [{"port": "in", "source": "big"}],
        "configuration": {"sort": {"by": []}}}),
    );
    let r = save(json!({"b": bad})).await;
    assert_eq!(code(&r), "INVALID_WORKFLOW", "{r}");
    assert_eq!(path(&r), json!("blocks[top].configuration.sort.by"), "{r}");
    assert!(message(&r).contains("configuration.sort.by"), "{r}");
    // A port given twice.
    let twice = json!([{"id": "f", "inputs": [{"port": "in", "source": "a"}, {"port": "in", "source": "b"}],
        "configuration": {"filter": {"condition": "x"}}}]);
    let r = save(json!({"b": twice})).await;
    assert_eq!(
        (code(&r), path(&r)),
        ("INVALID_INPUT".into(), json!("blocks[0].inputs")),
        "{r}"
    );
    // A cell value must be a scalar.
    let rows = json!([{"id": "t", "configuration": {"inlineRows": {
        "columns": [{"name": "x", "type": "TEXT"}], "rows": [[{"nested": 1}]]}}}]);
    let r = save(json!({"b": rows})).await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    assert!(message(&r).contains("a cell value is a string"), "{r}");
    assert_eq!(version().await, before, "nothing was saved");

    // A viewer may not save a workflow or create a report, typed or not.
    let r = s
        .gql(
            &w.west.auth,
            SAVE_TYPED,
            json!({"p": w.project, "b": typed_pipeline()}),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let create = "mutation($p:ID!,$t:[TabInput!],$d:JSON){createReport(projectId:$p,name:\"R\",tabs:$t,definition:$d){id}}";
    let r = s
        .gql(
            &w.west.auth,
            create,
            json!({"p": w.project, "t": typed_tabs()}),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");

    // Reports: a dataset the workflow does not publish is refused at save, by field;
    // both forms at once are refused.
    data(&save(json!({"b": typed_pipeline()})).await);
    let mut tabs = typed_tabs();
    tabs[0]["tiles"][1]["query"]["dataset"] = json!("nowhere");
    let r = s
        .gql(&ed.auth, create, json!({"p": w.project, "t": tabs}))
        .await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    assert!(message(&r).contains("nowhere"), "{r}");
    let r = s
        .gql(
            &ed.auth,
            create,
            json!({"p": w.project, "t": typed_tabs(), "d": report_definition()}),
        )
        .await;
    assert_eq!(
        (code(&r), path(&r)),
        ("INVALID_INPUT".into(), json!("definition")),
        "{r}"
    );
    let mut tabs = typed_tabs();
    tabs[0]["tiles"][0]["id"] = json!("Bad Id");
    let r = s
        .gql(&ed.auth, create, json!({"p": w.project, "t": tabs}))
        .await;
    assert_eq!(
        (code(&r), path(&r)),
        ("INVALID_INPUT".into(), json!("tabs[0].tiles[0].id")),
        "{r}"
    );
    let r = s
        .gql(
            &ed.auth,
            "query($p:ID!){reports(projectId:$p){id}}",
            json!({"p": w.project}),
        )
        .await;
    assert_eq!(data(&r)["reports"], json!([]), "no report was created");
}

/// A resource location written typed (`storage: {fs: {root}}`): read back typed, bad input
/// refused by the typed field, admins only.
#[tokio::test]
async fn resource_locations_are_written_and_read_typed() {
    let w = data_world().await;
    let s = &w.s;
    let dir = tempfile::tempdir().unwrap();
    let create = "mutation($n:String!,$s:LocationStorageInput,$d:JSON){createResourceLocation(name:$n,\
        storage:$s,definition:$d){name storage{fs{root} s3{bucket}}}}";
    let root = dir.path().to_str().unwrap();
    let r = s
        .gql(
            &w.admin.auth,
            create,
            json!({"n": "typed", "s": {"fs": {"root": root}}}),
        )
        .await;
    assert_eq!(
        data(&r)["createResourceLocation"]["storage"],
        json!({"fs": {"root": root}, "s3": null})
    );
    // Read back the same way as a location made from JSON (data_world's `files`).
    let r = s
        .gql(
            &w.admin.auth,
            "{resourceLocations{name storage{fs{root}}}}",
            json!({}),
        )
        .await;
    let all = data(&r)["resourceLocations"].as_array().unwrap().clone();
    assert!(
        all.iter()
            .any(|l| l["name"] == "files" && l["storage"]["fs"]["root"].is_string()),
        "{all:?}"
    );

    let path = |r: &Value| r["errors"][0]["extensions"]["path"].clone();
    let r = s
        .gql(
            &w.admin.auth,
            create,
            json!({"n": "relative", "s": {"fs": {"root": "data/here"}}}),
        )
        .await;
    assert_eq!(
        (code(&r), path(&r)),
        ("INVALID_INPUT".into(), json!("storage.fs.root")),
        "{r}"
    );
    let r = s
        .gql(
            &w.admin.auth,
            create,
            json!({"n": "both", "s": {"fs": {"root": root}}, "d": {"kind": "fs", "root": root}}),
        )
        .await;
    assert_eq!(
        (code(&r), path(&r)),
        ("INVALID_INPUT".into(), json!("storage")),
        "{r}"
    );
    let r = s
        .gql(
            &w.admin.auth,
            create,
            json!({"n": "two", "s": {"fs": {"root": root}, "s3": {"bucket": "b"}}}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    // Editors may not define locations.
    let r = s
        .gql(
            &w.editor.auth,
            create,
            json!({"n": "mine", "s": {"fs": {"root": root}}}),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
}
