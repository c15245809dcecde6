//! Observability through the real binary: JSON logs, and `/metrics`, off by default, behind a bearer token on the
//! public listener, or alone on a listener of its own; the counters move with what the
//! server does (requests per route, GraphQL operations by name, tile cache lookups,
//! share-link views, sign-in failures, jobs, queue depth).

use serde_json::json;

use crate::support::*;

const TOKEN: &str = "metrics-token-0123456789abcdef";

/// The value of the first sample whose line starts with `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(url: &str, token: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn metrics_are_served_only_with_the_token_and_count_what_happens() {
    let w = crate::data::data_world_env(&[("VITRINE_METRICS_TOKEN", TOKEN)]).await;
    let s = &w.s;
    let url = format!("{}/metrics", s.url);
    assert_eq!(scrape(&url, None).await.0, 401);
    assert_eq!(
        scrape(&url, Some("metrics-token-wrong-0123456789")).await.0,
        401
    );

    // Activity: a failed sign-in, a workflow run, a report, tiles (the second answer
    // from the cache), a public link's view.
    assert_eq!(s.login("eddy", "not the password").await.0, 401);
    let report = crate::data::publish(s, &w.editor, &w.project).await;
    let tile = "query Tile($r:ID!){tileResult(reportId:$r,tileId:\"by_region\"){rowCount}}";
    for _ in 0..2 {
        data(&s.gql(&w.editor.auth, tile, json!({"r": report})).await);
    }
    let (status, text) = scrape(&url, Some(TOKEN)).await;
    assert_eq!(status, 200, "{text}");
    let at_least = |series: &str, n: f64| {
        let v = sample(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
        assert!(v >= n, "{series} = {v}, expected ≥ {n}");
    };
    at_least(
        "vitrine_http_requests_total{route=\"/graphql\",status=\"2xx\"}",
        4.0,
    );
    at_least(
        "vitrine_http_requests_total{route=\"/auth/login\",status=\"4xx\"}",
        1.0,
    );
    at_least(
        "vitrine_graphql_operations_total{operation=\"Tile\",outcome=\"ok\"}",
        2.0,
    );
    at_least(
        "vitrine_http_request_duration_seconds_count{route=\"/graphql\"}",
        4.0,
    );
    at_least(
        "vitrine_cache_lookups_total{cache=\"tile_results\",result=\"hit\"}",
        1.0,
    );
    at_least("vitrine_sign_ins_total{outcome=\"failed\"}", 1.0);
    at_least("vitrine_queue_jobs{state=\"pending\"}", 0.0);
    // Labels carry route patterns, never paths with tokens or ids.
    assert!(!text.contains(&w.project), "an id in a label:\n{text}");
}

#[tokio::test]
async fn without_a_token_metrics_are_not_on_the_public_listener_but_on_their_own() {
    let tmp = tempfile::tempdir().unwrap();
    let s = TestServer::start_full(
        &tmp.path().join("data"),
        &[],
        &[("VITRINE_METRICS_LISTEN", "127.0.0.1:0")],
    )
    .await;
    assert_eq!(scrape(&format!("{}/metrics", s.url), None).await.0, 404);
    let own = s
        .printed
        .iter()
        .find_map(|l| l.split("metrics on ").nth(1))
        .unwrap_or_else(|| panic!("no metrics address logged: {:?}", s.printed))
        .trim()
        .to_owned();
    let (status, text) = scrape(&own, None).await;
    assert_eq!(status, 200);
    assert!(text.contains("vitrine_queue_jobs"), "{text}");
    // The metrics listener serves nothing else.
    let other = own.replace("/metrics", "/graphql");
    assert_eq!(scrape(&other, None).await.0, 404);
}

#[tokio::test]
async fn a_short_metrics_token_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("VITRINE_METRICS_TOKEN", "short")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("metrics.token"), "{err}");
}

/// `VITRINE_LOG_FORMAT=json`: the log is one JSON object per line (level, target,
/// timestamp, message and fields); only the terminal's notices (the setup URL, a tip)
/// are not.
#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("VITRINE_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut objects = Vec::new();
    let listening = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if !line.starts_with('{') {
                let notice = ["setup: open ", "tip: "]
                    .iter()
                    .any(|p| line.starts_with(p));
                assert!(notice, "not JSON: {line}");
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            objects.push(v.clone());
            if v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("listening on http://"))
            {
                return v;
            }
        }
        panic!("the server stopped before listening: {objects:?}")
    })
    .await
    .expect("the server listens");
    assert_eq!(listening["level"], "INFO");
    assert!(listening["timestamp"].is_string() && listening["target"].is_string());
    child.kill().await.unwrap();

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("VITRINE_LOG_FORMAT", "yaml")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("VITRINE_LOG_FORMAT"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
