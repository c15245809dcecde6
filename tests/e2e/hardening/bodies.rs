//! Bodies: nobody unauthenticated gets the server to hold a large body, on any route;
//! uploads are authorized from the headers first; multipart obeys the body limit for
//! its operations; only JSON reaches /graphql.

use serde_json::{Value, json};

use super::stream_post;
use crate::support::*;

const MIB: usize = 1 << 20;

#[tokio::test]
async fn anonymous_bodies_of_any_size_cost_the_server_no_memory() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let vera = s.user(&admin, "vera").await;
    let folder = s.folder(&admin, None, "Sales").await;
    data(
        &s.grant(
            &admin,
            &format!("user:{}", vera.id),
            &format!("folder:{folder}"),
            "VIEWER",
        )
        .await,
    );
    // Warm the paths first, so what follows measures the bodies only.
    let _ = s.gql(&Auth::None, "{setupRequired}", json!({})).await;
    let before = s.rss_bytes();

    let multipart = [("content-type", "multipart/form-data; boundary=XyZ")];
    let status = stream_post(&s.url, "/graphql", &multipart, 200 * MIB).await;
    assert!(status == 401 || status == 0, "anonymous upload: {status}");

    let json_type = [("content-type", "application/json")];
    for path in ["/graphql", "/auth/login", "/s/v/nope/api/sign-in"] {
        let status = stream_post(&s.url, path, &json_type, 64 * MIB).await;
        assert!(
            (400..500).contains(&status) || status == 0,
            "{path}: {status}"
        );
    }

    let bad_token = [("authorization", "Bearer vwc_not_a_token")];
    let status = stream_post(&s.url, "/wc/api/push?base=0", &bad_token, 200 * MIB).await;
    assert!(
        (400..500).contains(&status) || status == 0,
        "push: {status}"
    );
    let status = stream_post(
        &s.url,
        &format!("/api/bundles/import?folder={folder}"),
        &[],
        200 * MIB,
    )
    .await;
    assert!(status == 401 || status == 0, "anonymous import: {status}");
    // A viewer of the folder may not import there: refused before the body is read.
    let Auth::Bearer(t) = &vera.auth else {
        unreachable!()
    };
    let bearer = format!("Bearer {t}");
    let status = stream_post(
        &s.url,
        &format!("/api/bundles/import?folder={folder}"),
        &[("authorization", bearer.as_str())],
        200 * MIB,
    )
    .await;
    assert!(status == 403 || status == 0, "viewer import: {status}");

    // A declared length past the route's limit is refused before anything is read.
    let r = reqwest::Client::new()
        .post(format!("{}/auth/login", s.url))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * MIB])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "QUERY_TOO_LARGE"
    );

    let after = s.rss_bytes();
    let grew = after.saturating_sub(before);
    assert!(
        grew <= 16 * MIB as u64,
        "server RSS grew by {} MiB ({} → {} MiB)",
        grew >> 20,
        before >> 20,
        after >> 20
    );
    // And it still serves.
    assert_eq!(
        data(&s.gql(&Auth::None, "{setupRequired}", json!({})).await)["setupRequired"],
        false
    );
}

/// A multipart GraphQL request of `operations` and `map` only, with a bearer token.
async fn multipart(
    s: &TestServer,
    token: &str,
    operations: &Value,
    map: &Value,
) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", map.to_string());
    reqwest::Client::new()
        .post(format!("{}/graphql", s.url))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn multipart_requests_keep_the_body_limit_for_their_operations() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let Auth::Bearer(t) = &admin.auth else {
        unreachable!()
    };
    let big = "x".repeat(2 * MIB);
    let operations = json!({"query": "mutation($n:String!){createFolder(name:$n){id}}", "variables": {"n": big}});
    let r = multipart(&s, t, &operations, &json!({})).await;
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), "QUERY_TOO_LARGE", "{body}");

    // A small multipart request still works, and a file the map does not name is refused.
    let small = json!({"query": "{setupRequired}"});
    let r = multipart(&s, t, &small, &json!({})).await;
    assert_eq!(r.status(), 200);
    let r = multipart(&s, t, &small, &json!({"0": ["variables.file"]})).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), "INVALID_INPUT", "{body}");
}

