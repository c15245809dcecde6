//! The report viewer in a real browser: Debian's headless Chromium, driven by
//! playwright-core from the npm registry (`tests/browser/viewer.mjs`). Both are installed
//! here when missing, so `cargo test --workspace` needs nothing installed by hand; the
//! script's checks are listed in its header.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::sharing::*;
use crate::support::*;

const CHROMIUM: &str = "/usr/bin/chromium";

pub(crate) fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// Installs Chromium (Debian package), playwright-core, oidc-provider and graphql (npm,
/// from the lock file) the first time; later runs find them.
pub(crate) fn ensure_browser() {
    ensure_debian_package(CHROMIUM, "chromium");
    ensure_node_packages();
}

/// Installs the npm packages of tests/browser (from the lock file) the first time.
pub(crate) fn ensure_node_packages() {
    let dir = browser_dir();
    let installed = ["playwright-core", "oidc-provider", "graphql"]
        .iter()
        .all(|m| dir.join("node_modules").join(m).exists());
    if !installed {
        run_checked(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir),
            "npm ci in tests/browser",
        );
    }
}

/// Runs a script of tests/browser with `env`; it must succeed. Answers what it printed
/// (one `ok - ` line per check).
pub(crate) async fn run_script(script: &str, env: &[(&str, &str)]) -> String {
    let out = tokio::process::Command::new("node")
        .arg(browser_dir().join(script))
        .envs(env.iter().copied())
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.into_owned()
}

