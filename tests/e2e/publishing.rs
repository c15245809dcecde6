//! Project publishers and production instances (governance issue, item 9): editors who
//! hold `project_publisher` copy and push like managers; with the Project Editor switch
//! off, a project's content changes only through a push — on this instance and from
//! another one — and nobody, admins included, edits it or creates projects directly.

use serde_json::{Value, json};

use crate::copies::{COPY, HISTORY, PUSH, first_report, history, published_world, set_title};
use crate::copies::{staging, title_of, working_copy};
use crate::data::DataWorld;
use crate::remote_copies::second_instance;
use crate::support::*;

const SET_EDITING: &str = "mutation($e:Boolean!){setProjectEditing(enabled:$e){projectEditing}}";
const PERMISSION: &str =
    "mutation($s:String!,$p:ServerPermission!){grantServerPermission(subject:$s,permission:$p)}";
const UNPERMISSION: &str =
    "mutation($s:String!,$p:ServerPermission!){revokeServerPermission(subject:$s,permission:$p)}";
const UPDATE: &str = "mutation($r:ID!,$d:JSON!){updateReport(id:$r,definition:$d){id}}";
const CREATE: &str = "mutation($f:ID!){createProject(folderId:$f,name:\"Fresh\"){id}}";
const LINK: &str =
    "mutation($p:ID!){createWorkingCopyLink(projectId:$p,expiresInHours:2,allowPush:true){url}}";

async fn permission(w: &DataWorld, who: &Actor, permission: &str, on: bool) {
    let vars = json!({"s": format!("user:{}", who.id), "p": permission});
    let q = if on { PERMISSION } else { UNPERMISSION };
    data(&w.s.gql(&w.admin.auth, q, vars).await);
}

/// The editor, who edits the origin, also edits the staging folder copies go to.
async fn editor_stages(w: &DataWorld) -> String {
    let stage = staging(w).await;
    let subject = format!("user:{}", w.editor.id);
    let folder = format!("folder:{stage}");
    data(&w.s.grant(&w.admin, &subject, &folder, "EDITOR").await);
    stage
}

/// Sets the first tile's title of `project`'s first report as `who`; answers the reply.
async fn retitle(w: &DataWorld, who: &Actor, project: &str, title: &str) -> Value {
    retitle_on(&w.s, who, project, title).await
}

