//! Working copies on a second instance, made from a working-copy link: the link's scope
//! (pull only, push, force), who may push through it, syncing both ways, and revocation.

use serde_json::json;

use crate::copies::{
    COPY, HISTORY, PULL, PUSH, STATUS, first_report, history, order_count, published_world,
    set_title, title_of, working_copy,
};
use crate::data::*;
use crate::support::*;

/// A second instance with the same resource location name, as staging and production
/// would have: an admin and a folder allowed to read the test files.
pub(crate) async fn second_instance(files: &std::path::Path) -> (TestServer, Actor, String) {
    // Its origin listens on this machine: outbound requests reach it only when allowed.
    let s = TestServer::start_env(&[("VITRINE_OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")]).await;
    let admin = s.admin().await;
    let folder = s.folder(&admin, None, "Imported").await;
    let r = s
        .gql(
            &admin.auth,
            "mutation($d:JSON!){createResourceLocation(name:\"files\",definition:$d){id}}",
            json!({"d": {"kind": "fs", "root": files}}),
        )
        .await;
    let loc = data(&r)["createResourceLocation"]["id"].clone();
    data(
        &s.gql(
            &admin.auth,
            "mutation($l:ID!,$f:ID!){grantResourceLocation(id:$l,folderId:$f,access:WRITE){id}}",
            json!({"l": loc, "f": folder}),
        )
        .await,
    );
    (s, admin, folder)
}

const LINK: &str = "mutation($p:ID!){createWorkingCopyLink(projectId:$p,expiresInHours:2,allowPush:true){url link{id expiresAt allowPush allowForce}}}";
const PULL_LINK: &str = "mutation($p:ID!){createWorkingCopyLink(projectId:$p,expiresInHours:2){url link{id allowPush}}}";

