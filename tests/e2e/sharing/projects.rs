//! Links to whole projects for outsiders (governance issue, item 3): a public or
//! recipients link shares several projects, or every project of a folder (read at each
//! visit), with their dashboard, their delivered files, or both — never the workflow,
//! never past access filters, and only what the link's manager manages.

use serde_json::{Value, json};

use super::*;

const PROJECTS: &str = "{linkVisit{content{dashboard files} projects{id name reports{id name} files{reportId reportName url}}}}";
const LEDGER: &str = "query($id:ID!){shareLink(id:$id){projectId projectIds folderId recursive content{dashboard files} exposedDatasets filtersInForce{dataset values} accessWarnings{kind}}}";

/// A second project in the world's folder, with data and a report of its own, and a
/// third in a sub-folder (outside a link to the folder alone): (second project, its
/// report, the third's report).
async fn more_projects(sw: &ShareWorld) -> (String, String, String) {
    let s = sw.s();
    let admin = &sw.w.admin;
    let (returns, _) = s.project(admin, &sw.w.folder, "Returns").await;
    let returns_report = publish(s, admin, &returns).await;
    let elsewhere = s.folder(admin, Some(&sw.w.folder), "Elsewhere").await;
    let (outside, _) = s.project(admin, &elsewhere, "Outside").await;
    let outside_report = publish(s, admin, &outside).await;
    (returns, returns_report, outside_report)
}

