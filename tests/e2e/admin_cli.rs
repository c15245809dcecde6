//! `vitrine admin` from the shell (client-experience issue, item 12): users listed,
//! disabled and enabled, administrators made and unmade (never the last one), a locked
//! share link unlocked, and the setup link shown again, each refused clearly while a
//! server holds the embedded database, and audited as the `shell`.

use std::process::{Output, Stdio};

use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::sharing::*;
use crate::support::*;

/// `vitrine admin ARGS --data-dir DIR`, with `stdin` as its standard input.
pub(crate) async fn admin(dir: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .arg("admin")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("VITRINE_LOG", "error")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    child.wait_with_output().await.unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The row of `username` in `list-users`, split into its columns.
fn row(listing: &str, username: &str) -> Vec<String> {
    listing
        .lines()
        .find(|l| l.split_whitespace().next() == Some(username))
        .unwrap_or_else(|| panic!("{username} not listed:\n{listing}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn operators_manage_users_and_administrators_from_the_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let pw = format!("{PASSWORD}\n");
    let ok = |o: &Output| assert!(o.status.success(), "{}{}", out(o), err(o));
    ok(&admin(&dir, &["create-user", "--username", "root", "--admin"], &pw).await);
    ok(&admin(&dir, &["create-user", "--username", "bob"], &pw).await);

    let list = admin(&dir, &["list-users"], "").await;
    ok(&list);
    assert_eq!(
        row(&out(&list), "root")[1..5],
        ["person", "local", "yes", "no"]
    );
    assert_eq!(row(&out(&list), "bob")[3..5], ["no", "no"]);

    ok(&admin(&dir, &["grant-admin", "--username", "bob"], "").await);
    assert_eq!(
        row(&out(&admin(&dir, &["list-users"], "").await), "bob")[3],
        "yes"
    );
    ok(&admin(&dir, &["revoke-admin", "--username", "bob"], "").await);
    // The last enabled administrator stays one, and stays enabled.
    for args in [
        ["revoke-admin", "--username", "root"],
        ["disable-user", "--username", "root"],
    ] {
        let o = admin(&dir, &args, "").await;
        assert!(!o.status.success());
        assert!(
            err(&o).contains("POLICY_VIOLATION") && err(&o).contains("last enabled"),
            "{}",
            err(&o)
        );
    }
    let o = admin(&dir, &["disable-user", "--username", "nobody"], "").await;
    assert!(
        !o.status.success() && err(&o).contains("NOT_FOUND"),
        "{}",
        err(&o)
    );
    ok(&admin(&dir, &["disable-user", "--username", "bob"], "").await);
    assert_eq!(
        row(&out(&admin(&dir, &["list-users"], "").await), "bob")[4],
        "yes"
    );

    // A disabled user cannot sign in; while the server runs, the shell is refused.
    let s = TestServer::start_in(&dir).await;
    assert_ne!(s.login("bob", PASSWORD).await.0, 200);
    let busy = admin(&dir, &["enable-user", "--username", "bob"], "").await;
    assert!(!busy.status.success());
    assert!(err(&busy).contains("stop the server"), "{}", err(&busy));
    let root = s.token_for("root", PASSWORD).await;
    let q = "{auditEvents(first:20,filter:{actionPrefix:\"\"}){nodes{action actorName}}}";
    let events = data(&s.gql(&root, q, json!({})).await)["auditEvents"]["nodes"].clone();
    let by_shell = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actorName"] == "shell")
        .count();
    assert!(by_shell >= 3, "{events}");
    s.stop().await;

    ok(&admin(&dir, &["enable-user", "--username", "bob"], "").await);
    let s = TestServer::start_in(&dir).await;
    assert_eq!(s.login("bob", PASSWORD).await.0, 200);
}

#[tokio::test]
async fn a_locked_link_is_unlocked_and_the_setup_link_shown_again_from_the_shell() {
    // The setup link, as the running server printed it, until an administrator exists.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let s = TestServer::start_in(&dir).await;
    let token = s.setup_token.clone().unwrap();
    let o = admin(&dir, &["setup-link"], "").await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains(&format!("/setup#token={token}")),
        "{}",
        out(&o)
    );
    s.admin().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while admin(&dir, &["setup-link"], "").await.status.success() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the setup link outlived setup"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let o = admin(&dir, &["setup-link"], "").await;
    assert!(err(&o).contains("administrator already"), "{}", err(&o));
    s.stop().await;

    // A recipients link locked by guessing, unlocked from the shell while the server is
    // stopped; its recipient then signs in.
    let sw = share_world().await;
    let (id, _, created) = sw
        .link(json!({"reportId": sw.report, "kind": "RECIPIENTS",
            "recipients": [{"name": "Ann Archer", "email": "ann@example.org", "role": "VIEWER"}]}))
        .await;
    let ann = Visitor::new(sw.s());
    ann.accept_invitation(&created, &id, "ann@example.org")
        .await;
    let guesser = Visitor::new(sw.s());
    for i in 0..12 {
        let body =
            json!({"email": format!("guess{i}@example.org"), "password": format!("Guess#{i}xyz")});
        if guesser
            .post(&format!("{}/api/sign-in", page_of(&id)), body)
            .await
            .status
            == 423
        {
            break;
        }
    }
    assert_eq!(sw.link_state(&id).await["state"], "LOCKED");
    let ShareWorld { w, .. } = sw;
    let crate::data::DataWorld { s, files, .. } = w;
    let (_, kept) = s.stop().await;
    let kept = kept.expect("the world's data directory");
    let dir = kept.path().join("data");
    let o = admin(&dir, &["unlock-link", "--link", "no-such-link"], "").await;
    assert!(
        !o.status.success() && err(&o).contains("NOT_FOUND"),
        "{}",
        err(&o)
    );
    let o = admin(&dir, &["unlock-link", "--link", &id], "").await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("unlocked"));
    let s = TestServer::start_in(&dir).await;
    let body = json!({"email": "ann@example.org", "password": "Orchard#2026"});
    let r = Visitor::new(&s)
        .post(&format!("{}/api/sign-in", page_of(&id)), body)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    drop(files);
}
