use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn first_start_prints_a_one_time_setup_url_and_no_default_password_exists() {
    let s = TestServer::start().await;
    let token = s.setup_token.clone().expect("setup url printed");
    assert!(
        token.len() >= 40,
        "setup token carries enough entropy: {token}"
    );

    let r = s.gql(&Auth::None, "{setupRequired}", json!({})).await;
    assert_eq!(data(&r)["setupRequired"], true);
    // No account can sign in before setup: there is no default password.
    for (u, p) in [
        ("admin", "admin"),
        ("admin", ADMIN_PASSWORD),
        ("root", "root"),
    ] {
        let (status, body, _) = s.login(u, p).await;
        assert_eq!(status, 401, "{u}/{p}: {body}");
    }

    let q = "mutation($t:String!){completeSetup(token:$t,username:\"admin\",password:\"correct horse battery\"){id permissions}}";
    let wrong = s.gql(&Auth::None, q, json!({"t": "vsu_wrong"})).await;
    assert_eq!(code(&wrong), "FORBIDDEN");

    let weak = s.gql(&Auth::None, "mutation($t:String!){completeSetup(token:$t,username:\"admin\",password:\"short\"){id}}", json!({"t": token})).await;
    assert_eq!(code(&weak), "INVALID_INPUT");
    assert!(message(&weak).contains("password"), "{weak}");

    let ok = s.gql(&Auth::None, q, json!({"t": token})).await;
    assert_eq!(data(&ok)["completeSetup"]["permissions"], json!(["ADMIN"]));

    let again = s.gql(&Auth::None, q, json!({"t": token})).await;
    assert_eq!(code(&again), "SETUP_STATE");
    let r = s.gql(&Auth::None, "{setupRequired}", json!({})).await;
    assert_eq!(data(&r)["setupRequired"], false);
    let page = reqwest::get(format!("{}/setup", s.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Setup is closed"), "{page}");
}

#[tokio::test]
async fn health_and_readiness() {
    let s = TestServer::start().await;
    let h = reqwest::get(format!("{}/healthz", s.url)).await.unwrap();
    assert_eq!(h.status(), 200);
    let r = reqwest::get(format!("{}/readyz", s.url)).await.unwrap();
    assert_eq!(r.status(), 200);
    let g = reqwest::get(format!("{}/graphql", s.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        g.to_lowercase().contains("graphiql"),
        "GET /graphql serves GraphiQL"
    );
}

#[tokio::test]
async fn restart_keeps_everything_and_sigterm_stops_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let s = TestServer::start_in(&dir).await;
    let admin = s.admin().await;
    let folder = s.folder(&admin, None, "Finance").await;
    let (project, slug) = s.project(&admin, &folder, "Quarterly Revenue").await;
    let alice = s.user(&admin, "alice").await;
    s.grant(
        &admin,
        &format!("user:{}", alice.id),
        &format!("folder:{folder}"),
        "VIEWER",
    )
    .await;
    let (clean, _) = s.stop().await;
    assert!(clean, "SIGTERM ends the server with success");

    let s = TestServer::start_in(&dir).await;
    assert!(
        s.setup_token.is_none(),
        "no setup url once an administrator exists"
    );
    let admin = Actor {
        auth: s.token_for("admin", ADMIN_PASSWORD).await,
        ..admin
    };
    let r = s
        .gql(
            &admin.auth,
            "query($s:String!){project(slug:$s){id name folder{name}}}",
            json!({"s": slug}),
        )
        .await;
    assert_eq!(data(&r)["project"]["id"], project.as_str());
    assert_eq!(data(&r)["project"]["folder"]["name"], "Finance");
    // Grants survived too: alice still sees the project through the folder.
    let alice = s.token_for("alice", PASSWORD).await;
    let r = s
        .gql(
            &alice,
            "query($i:ID!){project(id:$i){role}}",
            json!({"i": project}),
        )
        .await;
    assert_eq!(data(&r)["project"]["role"], "VIEWER");
}

async fn create_user_cli(
    dir: &std::path::Path,
    args: &[&str],
    password: &str,
) -> std::process::Output {
    let args = [&["create-user"], args].concat();
    crate::admin_cli::admin(dir, &args, &format!("{password}\n")).await
}

#[tokio::test]
async fn admin_create_user_from_the_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let s = TestServer::start_in(&dir).await;
    assert!(s.setup_token.is_some());
    // The embedded database is locked by the running server: refused, nothing written.
    let busy = create_user_cli(
        &dir,
        &["--username", "root", "--admin"],
        "a long shell passphrase",
    )
    .await;
    assert!(!busy.status.success());
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("stop the server"),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );
    s.stop().await;

    let weak = create_user_cli(&dir, &["--username", "root", "--admin"], "short").await;
    assert!(!weak.status.success());
    assert!(
        String::from_utf8_lossy(&weak.stderr).contains("INVALID_INPUT"),
        "{}",
        String::from_utf8_lossy(&weak.stderr)
    );
    let ok = create_user_cli(
        &dir,
        &["--username", "root", "--admin"],
        "a long shell passphrase",
    )
    .await;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("created user root"));

    let s = TestServer::start_in(&dir).await;
    assert!(
        s.setup_token.is_none(),
        "setup closes once an administrator exists"
    );
    let root = s.token_for("root", "a long shell passphrase").await;
    let r = s.gql(&root, "{viewer{permissions}}", json!({})).await;
    assert_eq!(data(&r)["viewer"]["permissions"], json!(["ADMIN"]));
}
