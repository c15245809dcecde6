//! Working copies (issue 6): copy a project into a staging folder, change it, push it
//! back; push refused after the origin moved, then forced; pull refused with unpushed
//! changes, then discarding them; detach; a push killed midway leaves the origin whole.
//! Copies on a second instance are in `remote_copies`.

use serde_json::{Value, json};

use crate::data::*;
use crate::support::*;

pub const COPY: &str = "mutation($p:ID,$l:String,$f:ID!,$n:String!){createWorkingCopy(projectId:$p,link:$l,folderId:$f,name:$n){id}}";
pub const PUSH: &str =
    "mutation($p:ID!,$force:Boolean){pushWorkingCopy(projectId:$p,force:$force){head revisions}}";
pub const PULL: &str =
    "mutation($p:ID!,$d:Boolean){pullWorkingCopy(projectId:$p,discardChanges:$d){head revisions}}";
pub const STATUS: &str = "query($p:ID!){workingCopy(projectId:$p){originId originName originUrl ahead behind baseOriginRevision baseCopyRevision}}";
pub const HISTORY: &str = "query($p:ID!){revisions(projectId:$p,first:50){edges{node{number message authorName pushedFrom{projectId projectName number instance}}}}}";

/// Creates a working copy, which must succeed; answers its id.
pub async fn working_copy(s: &TestServer, who: &Actor, vars: Value) -> String {
    let r = s.gql(&who.auth, COPY, vars).await;
    data(&r)["createWorkingCopy"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("createWorkingCopy: {r}"))
        .to_owned()
}

