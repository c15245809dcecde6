use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn user_attributes_are_admin_managed_and_validated() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let ria = s.user(&admin, "ria").await;
    let m = "mutation($i:ID!,$a:[UserAttributeInput!]!){setUserAttributes(id:$i,attributes:$a){attributes{key values}}}";
    let attrs = json!([{"key": "region", "values": ["emea", "apac"]}, {"key": "cost_center", "values": ["42"]}]);
    assert_eq!(
        code(&s.gql(&ria.auth, m, json!({"i": ria.id, "a": attrs})).await),
        "FORBIDDEN"
    );
    let r = s
        .gql(&admin.auth, m, json!({"i": ria.id, "a": attrs}))
        .await;
    assert_eq!(
        data(&r)["setUserAttributes"]["attributes"],
        json!([{"key": "cost_center", "values": ["42"]}, {"key": "region", "values": ["emea", "apac"]}])
    );
    for bad in [
        json!([{"key": "Region", "values": ["x"]}]),
        json!([{"key": "a", "values": ["x"]}, {"key": "a", "values": ["y"]}]),
    ] {
        let r = s.gql(&admin.auth, m, json!({"i": ria.id, "a": bad})).await;
        assert_eq!(code(&r), "INVALID_INPUT", "{bad}");
    }
    // The refused changes left the stored attributes alone, and the user sees them.
    let r = s
        .gql(&ria.auth, "{viewer{attributes{key values}}}", json!({}))
        .await;
    assert_eq!(
        data(&r)["viewer"]["attributes"].as_array().unwrap().len(),
        2
    );
}

#[tokio::test]
async fn service_accounts_authenticate_only_with_tokens_issued_by_admins() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let sam = s.user(&admin, "sam").await;
    let create = "mutation{createServiceAccount(username:\"nightly\"){id kind}}";
    assert_eq!(
        code(&s.gql(&sam.auth, create, json!({})).await),
        "FORBIDDEN"
    );
    let r = s.gql(&admin.auth, create, json!({})).await;
    assert_eq!(data(&r)["createServiceAccount"]["kind"], "SERVICE");
    let bot = data(&r)["createServiceAccount"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // No password: it cannot sign in.
    assert_eq!(s.login("nightly", "").await.0, 401);

    let mint = "mutation($u:ID){createApiToken(name:\"nightly\",userId:$u){token}}";
    let admin_session = s.session("admin", ADMIN_PASSWORD).await;
    let sam_session = s.session("sam", PASSWORD).await;
    assert_eq!(
        code(&s.gql(&sam_session, mint, json!({"u": bot})).await),
        "FORBIDDEN"
    );
    assert_eq!(
        code(&s.gql(&admin_session, mint, json!({"u": sam.id})).await),
        "FORBIDDEN",
        "no tokens for other people"
    );
    let r = s.gql(&admin_session, mint, json!({"u": bot})).await;
    let bot_auth = Auth::Bearer(data(&r)["createApiToken"]["token"].as_str().unwrap().into());
    let r = s.gql(&bot_auth, "{viewer{username kind}}", json!({})).await;
    assert_eq!(
        data(&r)["viewer"],
        json!({"username": "nightly", "kind": "SERVICE"})
    );
    // Admins list and revoke a service account's tokens; others cannot see them.
    let list = "query($u:ID){apiTokens(userId:$u){id}}";
    assert_eq!(
        code(&s.gql(&sam.auth, list, json!({"u": bot})).await),
        "FORBIDDEN"
    );
    let r = s.gql(&admin.auth, list, json!({"u": bot})).await;
    let token_id = data(&r)["apiTokens"][0]["id"].as_str().unwrap().to_owned();
    let revoke = "mutation($i:ID!){revokeApiToken(id:$i){revokedAt}}";
    assert_eq!(
        code(&s.gql(&sam.auth, revoke, json!({"i": token_id})).await),
        "NOT_FOUND",
        "another user's token is not yours to see"
    );
    data(&s.gql(&admin.auth, revoke, json!({"i": token_id})).await);
    assert_eq!(
        code(&s.gql(&bot_auth, "{viewer{id}}", json!({})).await),
        "TOKEN_REJECTED"
    );
}

