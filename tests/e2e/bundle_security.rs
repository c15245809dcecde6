//! Access filters, abilities and the share policy travel with a project's data: an
//! imported bundle and a working copy show a viewer no more rows than the origin does,
//! bundles with unreadable filters are refused whole, and filters that read attributes
//! nobody carries are kept (showing those rows to nobody) with a warning.

use serde_json::{Value, json};

use crate::bundles::{download, import, rezip};
use crate::copies::{COPY, order_count, published_world, staging};
use crate::support::*;

const FILTER: &str = "mutation($p:ID!,$a:String!){setAccessFilter(projectId:$p,dataset:\"orders\",rules:[{column:\"region\",attribute:$a}]){dataset}}";
const GOVERNANCE: &str = "query($p:ID!){accessFilters(projectId:$p){dataset rules{column attribute}} sharePolicy(projectId:$p){refuseExposingEdits} project(id:$p){abilities{ability projectValue}}}";

/// The project's bundle, exported and downloaded by `who`.
async fn bundle_of(s: &TestServer, who: &Actor, project: &str) -> Vec<u8> {
    let export = "mutation($p:ID!){exportProjectBundle(projectId:$p){url}}";
    let r = s.gql(&who.auth, export, json!({"p": project})).await;
    let url = data(&r)["exportProjectBundle"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, bytes) = download(s, &who.auth, &url).await;
    assert_eq!(status, 200);
    bytes
}

/// A change to a bundle's manifest.
type ManifestEdit = dyn Fn(&mut Value);

/// `bundle` with its manifest changed by `edit`.
fn with_manifest(bundle: &[u8], edit: impl Fn(&mut Value)) -> Vec<u8> {
    rezip(bundle, |name, bytes| {
        if name == "manifest.json" {
            let mut m: Value = serde_json::from_slice(&bytes).unwrap();
            edit(&mut m);
            vec![(name.to_owned(), serde_json::to_vec(&m).unwrap())]
        } else {
            vec![(name.to_owned(), bytes)]
        }
    })
}

fn imported_id(r: &Value) -> String {
    data(r)["importProjectBundle"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("import: {r}"))
        .to_owned()
}

/// Wendy (region West) as a viewer of `project`.
async fn west_views(s: &TestServer, admin: &Actor, west: &Actor, project: &str) {
    let (who, on) = (format!("user:{}", west.id), format!("project:{project}"));
    data(&s.grant(admin, &who, &on, "VIEWER").await);
}