#[tokio::test]
async fn graphql_takes_json_only_and_introspection_needs_a_caller() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let r = reqwest::Client::new()
            .post(format!("{}/graphql", s.url))
            .header("content-type", content_type)
            .body(json!({"query": "{setupRequired}"}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{content_type}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(code(&body), "INVALID_INPUT");
    }
    let q = "{__schema{types{name}}}";
    let anonymous = s.gql(&Auth::None, q, json!({})).await;
    assert!(anonymous["data"]["__schema"].is_null(), "{anonymous}");
    assert_eq!(code(&anonymous), "UNAUTHENTICATED", "{anonymous}");
    assert!(
        message(&anonymous).contains("vitrine.graphql"),
        "{anonymous}"
    );
    // `__typename` is not introspection of the schema, and stays open.
    let r = s.gql(&Auth::None, "{__typename}", json!({})).await;
    assert_eq!(data(&r)["__typename"], "Query");
    let r = s.gql(&admin.auth, q, json!({})).await;
    assert!(data(&r)["__schema"]["types"].as_array().unwrap().len() > 50);
}

#[tokio::test]
async fn every_page_carries_security_headers() {
    let s = TestServer::start().await;
    let c = reqwest::Client::new();
    for path in ["/", "/setup", "/graphql", "/s/v/nope"] {
        let r = c.get(format!("{}{path}", s.url)).send().await.unwrap();
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        let csp = h
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no CSP"))
            .to_str()
            .unwrap();
        assert!(csp.contains("default-src"), "{path}: {csp}");
        if !path.starts_with("/s/") {
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        }
    }
}

#[tokio::test]
async fn a_bundle_of_many_small_bombs_is_refused_without_holding_it() {
    use std::io::Write;
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let folder = s.folder(&admin, None, "Imports").await;
    // Three hundred entries, each a mebibyte of zeros packed to a few hundred bytes, plus
    // the JSON entries a bundle needs.
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let zstd = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Zstd)
        .compression_level(Some(19));
    let zeros = vec![0u8; MIB];
    for i in 0..300 {
        z.start_file(format!("datasets/{i}.arrow"), zstd).unwrap();
        z.write_all(&zeros).unwrap();
    }
    let bomb = z.finish().unwrap().into_inner();
    assert!(bomb.len() < 200 << 10);
    let _ = s.gql(&admin.auth, "{viewer{id}}", json!({})).await;
    let before = s.rss_bytes();
    let Auth::Bearer(t) = &admin.auth else {
        unreachable!()
    };
    let r = reqwest::Client::new()
        .post(format!("{}/api/bundles/import?folder={folder}", s.url))
        .bearer_auth(t)
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_BUNDLE", "{body}");
    let grew = s.rss_bytes().saturating_sub(before);
    assert!(
        grew <= 16 * MIB as u64,
        "server RSS grew by {} MiB",
        grew >> 20
    );
    let r = s
        .gql(
            &admin.auth,
            "query($f:ID!){projects(folderId:$f,first:5){edges{node{id}}}}",
            json!({"f": folder}),
        )
        .await;
    assert_eq!(
        data(&r)["projects"]["edges"].as_array().map(Vec::len),
        Some(0),
        "nothing was imported"
    );
}

#[tokio::test]
async fn graphiql_is_served_from_the_binary_and_learns_the_csrf_token_same_origin() {
    let s = TestServer::start().await;
    s.admin().await;
    let page = reqwest::get(format!("{}/graphql", s.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/assets/graphiql.min.js"), "{page}");
    assert!(
        !page.contains("unpkg") && !page.contains("<script>"),
        "{page}"
    );
    for asset in [
        "graphiql.min.js",
        "react.production.min.js",
        "graphiql-boot.js",
        "setup.js",
    ] {
        let r = reqwest::get(format!("{}/assets/{asset}", s.url))
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asset}");
    }
    // The CSRF token, for a session cookie only.
    let r = reqwest::get(format!("{}/auth/csrf", s.url)).await.unwrap();
    assert_eq!(r.status(), 401);
    let (st, body, client) = s.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(st, 200);
    let r = client
        .get(format!("{}/auth/csrf", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let got: serde_json::Value = r.json().await.unwrap();
    assert_eq!(got["csrfToken"], body["csrfToken"]);
}

#[tokio::test]
async fn the_setup_token_reaches_the_terminal_but_no_log_line() {
    let s = TestServer::start().await;
    let token = s.setup_token.clone().expect("a setup token");
    let with_token: Vec<&String> = s.printed.iter().filter(|l| l.contains(&token)).collect();
    assert_eq!(with_token.len(), 1, "{:?}", s.printed);
    assert!(
        with_token[0].starts_with("setup: open"),
        "{}",
        with_token[0]
    );
    assert!(
        s.printed
            .iter()
            .any(|l| l.contains("WARN") && l.contains("no administrator yet")),
        "{:?}",
        s.printed
    );
}