#[tokio::test]
async fn only_admins_grant_server_permissions_and_the_last_admin_stays() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let pat = s.user(&admin, "pat").await;
    let grant = "mutation($s:String!,$p:ServerPermission!){grantServerPermission(subject:$s,permission:$p)}";
    let revoke = "mutation($s:String!,$p:ServerPermission!){revokeServerPermission(subject:$s,permission:$p)}";
    let me = format!("user:{}", pat.id);
    assert_eq!(
        code(
            &s.gql(&pat.auth, grant, json!({"s": me, "p": "ADMIN"}))
                .await
        ),
        "FORBIDDEN"
    );
    let r = s
        .gql(
            &admin.auth,
            revoke,
            json!({"s": format!("user:{}", admin.id), "p": "ADMIN"}),
        )
        .await;
    assert_eq!(code(&r), "POLICY_VIOLATION");
    assert!(message(&r).contains("last administrator"), "{r}");
    data(
        &s.gql(&admin.auth, grant, json!({"s": me, "p": "ADMIN"}))
            .await,
    );
    // With a second admin, the first may step down.
    data(
        &s.gql(
            &pat.auth,
            revoke,
            json!({"s": format!("user:{}", admin.id), "p": "ADMIN"}),
        )
        .await,
    );
    assert_eq!(
        code(
            &s.gql(&admin.auth, "{users{edges{cursor}}}", json!({}))
                .await
        ),
        "FORBIDDEN"
    );
}

#[tokio::test]
async fn folder_managers_work_inside_their_folder_only() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let fay = s.user(&admin, "fay").await;
    let ed = s.user(&admin, "eddy").await;
    let team = s.folder(&admin, None, "Team").await;
    let other = s.folder(&admin, None, "Other").await;
    let (project, _) = s.project(&admin, &team, "Board").await;
    data(
        &s.grant(
            &admin,
            &format!("user:{}", fay.id),
            &format!("folder:{team}"),
            "MANAGER",
        )
        .await,
    );
    data(
        &s.grant(
            &admin,
            &format!("user:{}", ed.id),
            &format!("folder:{team}"),
            "EDITOR",
        )
        .await,
    );
    let sub = "mutation($p:ID){createFolder(parentId:$p,name:\"Sub\"){id role}}";
    assert_eq!(
        code(&s.gql(&ed.auth, sub, json!({"p": team})).await),
        "FORBIDDEN"
    );
    let r = s.gql(&fay.auth, sub, json!({"p": team})).await;
    assert_eq!(
        data(&r)["createFolder"]["role"],
        "MANAGER",
        "the floor reaches new folders"
    );
    let sub_id = data(&r)["createFolder"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        code(&s.gql(&fay.auth, sub, json!({"p": other})).await),
        "NOT_FOUND"
    );
    let mv = "mutation($i:ID!,$f:ID!){moveProject(id:$i,folderId:$f){folderId}}";
    assert_eq!(
        code(
            &s.gql(&ed.auth, mv, json!({"i": project, "f": sub_id}))
                .await
        ),
        "FORBIDDEN"
    );
    let r = s
        .gql(&fay.auth, mv, json!({"i": project, "f": sub_id}))
        .await;
    assert_eq!(data(&r)["moveProject"]["folderId"], sub_id.as_str());
    assert_eq!(
        code(
            &s.gql(&fay.auth, mv, json!({"i": project, "f": other}))
                .await
        ),
        "NOT_FOUND"
    );
    let del = "mutation($i:ID!){deleteFolder(id:$i,recursive:true)}";
    assert_eq!(
        code(&s.gql(&ed.auth, del, json!({"i": sub_id})).await),
        "FORBIDDEN"
    );
    data(&s.gql(&fay.auth, del, json!({"i": sub_id})).await);
    assert_eq!(
        code(
            &s.gql(
                &admin.auth,
                "query($i:ID!){project(id:$i){id}}",
                json!({"i": project})
            )
            .await
        ),
        "NOT_FOUND"
    );
}