#[tokio::test]
async fn editors_holding_project_publisher_copy_and_push_like_managers() {
    let w = published_world().await;
    let s = &w.s;
    let stage = editor_stages(&w).await;
    let copy_vars = json!({"p": w.project, "f": stage, "n": "Staging"});

    // An editor without the permission neither copies nor issues links.
    let r = s.gql(&w.editor.auth, COPY, copy_vars.clone()).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert!(
        message(&r).contains("the PROJECT_PUBLISHER permission; you have EDITOR"),
        "{r}"
    );
    let r = s.gql(&w.editor.auth, LINK, json!({"p": w.project})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    // A viewer holding it may not either: publishing needs the editor role.
    permission(&w, &w.west, "PROJECT_PUBLISHER", true).await;
    let r = s.gql(&w.west.auth, COPY, copy_vars.clone()).await;
    assert!(
        matches!(code(&r).as_str(), "FORBIDDEN" | "NOT_FOUND"),
        "{r}"
    );

    // With it, the editor copies (without project_editor), changes the copy, pushes.
    permission(&w, &w.editor, "PROJECT_PUBLISHER", true).await;
    let copy = working_copy(s, &w.editor, copy_vars).await;
    let r = s.gql(&w.editor.auth, LINK, json!({"p": w.project})).await;
    assert!(data(&r)["createWorkingCopyLink"]["url"].is_string(), "{r}");
    let (report, def) = first_report(s, &w.editor, &copy).await;
    set_title(s, &w.editor, &report, &def, "Published by Eddy").await;
    let r = s.gql(&w.editor.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(data(&r)["pushWorkingCopy"]["revisions"], 1, "{r}");
    assert_eq!(title_of(s, &w.west, &w.project).await, "Published by Eddy");
    // Publishing is not authoring: a blank project still needs project_editor.
    let r = s.gql(&w.editor.auth, CREATE, json!({"f": stage})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert!(message(&r).contains("project_editor"), "{r}");

    // Without the permission again, the next push is refused and changes nothing.
    permission(&w, &w.editor, "PROJECT_PUBLISHER", false).await;
    set_title(s, &w.editor, &report, &def, "Not published").await;
    let r = s.gql(&w.editor.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert_eq!(title_of(s, &w.west, &w.project).await, "Published by Eddy");
}

#[tokio::test]
async fn with_project_editing_off_content_reaches_a_project_only_through_a_push() {
    let w = published_world().await;
    let s = &w.s;
    let stage = editor_stages(&w).await;
    permission(&w, &w.editor, "PROJECT_PUBLISHER", true).await;

    // On (the default), editors change the project in place.
    let r = s
        .gql(
            &w.admin.auth,
            "{instanceSettings{projectEditing}}",
            json!({}),
        )
        .await;
    assert_eq!(data(&r)["instanceSettings"]["projectEditing"], true);
    data(&retitle(&w, &w.editor, &w.project, "Edited in place").await);
    assert_eq!(title_of(s, &w.west, &w.project).await, "Edited in place");

    // Only admins flip the switch; it is audited.
    let r = s
        .gql(&w.editor.auth, SET_EDITING, json!({"e": false}))
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let r = s.gql(&w.admin.auth, SET_EDITING, json!({"e": false})).await;
    assert_eq!(data(&r)["setProjectEditing"]["projectEditing"], false);
    let q = "{auditEvents(first:1,filter:{actionPrefix:\"settings.project_editing\"}){nodes{actorName detail}}}";
    let r = s.gql(&w.admin.auth, q, json!({})).await;
    let event = &data(&r)["auditEvents"]["nodes"][0];
    assert_eq!(event["actorName"], "admin");
    assert!(event["detail"].as_str().unwrap().starts_with("off"), "{r}");

    // Off: nobody edits the project directly, the admin included, and nothing changes.
    for who in [&w.editor, &w.admin] {
        let r = retitle(&w, who, &w.project, "Edited on production").await;
        assert_eq!(code(&r), "EDITING_OFF", "{r}");
    }
    let workflow = json!({"p": w.project, "w": crate::data::pipeline(1.0)});
    let r = s.gql(&w.admin.auth, crate::data::SAVE, workflow).await;
    assert_eq!(code(&r), "EDITING_OFF", "{r}");
    let h = history(&s.gql(&w.admin.auth, HISTORY, json!({"p": w.project})).await);
    let revert = "mutation($r:ID!){revertToRevision(id:$r){number}}";
    let q = "query($p:ID!){revisions(projectId:$p,first:3){edges{node{id}}}}";
    let r = s.gql(&w.admin.auth, q, json!({"p": w.project})).await;
    let oldest = data(&r)["revisions"]["edges"][2]["node"]["id"].clone();
    let r = s.gql(&w.admin.auth, revert, json!({"r": oldest})).await;
    assert_eq!(code(&r), "EDITING_OFF", "{r}");
    assert_eq!(title_of(s, &w.west, &w.project).await, "Edited in place");
    let after = history(&s.gql(&w.admin.auth, HISTORY, json!({"p": w.project})).await);
    assert_eq!(after.len(), h.len());
    // Nobody holds project_editor: no blank projects, not even for an admin.
    let r = s.gql(&w.admin.auth, CREATE, json!({"f": stage})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert!(message(&r).contains("switched off"), "{r}");
    // Runs go on: production refreshes its data.
    let run = s
        .gql(&w.editor.auth, crate::data::RUN, json!({"p": w.project}))
        .await;
    assert_eq!(data(&run)["runWorkflow"]["status"], "succeeded", "{run}");

    // A publisher's working copy stays editable, and its push is how production changes.
    let copy = working_copy(
        s,
        &w.editor,
        json!({"p": w.project, "f": stage, "n": "Staging"}),
    )
    .await;
    data(&retitle(&w, &w.editor, &copy, "Through a push").await);
    assert_eq!(title_of(s, &w.west, &w.project).await, "Edited in place");
    let r = s.gql(&w.editor.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(data(&r)["pushWorkingCopy"]["revisions"], 1, "{r}");
    assert_eq!(title_of(s, &w.west, &w.project).await, "Through a push");
    let h = history(&s.gql(&w.admin.auth, HISTORY, json!({"p": w.project})).await);
    assert_eq!(h[0]["pushedFrom"]["projectId"], copy.as_str());

    // On again: direct edits work from the next request.
    data(&s.gql(&w.admin.auth, SET_EDITING, json!({"e": true})).await);
    data(&retitle(&w, &w.editor, &w.project, "Back in place").await);
    assert_eq!(title_of(s, &w.west, &w.project).await, "Back in place");
}

#[tokio::test]
async fn a_production_instance_takes_a_publishers_push_from_another_instance() {
    let w = published_world().await;
    let a = &w.s;
    let (b, b_admin, b_folder) = second_instance(w.files.path()).await;
    permission(&w, &w.editor, "PROJECT_PUBLISHER", true).await;
    data(&a.gql(&w.admin.auth, SET_EDITING, json!({"e": false})).await);

    // The publisher (an editor of the origin) issues the link; B copies and pushes.
    let r = a.gql(&w.editor.auth, LINK, json!({"p": w.project})).await;
    let link = data(&r)["createWorkingCopyLink"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let vars = json!({"l": link, "f": b_folder, "n": "Superstore (dev)"});
    let copy = working_copy(&b, &b_admin, vars).await;
    data(&retitle_on(&b, &b_admin, &copy, "Pushed from dev").await);
    let r = b.gql(&b_admin.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(data(&r)["pushWorkingCopy"]["revisions"], 1, "{r}");
    assert_eq!(title_of(a, &w.west, &w.project).await, "Pushed from dev");

    // The link acts as its creator: once no longer a publisher, it pushes nothing.
    permission(&w, &w.editor, "PROJECT_PUBLISHER", false).await;
    data(&retitle_on(&b, &b_admin, &copy, "Too late").await);
    let r = b.gql(&b_admin.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(code(&r), "LINK_NOT_VALID", "{r}");
    assert_eq!(title_of(a, &w.west, &w.project).await, "Pushed from dev");
}

/// [`retitle`] on any instance.
async fn retitle_on(s: &TestServer, who: &Actor, project: &str, title: &str) -> Value {
    let (report, mut def) = first_report(s, who, project).await;
    def["tabs"][0]["tiles"][0]["title"] = json!(title);
    s.gql(&who.auth, UPDATE, json!({"r": report, "d": def}))
        .await
}
