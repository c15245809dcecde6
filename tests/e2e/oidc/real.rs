//! The whole code flow against npm's certified `oidc-provider`, in headless Chromium
//! (`tests/browser/oidc_sign_in.mjs`): the sign-in page's button, the provider's forms,
//! a user made on first sign-in with groups and attributes from the claims, an access
//! filter applied from a claim, and sign-out at Vitrine and at the provider.

use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::{SECRET, config_file};
use crate::browser::{browser_dir, ensure_browser, run_script};
use crate::data::*;
use crate::support::*;

/// The provider process; it dies with the test.
pub struct RealProvider {
    _child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    pub issuer: String,
}

impl RealProvider {
    pub async fn start() -> RealProvider {
        let mut child = tokio::process::Command::new("node")
            .arg(browser_dir().join("oidc_provider.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let issuer = loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("provider prints its issuer");
            if let Some(i) = line.strip_prefix("issuer ") {
                break i.to_owned();
            }
        };
        let stdin = child.stdin.take().unwrap();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        RealProvider {
            _child: child,
            stdin,
            issuer,
        }
    }

    /// Registers Vitrine at `url` as the client, with these accounts.
    pub async fn serve(&mut self, url: &str, accounts: Value) {
        let cfg = json!({
            "secret": SECRET,
            "redirect_uris": [format!("{url}/auth/oidc/test/callback")],
            "post_logout_redirect_uris": [format!("{url}/")],
            "accounts": accounts,
        });
        self.stdin
            .write_all(format!("{cfg}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
        // The provider answers discovery once it has its client.
        let discovery = format!("{}/.well-known/openid-configuration", self.issuer);
        for _ in 0..100 {
            if let Ok(r) = reqwest::get(&discovery).await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the provider never became ready");
    }
}

#[tokio::test]
async fn sign_in_through_a_real_provider_in_chromium() {
    tokio::task::spawn_blocking(ensure_browser).await.unwrap();
    let mut provider = RealProvider::start().await;
    let conf = tempfile::tempdir().unwrap();
    let config = config_file(
        conf.path(),
        &provider.issuer,
        "",
        "scopes = [\"email\", \"profile\", \"groups\", \"region\"]\nuserinfo = true\n\
         groups_claim = \"groups\"\n[auth.oidc.attributes]\nregion = \"region\"",
    );
    let w = data_world_full(
        &["--config", &config],
        &[("VITRINE_TEST_OIDC_SECRET", SECRET)],
    )
    .await;
    let s = &w.s;
    provider
        .serve(
            &s.url,
            json!({"ann": {"name": "Ann Lee", "email": "ann@example.com", "groups": ["West sales"], "region": "West"}}),
        )
        .await;

    // The sign-in page and GraphQL list the provider, to anyone.
    let r = s
        .gql(
            &Auth::None,
            "{authProviders{name label startPath}}",
            json!({}),
        )
        .await;
    assert_eq!(
        data(&r)["authProviders"],
        json!([{"name": "test", "label": "Sign in with Test", "startPath": "/auth/oidc/test/start"}])
    );

    // The project's data, and a group named as the provider names it, with viewer rights:
    // the sign-in matches the group by name and the access filter reads the region claim.
    let report = publish(s, &w.editor, &w.project).await;
    data(
        &s.gql(
            &w.admin.auth,
            "mutation($p:ID!){setAccessFilter(projectId:$p,dataset:\"orders\",rules:[{column:\"region\",attribute:\"region\"}]){dataset}}",
            json!({"p": w.project}),
        )
        .await,
    );
    let group = data(
        &s.gql(
            &w.admin.auth,
            "mutation{createGroup(name:\"West sales\"){id}}",
            json!({}),
        )
        .await,
    )["createGroup"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    data(
        &s.grant(
            &w.admin,
            &format!("group:{group}"),
            &format!("project:{}", w.project),
            "VIEWER",
        )
        .await,
    );

    let out = run_script(
        "oidc_sign_in.mjs",
        &[
            ("VITRINE_URL", &s.url),
            ("PROVIDER", "test"),
            ("LOGIN", "ann"),
            ("REPORT", &report),
        ],
    )
    .await;
    let line = |prefix: &str| -> Value {
        let text = out
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{out}"));
        serde_json::from_str(text).unwrap()
    };
    let viewer = line("viewer ");
    assert_eq!(viewer["username"], "ann", "{viewer}");
    assert_eq!(viewer["email"], "ann@example.com");
    assert_eq!(viewer["issuer"], provider.issuer.as_str());
    assert_eq!(viewer["groups"], json!([{"name": "West sales"}]));
    assert_eq!(
        viewer["attributes"],
        json!([{"key": "region", "values": ["West"]}])
    );
    // The tile the group may view, filtered by the region the provider sent.
    let tile = line("tile ");
    assert_eq!(regions_of(&tile), ["West"], "{tile}");
    assert_eq!(line("after-logout "), Value::Null);

    // The sign-in is audited as the new user's.
    let r = s
        .gql(
            &w.admin.auth,
            "{auditEvents(first:50, filter:{actionPrefix:\"auth.login\"}){edges{node{actorName actorKind outcome detail}}}}",
            json!({}),
        )
        .await;
    let events = data(&r)["auditEvents"]["edges"].as_array().unwrap().clone();
    assert!(
        events.iter().any(|e| e["node"]["actorName"] == "oidc:test"
            && e["node"]["outcome"] == "ok"
            && e["node"]["actorKind"] == "PERSON"),
        "{events:?}"
    );
}
