//! A SurrealDB server as the database: users at the database level, wrong credentials
//! refused at start with a clear message, and a server restart that loses no write a
//! node acknowledged.

use std::time::Duration;

use serde_json::json;

use crate::servers::start_surreal;
use crate::support::*;

/// `vitrine serve` against `url` as `user`/`password` at `level`; answers its exit and
/// what it printed on stderr when it refuses to start.
async fn refused_start(
    dir: &std::path::Path,
    url: &str,
    level: &str,
    user: &str,
    password: &str,
) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("VITRINE_DATABASE_URL", url)
        .env("VITRINE_DATABASE_AUTH_LEVEL", level)
        .env("VITRINE_DATABASE_USER", user)
        .env("VITRINE_DATABASE_PASSWORD", password)
        .env("VITRINE_LOG", "warn")
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("a refused start ends")
        .expect("run vitrine");
    assert!(!out.status.success(), "started with bad credentials");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn a_database_user_signs_in_and_a_server_restart_loses_no_acknowledged_write() {
    let store = tempfile::tempdir().unwrap();
    let mut surreal = start_surreal(Some(&store.path().join("surreal"))).await;
    // The least a node needs: an owner of its one database, nothing at the root.
    surreal
        .sql(
            "acme",
            "vitrine",
            "DEFINE NAMESPACE IF NOT EXISTS acme; DEFINE DATABASE IF NOT EXISTS vitrine; \
             DEFINE USER node ON DATABASE PASSWORD 'node-password-for-tests' ROLES OWNER;",
        )
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let wrong = refused_start(
        &tmp.path().join("x"),
        &surreal.url,
        "database",
        "node",
        "not the password",
    )
    .await;
    assert!(wrong.contains("signing in as node failed"), "{wrong}");
    assert!(
        !wrong.contains("not the password"),
        "the password was printed: {wrong}"
    );

    let password_file = tmp.path().join("db-password");
    std::fs::write(&password_file, "node-password-for-tests\n").unwrap();
    let env = [
        ("VITRINE_DATABASE_URL", surreal.url.as_str()),
        ("VITRINE_DATABASE_NAMESPACE", "acme"),
        ("VITRINE_DATABASE_NAME", "vitrine"),
        ("VITRINE_DATABASE_AUTH_LEVEL", "database"),
        ("VITRINE_DATABASE_USER", "node"),
        (
            "VITRINE_DATABASE_PASSWORD_FILE",
            password_file.to_str().unwrap(),
        ),
    ];
    let s = TestServer::start_full(&tmp.path().join("a"), &[], &env).await;
    let admin = s.admin().await;
    let mut made = Vec::new();
    for i in 0..20 {
        made.push(s.folder(&admin, None, &format!("Before {i}")).await);
    }
    // The records are in the namespace and database the node was given.
    let rows = surreal
        .sql(
            "acme",
            "vitrine",
            "SELECT count() AS n FROM folder GROUP ALL",
        )
        .await;
    assert_eq!(rows[0]["result"][0]["n"], 20, "{rows}");

    // The server dies and comes back on the same files; the node reconnects by itself.
    surreal.restart().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let folders = loop {
        let r = s
            .gql(
                &admin.auth,
                "{folders(first:100){edges{node{id name}}}}",
                json!({}),
            )
            .await;
        if r["errors"].is_null() {
            break data(&r)["folders"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone())
                .collect::<Vec<_>>();
        }
        assert!(tokio::time::Instant::now() < deadline, "no reconnect: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for id in &made {
        assert!(folders.iter().any(|f| f["id"] == id.as_str()), "lost {id}");
    }
    s.folder(&admin, None, "After the restart").await;
    let health = reqwest::get(format!("{}/readyz", s.url)).await.unwrap();
    assert_eq!(health.status(), 200);
}

/// Nodes started together on a database nobody has used yet: selecting the namespace and
/// database creates them, and those first writes race; every node must still open, and
/// the migrations must be applied once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_opening_a_fresh_database_together_all_open_and_migrate_it_once() {
    use vitrine_storage::{ArtifactConfig, DatabaseConfig, DatabaseCredentials, Store};
    let surreal = start_surreal(None).await;
    let dirs = tempfile::tempdir().unwrap();
    for round in 0..6 {
        let database = DatabaseConfig {
            namespace: format!("fresh{round}"),
            database: "vitrine".into(),
            credentials: Some(DatabaseCredentials {
                level: vitrine_storage::AuthLevel::Root,
                user: "root".into(),
                password: crate::servers::SURREAL_ROOT_PASSWORD.into(),
            }),
            ..DatabaseConfig::at(&surreal.url)
        };
        let mut opens = tokio::task::JoinSet::new();
        for node in 0..12 {
            let database = database.clone();
            let artifacts =
                ArtifactConfig::in_data_dir(&dirs.path().join(format!("{round}-{node}")));
            opens.spawn(async move { Store::connect(&database, &artifacts).await.map(drop) });
        }
        while let Some(opened) = opens.join_next().await {
            opened.unwrap().expect("a node opening beside others");
        }
        let applied = surreal
            .sql(
                &database.namespace,
                "vitrine",
                "SELECT version, count() AS n FROM migration GROUP BY version",
            )
            .await;
        let applied = applied[0]["result"].as_array().unwrap();
        // Every version from the first on, each once (15 when this test was written).
        let versions: Vec<u64> = applied
            .iter()
            .map(|m| m["version"].as_u64().unwrap())
            .collect();
        assert!(versions.len() >= 15, "{applied:?}");
        assert_eq!(
            versions,
            (1..=versions.len() as u64).collect::<Vec<_>>(),
            "{applied:?}"
        );
        assert!(applied.iter().all(|m| m["n"] == 1), "{applied:?}");
    }
}
