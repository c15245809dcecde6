//! The audit log as data (governance issue, item 12): the `instance_log` source block
//! (admins only, to save or to run), and the built-in "Instance activity" project whose
//! report shows who viewed what, shared-link usage, sign-ins and their failures, and task
//! runs.

use serde_json::{Value, json};

use crate::support::*;
use crate::tasks::{create_task, run_now, wait_run};

const INSTALL: &str = "mutation{installInstanceActivity{id name folderId}}";
const TILE: &str =
    "query($r:ID!,$t:String!){tileResult(reportId:$r,tileId:$t){columns{name} rows}}";

#[tokio::test]
async fn admins_read_the_instance_log_as_a_project_and_nobody_else_does() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let eddy = s.user(&admin, "eddy").await;

    // Only admins install it, and only once.
    let r = s.gql(&eddy.auth, INSTALL, json!({})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let r = s.gql(&admin.auth, INSTALL, json!({})).await;
    let project = data(&r)["installInstanceActivity"].clone();
    assert_eq!(project["name"], "Instance activity");
    let id = project["id"].as_str().unwrap().to_owned();
    let again = s.gql(&admin.auth, INSTALL, json!({})).await;
    assert_eq!(data(&again)["installInstanceActivity"]["id"], id.as_str());
    // Installing ran the workflow once: every dataset the report reads is published.
    let q = "query($p:ID!){workflowRuns(projectId:$p,last:1){status blocks{block status error{message}}}}";
    let first = data(&s.gql(&admin.auth, q, json!({"p": id})).await)["workflowRuns"][0].clone();
    assert_eq!(first["status"], "succeeded", "{first}");

    // Some activity: a failed sign-in, and a task run.
    assert_eq!(s.login("eddy", "not the password").await.0, 401);
    let task = create_task(
        &s,
        &admin,
        json!({"name": "Warm activity", "trigger": {}, "target": {"projectId": id},
               "actions": [{"kind": "WARM_UP"}]}),
    )
    .await;
    let run = run_now(&s, &admin, &task).await;
    let done = wait_run(&s, &admin, &run, std::time::Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded", "{done}");

    // A refresh reads it all; the report shows it.
    let refresh = "mutation($p:ID!){runWorkflow(projectId:$p,wait:true){status blocks{block status error{message}}}}";
    let r = s.gql(&admin.auth, refresh, json!({"p": id})).await;
    assert_eq!(data(&r)["runWorkflow"]["status"], "succeeded", "{r}");
    let q = "query($p:ID!){reports(projectId:$p){id name}}";
    let report = data(&s.gql(&admin.auth, q, json!({"p": id})).await)["reports"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rows = |tile: &'static str| {
        let (auth, report) = (admin.auth.clone(), report.clone());
        let s = &s;
        async move {
            let r = s.gql(&auth, TILE, json!({"r": report, "t": tile})).await;
            data(&r)["tileResult"]["rows"].as_array().unwrap().clone()
        }
    };
    let has = |rows: &[Value], cells: &[&str]| {
        rows.iter().any(|r| {
            cells
                .iter()
                .all(|c| r.as_array().unwrap().iter().any(|v| v == c))
        })
    };
    let sign_ins = rows("sign_ins_by_actor").await;
    assert!(has(&sign_ins, &["eddy", "failed"]), "{sign_ins:?}");
    assert!(has(&sign_ins, &["admin", "ok"]), "{sign_ins:?}");
    let runs = rows("runs_by_task").await;
    assert!(has(&runs, &["Warm activity", "succeeded"]), "{runs:?}");

    // Nobody else reads the log: not by editing this project, not in a project of theirs.
    let subject = format!("user:{}", eddy.id);
    data(
        &s.grant(&admin, &subject, &format!("project:{id}"), "EDITOR")
            .await,
    );
    let r = s.gql(&eddy.auth, refresh, json!({"p": id})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert!(message(&r).contains("only admins"), "{r}");
    let folder = s.folder(&admin, None, "Eddy's").await;
    data(
        &s.grant(&admin, &subject, &format!("folder:{folder}"), "MANAGER")
            .await,
    );
    let grant = "mutation($s:String!){grantServerPermission(subject:$s,permission:PROJECT_EDITOR)}";
    data(&s.gql(&admin.auth, grant, json!({"s": subject})).await);
    let (own, _) = s.project(&eddy, &folder, "Mine").await;
    let wf = json!({"blocks": [
        {"id": "log", "kind": "instance_log", "config": {"log": "audit"}},
        {"id": "p", "kind": "publish", "config": {"dataset": "log"}, "inputs": {"in": "log"}}]});
    let save = "mutation($p:ID!,$w:JSON!){saveWorkflow(projectId:$p,workflow:$w){version}}";
    let r = s.gql(&eddy.auth, save, json!({"p": own, "w": wf})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    // A bad look-back is refused by field.
    let bad = json!({"blocks": [{"id": "log", "kind": "instance_log", "config": {"log": "audit", "days": 0}}]});
    let r = s.gql(&admin.auth, save, json!({"p": own, "w": bad})).await;
    assert_eq!(code(&r), "INVALID_WORKFLOW", "{r}");
    assert!(message(&r).contains("config.days"), "{r}");
}
