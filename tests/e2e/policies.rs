use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn policy_import_refuses_bad_files_whole_and_accepts_good_ones() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let folder = s.folder(&admin, None, "Ops").await;
    let (project, _) = s.project(&admin, &folder, "Uptime").await;
    let ann = s.user(&admin, "ann").await;
    let export = "{exportPolicies}";
    let before = data(&s.gql(&admin.auth, export, json!({})).await)["exportPolicies"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        before.contains(&format!("p, user:{}, instance, admin", admin.id)),
        "{before}"
    );

    let import = "mutation($c:String!){importPolicies(csv:$c){grants memberships}}";
    let admin_line = format!("p, user:{}, instance, admin", admin.id);
    let bad_files = [
        (
            format!("{admin_line}\np, user:{}, folder:{folder}", ann.id),
            "line 2",
        ),
        (
            format!(
                "{admin_line}\np, user:{}, folder:{folder}, superuser",
                ann.id
            ),
            "not a role",
        ),
        (
            format!("{admin_line}\np, user:ghost, folder:{folder}, viewer"),
            "does not exist",
        ),
        (
            format!("{admin_line}\nx, user:{}, folder:{folder}, viewer", ann.id),
            "unknown line type",
        ),
        (
            format!(
                "{admin_line}\np, user:{a}, folder:{folder}, editor\np, user:{a}, folder:{folder}, viewer",
                a = ann.id
            ),
            "one role per subject",
        ),
        (
            format!(
                "{admin_line}\np, user:{a}, folder:{folder}, editor\np, user:{a}, project:{project}, viewer",
                a = ann.id
            ),
            "never less",
        ),
        (
            format!("p, user:{}, folder:{folder}, viewer", ann.id),
            "lock every administrator out",
        ),
        (
            format!("{admin_line}\np, user:{}, instance, emperor", ann.id),
            "not a server permission",
        ),
    ];
    for (csv, why) in bad_files {
        let r = s.gql(&admin.auth, import, json!({"c": csv})).await;
        assert_eq!(code(&r), "INVALID_POLICY", "{csv}");
        assert!(
            message(&r).contains(why),
            "expected `{why}` in {}",
            message(&r)
        );
        let now = data(&s.gql(&admin.auth, export, json!({})).await)["exportPolicies"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(now, before, "a refused import changes nothing");
    }
    // Only admins import.
    assert_eq!(
        code(&s.gql(&ann.auth, import, json!({"c": before})).await),
        "FORBIDDEN"
    );

    let good = format!(
        "# comment\n{admin_line}\np, user:{}, folder:{folder}, editor\n",
        ann.id
    );
    let r = s.gql(&admin.auth, import, json!({"c": good})).await;
    assert_eq!(
        data(&r)["importPolicies"],
        json!({"grants": 2, "memberships": 0})
    );
    let r = s
        .gql(
            &ann.auth,
            "query($i:ID!){project(id:$i){role}}",
            json!({"i": project}),
        )
        .await;
    assert_eq!(data(&r)["project"]["role"], "EDITOR");
    // Export → import round-trips.
    let exported = data(&s.gql(&admin.auth, export, json!({})).await)["exportPolicies"]
        .as_str()
        .unwrap()
        .to_owned();
    data(
        &s.gql(&admin.auth, import, json!({"c": exported.clone()}))
            .await,
    );
    assert_eq!(
        data(&s.gql(&admin.auth, export, json!({})).await)["exportPolicies"]
            .as_str()
            .unwrap(),
        exported
    );
    let r = s
        .gql(
            &admin.auth,
            "{policies(first:1){edges{node{ptype subject object grant}} pageInfo{hasNextPage}}}",
            json!({}),
        )
        .await;
    assert_eq!(data(&r)["policies"]["pageInfo"]["hasNextPage"], true);
}

#[tokio::test]
async fn explain_names_the_grants_and_agrees_with_casbin() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let top = s.folder(&admin, None, "Top").await;
    let mid = s.folder(&admin, Some(&top), "Mid").await;
    let (project, _) = s.project(&admin, &mid, "Forecast").await;
    let ben = s.user(&admin, "ben").await;
    let r = s
        .gql(
            &admin.auth,
            "mutation{createGroup(name:\"Planners\"){id}}",
            json!({}),
        )
        .await;
    let group = data(&r)["createGroup"]["id"].as_str().unwrap().to_owned();
    data(
        &s.gql(
            &admin.auth,
            "mutation($g:ID!,$u:ID!){addGroupMember(groupId:$g,userId:$u){id}}",
            json!({"g": group, "u": ben.id}),
        )
        .await,
    );
    data(
        &s.grant(
            &admin,
            &format!("group:{group}"),
            &format!("folder:{top}"),
            "EDITOR",
        )
        .await,
    );

    let q = "query($u:ID,$a:AccessAction!,$o:String!){explain(userId:$u,action:$a,object:$o){allowed requiredRole effectiveRole casbinAllows reason grants{subject object role inherited}}}";
    let obj = format!("project:{project}");
    let r = s
        .gql(&admin.auth, q, json!({"u": ben.id, "a": "EDIT", "o": obj}))
        .await;
    let e = &data(&r)["explain"];
    assert_eq!(e["allowed"], true);
    assert_eq!(e["casbinAllows"], true, "index and casbin agree");
    assert_eq!(e["effectiveRole"], "EDITOR");
    assert_eq!(
        e["grants"],
        json!([{"subject": format!("group:{group}"), "object": format!("folder:{top}"), "role": "EDITOR", "inherited": true}])
    );
    assert!(
        e["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("through group:{group}")),
        "{e}"
    );

    let r = s
        .gql(
            &admin.auth,
            q,
            json!({"u": ben.id, "a": "MANAGE", "o": obj}),
        )
        .await;
    let e = &data(&r)["explain"];
    assert_eq!(
        (e["allowed"].as_bool(), e["casbinAllows"].as_bool()),
        (Some(false), Some(false))
    );
    assert!(e["reason"].as_str().unwrap().starts_with("refused"), "{e}");

    // Ben may explain himself, not others.
    let r = s.gql(&ben.auth, q, json!({"a": "VIEW", "o": obj})).await;
    assert_eq!(data(&r)["explain"]["allowed"], true);
    assert_eq!(
        code(
            &s.gql(&ben.auth, q, json!({"u": admin.id, "a": "VIEW", "o": obj}))
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        code(
            &s.gql(
                &admin.auth,
                q,
                json!({"u": ben.id, "a": "VIEW", "o": "planet:x"})
            )
            .await
        ),
        "INVALID_INPUT"
    );

    // Someone without access learns nothing: an existing project and a missing one get
    // the same answer.
    let eve = s.user(&admin, "eve").await;
    let existing = s.gql(&eve.auth, q, json!({"a": "VIEW", "o": obj})).await;
    let missing = s
        .gql(&eve.auth, q, json!({"a": "VIEW", "o": "project:nope"}))
        .await;
    assert_eq!(code(&existing), "NOT_FOUND", "{existing}");
    assert_eq!(code(&missing), "NOT_FOUND", "{missing}");
    assert_eq!(
        message(&existing).replace(&project, "X"),
        message(&missing).replace("nope", "X")
    );
}
