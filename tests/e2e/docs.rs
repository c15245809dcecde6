//! The documentation is checked like code: every GraphQL operation in the README and
//! docs/ validates against the committed SDL, and the subscription example of
//! docs/subscriptions.md runs, verbatim, against a live server. Both run under node with
//! the packages of tests/browser (graphql, graphql-ws, ws).

use std::time::Duration;

use serde_json::json;

use crate::browser::{browser_dir, ensure_node_packages, run_script};
use crate::support::*;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Every ```graphql fence of the README and docs/ holds one named operation that
/// validates against the committed SDL (checked by graphql-js).
#[tokio::test]
async fn documented_operations_validate_against_the_sdl() {
    tokio::task::spawn_blocking(ensure_node_packages)
        .await
        .unwrap();
    let out = run_script("docs_operations.mjs", &[("ROOT", ROOT)]).await;
    assert!(out.matches("ok - ").count() >= 10, "{out}");
}

/// The ```js fence of docs/subscriptions.md, run as it is written: it follows a workflow
/// run to its end through graphql-ws with an API token.
#[tokio::test]
async fn the_subscription_example_follows_a_run() {
    tokio::task::spawn_blocking(ensure_node_packages)
        .await
        .unwrap();
    let doc = std::fs::read_to_string(format!("{ROOT}/docs/subscriptions.md")).unwrap();
    let start = doc.find("```js\n").expect("a js example") + 6;
    let example = &doc[start..start + doc[start..].find("```").unwrap()];
    // Written beside the package.json whose node_modules it imports from.
    let file = browser_dir().join(format!("subscription_example_{}.mjs", std::process::id()));
    std::fs::write(&file, example).unwrap();

    let w = crate::data::data_world().await;
    let s = &w.s;
    crate::data::publish(s, &w.editor, &w.project).await;
    let q = "mutation($p:ID!){runWorkflow(projectId:$p,wait:true){id status}}";
    let run = data(&s.gql(&w.editor.auth, q, json!({"p": w.project})).await)["runWorkflow"].clone();
    let Auth::Bearer(token) = &w.editor.auth else {
        unreachable!("actors carry API tokens")
    };
    let ws = s.url.replacen("http://", "ws://", 1) + "/graphql/ws";
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("node")
            .arg(&file)
            .env("VITRINE_WS", &ws)
            .env("VITRINE_TOKEN", token)
            .env("RUN_ID", run["id"].as_str().unwrap())
            .output(),
    )
    .await
    .expect("the example ends")
    .expect("node runs");
    let _ = std::fs::remove_file(&file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("succeeded (end)"), "{stdout}");

    // A wrong token is refused when the connection opens.
    std::fs::write(&file, example).unwrap();
    let out = tokio::process::Command::new("node")
        .arg(&file)
        .env("VITRINE_WS", &ws)
        .env("VITRINE_TOKEN", "vit_not_a_token")
        .env("RUN_ID", run["id"].as_str().unwrap())
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(!out.status.success());
}
