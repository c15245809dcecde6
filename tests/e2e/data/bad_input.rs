//! Bad workflows, bad data and bad reports: clear errors, nothing stored.

use serde_json::{Value, json};

use super::*;
use crate::support::*;

#[tokio::test]
async fn bad_workflows_and_data_get_clear_errors() {
    let w = data_world().await;
    let s = &w.s;
    let save = SAVE_WORKFLOW;
    let refused = |w: Value, code_: &str, needle: &str, r: Value| {
        assert_eq!(code(&r), code_, "{w}: {r}");
        let msg = r["errors"][0]["message"].as_str().unwrap().to_owned();
        assert!(msg.contains(needle), "expected `{needle}` in `{msg}`");
    };
    let cases = [
        (
            json!({"blocks": [
            {"id": "a", "kind": "filter", "config": {"condition": "true"}, "inputs": {"in": "b"}},
            {"id": "b", "kind": "filter", "config": {"condition": "true"}, "inputs": {"in": "a"}}]}),
            "cycle through blocks a, b",
        ),
        (
            json!({"blocks": [{"id": "a", "kind": "filter", "config": {"condition": "true"}, "inputs": {"in": "ghost"}}]}),
            "block `a`, inputs.in: no block `ghost`",
        ),
        (
            json!({"blocks": [{"id": "a", "kind": "teleport"}]}),
            "block `a`, kind: unknown block kind `teleport`",
        ),
        (
            json!({"blocks": [{"id": "a", "kind": "csv_source", "config": {"location": "files", "path": "x.csv", "delimiter": ";;"}}]}),
            "block `a`, config.delimiter",
        ),
        (
            json!({"blocks": [{"id": "a", "kind": "csv_source", "config": {"location": "files", "path": "${nope}"}}]}),
            "unknown parameter `nope`",
        ),
        (
            json!({"blocks": [{"id": "A b", "kind": "sql", "config": {"query": "select 1"}}]}),
            "block `A b`, id",
        ),
        (json!({"blocks": "nope"}), "workflow:"),
    ];
    for (wf, needle) in cases {
        let r = s
            .gql(&w.editor.auth, save, json!({"p": w.project, "w": wf}))
            .await;
        refused(wf, "INVALID_WORKFLOW", needle, r);
    }
    // Nothing was stored by any refused save.
    let wf = s
        .gql(
            &w.editor.auth,
            "query($p:ID!){workflow(projectId:$p){version blocks{id}}}",
            json!({"p": w.project}),
        )
        .await;
    assert_eq!(data(&wf)["workflow"]["version"], 0);

    // Viewers cannot save or run; a stale version is refused.
    assert_eq!(
        code(
            &s.gql(
                &w.west.auth,
                SAVE,
                json!({"p": w.project, "w": pipeline(1.0)})
            )
            .await
        ),
        "FORBIDDEN"
    );
    data(
        &s.gql(
            &w.editor.auth,
            SAVE,
            json!({"p": w.project, "w": pipeline(1.0), "v": 0}),
        )
        .await,
    );
    assert_eq!(
        code(
            &s.gql(
                &w.editor.auth,
                SAVE,
                json!({"p": w.project, "w": pipeline(2.0), "v": 0})
            )
            .await
        ),
        "CONFLICT"
    );
    assert_eq!(
        code(&s.gql(&w.west.auth, RUN, json!({"p": w.project})).await),
        "FORBIDDEN"
    );
    assert_eq!(
        code(
            &s.gql(&w.editor.auth, RUN, json!({"p": w.project, "b": "ghost"}))
                .await
        ),
        "INVALID_INPUT"
    );

    // Run-time failures stay on their block; independent blocks still run.
    std::fs::write(
        w.files.path().join("in/broken.csv"),
        "id,amount\n1,2.5\n2,3\n3,4,5\n4,oops\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc", w.files.path().join("in/etc")).unwrap();
    let wf = json!({"blocks": [
        {"id": "broken", "kind": "csv_source", "config": {"location": "files", "path": "in/broken.csv", "columns": [{"name": "id", "type": "int64"}, {"name": "amount", "type": "float64"}]}},
        {"id": "skipping", "kind": "csv_source", "config": {"location": "files", "path": "in/broken.csv", "on_error": "skip", "columns": [{"name": "id", "type": "int64"}, {"name": "amount", "type": "float64"}]}},
        {"id": "bad_sql", "kind": "sql", "config": {"query": "SELECT amount FROM t WHERE nonexistent > 1"}, "inputs": {"t": "skipping"}},
        {"id": "after_sql", "kind": "publish", "config": {"dataset": "after"}, "inputs": {"in": "bad_sql"}},
        {"id": "words", "kind": "inline_rows", "config": {"columns": [{"name": "id", "type": "string"}, {"name": "amount", "type": "string"}], "rows": [["a", "b"]]}},
        {"id": "mixed", "kind": "union", "inputs": {"a": "skipping", "b": "words"}},
        {"id": "escape", "kind": "csv_source", "config": {"location": "files", "path": "../secret.csv"}},
        {"id": "via_link", "kind": "csv_source", "config": {"location": "files", "path": "in/etc/passwd"}},
        {"id": "ungranted", "kind": "csv_source", "config": {"location": "elsewhere", "path": "x.csv"}},
        {"id": "good", "kind": "publish", "config": {"dataset": "good"}, "inputs": {"in": "skipping"}},
    ]});
    data(
        &s.gql(&w.editor.auth, save, json!({"p": w.project, "w": wf}))
            .await,
    );
    let run =
        data(&s.gql(&w.editor.auth, RUN, json!({"p": w.project})).await)["runWorkflow"].clone();
    assert_eq!(run["status"], "failed");
    let block = |id: &str| run_block(&run, id);
    let broken = block("broken");
    assert_eq!(broken["error"]["code"], "INVALID_DATA");
    assert!(
        broken["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("line 4: expected 2 fields, found 3"),
        "{broken}"
    );
    let skipping = block("skipping");
    assert_eq!(skipping["status"], "succeeded");
    assert_eq!(skipping["rows"], 2);
    assert_eq!(skipping["notes"][0], "skipped 2 malformed lines");
    assert!(
        skipping["notes"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap()
            .starts_with("line 5, column `amount`: `oops`")),
        "{skipping}"
    );
    let sql = block("bad_sql");
    assert_eq!(sql["status"], "failed");
    assert!(
        sql["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nonexistent"),
        "{sql}"
    );
    assert_eq!(block("after_sql")["status"], "blocked");
    let mixed = block("mixed");
    assert_eq!(mixed["status"], "failed");
    assert!(
        mixed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("column `id` is text here but int64 in input `a`"),
        "{mixed}"
    );
    for id in ["escape", "via_link", "ungranted"] {
        let b = block(id);
        assert_eq!(b["error"]["code"], "PATH_REFUSED", "{b}");
    }
    assert!(
        block("via_link")["error"]["message"]
            .as_str()
            .unwrap()
            .contains("link")
    );
    // The API's words: grantResourceLocation takes READ or WRITE.
    assert!(
        block("ungranted")["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is not granted with READ access"),
        "{}",
        block("ungranted")
    );
    assert_eq!(block("good")["status"], "succeeded");

    // Bad reports are refused with the field named; nothing is created.
    let bad_report = json!({"tabs": [{"id": "t", "title": "T", "tiles": [{"id": "k", "title": "K", "kind": "pie", "query": {"dataset": "good", "dimensions": [], "measures": []}}]}]});
    let r = s
        .gql(
            &w.editor.auth,
            REPORT,
            json!({"p": w.project, "d": bad_report}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("tabs[0].tiles[0].query: a pie tile needs"),
        "{r}"
    );
    let reports = s
        .gql(
            &w.editor.auth,
            "query($p:ID!){reports(projectId:$p){id}}",
            json!({"p": w.project}),
        )
        .await;
    assert_eq!(data(&reports)["reports"], json!([]));

    // Locations: admins only; a relative root is refused.
    let mk = "mutation($d:JSON!){createResourceLocation(name:\"x\",definition:$d){id}}";
    assert_eq!(
        code(
            &s.gql(
                &w.editor.auth,
                mk,
                json!({"d": {"kind": "fs", "root": "/tmp"}})
            )
            .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        code(
            &s.gql(
                &w.admin.auth,
                mk,
                json!({"d": {"kind": "fs", "root": "relative"}})
            )
            .await
        ),
        "INVALID_INPUT"
    );
    let _ = &w.folder;
}

/// Errors speak the API's words: what shape was expected (never a Rust type), and a file
/// a block names that is a directory is the author's mistake, not an unavailable store
/// (the store's context, with the server's paths, never shows).
#[tokio::test]
async fn errors_name_what_the_api_expects_not_rust_types() {
    let w = data_world().await;
    let s = &w.s;
    let save = SAVE_WORKFLOW;
    let message = |r: &Value| r["errors"][0]["message"].as_str().unwrap_or("").to_owned();
    let internals = [
        "struct",
        "enum",
        "usize",
        "Workflow",
        "LocationKind",
        "context:",
        "service:",
    ];
    let plain = |m: &str| {
        let leaked: Vec<&&str> = internals.iter().filter(|w| m.contains(**w)).collect();
        assert!(leaked.is_empty(), "{m} shows {leaked:?}");
    };
    let r = s
        .gql(&w.admin.auth, save, json!({"p": w.project, "w": 5}))
        .await;
    assert_eq!(code(&r), "INVALID_WORKFLOW", "{r}");
    assert!(message(&r).contains("expected an object"), "{r}");
    plain(&message(&r));
    let sort = json!({"blocks": [
        {"id": "a", "kind": "csv_source", "config": {"location": "files", "path": "in/superstore.csv"}},
        {"id": "b", "kind": "sort", "config": {"by": [{"column": "sales"}], "limit": -1}, "inputs": {"in": "a"}}]});
    let r = s
        .gql(&w.admin.auth, save, json!({"p": w.project, "w": sort}))
        .await;
    assert!(
        message(&r).contains("expected a whole number, 0 or more"),
        "{r}"
    );
    plain(&message(&r));
    let location = "mutation($d:JSON!){createResourceLocation(name:\"more\",definition:$d){id}}";
    let r = s.gql(&w.admin.auth, location, json!({"d": "fs"})).await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    assert!(message(&r).contains("an object with a `kind`"), "{r}");
    plain(&message(&r));

    // A report over a dataset the project does not have, or a column its dataset lacks,
    // is refused when saved, by field.
    publish(s, &w.editor, &w.project).await;
    let report =
        "mutation($p:ID!,$d:JSON!){createReport(projectId:$p,name:\"R\",definition:$d){id}}";
    let tile = |dataset: &str, dimension: &str| {
        json!({"tabs": [{"id": "t", "title": "T", "tiles": [{"id": "x", "title": "X", "kind": "table",
            "query": {"dataset": dataset, "dimensions": [dimension]}}]}]})
    };
    let r = s
        .gql(
            &w.editor.auth,
            report,
            json!({"p": w.project, "d": tile("nope", "region")}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    assert_eq!(
        r["errors"][0]["extensions"]["path"],
        "definition.tabs[0].tiles[0].query.dataset"
    );
    assert!(
        message(&r).contains("has no dataset `nope` (it has: orders, regions)"),
        "{r}"
    );
    let r = s
        .gql(
            &w.editor.auth,
            report,
            json!({"p": w.project, "d": tile("orders", "galaxy")}),
        )
        .await;
    assert_eq!(
        r["errors"][0]["extensions"]["path"], "definition.tabs[0].tiles[0].query.dimensions[0]",
        "{r}"
    );
    let r = s
        .gql(
            &w.editor.auth,
            report,
            json!({"p": w.project, "d": tile("orders", "region")}),
        )
        .await;
    data(&r);

    // A path naming a directory: the run says so, as the author's mistake.
    let dir = json!({"blocks": [
        {"id": "a", "kind": "csv_source", "config": {"location": "files", "path": "in"}},
        {"id": "p", "kind": "publish", "config": {"dataset": "x"}, "inputs": {"in": "a"}}]});
    data(
        &s.gql(&w.admin.auth, save, json!({"p": w.project, "w": dir}))
            .await,
    );
    let run = s.gql(&w.admin.auth, RUN, json!({"p": w.project})).await;
    let block = data(&run)["runWorkflow"]["blocks"][0]["error"].clone();
    assert_ne!(block["code"], "UNAVAILABLE", "{run}");
    plain(block["message"].as_str().unwrap());
}
