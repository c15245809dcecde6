//! API tokens scoped to one project or one folder: every check a request meets honours the
//! scope, the token carries no server permission, and it cannot reach the account itself.

use serde_json::{Value, json};

use crate::support::*;

const MINT: &str = "mutation($s:String,$u:ID){createApiToken(name:\"scoped\",scope:$s,userId:$u){token apiToken{id scope}}}";

/// Issues a token through `session`, scoped to `scope`; answers the whole reply.
async fn mint(s: &TestServer, session: &Auth, scope: &str, user: Option<&str>) -> Value {
    s.gql(session, MINT, json!({"s": scope, "u": user})).await
}

fn bearer(r: &Value) -> Auth {
    Auth::Bearer(
        data(r)["createApiToken"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("createApiToken: {r}"))
            .into(),
    )
}

async fn project_names(s: &TestServer, auth: &Auth) -> Vec<String> {
    let r = s.gql(auth, "{projects{nodes{name}}}", json!({})).await;
    let mut names: Vec<String> = data(&r)["projects"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// Grants `role` to user `uid` on `folder`.
async fn on_folder(s: &TestServer, admin: &Actor, uid: &str, folder: &str, role: &str) {
    let (subject, object) = (format!("user:{uid}"), format!("folder:{folder}"));
    data(&s.grant(admin, &subject, &object, role).await);
}

async fn rename(s: &TestServer, auth: &Auth, project: &str, name: &str) -> Value {
    let m = "mutation($i:ID!,$n:String!){renameProject(id:$i,name:$n){name}}";
    s.gql(auth, m, json!({"i": project, "n": name})).await
}

#[tokio::test]
async fn a_scoped_token_reaches_its_project_or_folder_and_nothing_else() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let ria = s.user(&admin, "ria").await;
    let sales = s.folder(&admin, None, "Sales").await;
    let ops = s.folder(&admin, None, "Ops").await;
    let (north, _) = s.project(&admin, &sales, "North").await;
    let (south, _) = s.project(&admin, &sales, "South").await;
    let (fleet, _) = s.project(&admin, &ops, "Fleet").await;
    for folder in [&sales, &ops] {
        on_folder(&s, &admin, &ria.id, folder, "EDITOR").await;
    }
    let session = s.session("ria", PASSWORD).await;
    assert_eq!(
        project_names(&s, &ria.auth).await,
        ["Fleet", "North", "South"]
    );

    // Scoped to one project: that project, with ria's own editor role there.
    let r = mint(&s, &session, &format!("project:{north}"), None).await;
    assert_eq!(
        data(&r)["createApiToken"]["apiToken"]["scope"],
        format!("project:{north}")
    );
    let one = bearer(&r);
    assert_eq!(project_names(&s, &one).await, ["North"]);
    assert_eq!(
        data(&rename(&s, &one, &north, "North 2").await)["renameProject"]["name"],
        "North 2"
    );
    let refused = rename(&s, &one, &south, "South 2").await;
    assert!(
        ["NOT_FOUND", "FORBIDDEN"].contains(&code(&refused).as_str()),
        "{refused}"
    );
    let r = s
        .gql(
            &one,
            "query($i:ID){project(id:$i){name}}",
            json!({"i": fleet}),
        )
        .await;
    assert_eq!(code(&r), "NOT_FOUND");
    // The folder above the project stays navigable, its sibling does not show.
    let r = s.gql(&one, "{folders{nodes{name}}}", json!({})).await;
    assert_eq!(data(&r)["folders"]["nodes"], json!([{"name": "Sales"}]));
    // Creating a project next to it needs the folder, which the scope does not reach.
    let r = s
        .gql(
            &one,
            "mutation($f:ID!){createProject(folderId:$f,name:\"West\"){id}}",
            json!({"f": sales}),
        )
        .await;
    assert!(r.get("errors").is_some(), "{r}");

    // Scoped to a folder: everything inside it, nothing beside it.
    let folder_token = bearer(&mint(&s, &session, &format!("folder:{sales}"), None).await);
    assert_eq!(project_names(&s, &folder_token).await, ["North 2", "South"]);
    let r = rename(&s, &folder_token, &south, "South 2").await;
    assert_eq!(data(&r)["renameProject"]["name"], "South 2");
    let refused = rename(&s, &folder_token, &fleet, "Fleet 2").await;
    assert!(refused.get("errors").is_some(), "{refused}");
    let r = s
        .gql(
            &ria.auth,
            "query($i:ID){project(id:$i){name}}",
            json!({"i": fleet}),
        )
        .await;
    assert_eq!(
        data(&r)["project"]["name"],
        "Fleet",
        "the refusal changed nothing"
    );

    // Revoking the scoped token ends it like any other.
    let list = s.gql(&session, "{apiTokens{id scope}}", json!({})).await;
    let scoped: Vec<&Value> = data(&list)["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["scope"] == format!("folder:{sales}"))
        .collect();
    assert_eq!(scoped.len(), 1, "{list}");
    let m = "mutation($i:ID!){revokeApiToken(id:$i){revokedAt}}";
    let r = s.gql(&session, m, json!({"i": scoped[0]["id"]})).await;
    assert!(data(&r)["revokeApiToken"]["revokedAt"].is_string());
    let r = s.gql(&folder_token, "{viewer{username}}", json!({})).await;
    assert_eq!(code(&r), "TOKEN_REJECTED");
}

#[tokio::test]
async fn a_scoped_token_carries_no_server_permission_and_cannot_touch_the_account() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let folder = s.folder(&admin, None, "Finance").await;
    let (ledger, _) = s.project(&admin, &folder, "Ledger").await;
    let session = s.session("admin", ADMIN_PASSWORD).await;
    let scoped = bearer(&mint(&s, &session, &format!("project:{ledger}"), None).await);

    // An admin's scoped token is owner of its project and no admin anywhere.
    let r = rename(&s, &scoped, &ledger, "General ledger").await;
    assert_eq!(data(&r)["renameProject"]["name"], "General ledger");
    for (query, what) in [
        ("{users{nodes{id}}}", "the user directory"),
        ("{auditEvents{nodes{action}}}", "the audit log"),
        (
            "mutation{createFolder(name:\"Root\"){id}}",
            "a folder at the top",
        ),
        (
            "mutation{createServiceAccount(username:\"bot\"){id}}",
            "a service account",
        ),
        ("{tasks{nodes{id}}}", "tasks"),
        ("{apiTokens{id}}", "the account's tokens"),
        (
            "mutation{changePassword(currentPassword:\"x\",newPassword:\"another long password\")}",
            "the password",
        ),
        (
            "mutation{createApiToken(name:\"more\"){token}}",
            "a further token",
        ),
    ] {
        let r = s.gql(&scoped, query, json!({})).await;
        assert_eq!(code(&r), "FORBIDDEN", "{what}: {r}");
    }
    let r = s.gql(&scoped, "{users{nodes{id}}}", json!({})).await;
    assert!(
        message(&r).contains("scoped to"),
        "the refusal says why: {r}"
    );
    // The unscoped session still has all of it.
    let r = s.gql(&session, "{users{nodes{id}}}", json!({})).await;
    assert!(data(&r)["users"]["nodes"].is_array());
}

#[tokio::test]
async fn scopes_are_checked_when_the_token_is_issued() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let ria = s.user(&admin, "ria").await;
    let open = s.folder(&admin, None, "Open").await;
    let closed = s.folder(&admin, None, "Closed").await;
    let (secret, _) = s.project(&admin, &closed, "Secret").await;
    on_folder(&s, &admin, &ria.id, &open, "VIEWER").await;
    let session = s.session("ria", PASSWORD).await;
    let count = || async {
        let r = s.gql(&session, "{apiTokens{id}}", json!({})).await;
        data(&r)["apiTokens"].as_array().unwrap().len()
    };
    let before = count().await;
    for bad in ["instance", "bogus", "project:", "folder", "user:x"] {
        let r = mint(&s, &session, bad, None).await;
        assert_eq!(code(&r), "INVALID_INPUT", "{bad}: {r}");
        assert!(message(&r).contains("scope"), "{r}");
    }
    // Unknown, and existing but out of ria's sight, answer alike.
    for hidden in [
        "project:no-such-project".to_owned(),
        format!("project:{secret}"),
        format!("folder:{closed}"),
    ] {
        let r = mint(&s, &session, &hidden, None).await;
        assert_eq!(code(&r), "NOT_FOUND", "{hidden}: {r}");
    }
    assert_eq!(count().await, before, "nothing refused was stored");
    let r = mint(&s, &session, &format!("folder:{open}"), None).await;
    assert_eq!(
        data(&r)["createApiToken"]["apiToken"]["scope"],
        format!("folder:{open}")
    );
    assert_eq!(count().await, before + 1);

    // Admins issue scoped tokens to service accounts, which then hold the account's own
    // roles inside the scope only.
    let bot = s.service_account(&admin, "nightly").await;
    for folder in [&open, &closed] {
        on_folder(&s, &admin, &bot, folder, "EDITOR").await;
    }
    let admin_session = s.session("admin", ADMIN_PASSWORD).await;
    let r = mint(&s, &admin_session, &format!("folder:{open}"), Some(&bot)).await;
    let bot_token = bearer(&r);
    assert_eq!(project_names(&s, &bot_token).await, Vec::<String>::new());
    let (inside, _) = s.project(&admin, &open, "Inside").await;
    assert_eq!(project_names(&s, &bot_token).await, ["Inside"]);
    assert_eq!(
        data(&rename(&s, &bot_token, &inside, "Inside 2").await)["renameProject"]["name"],
        "Inside 2"
    );
    let r = rename(&s, &bot_token, &secret, "Leaked").await;
    assert!(r.get("errors").is_some(), "{r}");
    // The audit log says the token was issued with its scope.
    let r = s
        .gql(
            &admin.auth,
            "{auditEvents(filter:{actionPrefix:\"token.create\"}){nodes{detail}}}",
            json!({}),
        )
        .await;
    let details = data(&r)["auditEvents"]["nodes"].to_string();
    assert!(
        details.contains(&format!("scoped to folder:{open}")),
        "{details}"
    );
}