/// The names of the projects a `linkVisit` answer lists.
fn names(visit: &Value) -> Vec<String> {
    let list = visit["projects"].as_array().unwrap();
    list.iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn project_link(sw: &ShareWorld, who: &Actor, input: Value) -> Value {
    sw.s().gql(&who.auth, CREATE, json!({"i": input})).await
}

#[tokio::test]
async fn a_folder_link_shares_every_projects_dashboard_and_delivered_files() {
    let sw = share_world().await;
    let s = sw.s();
    let (returns, returns_report, outside_report) = more_projects(&sw).await;
    let folder = format!("folder:{}", sw.w.folder);
    let mona_subject = format!("user:{}", sw.mona.id);
    data(
        &s.grant(&sw.w.admin, &mona_subject, &folder, "MANAGER")
            .await,
    );
    let content = json!({"dashboard": true, "files": true});

    // Refused by field: no content for several projects, empty content, content with a
    // report, for members' links or with the edit right, two scopes at once.
    let both = json!([sw.w.project, returns]);
    for (bad, field) in [
        (json!({"projectIds": both, "kind": "PUBLIC"}), "content"),
        (
            json!({"projectIds": both, "kind": "PUBLIC", "content": {}}),
            "content",
        ),
        (
            json!({"projectId": sw.w.project, "reportId": sw.report, "kind": "PUBLIC", "content": content}),
            "content",
        ),
        (
            json!({"folderId": sw.w.folder, "kind": "AUTHENTICATED", "content": content}),
            "content",
        ),
        (
            json!({"folderId": sw.w.folder, "kind": "PUBLIC", "content": content, "rights": {"edit": true}}),
            "rights.edit",
        ),
        (
            json!({"folderId": sw.w.folder, "projectId": returns, "kind": "PUBLIC", "content": content}),
            "projectId",
        ),
        (json!({"projectId": sw.w.project, "kind": "PUBLIC"}), "kind"),
    ] {
        let r = project_link(&sw, &sw.mona, bad.clone()).await;
        assert_eq!(code(&r), "INVALID_INPUT", "{bad}: {r}");
        let message = r["errors"][0]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{bad}: {message}");
    }
    // Only what the caller manages: the editor manages neither; a viewer not the folder.
    let r = project_link(
        &sw,
        &sw.w.editor,
        json!({"projectIds": both, "kind": "PUBLIC", "content": content}),
    )
    .await;
    assert!(
        matches!(code(&r).as_str(), "FORBIDDEN" | "NOT_FOUND"),
        "{r}"
    );
    let r = project_link(
        &sw,
        &sw.w.west,
        json!({"folderId": sw.w.folder, "kind": "PUBLIC", "content": content}),
    )
    .await;
    assert!(
        matches!(code(&r).as_str(), "FORBIDDEN" | "NOT_FOUND"),
        "{r}"
    );

    let r = project_link(
        &sw,
        &sw.mona,
        json!({"folderId": sw.w.folder, "kind": "PUBLIC", "content": content}),
    )
    .await;
    let made = data(&r)["createShareLink"].clone();
    let id = made["link"]["id"].as_str().unwrap().to_owned();
    let v = Visitor::new(s);
    v.open(made["url"].as_str().unwrap()).await;
    let visit = v.link_gql(&id, PROJECTS, json!({}), &["linkVisit"]).await;
    assert_eq!(visit.status, "OK", "{}", visit.text);
    assert_eq!(names(&visit.data), ["Returns", "Superstore"]);
    assert_eq!(
        visit.data["projects"][0]["reports"][0]["id"],
        returns_report
    );
    assert_eq!(
        visit.data["projects"][1]["files"],
        json!([]),
        "nothing delivered yet"
    );

    // Each project's reports, interactively; access filters still apply (the link's
    // values: West); a project outside the folder is not there.
    let r = v.view(&id, Some(&returns_report)).await;
    assert_eq!(r.status, "OK", "{}", r.text);
    assert_eq!(r.json()["projectName"], "Returns");
    let overview = v
        .link_gql(
            &id,
            "query($r:ID){linkVisit{tiles(reportId:$r,tabId:\"overview\"){tileId result{rowsJson}}}}",
            json!({"r": sw.report}),
            &["linkVisit", "tiles"],
        )
        .await;
    assert_eq!(overview.status, "OK", "{}", overview.text);
    let list: Vec<Value> = overview
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let rows = t["result"]["rowsJson"].as_str().unwrap_or("[]");
            json!({"id": t["tileId"], "rows": serde_json::from_str::<Value>(rows).unwrap()})
        })
        .collect();
    assert_eq!(regions(&json!({ "tiles": list })), ["West"]);
    assert_eq!(v.view(&id, Some(&outside_report)).await.status, "NOT_FOUND");

    // A project added to the folder later is shown at the next visit.
    let admin = &sw.w.admin;
    s.project(admin, &sw.w.folder, "Later").await;
    let visit = v.link_gql(&id, PROJECTS, json!({}), &["linkVisit"]).await;
    assert_eq!(visit.data["projects"].as_array().unwrap().len(), 3);

    // Delivered files: the reports scheduled tasks deliver, made as the link shows them.
    let task = json!({"name": "Weekly sales", "trigger": {"cron": "0 7 * * MON"},
        "target": {"folderId": sw.w.folder, "recursive": true},
        "actions": [{"kind": "DELIVER", "report": "Sales", "recipients": ["board@example.org"]}]});
    crate::tasks::create_task(s, admin, task).await;
    let visit = v.link_gql(&id, PROJECTS, json!({}), &["linkVisit"]).await;
    let superstore = &visit.data["projects"][2];
    assert_eq!(superstore["name"], "Superstore");
    let file = superstore["files"][0].clone();
    assert_eq!(file["reportId"], sw.report);
    let got = v.get(file["url"].as_str().unwrap()).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert!(got.header("content-disposition").contains(".html"));
    assert!(got.text.contains("West") && !got.text.contains("East"));
    // The task's folder target delivers every project's "Sales": Returns' too. A report
    // of a project the link does not cover is no file of it.
    assert_eq!(visit.data["projects"][1]["name"], "Returns");
    assert_eq!(
        visit.data["projects"][1]["files"][0]["reportId"],
        returns_report
    );
    assert_eq!(
        visit.data["projects"][0]["files"],
        json!([]),
        "Later has no report"
    );
    let outside = format!("{}/file?report={outside_report}", page_of(&id));
    assert_eq!(v.get(&outside).await.status, 404);

    // Its rights cannot grow into edits later either.
    let update = "mutation($id:ID!,$i:UpdateShareLinkInput!){updateShareLink(id:$id,input:$i){id}}";
    let vars = json!({"id": id, "i": {"rights": {"edit": true}}});
    let r = s.gql(&sw.mona.auth, update, vars).await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");

    // The ledger says what the link covers and shows.
    let l = data(&s.gql(&sw.mona.auth, LEDGER, json!({"id": id})).await)["shareLink"].clone();
    assert_eq!(l["projectId"], Value::Null);
    assert_eq!(l["folderId"], sw.w.folder);
    assert_eq!(l["content"], content);
    assert!(
        l["exposedDatasets"]
            .as_array()
            .unwrap()
            .contains(&json!("orders"))
    );
    // A widening edit of a report the dashboard shows raises a warning on the link.
    let q = "query($r:ID!){report(id:$r){definition}}";
    let mut def =
        data(&s.gql(&sw.mona.auth, q, json!({"r": sw.report})).await)["report"]["definition"]
            .clone();
    def["tabs"][0]["tiles"].as_array_mut().unwrap().push(json!({
        "id": "all_regions", "title": "All regions", "kind": "table",
        "query": {"dataset": "regions", "dimensions": ["region"], "measures": [{"column": "sales", "function": "sum"}]}}));
    let update = "mutation($r:ID!,$d:JSON!){updateReport(id:$r,definition:$d){id}}";
    data(
        &s.gql(&sw.w.editor.auth, update, json!({"r": sw.report, "d": def}))
            .await,
    );
    let l = data(&s.gql(&sw.mona.auth, LEDGER, json!({"id": id})).await)["shareLink"].clone();
    assert!(!l["accessWarnings"].as_array().unwrap().is_empty(), "{l}");
}

