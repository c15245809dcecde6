use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn logins_failures_and_mutations_are_audited_for_admins() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let eve = s.user(&admin, "eve").await;
    s.login("eve", "not the password").await;
    let f = s.folder(&admin, None, "Audited").await;
    let (p, _) = s.project(&admin, &f, "Watched").await;
    let q = "query($f:AuditEventFilter,$n:Int,$a:String){auditEvents(filter:$f,first:$n,after:$a){edges{node{actorName action object outcome address}} pageInfo{hasNextPage endCursor}}}";
    assert_eq!(code(&s.gql(&eve.auth, q, json!({})).await), "FORBIDDEN");
    // A refused mutation is audited with its code.
    let refused = s
        .gql(
            &eve.auth,
            "mutation{createFolder(name:\"Mine\"){id}}",
            json!({}),
        )
        .await;
    assert_eq!(code(&refused), "FORBIDDEN");
    let r = s
        .gql(
            &admin.auth,
            q,
            json!({"f": {"actions": ["MUTATION_REFUSED"], "object": "mutation:createFolder"}}),
        )
        .await;
    let e = &data(&r)["auditEvents"]["edges"][0]["node"];
    assert_eq!(
        (
            e["actorName"].as_str(),
            e["outcome"].as_str(),
            e["action"].as_str()
        ),
        (Some("eve"), Some("FORBIDDEN"), Some("MUTATION_REFUSED")),
        "{r}"
    );
    // An alias does not hide which field was refused, and a named operation among
    // others is recognised as the mutation it is.
    let (_, sneak) = s
        .post_json(
            "/graphql",
            &eve.auth,
            &json!({"query": "query Look{viewer{username}} mutation Sneak{harmless:createFolder(name:\"Mine\"){id}}", "operationName": "Sneak"}),
        )
        .await;
    assert_eq!(code(&sneak), "FORBIDDEN", "{sneak}");
    let r = s
        .gql(
            &admin.auth,
            q,
            json!({"f": {"actions": ["MUTATION_REFUSED"], "object": "mutation:createFolder"}}),
        )
        .await;
    assert_eq!(
        data(&r)["auditEvents"]["edges"].as_array().unwrap().len(),
        2,
        "{r}"
    );

    let r = s
        .gql(
            &admin.auth,
            q,
            json!({"f": {"actionPrefix": "auth.login"}, "n": 100}),
        )
        .await;
    let events: Vec<_> = data(&r)["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    assert!(
        events.iter().any(|e| e["actorName"] == "eve"
            && e["outcome"] == "failed"
            && e["address"] == "127.0.0.1"),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["actorName"] == "eve" && e["outcome"] == "ok")
    );

    let r = s
        .gql(
            &admin.auth,
            q,
            json!({"f": {"object": format!("project:{p}")}}),
        )
        .await;
    let events = &data(&r)["auditEvents"]["edges"];
    assert_eq!(events[0]["node"]["action"], "PROJECT_CREATE");
    assert_eq!(events[0]["node"]["actorName"], "admin");

    // Refused imports are audited too, and pagination walks the whole trail newest first.
    s.gql(
        &admin.auth,
        "mutation{importPolicies(csv:\"garbage\"){grants}}",
        json!({}),
    )
    .await;
    let r = s.gql(&admin.auth, q, json!({"n": 1})).await;
    assert_eq!(
        data(&r)["auditEvents"]["edges"][0]["node"]["outcome"],
        "INVALID_POLICY"
    );
    let mut seen = 0;
    let mut after: Option<String> = None;
    loop {
        let r = s.gql(&admin.auth, q, json!({"n": 3, "a": after})).await;
        let c = &data(&r)["auditEvents"];
        seen += c["edges"].as_array().unwrap().len();
        if !c["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = c["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert!(seen >= 8, "walked {seen} events");
}
