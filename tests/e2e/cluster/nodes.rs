//! Two `serve` nodes: what one writes the other sees — projects, uploaded data in the
//! shared bucket, warmed reports, share links and revocations; grants and revocations
//! take effect on the other node within a second; password guesses spread over both
//! nodes count as one; migrations ran once; one node killed, the other serves on.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Cluster;
use crate::data::{REPORT, SUPERSTORE, report_definition};
use crate::sharing::Visitor;
use crate::support::*;

const TILE: &str = "query($r:ID!){tileResult(reportId:$r,tileId:\"by_region\"){rows rowCount}}";
const PROJECT: &str = "query($id:ID!){project(id:$id){name slug}}";

/// Uploads `bytes` as a CSV to `project` through `s`; answers the upload's id.
async fn upload(s: &TestServer, who: &Actor, project: &str, bytes: &[u8]) -> String {
    let Auth::Bearer(token) = &who.auth else {
        panic!("a token")
    };
    let ops = json!({"query": "mutation($p:ID!,$f:Upload!){uploadFile(projectId:$p,file:$f){id}}",
                     "variables": {"p": project, "f": null}});
    let form = reqwest::multipart::Form::new()
        .text("operations", ops.to_string())
        .text("map", json!({"0": ["variables.f"]}).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("superstore.csv"),
        );
    let body: Value = reqwest::Client::new()
        .post(format!("{}/graphql", s.url))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    data(&body)["uploadFile"]["id"].as_str().unwrap().to_owned()
}

/// Uploads the Superstore CSV to `project` through `s` and publishes it as the dataset
/// `orders` (a workflow of two blocks, run once).
async fn publish_superstore(s: &TestServer, who: &Actor, project: &str) {
    let upload = upload(s, who, project, SUPERSTORE.as_bytes()).await;
    let workflow = json!({"blocks": [
        {"id": "orders", "kind": "upload_source", "config": {"upload": upload, "format": "csv"}},
        {"id": "publish", "kind": "publish", "config": {"dataset": "orders"}, "inputs": {"in": "orders"}},
    ]});
    data(
        &s.gql(
            &who.auth,
            "mutation($p:ID!,$w:JSON!){saveWorkflow(projectId:$p,workflow:$w){version}}",
            json!({"p": project, "w": workflow}),
        )
        .await,
    );
    let run = s
        .gql(
            &who.auth,
            "mutation($p:ID!){runWorkflow(projectId:$p,wait:true){status}}",
            json!({"p": project}),
        )
        .await;
    assert_eq!(data(&run)["runWorkflow"]["status"], "succeeded", "{run}");
}