async fn import_detail(s: &TestServer, admin: &Actor) -> String {
    let q = "{auditEvents(first:1,filter:{actionPrefix:\"bundle.import\"}){nodes{detail}}}";
    let r = s.gql(&admin.auth, q, json!({})).await;
    data(&r)["auditEvents"]["nodes"][0]["detail"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A published project whose orders are filtered by region, and a staging folder.
async fn filtered_world() -> (crate::data::DataWorld, String) {
    let w = published_world().await;
    let target = staging(&w).await;
    let vars = json!({"p": w.project, "a": "region"});
    data(&w.s.gql(&w.admin.auth, FILTER, vars).await);
    (w, target)
}

#[tokio::test]
async fn imported_and_copied_projects_keep_their_origins_access_filters() {
    let (w, target) = filtered_world().await;
    let (s, admin) = (&w.s, &w.admin);
    let m = "mutation($p:ID!){setSharePolicy(projectId:$p,refuseExposingEdits:true){refuseExposingEdits}}";
    data(&s.gql(&admin.auth, m, json!({"p": w.project})).await);
    let m = "mutation($p:ID!){setProjectAbility(id:$p,ability:DOWNLOAD,enabled:false){id}}";
    data(&s.gql(&admin.auth, m, json!({"p": w.project})).await);
    let origin = s
        .gql(&admin.auth, GOVERNANCE, json!({"p": w.project}))
        .await;
    let west_sees = order_count(s, &w.west, &w.project).await;
    assert!(west_sees < order_count(s, admin, &w.project).await);

    // An imported bundle: the same filters, policy and abilities, and Wendy sees her rows
    // only.
    let bundle = bundle_of(s, admin, &w.project).await;
    let imported =
        imported_id(&import(s, &admin.auth, &target, bundle.clone(), Some("Restored")).await);
    let copy = s.gql(&admin.auth, GOVERNANCE, json!({"p": imported})).await;
    assert_eq!(data(&copy), data(&origin));
    west_views(s, admin, &w.west, &imported).await;
    assert_eq!(order_count(s, &w.west, &imported).await, west_sees);
    assert!(import_detail(s, admin).await.contains("1 access filters"));

    // A working copy here too.
    let r = s
        .gql(
            &admin.auth,
            COPY,
            json!({"p": w.project, "f": target, "n": "Staged"}),
        )
        .await;
    let staged = data(&r)["createWorkingCopy"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let copy = s.gql(&admin.auth, GOVERNANCE, json!({"p": staged})).await;
    assert_eq!(data(&copy)["accessFilters"], data(&origin)["accessFilters"]);
    west_views(s, admin, &w.west, &staged).await;
    assert_eq!(order_count(s, &w.west, &staged).await, west_sees);

    // A filter reading an attribute nobody here carries is kept, and the import says so.
    let unknown = with_manifest(&bundle, |m| {
        m["security"]["access_filters"][0]["rules"][0]["attribute"] = json!("cost_center");
    });
    let r = import(s, &admin.auth, &target, unknown, Some("Unknown attribute")).await;
    let kept = imported_id(&r);
    let r = s.gql(&admin.auth, GOVERNANCE, json!({"p": kept})).await;
    assert_eq!(
        data(&r)["accessFilters"][0]["rules"][0]["attribute"],
        "cost_center"
    );
    assert!(
        import_detail(s, admin)
            .await
            .contains("cost_center, which no user here carries")
    );
    west_views(s, admin, &w.west, &kept).await;
    assert_eq!(order_count(s, &w.west, &kept).await, 0, "deny by default");

    // A bundle made before filters travelled imports, with a warning to set them again.
    let old = with_manifest(&bundle, |m| {
        m["version"] = json!(1);
        m.as_object_mut().unwrap().remove("security");
    });
    imported_id(&import(s, &admin.auth, &target, old, Some("Old bundle")).await);
    assert!(import_detail(s, admin).await.contains("set them again"));
}

#[tokio::test]
async fn a_bundle_with_unreadable_governance_is_refused_whole() {
    let (w, target) = filtered_world().await;
    let (s, admin) = (&w.s, &w.admin);
    let bundle = bundle_of(s, admin, &w.project).await;
    let projects = || async {
        let q = "query($f:ID!){projects(folderId:$f){nodes{id}}}";
        let r = s.gql(&admin.auth, q, json!({"f": target})).await;
        data(&r)["projects"]["nodes"].as_array().unwrap().len()
    };
    let before = projects().await;
    let hostile: Vec<(&str, Box<ManifestEdit>)> = vec![
        (
            "access_filters[0]",
            Box::new(|m| {
                m["security"]["access_filters"][0]["rules"][0]["attribute"] = json!("Not A Key")
            }),
        ),
        (
            "rules",
            Box::new(|m| m["security"]["access_filters"][0]["rules"] = json!([])),
        ),
        (
            "access_filters[0]",
            Box::new(|m| m["security"]["access_filters"][0]["dataset"] = json!("../x")),
        ),
        (
            "two filters",
            Box::new(|m| {
                let f = m["security"]["access_filters"][0].clone();
                m["security"]["access_filters"] = json!([f.clone(), f]);
            }),
        ),
        (
            "abilities",
            Box::new(|m| m["security"]["abilities"] = json!({"fly": true})),
        ),
        ("newer Vitrine", Box::new(|m| m["version"] = json!(3))),
    ];
    for (why, edit) in hostile {
        let r = import(s, &admin.auth, &target, with_manifest(&bundle, edit), None).await;
        assert_eq!(code(&r), "INVALID_BUNDLE", "{why}: {r}");
        assert!(message(&r).contains(why), "{why}: {r}");
    }
    assert_eq!(projects().await, before, "nothing was written");
}
