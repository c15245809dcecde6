//! Version history (issue 6, first part): every saved change to a workflow or a report
//! adds a revision with its author and a message, listed newest first; any two
//! revisions compare structurally. Editors see the history; viewers do not.

use serde_json::{Value, json};

use crate::data::*;
use crate::support::*;

const HISTORY: &str = "query($p:ID!,$n:Int,$a:String){revisions(projectId:$p,first:$n,after:$a){pageInfo{hasNextPage endCursor} edges{node{id number parentId authorName message changes{kind object path fields}}}}}";
const DIFF: &str = "query($a:ID!,$b:ID!){revisionDiff(fromId:$a,toId:$b){kind object path fields}}";

fn nodes(r: &Value) -> Vec<Value> {
    data(r)["revisions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

#[tokio::test]
async fn saves_make_revisions_that_list_and_compare() {
    let w = data_world().await;
    let s = &w.s;
    let save = "mutation($p:ID!,$w:JSON!,$m:String){saveWorkflow(projectId:$p,workflow:$w,parameters:[{name:\"input\",value:\"in/superstore.csv\"}],message:$m){version}}";
    data(
        &s.gql(
            &w.editor.auth,
            save,
            json!({"p": w.project, "w": pipeline(0.0), "m": "first pipeline"}),
        )
        .await,
    );
    // Saving the same content again adds nothing.
    data(
        &s.gql(
            &w.editor.auth,
            save,
            json!({"p": w.project, "w": pipeline(0.0)}),
        )
        .await,
    );
    let report = data(
        &s.gql(
            &w.editor.auth,
            REPORT,
            json!({"p": w.project, "d": report_definition()}),
        )
        .await,
    )["createReport"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut def = report_definition();
    def["tabs"][0]["tiles"][0]["title"] = json!("Regions");
    def["tabs"][0]["tiles"].as_array_mut().unwrap().push(json!({
        "id": "by_state", "title": "By state", "kind": "bar",
        "query": {"dataset": "orders", "dimensions": ["state"], "measures": [{"column": "sales", "function": "sum", "name": "sales"}]}}));
    data(
        &s.gql(
            &w.editor.auth,
            "mutation($r:ID!,$d:JSON!){updateReport(id:$r,definition:$d){id}}",
            json!({"r": report, "d": def}),
        )
        .await,
    );

    // Newest first, two to a page, with authors, parents and messages.
    let r = s
        .gql(&w.editor.auth, HISTORY, json!({"p": w.project, "n": 2}))
        .await;
    let page = nodes(&r);
    assert_eq!(
        page.iter()
            .map(|n| n["number"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [3, 2]
    );
    assert_eq!(data(&r)["revisions"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(page[0]["authorName"], "eddy");
    assert_eq!(page[0]["parentId"], page[1]["id"]);
    let latest = &page[0];
    let message = latest["message"].as_str().unwrap();
    assert!(message.contains("tile Sales/by_region"), "{message}");
    let changes = latest["changes"].as_array().unwrap();
    assert!(
        changes.contains(
            &json!({"kind": "ADDED", "object": "TILE", "path": "Sales/by_state", "fields": []})
        ),
        "{changes:?}"
    );
    assert!(changes.contains(&json!({"kind": "CHANGED", "object": "TILE", "path": "Sales/by_region", "fields": ["title"]})), "{changes:?}");
    assert_eq!(page[1]["message"], "added report Sales");
    let cursor = data(&r)["revisions"]["pageInfo"]["endCursor"].clone();
    let r = s
        .gql(
            &w.editor.auth,
            HISTORY,
            json!({"p": w.project, "n": 2, "a": cursor}),
        )
        .await;
    let rest = nodes(&r);
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["number"], 1);
    assert_eq!(rest[0]["message"], "first pipeline");
    assert!(rest[0]["parentId"].is_null());
    assert_eq!(data(&r)["revisions"]["pageInfo"]["hasNextPage"], false);

    // First to latest: the report arrived whole.
    let r = s
        .gql(
            &w.editor.auth,
            DIFF,
            json!({"a": rest[0]["id"], "b": latest["id"]}),
        )
        .await;
    assert_eq!(
        data(&r)["revisionDiff"],
        json!([{"kind": "ADDED", "object": "REPORT", "path": "Sales", "fields": []}])
    );

    // Viewers of the project see no history; unknown revisions are not found.
    let r = s.gql(&w.west.auth, HISTORY, json!({"p": w.project})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let r = s
        .gql(
            &w.west.auth,
            DIFF,
            json!({"a": rest[0]["id"], "b": latest["id"]}),
        )
        .await;
    assert_eq!(code(&r), "NOT_FOUND");
    let r = s
        .gql(
            &w.editor.auth,
            DIFF,
            json!({"a": "nope", "b": latest["id"]}),
        )
        .await;
    assert_eq!(code(&r), "NOT_FOUND");
    let r = s
        .gql(&w.editor.auth, HISTORY, json!({"p": w.project, "n": 1000}))
        .await;
    assert_eq!(code(&r), "INVALID_INPUT");

    // Revert to the first revision: the report goes, as one new revision.
    let revert =
        "mutation($id:ID!,$m:String){revertToRevision(id:$id,message:$m){id number message}}";
    let r = s
        .gql(&w.west.auth, revert, json!({"id": rest[0]["id"]}))
        .await;
    assert_eq!(code(&r), "NOT_FOUND", "{r}");
    let r = s
        .gql(&w.editor.auth, revert, json!({"id": rest[0]["id"]}))
        .await;
    let reverted = data(&r)["revertToRevision"].clone();
    assert_eq!(reverted["number"], 4);
    assert_eq!(reverted["message"], "reverted to revision 1");
    let r = s
        .gql(
            &w.editor.auth,
            DIFF,
            json!({"a": rest[0]["id"], "b": reverted["id"]}),
        )
        .await;
    assert_eq!(data(&r)["revisionDiff"], json!([]));
    let reports = s
        .gql(
            &w.editor.auth,
            "query($p:ID!){reports(projectId:$p){id}}",
            json!({"p": w.project}),
        )
        .await;
    assert_eq!(data(&reports)["reports"], json!([]));

    // And forward again to the latest: the report returns under its old id, edited.
    let r = s
        .gql(
            &w.editor.auth,
            revert,
            json!({"id": latest["id"], "m": "back to the regions edit"}),
        )
        .await;
    assert_eq!(data(&r)["revertToRevision"]["number"], 5);
    assert_eq!(
        data(&r)["revertToRevision"]["message"],
        "back to the regions edit"
    );
    let r = s
        .gql(
            &w.editor.auth,
            "query($r:ID!){report(id:$r){definition}}",
            json!({"r": report}),
        )
        .await;
    assert_eq!(
        data(&r)["report"]["definition"]["tabs"][0]["tiles"][0]["title"],
        "Regions"
    );
    // Reverting to the state the project is already in adds nothing.
    let r = s
        .gql(&w.editor.auth, revert, json!({"id": latest["id"]}))
        .await;
    assert_eq!(data(&r)["revertToRevision"]["number"], 5);
    let r = s.gql(&w.editor.auth, revert, json!({"id": "nope"})).await;
    assert_eq!(code(&r), "NOT_FOUND");

    // A new project from the third revision: its workflow and report, a fresh history.
    let copy = "mutation($id:ID!,$f:ID!,$n:String!){createProjectFromRevision(id:$id,folderId:$f,name:$n){id name}}";
    let r = s
        .gql(
            &w.west.auth,
            copy,
            json!({"id": latest["id"], "f": w.folder, "n": "Copy"}),
        )
        .await;
    assert_eq!(code(&r), "NOT_FOUND", "{r}");
    // The editor of the project may not create projects in its folder.
    let r = s
        .gql(
            &w.editor.auth,
            copy,
            json!({"id": latest["id"], "f": w.folder, "n": "Sales copy"}),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let r = s
        .gql(
            &w.admin.auth,
            copy,
            json!({"id": latest["id"], "f": w.folder, "n": "Sales copy"}),
        )
        .await;
    let copied = data(&r)["createProjectFromRevision"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(copied, w.project);
    let r = s.gql(&w.admin.auth, HISTORY, json!({"p": copied})).await;
    let history = nodes(&r);
    assert_eq!(history.len(), 1);
    let message = history[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("copied from ") && message.ends_with(" revision 3"),
        "{message}"
    );
    // Revisions of two projects do not compare; the editor cannot see the copy at all.
    let pair = json!({"a": latest["id"], "b": history[0]["id"]});
    let r = s.gql(&w.admin.auth, DIFF, pair.clone()).await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    let r = s.gql(&w.editor.auth, DIFF, pair).await;
    assert_eq!(code(&r), "NOT_FOUND", "{r}");
    let r = s
        .gql(
            &w.admin.auth,
            "query($p:ID!){reports(projectId:$p){name definition}}",
            json!({"p": copied}),
        )
        .await;
    let reports = data(&r)["reports"].as_array().unwrap().clone();
    assert_eq!(reports.len(), 1);
    assert_eq!(
        reports[0]["definition"]["tabs"][0]["tiles"][0]["title"],
        "Regions"
    );
}