/// Polls `f` on `s` until it answers `want`, for at most `limit`; answers how long it took.
async fn within(limit: Duration, mut f: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !f().await {
        assert!(started.elapsed() < limit, "not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn what_one_node_writes_the_other_serves() {
    let c = Cluster::start().await;
    // Both nodes start at once on a fresh database: the migrations run once.
    let (a, b) = tokio::join!(c.serve("a"), c.serve("b"));
    let counts = c
        .surreal
        .sql(
            "vitrine",
            "main",
            "SELECT version, count() AS n FROM migration GROUP BY version",
        )
        .await;
    let rows = counts[0]["result"].as_array().expect("migration rows");
    assert!(rows.len() >= 12, "{counts}");
    assert!(
        rows.iter().all(|r| r["n"] == 1),
        "a migration ran twice: {counts}"
    );

    // Node A: a project with uploaded data, a workflow, a warmed report, links.
    let admin = a.admin().await;
    let folder = a.folder(&admin, None, "Sales").await;
    let (project, slug) = a.project(&admin, &folder, "Superstore").await;
    publish_superstore(&a, &admin, &project).await;
    let r = a
        .gql(
            &admin.auth,
            REPORT,
            json!({"p": project, "d": report_definition()}),
        )
        .await;
    let report = data(&r)["createReport"]["id"].as_str().unwrap().to_owned();
    let warm = a
        .gql(
            &admin.auth,
            "mutation($p:ID!){warmUpReports(projectId:$p){entries failures}}",
            json!({"p": project}),
        )
        .await;
    assert!(
        data(&warm)["warmUpReports"]["entries"].as_i64().unwrap() > 0,
        "{warm}"
    );
    let created = a
        .gql(
            &admin.auth,
            crate::sharing::CREATE,
            json!({"i": {"projectId": project, "reportId": report, "kind": "PUBLIC"}}),
        )
        .await;
    let public = data(&created)["createShareLink"]["link"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The link's address on node A; the same path opens it on any node.
    let public_url = data(&created)["createShareLink"]["url"].as_str().unwrap();
    let public_path = public_url[public_url.find("/s/").expect("a share path")..].to_owned();
    let created = a
        .gql(
            &admin.auth,
            crate::sharing::CREATE,
            json!({"i": {"projectId": project, "reportId": report, "kind": "RECIPIENTS", "recipients": [
                {"name": "Ann Archer", "email": "ann@example.org", "role": "VIEWER"}]}}),
        )
        .await;
    let created = data(&created)["createShareLink"].clone();
    let private = created["link"]["id"].as_str().unwrap().to_owned();
    let ann = Visitor::new(&a);
    ann.accept_invitation(&created, &private, "ann@example.org")
        .await;
    assert_eq!(ann.view(&private, None).await.status, "OK");

    // The artifacts are in the bucket, not in either node's data directory.
    assert!(!c.artifacts("uploads/").await.is_empty());
    assert!(!c.artifacts("datasets/").await.is_empty());
    for node in ["a", "b"] {
        assert!(!c.dirs.path().join(node).join("artifacts/datasets").exists());
    }

    // Node B sees all of it: the project, the same tile, both links.
    let r = b.gql(&admin.auth, PROJECT, json!({"id": project})).await;
    assert_eq!(data(&r)["project"]["slug"], slug.as_str());
    let on_a = a.gql(&admin.auth, TILE, json!({"r": report})).await;
    let on_b = b.gql(&admin.auth, TILE, json!({"r": report})).await;
    assert_eq!(data(&on_b)["tileResult"], data(&on_a)["tileResult"]);
    assert_eq!(data(&on_b)["tileResult"]["rowCount"], 4, "{on_b}");
    let stranger = Visitor::new(&b);
    stranger.open(&public_path).await;
    let seen = stranger.view(&public, None).await;
    assert_eq!(seen.status, "OK", "{}", seen.text);
    assert_eq!(seen.data["reportName"], "Sales");
    // Ann's session, made on A, works on B; revoked on A, it stops on B.
    assert_eq!(ann.at(&b).view(&private, None).await.status, "OK");
    let link = a
        .gql(&admin.auth, crate::sharing::LINK, json!({"id": private}))
        .await;
    let recipient = data(&link)["shareLink"]["recipients"][0]["id"].clone();
    data(
        &a.gql(
            &admin.auth,
            "mutation($id:ID!){revokeRecipient(id:$id,deliveries:CANCEL){revokedAt}}",
            json!({"id": recipient}),
        )
        .await,
    );
    let refused = ann.at(&b).view(&private, None).await;
    assert_ne!(refused.status, "OK", "{}", refused.text);

    // A grant on A takes effect on B, and so does its revocation, within a second.
    let vera = a.user(&admin, "vera").await;
    let sees = |s: &TestServer, who: &Actor| {
        let (s, who, project) = (s.url.clone(), who.clone(), project.clone());
        async move {
            let r = TestServer::client()
                .post(format!("{s}/graphql"))
                .bearer_auth(match &who.auth {
                    Auth::Bearer(t) => t.clone(),
                    _ => unreachable!(),
                })
                .json(&json!({"query": PROJECT, "variables": {"id": project}}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap();
            r["data"]["project"]["slug"].is_string()
        }
    };
    assert!(!sees(&b, &vera).await);
    data(
        &a.grant(
            &admin,
            &format!("user:{}", vera.id),
            &format!("project:{project}"),
            "VIEWER",
        )
        .await,
    );
    let granted = within(Duration::from_secs(1), async || sees(&b, &vera).await).await;
    data(
        &a.gql(
            &admin.auth,
            "mutation($s:String!,$o:String!){revokeRole(subject:$s,object:$o)}",
            json!({"s": format!("user:{}", vera.id), "o": format!("project:{project}")}),
        )
        .await,
    );
    let revoked = within(Duration::from_secs(1), async || !sees(&b, &vera).await).await;
    eprintln!("grant seen on the other node after {granted:?}, revocation after {revoked:?}");

    // Guesses at one account spread over both nodes add up: five wrong passwords, then
    // even the right one waits, on either node.
    for i in 0..5 {
        let node = if i % 2 == 0 { &a } else { &b };
        let (st, _, _) = node.login("vera", "not her password at all").await;
        assert_eq!(st, 401);
    }
    for node in [&a, &b] {
        let (st, body, _) = node.login("vera", PASSWORD).await;
        assert_eq!(st, 429, "{body}");
        assert_eq!(body["error"]["code"], "RATE_LIMITED");
    }

    // Node B dies; node A serves on.
    b.kill().await;
    let r = a.gql(&admin.auth, TILE, json!({"r": report})).await;
    assert_eq!(data(&r)["tileResult"]["rowCount"], 4);
    let health = reqwest::get(format!("{}/readyz", a.url)).await.unwrap();
    assert_eq!(health.status(), 200);
}

/// A bundle exported on one node imports on the other, against the SurrealDB server: the
/// project and its history are written in an interactive transaction while the data is
/// checked, so the transaction must hold over the network too. A bundle whose data is
/// damaged leaves no project behind.
#[tokio::test]
async fn a_bundle_exported_on_one_node_imports_on_the_other() {
    let c = Cluster::start().await;
    let (a, b) = tokio::join!(c.serve("a"), c.serve("b"));
    let admin = a.admin().await;
    let folder = a.folder(&admin, None, "Sales").await;
    let (project, _) = a.project(&admin, &folder, "Superstore").await;
    publish_superstore(&a, &admin, &project).await;
    let r = a
        .gql(
            &admin.auth,
            "mutation($p:ID!){exportProjectBundle(projectId:$p){url}}",
            json!({"p": project}),
        )
        .await;
    let url = data(&r)["exportProjectBundle"]["url"].as_str().unwrap();
    let (status, bundle) = crate::bundles::download(&a, &admin.auth, url).await;
    assert_eq!(status, 200);

    let target = b.folder(&admin, None, "Restored").await;
    // A manifest that miscounts its dataset's rows: caught only once the data is decoded,
    // while the project and its history are already written in the open transaction.
    let damaged = crate::bundles::rezip(&bundle, |name, bytes| {
        if name != "manifest.json" {
            return vec![(name.to_owned(), bytes)];
        }
        let mut m: Value = serde_json::from_slice(&bytes).unwrap();
        let rows = m["datasets"][0]["rows"].as_i64().unwrap();
        m["datasets"][0]["rows"] = json!(rows + 1);
        vec![(name.to_owned(), serde_json::to_vec(&m).unwrap())]
    });
    let r = crate::bundles::import(&b, &admin.auth, &target, damaged, None).await;
    assert_eq!(code(&r), "INVALID_BUNDLE", "{r}");
    assert!(message(&r).contains("rows"), "{r}");
    let listed = "query($f:ID!){projects(folderId:$f,first:10){edges{node{id}}}}";
    let r = b.gql(&admin.auth, listed, json!({"f": target})).await;
    assert_eq!(data(&r)["projects"]["edges"], json!([]), "{r}");

    let r = crate::bundles::import(&b, &admin.auth, &target, bundle, Some("Restored")).await;
    let imported = data(&r)["importProjectBundle"]["id"].as_str().unwrap();
    let snapshot = "query($p:ID!){datasets(projectId:$p){name rows bytes contentHash} revisions(projectId:$p,first:10){edges{node{number}}}}";
    let before = a.gql(&admin.auth, snapshot, json!({"p": project})).await;
    let after = b.gql(&admin.auth, snapshot, json!({"p": imported})).await;
    assert_eq!(data(&after), data(&before));
    assert!(
        data(&after)["datasets"][0]["rows"].as_i64().unwrap() > 0,
        "{after}"
    );
    // Node A sees the imported project too: it is in the shared database.
    let r = a.gql(&admin.auth, PROJECT, json!({"id": imported})).await;
    assert_eq!(data(&r)["project"]["name"], "Restored");
}