/// The URL `serve --demo` printed.
pub fn demo_url(s: &TestServer) -> String {
    s.printed
        .iter()
        .find_map(|l| l.strip_prefix("demo: open "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no demo URL printed: {:?}", s.printed))
        .to_owned()
}

#[tokio::test]
async fn viewer_in_headless_chromium() {
    tokio::task::spawn_blocking(ensure_browser).await.unwrap();
    // The demo's report: two tabs, charts, a table, region and segment filters.
    let s = TestServer::start_with(&["--demo"]).await;
    let public_url = demo_url(&s);
    let admin = s.admin().await;
    let r = s
        .gql(
            &admin.auth,
            "query{shareLedger{edges{node{projectId reportId}}}}",
            json!({}),
        )
        .await;
    let node = data(&r)["shareLedger"]["edges"][0]["node"].clone();
    let r = s
        .gql(
            &admin.auth,
            CREATE,
            json!({"i": {"projectId": node["projectId"], "reportId": node["reportId"], "kind": "RECIPIENTS",
                "rights": {"download": true, "schedule": true},
                "recipients": [{"name": "Ann Archer", "email": "ann@example.org", "role": "VIEWER"}]}}),
        )
        .await;
    let invite = data(&r)["createShareLink"]["invitations"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    // The demo's folder as a public link (dashboard and delivered files), and its
    // project's delivered files alone, once a task delivers the report.
    let q = "query($p:ID!){project(id:$p){folderId}}";
    let folder =
        data(&s.gql(&admin.auth, q, json!({"p": node["projectId"]})).await)["project"]["folderId"]
            .clone();
    let task = json!({"name": "Weekly", "trigger": {"cron": "0 7 * * MON"},
        "target": {"projectId": node["projectId"]},
        "actions": [{"kind": "DELIVER", "report": node["reportId"], "recipients": ["board@example.org"]}]});
    crate::tasks::create_task(&s, &admin, task).await;
    let content_link = |input: Value| {
        let (s, admin) = (&s, &admin);
        async move {
            let r = s.gql(&admin.auth, CREATE, json!({ "i": input })).await;
            data(&r)["createShareLink"]["url"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let folder_url = content_link(json!({"folderId": folder, "kind": "PUBLIC",
        "content": {"dashboard": true, "files": true}}))
    .await;
    let files_url = content_link(json!({"projectId": node["projectId"], "kind": "PUBLIC",
        "content": {"files": true}}))
    .await;
    let Auth::Bearer(token) = &admin.auth else {
        unreachable!("actors carry API tokens")
    };
    let stdout = run_script(
        "viewer.mjs",
        &[
            ("BASE", s.url.as_str()),
            ("PUBLIC_URL", &public_url),
            ("INVITE_URL", &invite),
            ("RECIPIENT_EMAIL", "ann@example.org"),
            ("MANAGER_TOKEN", token),
            ("FOLDER_URL", &folder_url),
            ("FILES_URL", &files_url),
        ],
    )
    .await;
    assert_eq!(stdout.matches("ok - ").count(), 16, "{stdout}");
}

/// `serve --demo` on an empty data directory: a public link to a warmed report, printed;
/// repeating it renews the link and revokes the old one.
#[tokio::test]
async fn demo_prints_a_working_public_link_and_renews_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let s = TestServer::start_in_with(&dir, &["--demo"]).await;
    let first = demo_url(&s);
    let v = Visitor::new(&s);
    let page = v.open(&first).await;
    let id = page.trim_start_matches("/s/v/").split('?').next().unwrap();
    let t = crate::sharing::tiles(&v, id, "overview").await;
    assert_eq!(t.status, "OK", "{}", t.text);
    let tiles = t.json()["tiles"].as_array().unwrap().clone();
    assert_eq!(tiles.len(), 5);
    assert_eq!(tiles[1]["rows"][0][0], 400, "orders in the sample file");
    // A fresh instance still offers setup: the demo created no administrator.
    assert!(s.setup_token.is_some());
    let (ok, _) = s.stop().await;
    assert!(ok);

    let s = TestServer::start_in_with(&dir, &["--demo"]).await;
    let second = demo_url(&s);
    assert_ne!(first, second);
    let old = first.replacen(first.split("/s/").next().unwrap(), &s.url, 1);
    assert_eq!(Visitor::new(&s).get(&old).await.status, 410);
    let v = Visitor::new(&s);
    v.open(&second).await;
    drop(tmp);
}

/// Report files opened from disk in headless Chromium: drawn with no server, and when
/// protected, opened only with the right password and never when altered.
#[tokio::test]
async fn report_file_in_headless_chromium() {
    tokio::task::spawn_blocking(ensure_browser).await.unwrap();
    let s = TestServer::start_with(&["--demo"]).await;
    let admin = s.admin().await;
    let r = s
        .gql(
            &admin.auth,
            "query{shareLedger{edges{node{reportId}}}}",
            json!({}),
        )
        .await;
    let report = data(&r)["shareLedger"]["edges"][0]["node"]["reportId"].clone();
    let r = s
        .gql(
            &admin.auth,
            "query($r:ID!){report(id:$r){definition}}",
            json!({"r": report}),
        )
        .await;
    let tiles = data(&r)["report"]["definition"]["tabs"][0]["tiles"]
        .as_array()
        .unwrap()
        .len();
    let export =
        "mutation($r:ID!,$p:String){exportReportFile(reportId:$r,password:$p){url filename}}";
    // Passwords follow the usual rule.
    let r = s
        .gql(&admin.auth, export, json!({"r": report, "p": "short"}))
        .await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for password in [None, Some("Orchard blossom 2026")] {
        let r = s
            .gql(&admin.auth, export, json!({"r": report, "p": password}))
            .await;
        let url = data(&r)["exportReportFile"]["url"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, bytes) = crate::bundles::download(&s, &admin.auth, &url).await;
        assert_eq!(status, 200);
        let html = String::from_utf8(bytes).unwrap();
        if password.is_some() {
            // Nothing of the data is readable in the file itself.
            assert!(!html.contains("West") && !html.contains("by_region"));
        }
        files.push(html);
    }
    let sealed = &files[1];
    let at = sealed.find("\"data\":\"").unwrap() + 20;
    let mut tampered = sealed.clone().into_bytes();
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let paths: Vec<_> = ["plain.html", "sealed.html", "tampered.html"]
        .iter()
        .map(|n| dir.path().join(n))
        .collect();
    std::fs::write(&paths[0], &files[0]).unwrap();
    std::fs::write(&paths[1], sealed).unwrap();
    std::fs::write(&paths[2], tampered).unwrap();
    let [plain, sealed, tampered] = [0, 1, 2].map(|i| paths[i].to_string_lossy().into_owned());
    let stdout = run_script(
        "report_file.mjs",
        &[
            ("PLAIN", plain.as_str()),
            ("SEALED", &sealed),
            ("TAMPERED", &tampered),
            ("PASSWORD", "Orchard blossom 2026"),
            ("TILES", &tiles.to_string()),
            ("KPI", "400"),
        ],
    )
    .await;
    assert_eq!(stdout.matches("ok - ").count(), 6, "{stdout}");
}
