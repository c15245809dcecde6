//! Project templates (governance issue, item 10): managers mark a project as a template;
//! a project started from it holds its workflow, reports, parameters and access filters,
//! its data only when asked (and only for the template's editors), and records the
//! template's revision as its origin.

use serde_json::{Value, json};

use crate::copies::{HISTORY, first_report, history, order_count, published_world, title_of};
use crate::data::{DataWorld, RUN};
use crate::support::*;

const MARK: &str =
    "mutation($p:ID!,$t:Boolean!){setProjectTemplate(projectId:$p,template:$t){isTemplate}}";
const FROM: &str = "mutation($t:ID!,$f:ID!,$n:String!,$d:Boolean){createProjectFromTemplate(templateId:$t,folderId:$f,name:$n,withData:$d){id isTemplate templateOrigin{projectId projectName revision}}}";
const TEMPLATES: &str = "{projectTemplates{id name}}";
const FILTER: &str = "mutation($p:ID!){setAccessFilter(projectId:$p,dataset:\"orders\",rules:[{column:\"region\",attribute:\"region\"}]){dataset}}";
const FILTERS: &str = "query($p:ID!){accessFilters(projectId:$p){dataset rules{column attribute}}}";
const GRANT: &str =
    "mutation($s:String!){grantServerPermission(subject:$s,permission:PROJECT_EDITOR)}";

/// A folder `who` may create projects in (editor on it, and `project_editor`).
async fn own_folder(w: &DataWorld, who: &Actor, name: &str) -> String {
    let s = &w.s;
    let folder = crate::copies::staging(w).await;
    let subject = format!("user:{}", who.id);
    let r = s
        .gql(
            &w.admin.auth,
            "mutation($f:ID!,$n:String!){renameFolder(id:$f,name:$n){id}}",
            json!({"f": folder, "n": name}),
        )
        .await;
    data(&r);
    data(
        &s.grant(&w.admin, &subject, &format!("folder:{folder}"), "EDITOR")
            .await,
    );
    data(&s.gql(&w.admin.auth, GRANT, json!({"s": subject})).await);
    folder
}

fn created(r: &Value) -> (String, Value) {
    let p = &data(r)["createProjectFromTemplate"];
    (p["id"].as_str().unwrap().to_owned(), p.clone())
}

