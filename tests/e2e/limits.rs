use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn oversized_and_malformed_requests_get_coded_errors() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let deep = format!(
        "{{viewer{}id{}}}",
        "{groups{members".repeat(9),
        "}}".repeat(9)
    );
    assert_eq!(
        code(&s.gql(&admin.auth, &deep, json!({})).await),
        "QUERY_TOO_LARGE"
    );
    let aliases: String = (0..40).map(|i| format!("a{i}: setupRequired ")).collect();
    let r = s
        .gql(&admin.auth, &format!("{{{aliases}}}"), json!({}))
        .await;
    assert_eq!(code(&r), "QUERY_TOO_LARGE");
    assert!(message(&r).contains("aliases"), "{r}");

    let batch: Vec<_> = (0..11)
        .map(|_| json!({"query": "{setupRequired}"}))
        .collect();
    let (status, r) = s.post_json("/graphql", &admin.auth, &json!(batch)).await;
    assert_eq!((status, code(&r)), (413, "QUERY_TOO_LARGE".into()));
    let small: Vec<_> = (0..2)
        .map(|_| json!({"query": "{setupRequired}"}))
        .collect();
    let (status, r) = s.post_json("/graphql", &admin.auth, &json!(small)).await;
    assert_eq!((status, r.as_array().map(Vec::len)), (200, Some(2)));

    let big = "x".repeat(2 * 1024 * 1024);
    let (status, r) = s
        .post_json("/graphql", &admin.auth, &json!({"query": big}))
        .await;
    assert_eq!((status, code(&r)), (413, "QUERY_TOO_LARGE".into()));
    let resp = reqwest::Client::new()
        .post(format!("{}/graphql", s.url))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(code(&resp.json().await.unwrap()), "INVALID_INPUT");

    assert_eq!(
        code(&s.gql(&admin.auth, "{nope}", json!({})).await),
        "INVALID_INPUT"
    );
    assert_eq!(
        code(&s.gql(&admin.auth, "{project(id: 12 }", json!({})).await),
        "INVALID_INPUT"
    );
    assert_eq!(
        code(
            &s.gql(
                &admin.auth,
                "mutation{grantRole(subject:\"u\",object:\"o\",role:KING)}",
                json!({})
            )
            .await
        ),
        "INVALID_INPUT"
    );
    assert_eq!(
        code(
            &s.gql(&Auth::None, "{projects{edges{cursor}}}", json!({}))
                .await
        ),
        "UNAUTHENTICATED"
    );
    let bad_header = reqwest::Client::new()
        .post(format!("{}/graphql", s.url))
        .header("authorization", "Basic YTpi")
        .json(&json!({"query": "{viewer{id}}"}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(code(&bad_header), "UNAUTHENTICATED");
}

#[tokio::test]
async fn the_standard_introspection_query_passes_the_limits() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let r = s
        .gql(
            &admin.auth,
            vitrine_api::graphql::STANDARD_INTROSPECTION_QUERY,
            json!({}),
        )
        .await;
    let types = data(&r)["__schema"]["types"].as_array().unwrap();
    for name in [
        "User",
        "Group",
        "Folder",
        "Project",
        "AuditEvent",
        "ProjectConnection",
    ] {
        assert!(types.iter().any(|t| t["name"] == name), "{name} missing");
    }
}