#[tokio::test]
async fn a_files_link_to_several_projects_opens_no_dashboard() {
    let sw = share_world().await;
    let s = sw.s();
    let (returns, _, outside_report) = more_projects(&sw).await;
    let returns_subject = format!("project:{returns}");
    let mona_subject = format!("user:{}", sw.mona.id);
    data(
        &s.grant(&sw.w.admin, &mona_subject, &returns_subject, "MANAGER")
            .await,
    );
    let task = json!({"name": "Daily sales", "trigger": {"cron": "0 6 * * *"},
        "target": {"projectId": sw.w.project},
        "actions": [{"kind": "DELIVER", "report": sw.report, "recipients": ["board@example.org"]}]});
    crate::tasks::create_task(s, &sw.w.admin, task).await;
    let r = project_link(
        &sw,
        &sw.mona,
        json!({"projectIds": [sw.w.project, returns],
        "kind": "RECIPIENTS", "content": {"files": true},
        "recipients": [{"name": "Ann Archer", "email": "ann@example.org", "role": "VIEWER"}]}),
    )
    .await;
    let made = data(&r)["createShareLink"].clone();
    let id = made["link"]["id"].as_str().unwrap().to_owned();
    let l = data(&s.gql(&sw.mona.auth, LEDGER, json!({"id": id})).await)["shareLink"].clone();
    assert_eq!(l["projectId"], sw.w.project);
    assert_eq!(l["projectIds"], json!([sw.w.project, returns]));

    // Before signing in, nothing; after, the files and no dashboard.
    let ann = Visitor::new(s);
    assert_eq!(
        ann.link_gql(&id, PROJECTS, json!({}), &["linkVisit"])
            .await
            .status,
        "UNAUTHENTICATED"
    );
    ann.accept_invitation(&made, &id, "ann@example.org").await;
    let visit = ann.link_gql(&id, PROJECTS, json!({}), &["linkVisit"]).await;
    let projects = visit.data["projects"].as_array().unwrap().clone();
    assert!(
        projects.iter().all(|p| p["reports"] == json!([])),
        "{projects:?}"
    );
    let files: Vec<&Value> = projects
        .iter()
        .flat_map(|p| p["files"].as_array().unwrap())
        .collect();
    assert_eq!(files.len(), 1);
    assert_eq!(ann.view(&id, None).await.status, "FORBIDDEN");
    assert_eq!(ann.view(&id, Some(&sw.report)).await.status, "FORBIDDEN");
    let got = ann.get(files[0]["url"].as_str().unwrap()).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert!(got.text.contains("West") && !got.text.contains("East"));
    // Another project's report, through this link, is not found.
    let other = format!("{}/file?report={outside_report}", page_of(&id));
    assert_eq!(ann.get(&other).await.status, 404);

    // The creator losing one project drops it from the link at the next visit.
    let revoke = "mutation($s:String!,$o:String!){revokeRole(subject:$s,object:$o)}";
    let vars = json!({"s": mona_subject, "o": returns_subject});
    data(&s.gql(&sw.w.admin.auth, revoke, vars).await);
    let visit = ann.link_gql(&id, PROJECTS, json!({}), &["linkVisit"]).await;
    assert_eq!(names(&visit.data), ["Superstore"]);
}
