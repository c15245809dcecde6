use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn login_sets_a_hardened_cookie_and_logout_ends_the_session() {
    let s = TestServer::start().await;
    s.admin().await;
    let client = TestServer::client();
    let resp = client
        .post(format!("{}/auth/login", s.url))
        .json(&json!({"username": "ADMIN", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "usernames are case-insensitive");
    let cookie = resp
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing in {cookie}");
    }
    let body: serde_json::Value = resp.json().await.unwrap();
    let csrf = body["csrfToken"].as_str().unwrap().to_owned();
    let session = Auth::Cookie(client.clone(), Some(csrf));
    let r = s.gql(&session, "{viewer{username}}", json!({})).await;
    assert_eq!(data(&r)["viewer"]["username"], "admin");

    let out = client
        .post(format!("{}/auth/logout", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    // The client dropped the cookie; replay it by hand to prove the server ended it too.
    let token = cookie.split(';').next().unwrap().to_owned();
    let replay = reqwest::Client::new()
        .post(format!("{}/graphql", s.url))
        .header("cookie", token)
        .json(&json!({"query": "{viewer{username}}"}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(code(&replay), "UNAUTHENTICATED");
}

#[tokio::test]
async fn wrong_passwords_are_refused_alike_and_rate_limited() {
    let s = TestServer::start().await;
    s.admin().await;
    let (st, unknown, _) = s.login("nobody", "whatever password").await;
    let (st2, wrong, _) = s.login("admin", "wrong password here").await;
    assert_eq!((st, st2), (401, 401));
    assert_eq!(unknown["error"]["code"], "INVALID_CREDENTIALS");
    assert_eq!(
        unknown["error"]["message"], wrong["error"]["message"],
        "no hint whether the user exists"
    );
    for _ in 0..4 {
        s.login("admin", "wrong password here").await;
    }
    let (st, limited, _) = s.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(st, 429, "{limited}");
    assert_eq!(limited["error"]["code"], "RATE_LIMITED");
    let (st, bad, _) = {
        let c = TestServer::client();
        let r = c
            .post(format!("{}/auth/login", s.url))
            .body("not json")
            .send()
            .await
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<serde_json::Value>().await.unwrap(),
            c,
        )
    };
    assert_eq!(
        (st, bad["error"]["code"].as_str()),
        (400, Some("INVALID_INPUT"))
    );
}

#[tokio::test]
async fn cookie_mutations_need_the_csrf_token() {
    let s = TestServer::start().await;
    s.admin().await;
    let (_, body, client) = s.login("admin", ADMIN_PASSWORD).await;
    let without = Auth::Cookie(client.clone(), None);
    let forged = Auth::Cookie(client.clone(), Some("csrf_forged".into()));
    let with = Auth::Cookie(client, Some(body["csrfToken"].as_str().unwrap().into()));
    let m = "mutation{createFolder(name:\"Sales\"){id}}";
    assert_eq!(code(&s.gql(&without, m, json!({})).await), "CSRF_REJECTED");
    assert_eq!(code(&s.gql(&forged, m, json!({})).await), "CSRF_REJECTED");
    // Reads need no token.
    let r = s
        .gql(&without, "{folders{edges{node{name}}}}", json!({}))
        .await;
    assert_eq!(
        data(&r)["folders"]["edges"],
        json!([]),
        "nothing was created by the refused calls"
    );
    data(&s.gql(&with, m, json!({})).await);
}

#[tokio::test]
async fn api_tokens_read_only_revocation_and_expiry() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let session = s.session("admin", ADMIN_PASSWORD).await;
    let r = s
        .gql(
            &session,
            "mutation{createApiToken(name:\"ci\", readOnly:true){token apiToken{id readOnly}}}",
            json!({}),
        )
        .await;
    let ro = Auth::Bearer(data(&r)["createApiToken"]["token"].as_str().unwrap().into());
    assert_eq!(
        data(&s.gql(&ro, "{viewer{username}}", json!({})).await)["viewer"]["username"],
        "admin"
    );
    assert_eq!(
        code(
            &s.gql(&ro, "mutation{createFolder(name:\"X\"){id}}", json!({}))
                .await
        ),
        "TOKEN_REJECTED"
    );

    // Tokens are listed without their secret, and a token cannot mint tokens.
    let list = s
        .gql(
            &admin.auth,
            "{apiTokens{id name readOnly revokedAt lastUsedAt}}",
            json!({}),
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let list2 = s
        .gql(&admin.auth, "{apiTokens{name lastUsedAt}}", json!({}))
        .await;
    assert!(
        data(&list2)["apiTokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "ci" && t["lastUsedAt"].is_string()),
        "token use is recorded: {list2}"
    );
    assert!(data(&list)["apiTokens"].as_array().unwrap().len() >= 2);
    assert!(!list.to_string().contains("vit_"), "secrets never listed");
    assert_eq!(
        code(
            &s.gql(
                &admin.auth,
                "mutation{createApiToken(name:\"x\"){token}}",
                json!({})
            )
            .await
        ),
        "FORBIDDEN"
    );

    let r = s
        .gql(
            &session,
            "mutation{createApiToken(name:\"temp\"){token apiToken{id}}}",
            json!({}),
        )
        .await;
    let temp = Auth::Bearer(data(&r)["createApiToken"]["token"].as_str().unwrap().into());
    let id = data(&r)["createApiToken"]["apiToken"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    data(&s.gql(&temp, "{viewer{id}}", json!({})).await);
    data(
        &s.gql(
            &admin.auth,
            "mutation($i:ID!){revokeApiToken(id:$i){revokedAt}}",
            json!({"i": id}),
        )
        .await,
    );
    assert_eq!(
        code(&s.gql(&temp, "{viewer{id}}", json!({})).await),
        "TOKEN_REJECTED",
        "revocation acts on the next request"
    );

    let past = s
        .gql(
            &session,
            "mutation{createApiToken(name:\"old\", expiresAt:\"2020-01-01T00:00:00Z\"){token}}",
            json!({}),
        )
        .await;
    assert_eq!(code(&past), "INVALID_INPUT");
    let soon = chrono_like_in(2);
    let r = s
        .gql(
            &session,
            "mutation($e:DateTime!){createApiToken(name:\"soon\", expiresAt:$e){token}}",
            json!({"e": soon}),
        )
        .await;
    let short = Auth::Bearer(data(&r)["createApiToken"]["token"].as_str().unwrap().into());
    data(&s.gql(&short, "{viewer{id}}", json!({})).await);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(
        code(&s.gql(&short, "{viewer{id}}", json!({})).await),
        "TOKEN_REJECTED",
        "expired tokens stop working"
    );
    assert_eq!(
        code(
            &s.gql(
                &Auth::Bearer("vit_garbage".into()),
                "{viewer{id}}",
                json!({})
            )
            .await
        ),
        "TOKEN_REJECTED"
    );
}

/// An RFC 3339 time `secs` from now, without a date library.
fn chrono_like_in(secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + secs;
    let (days, rem) = (now / 86400, now % 86400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[tokio::test]
async fn disabling_a_user_stops_sessions_and_tokens_on_the_next_request() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let bob = s.user(&admin, "bob").await;
    let session = s.session("bob", PASSWORD).await;
    data(&s.gql(&bob.auth, "{viewer{id}}", json!({})).await);
    data(&s.gql(&session, "{viewer{id}}", json!({})).await);
    // Bob cannot disable anyone; the admin can.
    let m = "mutation($i:ID!,$d:Boolean!){setUserDisabled(id:$i,disabled:$d){disabled}}";
    assert_eq!(
        code(&s.gql(&bob.auth, m, json!({"i": admin.id, "d": true})).await),
        "FORBIDDEN"
    );
    assert_eq!(
        code(
            &s.gql(&admin.auth, m, json!({"i": admin.id, "d": true}))
                .await
        ),
        "INVALID_INPUT",
        "no self-lockout"
    );
    data(&s.gql(&admin.auth, m, json!({"i": bob.id, "d": true})).await);
    assert_eq!(
        code(&s.gql(&bob.auth, "{viewer{id}}", json!({})).await),
        "ACCOUNT_DISABLED"
    );
    assert_eq!(
        code(&s.gql(&session, "{viewer{id}}", json!({})).await),
        "UNAUTHENTICATED"
    );
    let (st, body, _) = s.login("bob", PASSWORD).await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (401, Some("ACCOUNT_DISABLED"))
    );
    data(
        &s.gql(&admin.auth, m, json!({"i": bob.id, "d": false}))
            .await,
    );
    data(&s.gql(&bob.auth, "{viewer{id}}", json!({})).await);
}

#[tokio::test]
async fn password_change_checks_the_current_password_and_ends_other_sessions() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    s.user(&admin, "carol").await;
    let other = s.session("carol", PASSWORD).await;
    let me = s.session("carol", PASSWORD).await;
    let m = "mutation($c:String!,$n:String!){changePassword(currentPassword:$c,newPassword:$n)}";
    assert_eq!(
        code(
            &s.gql(
                &me,
                m,
                json!({"c": "not my password", "n": "a brand new passphrase"})
            )
            .await
        ),
        "INVALID_CREDENTIALS"
    );
    assert_eq!(
        code(&s.gql(&me, m, json!({"c": PASSWORD, "n": "short"})).await),
        "INVALID_INPUT"
    );
    data(
        &s.gql(
            &me,
            m,
            json!({"c": PASSWORD, "n": "a brand new passphrase"}),
        )
        .await,
    );
    data(&s.gql(&me, "{viewer{id}}", json!({})).await);
    assert_eq!(
        code(&s.gql(&other, "{viewer{id}}", json!({})).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(s.login("carol", PASSWORD).await.0, 401);
    assert_eq!(s.login("carol", "a brand new passphrase").await.0, 200);
}
