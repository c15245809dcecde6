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

/// A query's shape is bounded before the parser's recursion and the validator's work:
/// fragments that double, aliases multiplied by spreads, fragment cycles and floods, and
/// bracket nesting in the text and in variables. Brackets inside strings and comments are
/// text, not nesting.
#[tokio::test]
async fn query_shapes_are_bounded_before_validation() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let refused = |r: &serde_json::Value, why: &str| {
        assert_eq!(code(r), "QUERY_TOO_LARGE", "{r}");
        assert!(message(r).contains(why), "{why}: {r}");
    };

    let mut doubling = String::from("query { ...F0 }\n");
    for i in 0..24 {
        let next = i + 1;
        doubling.push_str(&format!(
            "fragment F{i} on Query {{ ...F{next} ...F{next} }}\n"
        ));
    }
    doubling.push_str("fragment F24 on Query { setupRequired }\n");
    refused(&s.gql(&admin.auth, &doubling, json!({})).await, "more than");

    let aliases: String = (0..10).map(|i| format!("a{i}: setupRequired ")).collect();
    let four = format!("query {{ ...A ...A ...A ...A }} fragment A on Query {{ {aliases} }}");
    refused(&s.gql(&admin.auth, &four, json!({})).await, "40 aliases");
    let one = format!("query {{ ...A }} fragment A on Query {{ {aliases} }}");
    let r = s.gql(&admin.auth, &one, json!({})).await;
    assert_eq!(data(&r)["a9"], false, "{r}");

    let mut flood = String::from("query { setupRequired }");
    for i in 0..=200 {
        flood.push_str(&format!(" fragment F{i} on Query {{ setupRequired }}"));
    }
    refused(&s.gql(&admin.auth, &flood, json!({})).await, "fragments");

    // A cycle of spreads is refused (by the shape check or by the parser's own depth
    // limit, whichever comes first), and so is text nested 5,000 deep.
    let cycle = "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
    let deep = format!(
        "{{project(slug:{}1{}){{id}}}}",
        "{x:".repeat(5000),
        "}".repeat(5000)
    );
    for query in [cycle, deep.as_str()] {
        let r = s.gql(&admin.auth, query, json!({})).await;
        let c = code(&r);
        assert!(c == "QUERY_TOO_LARGE" || c == "INVALID_INPUT", "{r}");
    }
    let r = s.gql(&admin.auth, "{setupRequired}", json!({})).await;
    assert_eq!(data(&r)["setupRequired"], false, "still serving");
    let mut nested = json!(1);
    for _ in 0..100 {
        nested = json!([nested]);
    }
    let r = s
        .gql(
            &admin.auth,
            "query($v:JSON){setupRequired}",
            json!({"v": nested}),
        )
        .await;
    refused(&r, "variable `v`");

    // Brackets in strings, block strings, escapes and comments are not nesting: these
    // reach the resolver (which refuses the slug).
    let many = "{[(".repeat(40);
    for text in [
        format!("{{project(slug:\"{many}\"){{id}}}}"),
        format!("{{project(slug:\"\"\"{many}\n{many}\"\"\"){{id}}}}"),
        format!("{{project(slug:\"\\\"{many}\"){{id}}}}"),
        format!("# {many}\n{{project(slug:\"x\"){{id}}}}"),
    ] {
        let r = s.gql(&admin.auth, &text, json!({})).await;
        assert_eq!(r["errors"][0]["path"], json!(["project"]), "{text}: {r}");
    }
}

/// A query document is fully validated once and then runs validating only what depends
/// on the request: each request's variables are still checked, for their type and for
/// the complexity they give the query.
#[tokio::test]
async fn a_query_validated_once_still_checks_each_requests_variables() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let folder = s.folder(&admin, None, "Data").await;
    s.project(&admin, &folder, "Orders").await;
    let list = "projects(first:$n){edges{node{id name slug role}}}";
    let q = format!("query($n:Int){{a:{list} b:{list} c:{list} d:{list}}}");
    for _ in 0..3 {
        let r = s.gql(&admin.auth, &q, json!({"n": 1})).await;
        assert_eq!(data(&r)["a"]["edges"].as_array().map(Vec::len), Some(1));
    }
    // The same document with a variable of the wrong type: refused, nothing answered.
    let r = s.gql(&admin.auth, &q, json!({"n": "many"})).await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    assert!(r["data"]["a"].is_null(), "{r}");
    // With 100 per list, four lists cost more than the complexity limit (2,000).
    let r = s.gql(&admin.auth, &q, json!({"n": 100})).await;
    assert_eq!(code(&r), "QUERY_TOO_LARGE", "{r}");
    // And a wrong type on a document never validated before is refused the same way.
    let r = s
        .gql(
            &admin.auth,
            "query($n:Int){projects(first:$n){edges{cursor}}}",
            json!({"n": "many"}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
}