#[tokio::test]
async fn a_project_started_from_a_template_has_its_content_and_its_data_only_when_asked() {
    let w = published_world().await;
    let s = &w.s;
    data(&s.gql(&w.admin.auth, FILTER, json!({"p": w.project})).await);
    let mine = own_folder(&w, &w.west, "West's").await;
    let start = |who: &Actor, with_data: bool| {
        let vars = json!({"t": w.project, "f": mine, "n": "Mine", "d": with_data});
        let auth = who.auth.clone();
        async move { s.gql(&auth, FROM, vars).await }
    };

    // Not a template yet: nothing starts from it, and only its managers mark it.
    let r = start(&w.west, false).await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    assert!(message(&r).contains("not a template"), "{r}");
    let r = s
        .gql(&w.editor.auth, MARK, json!({"p": w.project, "t": true}))
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let r = s
        .gql(&w.admin.auth, MARK, json!({"p": w.project, "t": true}))
        .await;
    assert_eq!(data(&r)["setProjectTemplate"]["isTemplate"], true);
    let q =
        "{auditEvents(first:1,filter:{actionPrefix:\"project.template\"}){nodes{object detail}}}";
    let r = s.gql(&w.admin.auth, q, json!({})).await;
    assert_eq!(
        data(&r)["auditEvents"]["nodes"][0],
        json!({"object": format!("project:{}", w.project), "detail": "on"})
    );

    // Listed for whoever may view it, and for nobody else.
    let r = s.gql(&w.west.auth, TEMPLATES, json!({})).await;
    assert_eq!(
        data(&r)["projectTemplates"],
        json!([{"id": w.project, "name": "Superstore"}])
    );
    let stranger = s.user(&w.admin, "stranger").await;
    let r = s.gql(&stranger.auth, TEMPLATES, json!({})).await;
    assert_eq!(data(&r)["projectTemplates"], json!([]));
    let vars = json!({"t": w.project, "f": mine, "n": "Nope"});
    let r = s.gql(&stranger.auth, FROM, vars).await;
    assert!(
        matches!(code(&r).as_str(), "FORBIDDEN" | "NOT_FOUND"),
        "{r}"
    );

    // A viewer of the template starts a project: content and filters, no data, origin.
    let head = history(&s.gql(&w.admin.auth, HISTORY, json!({"p": w.project})).await)[0]["number"]
        .as_i64()
        .unwrap();
    let (fresh, p) = created(&start(&w.west, false).await);
    assert_eq!(p["isTemplate"], false);
    assert_eq!(
        p["templateOrigin"],
        json!({"projectId": w.project, "projectName": "Superstore", "revision": head})
    );
    assert_eq!(
        title_of(s, &w.west, &fresh).await,
        title_of(s, &w.admin, &w.project).await
    );
    let r = s.gql(&w.west.auth, FILTERS, json!({"p": fresh})).await;
    assert_eq!(
        data(&r)["accessFilters"],
        json!([{"dataset": "orders", "rules": [{"column": "region", "attribute": "region"}]}])
    );
    let ds = "query($p:ID!){datasets(projectId:$p){name}}";
    let r = s.gql(&w.west.auth, ds, json!({"p": fresh})).await;
    assert_eq!(data(&r)["datasets"], json!([]), "no data unless asked");
    let h = history(&s.gql(&w.west.auth, HISTORY, json!({"p": fresh})).await);
    assert_eq!(h.len(), 1);
    assert_eq!(
        h[0]["message"],
        format!("from template Superstore revision {head}")
    );
    // Its own first run brings the data, read through the template's parameters.
    let run = s.gql(&w.west.auth, RUN, json!({"p": fresh})).await;
    assert_eq!(data(&run)["runWorkflow"]["status"], "succeeded", "{run}");
    assert_eq!(
        order_count(s, &w.west, &fresh).await,
        order_count(s, &w.admin, &w.project).await
    );

    // Data only for the template's editors, who see it unfiltered already.
    let r = start(&w.west, true).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let theirs = own_folder(&w, &w.editor, "Eddy's").await;
    let vars = json!({"t": w.project, "f": theirs, "n": "With data", "d": true});
    let (with_data, _) = created(&s.gql(&w.editor.auth, FROM, vars).await);
    assert_eq!(
        order_count(s, &w.editor, &with_data).await,
        order_count(s, &w.admin, &w.project).await
    );

    // Later template changes stay in the template.
    let (report, mut def) = first_report(s, &w.admin, &w.project).await;
    def["tabs"][0]["tiles"][0]["title"] = json!("Template v2");
    let update = "mutation($r:ID!,$d:JSON!){updateReport(id:$r,definition:$d){id}}";
    data(
        &s.gql(&w.admin.auth, update, json!({"r": report, "d": def}))
            .await,
    );
    assert_ne!(title_of(s, &w.west, &fresh).await, "Template v2");

    // Starting needs project_editor like any new project: refused on production.
    let editing = "mutation($e:Boolean!){setProjectEditing(enabled:$e){projectEditing}}";
    data(&s.gql(&w.admin.auth, editing, json!({"e": false})).await);
    let r = start(&w.west, false).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    data(&s.gql(&w.admin.auth, editing, json!({"e": true})).await);

    // Unmarked, it is listed no more and nothing starts from it.
    data(
        &s.gql(&w.admin.auth, MARK, json!({"p": w.project, "t": false}))
            .await,
    );
    let r = s.gql(&w.west.auth, TEMPLATES, json!({})).await;
    assert_eq!(data(&r)["projectTemplates"], json!([]));
    let r = start(&w.west, false).await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    let r = s
        .gql(
            &w.west.auth,
            FROM,
            json!({"t": "no-such", "f": mine, "n": "X"}),
        )
        .await;
    assert_eq!(code(&r), "NOT_FOUND", "{r}");
}