#[tokio::test]
async fn a_remote_origin_takes_pushes_only_as_far_as_its_link_allows() {
    let w = published_world().await;
    let a = &w.s;
    let (b, b_admin, b_folder) = second_instance(w.files.path()).await;
    let r = a
        .gql(&w.admin.auth, PULL_LINK, json!({"p": w.project}))
        .await;
    assert_eq!(
        data(&r)["createWorkingCopyLink"]["link"]["allowPush"],
        false
    );
    let link = data(&r)["createWorkingCopyLink"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = a
        .gql(
            &w.admin.auth,
            "mutation($p:ID!){createWorkingCopyLink(projectId:$p,allowForce:true){url}}",
            json!({"p": w.project}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    let copy = working_copy(
        &b,
        &b_admin,
        json!({"l": link, "f": b_folder, "n": "Reader"}),
    )
    .await;
    let (report, def) = first_report(&b, &b_admin, &copy).await;
    set_title(&b, &b_admin, &report, &def, "Not for production").await;
    for force in [false, true] {
        let r = b
            .gql(&b_admin.auth, PUSH, json!({"p": copy, "force": force}))
            .await;
        assert_eq!(code(&r), "FORBIDDEN", "{r}");
    }
    assert_ne!(
        title_of(a, &w.admin, &w.project).await,
        "Not for production"
    );

    // With a link that allows pushing, only the copy's managers publish through it.
    let r = a.gql(&w.admin.auth, LINK, json!({"p": w.project})).await;
    let link = data(&r)["createWorkingCopyLink"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let copy = working_copy(
        &b,
        &b_admin,
        json!({"l": link, "f": b_folder, "n": "Writer"}),
    )
    .await;
    let ed = b.user(&b_admin, "eddie").await;
    data(
        &b.grant(
            &b_admin,
            &format!("user:{}", ed.id),
            &format!("project:{copy}"),
            "EDITOR",
        )
        .await,
    );
    let (report, def) = first_report(&b, &b_admin, &copy).await;
    set_title(&b, &ed, &report, &def, "An editor's change").await;
    let r = b.gql(&ed.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    // Nor can the editor schedule that push, while the copy's manager can.
    let task = json!({"name": "Publish", "trigger": {"cron": "0 6 * * 1-5"},
        "target": {"projectId": copy}, "actions": [{"kind": "PUSH"}]});
    let r = b
        .gql(&ed.auth, crate::tasks::CREATE, json!({"i": task}))
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert!(message(&r).contains("needs the MANAGER role"), "{r}");
    crate::tasks::create_task(&b, &b_admin, task).await;
    // A forced push needs a link that allows forcing.
    let r = b
        .gql(&b_admin.auth, PUSH, json!({"p": copy, "force": true}))
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let r = b.gql(&b_admin.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(data(&r)["pushWorkingCopy"]["revisions"], 1, "{r}");
    assert_eq!(
        title_of(a, &w.admin, &w.project).await,
        "An editor's change"
    );
}

#[tokio::test]
async fn a_working_copy_on_another_instance_syncs_through_a_link() {
    let w = published_world().await;
    let a = &w.s;
    let (b, b_admin, b_folder) = second_instance(w.files.path()).await;

    // Only the origin's managers issue links.
    let r = a.gql(&w.editor.auth, LINK, json!({"p": w.project})).await;
    assert!(
        matches!(code(&r).as_str(), "FORBIDDEN" | "NOT_FOUND"),
        "{r}"
    );
    let r = a.gql(&w.admin.auth, LINK, json!({"p": w.project})).await;
    let link = data(&r)["createWorkingCopyLink"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let link_id = data(&r)["createWorkingCopyLink"]["link"]["id"].clone();
    assert!(link.starts_with(&format!("{}/wc/vwc_", a.url)), "{link}");

    // Links that are not links, or not to be trusted, are refused before any request.
    for bad in [
        "http://example.com/wc/vwc_abc",
        "ftp://x/wc/vwc_a",
        "https://x/nothing",
    ] {
        let r = b
            .gql(
                &b_admin.auth,
                COPY,
                json!({"l": bad, "f": b_folder, "n": "X"}),
            )
            .await;
        assert_eq!(code(&r), "INVALID_INPUT", "{bad}: {r}");
    }
    let forged = format!("{}/wc/vwc_forged", a.url);
    let r = b
        .gql(
            &b_admin.auth,
            COPY,
            json!({"l": forged, "f": b_folder, "n": "X"}),
        )
        .await;
    assert_eq!(code(&r), "LINK_NOT_VALID", "{r}");

    let copy = working_copy(
        &b,
        &b_admin,
        json!({"l": link, "f": b_folder, "n": "Superstore (staging)"}),
    )
    .await;
    assert_eq!(
        order_count(&b, &b_admin, &copy).await,
        order_count(a, &w.admin, &w.project).await
    );
    let st = b.gql(&b_admin.auth, STATUS, json!({"p": copy})).await;
    assert_eq!(data(&st)["workingCopy"]["originUrl"], a.url.as_str());
    assert_eq!(data(&st)["workingCopy"]["originId"], w.project.as_str());
    assert_eq!(data(&st)["workingCopy"]["behind"], 0);

    // Change on B, push to A.
    let (report, def) = first_report(&b, &b_admin, &copy).await;
    set_title(&b, &b_admin, &report, &def, "Staged on B").await;
    let r = b.gql(&b_admin.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(data(&r)["pushWorkingCopy"]["revisions"], 1, "{r}");
    assert_eq!(title_of(a, &w.west, &w.project).await, "Staged on B");
    let h = history(&a.gql(&w.admin.auth, HISTORY, json!({"p": w.project})).await);
    assert_eq!(h[0]["pushedFrom"]["projectName"], "Superstore (staging)");
    assert_eq!(h[0]["pushedFrom"]["number"], 2);
    assert!(
        h[0]["pushedFrom"]["instance"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1")
    );

    // A moves on: B's next push is refused until B pulls.
    let (a_report, a_def) = first_report(a, &w.admin, &w.project).await;
    set_title(a, &w.editor, &a_report, &a_def, "Fixed on A").await;
    let st = b.gql(&b_admin.auth, STATUS, json!({"p": copy})).await;
    assert_eq!(data(&st)["workingCopy"]["behind"], 1);
    let (_, def) = first_report(&b, &b_admin, &copy).await;
    set_title(&b, &b_admin, &report, &def, "Second on B").await;
    let r = b.gql(&b_admin.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(code(&r), "ORIGIN_MOVED", "{r}");
    let r = b
        .gql(&b_admin.auth, PULL, json!({"p": copy, "d": true}))
        .await;
    assert_eq!(data(&r)["pullWorkingCopy"]["revisions"], 1, "{r}");
    assert_eq!(title_of(&b, &b_admin, &copy).await, "Fixed on A");

    // Staging reads test data through an instance parameter; the pushed project, unedited,
    // reads production data on A once A runs it.
    let csv = std::fs::read_to_string(w.files.path().join("in/superstore.csv")).unwrap();
    let sample: Vec<&str> = csv.lines().take(11).collect();
    std::fs::write(
        w.files.path().join("in/staging.csv"),
        sample.join("\n") + "\n",
    )
    .unwrap();
    data(
        &b.gql(
            &b_admin.auth,
            "mutation{setInstanceParameters(parameters:[{name:\"input\",value:\"in/staging.csv\"}]){name}}",
            json!({}),
        )
        .await,
    );
    let run = b.gql(&b_admin.auth, RUN, json!({"p": copy})).await;
    assert_eq!(data(&run)["runWorkflow"]["status"], "succeeded", "{run}");
    assert_eq!(order_count(&b, &b_admin, &copy).await, 10);
    let (_, def) = first_report(&b, &b_admin, &copy).await;
    set_title(&b, &b_admin, &report, &def, "Tested on staging").await;
    let r = b.gql(&b_admin.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(data(&r)["pushWorkingCopy"]["revisions"], 1, "{r}");
    let run = a.gql(&w.admin.auth, RUN, json!({"p": w.project})).await;
    assert_eq!(data(&run)["runWorkflow"]["status"], "succeeded", "{run}");
    assert_eq!(title_of(a, &w.admin, &w.project).await, "Tested on staging");
    assert!(
        order_count(a, &w.admin, &w.project).await > 10,
        "production data on A"
    );

    // Revoking the link on A cuts B off.
    data(
        &a.gql(
            &w.admin.auth,
            "mutation($p:ID!,$id:ID!){revokeWorkingCopyLink(projectId:$p,id:$id)}",
            json!({"p": w.project, "id": link_id}),
        )
        .await,
    );
    let (_, def) = first_report(&b, &b_admin, &copy).await;
    set_title(&b, &b_admin, &report, &def, "Too late").await;
    let r = b.gql(&b_admin.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(code(&r), "LINK_NOT_VALID", "{r}");
    assert_eq!(title_of(a, &w.admin, &w.project).await, "Tested on staging");
}

const FOLDER_LINK: &str = "mutation($f:ID,$p:ID,$s:ID){createWorkingCopyLink(folderId:$f,projectId:$p,allowPush:true,serviceAccountId:$s){url link{id projectId folderId}}}";

#[tokio::test]
async fn a_folders_link_opens_the_projects_inside_it_and_none_beside_it() {
    let w = published_world().await;
    let a = &w.s;
    let (b, b_admin, b_folder) = second_instance(w.files.path()).await;
    let elsewhere = a.folder(&w.admin, None, "Elsewhere").await;
    let (outside, _) = a.project(&w.admin, &elsewhere, "Outside").await;
    let deployer = a.service_account(&w.admin, "deployer").await;
    // The account could edit both folders; the link reaches one.
    for folder in [&w.folder, &elsewhere] {
        let (who, on) = (format!("user:{deployer}"), format!("folder:{folder}"));
        data(&a.grant(&w.admin, &who, &on, "EDITOR").await);
    }

    // Exactly one of projectId and folderId, from the folder's managers only.
    for vars in [
        json!({"s": deployer}),
        json!({"f": w.folder, "p": w.project, "s": deployer}),
    ] {
        let r = a.gql(&w.admin.auth, FOLDER_LINK, vars).await;
        assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    }
    let r = a
        .gql(
            &w.editor.auth,
            FOLDER_LINK,
            json!({"f": w.folder, "s": deployer}),
        )
        .await;
    assert!(
        ["FORBIDDEN", "NOT_FOUND"].contains(&code(&r).as_str()),
        "{r}"
    );
    let r = a
        .gql(
            &w.admin.auth,
            FOLDER_LINK,
            json!({"f": w.folder, "s": deployer}),
        )
        .await;
    let made = &data(&r)["createWorkingCopyLink"];
    assert_eq!(made["link"]["folderId"], w.folder.as_str());
    assert!(made["link"]["projectId"].is_null());
    let link_id = made["link"]["id"].clone();
    let link = made["url"].as_str().unwrap().to_owned();
    // Listed with its folder, not with the folder's projects.
    let list = "query($f:ID,$p:ID){workingCopyLinks(folderId:$f,projectId:$p){id folderId}}";
    let r = a.gql(&w.admin.auth, list, json!({"f": w.folder})).await;
    assert_eq!(data(&r)["workingCopyLinks"].as_array().unwrap().len(), 1);
    let r = a.gql(&w.admin.auth, list, json!({"p": w.project})).await;
    assert_eq!(data(&r)["workingCopyLinks"], json!([]));

    // The copy names the project. Without one, with a malformed one, or with one beside
    // the folder, nothing is made.
    let copies = || async {
        let q = "query($f:ID){projects(folderId:$f){nodes{id}}}";
        let r = b.gql(&b_admin.auth, q, json!({"f": b_folder})).await;
        data(&r)["projects"]["nodes"].as_array().unwrap().len()
    };
    let attempt = |l: String| {
        let vars = json!({"l": l, "f": b_folder, "n": "Attempt"});
        let (b, who) = (&b, &b_admin);
        async move { b.gql(&who.auth, COPY, vars).await }
    };
    let r = attempt(link.clone()).await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    assert!(message(&r).contains("?project="), "{r}");
    let r = attempt(format!("{link}?proj={}", w.project)).await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    let r = attempt(format!("{link}?project={outside}")).await;
    assert_eq!(code(&r), "LINK_NOT_VALID", "{r}");
    // A project's link opens its project only, whatever the copy names.
    let r = a
        .gql(&w.admin.auth, PULL_LINK, json!({"p": w.project}))
        .await;
    let project_link = data(&r)["createWorkingCopyLink"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = attempt(format!("{project_link}?project={outside}")).await;
    assert_eq!(code(&r), "LINK_NOT_VALID", "{r}");
    assert_eq!(copies().await, 0);

    // A project inside: copied, pushed to and pulled from through the folder's link.
    let vars =
        json!({"l": format!("{link}?project={}", w.project), "f": b_folder, "n": "Via folder"});
    let copy = working_copy(&b, &b_admin, vars).await;
    assert_eq!(
        order_count(&b, &b_admin, &copy).await,
        order_count(a, &w.admin, &w.project).await
    );
    let (report, def) = first_report(&b, &b_admin, &copy).await;
    set_title(&b, &b_admin, &report, &def, "Through the folder").await;
    let r = b.gql(&b_admin.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(data(&r)["pushWorkingCopy"]["revisions"], 1, "{r}");
    assert_eq!(
        title_of(a, &w.admin, &w.project).await,
        "Through the folder"
    );
    let (report, def) = first_report(a, &w.admin, &w.project).await;
    set_title(a, &w.admin, &report, &def, "Changed at the origin").await;
    let r = b.gql(&b_admin.auth, PULL, json!({"p": copy})).await;
    assert!(data(&r)["pullWorkingCopy"]["head"].is_number(), "{r}");
    assert_eq!(title_of(&b, &b_admin, &copy).await, "Changed at the origin");
    // The origin audited the push on the project, as the service account.
    let r = a
        .gql(
            &w.admin.auth,
            "{auditEvents(first:5, filter:{actionPrefix:\"working_copy.push\"}){nodes{actorName object}}}",
            json!({}),
        )
        .await;
    assert_eq!(
        data(&r)["auditEvents"]["nodes"][0],
        json!({"actorName": "deployer", "object": format!("project:{}", w.project)})
    );

    // Revoking the folder's link ends every copy made through it.
    let m = "mutation($f:ID,$i:ID!){revokeWorkingCopyLink(folderId:$f,id:$i)}";
    let r = a
        .gql(&w.admin.auth, m, json!({"f": w.folder, "i": link_id}))
        .await;
    assert_eq!(data(&r)["revokeWorkingCopyLink"], true);
    let (report, def) = first_report(&b, &b_admin, &copy).await;
    set_title(&b, &b_admin, &report, &def, "Too late").await;
    let r = b.gql(&b_admin.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(code(&r), "LINK_NOT_VALID", "{r}");
    assert_eq!(
        title_of(a, &w.admin, &w.project).await,
        "Changed at the origin"
    );
}