pub fn history(r: &Value) -> Vec<Value> {
    data(r)["revisions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// The first report of a project: its id and definition.
pub async fn first_report(s: &TestServer, who: &Actor, project: &str) -> (String, Value) {
    let r = s
        .gql(
            &who.auth,
            "query($p:ID!){reports(projectId:$p){id definition}}",
            json!({"p": project}),
        )
        .await;
    let rep = &data(&r)["reports"][0];
    (
        rep["id"].as_str().unwrap().to_owned(),
        rep["definition"].clone(),
    )
}

pub async fn set_title(s: &TestServer, who: &Actor, report: &str, def: &Value, title: &str) {
    let mut def = def.clone();
    def["tabs"][0]["tiles"][0]["title"] = json!(title);
    data(
        &s.gql(
            &who.auth,
            "mutation($r:ID!,$d:JSON!){updateReport(id:$r,definition:$d){id}}",
            json!({"r": report, "d": def}),
        )
        .await,
    );
}

pub async fn title_of(s: &TestServer, who: &Actor, project: &str) -> String {
    let (_, def) = first_report(s, who, project).await;
    def["tabs"][0]["tiles"][0]["title"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Orders counted by the report's KPI tile: proves datasets arrived with the content.
pub async fn order_count(s: &TestServer, who: &Actor, project: &str) -> i64 {
    let (report, _) = first_report(s, who, project).await;
    let r = s
        .gql(&who.auth, TILE, json!({"r": report, "t": "total"}))
        .await;
    data(&r)["tileResult"]["rows"][0][0].as_i64().unwrap()
}

/// A project with a saved, run workflow and one report: revisions 1 and 2.
pub async fn published_world() -> DataWorld {
    let w = data_world().await;
    publish(&w.s, &w.editor, &w.project).await;
    w
}

/// A staging folder the admin owns, allowed to read the test files.
pub async fn staging(w: &DataWorld) -> String {
    let s = &w.s;
    let folder = s.folder(&w.admin, None, "Staging").await;
    let r = s
        .gql(&w.admin.auth, "{resourceLocations{id}}", json!({}))
        .await;
    let loc = data(&r)["resourceLocations"][0]["id"].clone();
    data(
        &s.gql(
            &w.admin.auth,
            "mutation($l:ID!,$f:ID!){grantResourceLocation(id:$l,folderId:$f,access:WRITE){id}}",
            json!({"l": loc, "f": folder}),
        )
        .await,
    );
    folder
}

#[tokio::test]
async fn a_working_copy_pushes_pulls_and_detaches() {
    let w = published_world().await;
    let s = &w.s;
    let (admin, editor) = (&w.admin, &w.editor);
    let stage = staging(&w).await;
    let orders = order_count(s, admin, &w.project).await;

    // Only the origin's managers (its publishers) make working copies.
    let r = s
        .gql(
            &editor.auth,
            COPY,
            json!({"p": w.project, "f": stage, "n": "Staging copy"}),
        )
        .await;
    assert!(
        matches!(code(&r).as_str(), "FORBIDDEN" | "NOT_FOUND"),
        "{r}"
    );
    let r = s
        .gql(
            &admin.auth,
            COPY,
            json!({"p": w.project, "l": "https://x/wc/vwc_x", "f": stage, "n": "Both"}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    let copy = working_copy(
        s,
        admin,
        json!({"p": w.project, "f": stage, "n": "Staging copy"}),
    )
    .await;

    // The copy holds the content and the data: its report answers without a run.
    assert_eq!(order_count(s, admin, &copy).await, orders);
    let st = s.gql(&admin.auth, STATUS, json!({"p": copy})).await;
    assert_eq!(data(&st)["workingCopy"]["originId"], w.project.as_str());
    assert_eq!(data(&st)["workingCopy"]["ahead"], 0);
    assert_eq!(data(&st)["workingCopy"]["behind"], 0);
    assert_eq!(data(&st)["workingCopy"]["baseOriginRevision"], 2);
    let h = history(&s.gql(&admin.auth, HISTORY, json!({"p": copy})).await);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["message"], "working copy of Superstore revision 2");
    let r = s.gql(&admin.auth, STATUS, json!({"p": w.project})).await;
    assert!(data(&r)["workingCopy"].is_null(), "{r}");
    let list = "query($p:ID!){workingCopies(projectId:$p){projectId name baseOriginRevision}}";
    let r = s.gql(&admin.auth, list, json!({"p": w.project})).await;
    assert_eq!(
        data(&r)["workingCopies"],
        json!([{"projectId": copy, "name": "Staging copy", "baseOriginRevision": 2}])
    );
    let r = s.gql(&editor.auth, list, json!({"p": w.project})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");

    // Change the copy; the origin's viewers see nothing until the push.
    let (copy_report, def) = first_report(s, admin, &copy).await;
    let (origin_report, _) = first_report(s, admin, &w.project).await;
    assert_ne!(copy_report, origin_report);
    set_title(s, admin, &copy_report, &def, "Regions (staged)").await;
    assert_eq!(title_of(s, &w.west, &w.project).await, "Sales by region");
    let st = s.gql(&admin.auth, STATUS, json!({"p": copy})).await;
    assert_eq!(data(&st)["workingCopy"]["ahead"], 1);

    // An editor of the copy who is not the origin's manager cannot publish.
    data(
        &s.grant(
            admin,
            &format!("user:{}", editor.id),
            &format!("project:{copy}"),
            "EDITOR",
        )
        .await,
    );
    let r = s.gql(&editor.auth, PUSH, json!({"p": copy})).await;
    assert!(
        matches!(code(&r).as_str(), "FORBIDDEN" | "NOT_FOUND"),
        "{r}"
    );

    let r = s.gql(&admin.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(
        data(&r)["pushWorkingCopy"],
        json!({"head": 3, "revisions": 1})
    );
    // The origin's report kept its id (share links keep working) and shows the change.
    assert_eq!(first_report(s, admin, &w.project).await.0, origin_report);
    assert_eq!(title_of(s, &w.west, &w.project).await, "Regions (staged)");
    let h = history(&s.gql(&admin.auth, HISTORY, json!({"p": w.project})).await);
    assert_eq!(h[0]["number"], 3);
    assert_eq!(h[0]["authorName"], "admin");
    assert_eq!(
        h[0]["pushedFrom"],
        json!({"projectId": copy, "projectName": "Staging copy", "number": 2, "instance": null})
    );
    // Nothing new to push: nothing happens.
    let r = s.gql(&admin.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(data(&r)["pushWorkingCopy"]["revisions"], 0);

    // The origin moves on; the copy changes too: the push is refused, naming why.
    let (_, odef) = first_report(s, admin, &w.project).await;
    set_title(s, editor, &origin_report, &odef, "Hotfix on production").await;
    let (_, def) = first_report(s, admin, &copy).await;
    set_title(s, admin, &copy_report, &def, "Second staged change").await;
    let st = s.gql(&admin.auth, STATUS, json!({"p": copy})).await;
    assert_eq!(data(&st)["workingCopy"]["behind"], 1);
    let r = s.gql(&admin.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(code(&r), "ORIGIN_MOVED", "{r}");
    assert!(message(&r).contains("force"), "{r}");
    assert_eq!(title_of(s, admin, &w.project).await, "Hotfix on production");

    // Pulling would lose the copy's change: refused unless discarded.
    let r = s.gql(&admin.auth, PULL, json!({"p": copy})).await;
    assert_eq!(code(&r), "UNPUSHED_CHANGES", "{r}");
    assert_eq!(title_of(s, admin, &copy).await, "Second staged change");
    let r = s
        .gql(&admin.auth, PULL, json!({"p": copy, "d": true}))
        .await;
    assert_eq!(data(&r)["pullWorkingCopy"]["revisions"], 1, "{r}");
    assert_eq!(title_of(s, admin, &copy).await, "Hotfix on production");
    let h = history(&s.gql(&admin.auth, HISTORY, json!({"p": copy})).await);
    assert!(
        h[0]["message"]
            .as_str()
            .unwrap()
            .contains("discarding 1 unpushed"),
        "{h:?}"
    );
    let st = s.gql(&admin.auth, STATUS, json!({"p": copy})).await;
    assert_eq!(data(&st)["workingCopy"]["ahead"], 0);
    assert_eq!(data(&st)["workingCopy"]["behind"], 0);

    // A forced push replaces what the origin changed meanwhile.
    let (_, odef) = first_report(s, admin, &w.project).await;
    set_title(s, editor, &origin_report, &odef, "Another hotfix").await;
    let (_, def) = first_report(s, admin, &copy).await;
    set_title(s, admin, &copy_report, &def, "Staged wins").await;
    let r = s.gql(&admin.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(code(&r), "ORIGIN_MOVED", "{r}");
    let r = s
        .gql(&admin.auth, PUSH, json!({"p": copy, "force": true}))
        .await;
    assert_eq!(data(&r)["pushWorkingCopy"]["revisions"], 1, "{r}");
    assert_eq!(title_of(s, &w.west, &w.project).await, "Staged wins");
    // Nothing was lost: the overwritten hotfix is still in the origin's history.
    let h = history(&s.gql(&admin.auth, HISTORY, json!({"p": w.project})).await);
    assert!(h.iter().any(|r| {
        r["message"]
            .as_str()
            .unwrap()
            .contains("tile Sales/by_region")
            && r["pushedFrom"].is_null()
    }));

    // Detach: only someone who may edit the copy or manage the origin.
    let detach = "mutation($p:ID!){detachWorkingCopy(projectId:$p)}";
    let r = s.gql(&w.west.auth, detach, json!({"p": copy})).await;
    assert!(
        matches!(code(&r).as_str(), "FORBIDDEN" | "NOT_FOUND"),
        "{r}"
    );
    data(&s.gql(&admin.auth, detach, json!({"p": copy})).await);
    let st = s.gql(&admin.auth, STATUS, json!({"p": copy})).await;
    assert!(data(&st)["workingCopy"].is_null());
    let r = s.gql(&admin.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");

    // A working copy of an old revision (the first: no report yet) starts behind.
    let h = history(&s.gql(&admin.auth, HISTORY, json!({"p": w.project})).await);
    let r = s
        .gql(
            &admin.auth,
            "query($p:ID!){revisions(projectId:$p,first:100){edges{node{id number}}}}",
            json!({"p": w.project}),
        )
        .await;
    let first = data(&r)["revisions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["number"] == 1)
        .unwrap()["node"]["id"]
        .clone();
    let r = s
        .gql(
            &admin.auth,
            "mutation($p:ID!,$f:ID!,$r:ID){createWorkingCopy(projectId:$p,folderId:$f,name:\"Old\",revisionId:$r){id}}",
            json!({"p": w.project, "f": stage, "r": first}),
        )
        .await;
    let old = data(&r)["createWorkingCopy"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reports = s
        .gql(
            &admin.auth,
            "query($p:ID!){reports(projectId:$p){id}}",
            json!({"p": old}),
        )
        .await;
    assert_eq!(data(&reports)["reports"], json!([]));
    let st = s.gql(&admin.auth, STATUS, json!({"p": old})).await;
    assert_eq!(data(&st)["workingCopy"]["behind"], h.len() as i64 - 1);
    let r = s
        .gql(&admin.auth, PUSH, json!({"p": old, "force": false}))
        .await;
    assert_eq!(
        data(&r)["pushWorkingCopy"]["revisions"],
        0,
        "nothing changed yet: {r}"
    );
}

#[tokio::test]
async fn a_push_killed_midway_leaves_the_origin_intact() {
    let w = published_world().await;
    let stage = staging(&w).await;
    let s = &w.s;
    let copy = working_copy(
        s,
        &w.admin,
        json!({"p": w.project, "f": stage, "n": "Staging copy"}),
    )
    .await;
    let (copy_report, def) = first_report(s, &w.admin, &copy).await;
    set_title(s, &w.admin, &copy_report, &def, "Never published").await;
    let before = history(&s.gql(&w.admin.auth, HISTORY, json!({"p": w.project})).await);
    let token = match &w.admin.auth {
        Auth::Bearer(t) => t.clone(),
        _ => unreachable!(),
    };

    // Restart the same data directory with the push held inside its transaction, then
    // kill -9 the process while it waits there.
    let DataWorld { s, files, .. } = w;
    let (_, tmp) = s.stop().await;
    let tmp = tmp.unwrap();
    let dir = tmp.path().join("data");
    let s = TestServer::start_full(&dir, &[], &[("VITRINE_FAULT_PUSH_PAUSE_MS", "20000")]).await;
    let admin = Auth::Bearer(token);
    let url = s.url.clone();
    let push = tokio::spawn({
        let admin = admin.clone();
        let copy = copy.clone();
        async move {
            let Auth::Bearer(t) = admin else {
                unreachable!()
            };
            let body = json!({"query": PUSH, "variables": {"p": copy}});
            match reqwest::Client::new()
                .post(format!("{url}/graphql"))
                .bearer_auth(t)
                .json(&body)
                .send()
                .await
            {
                Ok(resp) => resp.json::<Value>().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            }
        }
    });
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    if push.is_finished() {
        panic!("the push should be held midway: {}", push.await.unwrap());
    }
    s.kill().await;
    let answer = push.await.unwrap();
    assert!(answer.is_null() || answer["errors"].is_array(), "{answer}");

    let s = TestServer::start_in(&dir).await;
    let after = history(&s.gql(&admin, HISTORY, json!({"p": w.project})).await);
    assert_eq!(after, before, "no revision of the killed push may remain");
    let who = Actor {
        id: String::new(),
        username: "admin".into(),
        auth: admin.clone(),
    };
    assert_eq!(title_of(&s, &who, &w.project).await, "Sales by region");
    assert!(
        order_count(&s, &who, &w.project).await > 0,
        "datasets intact"
    );
    // The copy still knows it has one change to push, and the push now lands.
    let st = s.gql(&admin, STATUS, json!({"p": copy})).await;
    assert_eq!(data(&st)["workingCopy"]["ahead"], 1, "{st}");
    let r = s.gql(&admin, PUSH, json!({"p": copy})).await;
    assert_eq!(data(&r)["pushWorkingCopy"]["revisions"], 1, "{r}");
    assert_eq!(title_of(&s, &who, &w.project).await, "Never published");
    drop(files);
}
