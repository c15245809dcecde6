//! API clients presenting an access token their identity provider issued for this
//! instance's API audience, instead of a Vitrine API token: taken for a user who signed in
//! through that provider, refused (`TOKEN_REJECTED`) when the audience, expiry, signature
//! or subject does not hold.

use serde_json::{Value, json};

use super::hostile::{KEY1, hostile_world, key, rs256, sign_in_as};
use crate::support::*;

#[tokio::test]
async fn provider_access_tokens_act_for_their_user_and_nothing_else() {
    let w = hostile_world("", "api_audience = \"vitrine-api\"").await;
    let (s, issuer) = (&w.s, &w.issuer);
    let admin = s.admin().await;
    let k1 = key(KEY1);
    let now = chrono::Utc::now().timestamp();
    let token = |change: &dyn Fn(&mut Value)| {
        let mut c = json!({"iss": issuer, "aud": ["vitrine-api", "account"], "sub": "quinn-3",
            "iat": now, "exp": now + 300, "scope": "openid"});
        change(&mut c);
        rs256(&k1, "k1", &c)
    };
    let viewer = "{viewer{username}}";

    // Before the user ever signed in through the provider, a token makes no user.
    let r = s
        .gql(&Auth::Bearer(token(&|_| {})), viewer, json!({}))
        .await;
    assert_eq!(code(&r), "TOKEN_REJECTED", "{r}");

    let (status, page) = sign_in_as(&w, &TestServer::client(), "quinn-3", "quinn").await;
    assert_eq!(status, 200, "{page}");

    let r = s
        .gql(&Auth::Bearer(token(&|_| {})), viewer, json!({}))
        .await;
    assert_eq!(data(&r)["viewer"]["username"], "quinn", "{r}");

    // A provider's user has no local password, and cannot give themselves one.
    let r = s
        .gql(
            &Auth::Bearer(token(&|_| {})),
            "mutation{changePassword(currentPassword:\"\",newPassword:\"a long new passphrase\")}",
            json!({}),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");

    type Change<'a> = &'a dyn Fn(&mut Value);
    let refused: [(&str, Change<'_>); 4] = [
        ("the sign-in client's audience", &|c| {
            c["aud"] = json!("vitrine")
        }),
        ("expired", &|c| {
            c["iat"] = json!(now - 900);
            c["exp"] = json!(now - 600);
        }),
        ("another subject", &|c| c["sub"] = json!("nobody-9")),
        ("another issuer", &|c| {
            c["iss"] = json!("http://127.0.0.1:1")
        }),
    ];
    for (what, change) in refused {
        let r = s.gql(&Auth::Bearer(token(change)), viewer, json!({})).await;
        assert_eq!(code(&r), "TOKEN_REJECTED", "{what}: {r}");
    }
    // Unsigned, the same claims are refused too.
    let good = token(&|_| {});
    let mut parts = good.split('.');
    let (_, body) = (parts.next(), parts.next().unwrap());
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{body}.");
    let r = s.gql(&Auth::Bearer(unsigned), viewer, json!({})).await;
    assert_eq!(code(&r), "TOKEN_REJECTED", "{r}");

    // Disabled here: the provider's token stops working at once.
    let r = s
        .gql(&admin.auth, "{users{edges{node{id username}}}}", json!({}))
        .await;
    let quinn = data(&r)["users"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["username"] == "quinn")
        .unwrap()["node"]["id"]
        .clone();
    data(
        &s.gql(
            &admin.auth,
            "mutation($u:ID!){setUserDisabled(id:$u,disabled:true){id}}",
            json!({"u": quinn}),
        )
        .await,
    );
    let r = s.gql(&Auth::Bearer(good), viewer, json!({})).await;
    assert_eq!(code(&r), "ACCOUNT_DISABLED", "{r}");
}
