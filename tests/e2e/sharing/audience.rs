//! Whose rows outsiders' links show: the attribute values the link carries (its
//! creator's when made, unless given), or a recipient's own; never what the creator's
//! account says later.

use serde_json::json;

use super::*;

const ATTRS: &str = "mutation($u:ID!,$v:[String!]!){setUserAttributes(id:$u,attributes:[{key:\"region\",values:$v}]){id}}";
const LEDGER: &str = "query($id:ID!){shareLink(id:$id){attributes{key values} filtersInForce{dataset column attribute values} recipients{email attributes{key values}}}}";
const UPDATE: &str = "mutation($id:ID!,$i:UpdateShareLinkInput!){updateShareLink(id:$id,input:$i){attributes{key values}}}";
const RECIPIENT: &str = "mutation($id:ID!,$a:[UserAttributeInput!]){setRecipientAttributes(id:$id,attributes:$a){attributes{key values}}}";

fn region(values: &[&str]) -> Value {
    json!([{"key": "region", "values": values}])
}

async fn ledger(sw: &ShareWorld, id: &str) -> Value {
    let r = sw.s().gql(&sw.mona.auth, LEDGER, json!({"id": id})).await;
    data(&r)["shareLink"].clone()
}

/// A fresh visitor of the link a `createShareLink` answer made: (link id, visitor).
async fn visit(s: &TestServer, created: &Value) -> (String, Visitor) {
    let made = &data(created)["createShareLink"];
    let v = Visitor::new(s);
    v.open(made["url"].as_str().unwrap()).await;
    (made["link"]["id"].as_str().unwrap().to_owned(), v)
}

/// The regions of the overview a visitor of link `id` sees.
async fn seen(v: &Visitor, id: &str) -> Vec<String> {
    let t = tiles(v, id, "overview").await;
    assert_eq!(t.status, "OK", "{}", t.text);
    regions(&t.json())
}

#[tokio::test]
async fn a_public_link_keeps_its_own_values_whatever_happens_to_its_creator() {
    let sw = share_world().await;
    let s = sw.s();
    let (id, url, _) = sw
        .link(json!({"reportId": sw.report, "kind": "PUBLIC"}))
        .await;
    // Made with Mona's values (West), shown in the ledger with the filter they drive.
    let l = ledger(&sw, &id).await;
    assert_eq!(l["attributes"], region(&["West"]));
    assert_eq!(
        l["filtersInForce"],
        json!([{"dataset": "orders", "column": "region", "attribute": "region", "values": ["West"]}])
    );
    let v = Visitor::new(s);
    v.open(&url).await;
    assert_eq!(seen(&v, &id).await, ["West"]);

    // Mona's own values widen; the link does not.
    let r = s
        .gql(
            &sw.w.admin.auth,
            ATTRS,
            json!({"u": sw.mona.id, "v": ["West", "East"]}),
        )
        .await;
    data(&r);
    assert_eq!(seen(&v, &id).await, ["West"]);

    // Changing what the link shows is done on the link, by its managers only, audited.
    let r = s
        .gql(
            &sw.w.west.auth,
            UPDATE,
            json!({"id": id, "i": {"attributes": region(&["East"])}}),
        )
        .await;
    assert!(
        ["FORBIDDEN", "NOT_FOUND"].contains(&code(&r).as_str()),
        "{r}"
    );
    assert_eq!(seen(&v, &id).await, ["West"]);
    let r = s
        .gql(
            &sw.mona.auth,
            UPDATE,
            json!({"id": id, "i": {"attributes": region(&["East", "Central"])}}),
        )
        .await;
    assert_eq!(
        data(&r)["updateShareLink"]["attributes"],
        region(&["East", "Central"])
    );
    let mut now = seen(&v, &id).await;
    now.sort();
    assert_eq!(now, ["Central", "East"]);
    let r = s
        .gql(
            &sw.w.admin.auth,
            "{auditEvents(first:1,filter:{actionPrefix:\"share_link.update\"}){nodes{actorName object}}}",
            json!({}),
        )
        .await;
    assert_eq!(
        data(&r)["auditEvents"]["nodes"][0],
        json!({"actorName": "mona", "object": format!("share_link:{id}")})
    );

    // Bad values are refused by name and change nothing.
    for (bad, why) in [
        (json!([{"key": "Region", "values": ["x"]}]), "attributes"),
        (
            json!([{"key": "region", "values": ["x"]}, {"key": "region", "values": ["y"]}]),
            "twice",
        ),
    ] {
        let r = s
            .gql(
                &sw.mona.auth,
                UPDATE,
                json!({"id": id, "i": {"attributes": bad}}),
            )
            .await;
        assert_eq!(code(&r), "INVALID_INPUT", "{r}");
        assert!(message(&r).contains(why), "{r}");
    }
    assert_eq!(
        ledger(&sw, &id).await["attributes"],
        region(&["East", "Central"])
    );
}

#[tokio::test]
async fn links_made_by_an_admin_show_what_their_values_allow() {
    let sw = share_world().await;
    let s = sw.s();
    // An admin has no values of their own: a link made without any shows no rows, and
    // says so in the ledger.
    let r = sw
        .create(
            &sw.w.admin,
            json!({"reportId": sw.report, "kind": "PUBLIC"}),
        )
        .await;
    let (id, v) = visit(s, &r).await;
    assert_eq!(
        ledger(&sw, &id).await["filtersInForce"][0]["values"],
        json!([])
    );
    assert!(seen(&v, &id).await.is_empty());
    // Given values, the audience is explicit.
    let r = sw
        .create(
            &sw.w.admin,
            json!({"reportId": sw.report, "kind": "PUBLIC", "attributes": region(&["South"])}),
        )
        .await;
    let (id, v) = visit(s, &r).await;
    assert_eq!(seen(&v, &id).await, ["South"]);

    // Members' links carry none: each member sees what their own values allow.
    let r = sw
        .create(
            &sw.w.admin,
            json!({"reportId": sw.report, "kind": "PRIVATE", "attributes": region(&["South"])}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    assert!(message(&r).contains("their own attributes"), "{r}");
    let r = sw
        .create(
            &sw.w.admin,
            json!({"reportId": sw.report, "kind": "AUTHENTICATED"}),
        )
        .await;
    let id = data(&r)["createShareLink"]["link"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let l = ledger(&sw, &id).await;
    assert!(l["attributes"].is_null(), "{l}");
    assert_eq!(l["filtersInForce"], json!([]));
}

#[tokio::test]
async fn recipients_may_carry_values_of_their_own() {
    let sw = share_world().await;
    let s = sw.s();
    let (id, _, created) = sw
        .link(
            json!({"reportId": sw.report, "kind": "RECIPIENTS", "recipients": [
                {"name": "Ann Archer", "email": "ann@example.org", "role": "VIEWER"},
                {"name": "Eve East", "email": "eve@example.org", "role": "VIEWER",
                 "attributes": [{"key": "region", "values": ["East"]}]},
                {"name": "Cy Central", "email": "cy@example.org", "role": "VIEWER"}
            ]}),
        )
        .await;
    let visitor = |email: &'static str| {
        let (created, id) = (created.clone(), id.clone());
        async move {
            let v = Visitor::new(s);
            v.open(&invitation(&created, email)).await;
            let r = v
                .post(
                    &format!("{}/api/password", page_of(&id)),
                    json!({"password": "Orchard#2026"}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            v
        }
    };
    let (ann, eve, cy_before) = (
        visitor("ann@example.org").await,
        visitor("eve@example.org").await,
        visitor("cy@example.org").await,
    );
    assert_eq!(seen(&ann, &id).await, ["West"], "the link's values");
    assert_eq!(seen(&eve, &id).await, ["East"], "her own");

    // The link's managers give Cy values of his own, and take them back.
    let l = ledger(&sw, &id).await;
    let cy_id = {
        let r = s.gql(&sw.mona.auth, LINK, json!({"id": id})).await;
        data(&r)["shareLink"]["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["email"] == "cy@example.org")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        l["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["email"] == "eve@example.org" && r["attributes"] == region(&["East"]))
    );
    let central = json!({"id": cy_id, "a": region(&["Central"])});
    let r = s.gql(&sw.w.west.auth, RECIPIENT, central.clone()).await;
    assert!(
        ["FORBIDDEN", "NOT_FOUND"].contains(&code(&r).as_str()),
        "{r}"
    );
    let r = s.gql(&sw.mona.auth, RECIPIENT, central).await;
    assert_eq!(
        data(&r)["setRecipientAttributes"]["attributes"],
        region(&["Central"])
    );
    // A change of values ends the recipient's sessions, like any change to them.
    let ended = tiles(&cy_before, &id, "overview").await;
    assert_eq!(ended.status, "UNAUTHENTICATED", "{}", ended.text);
    let cy = visitor_signed_in(s, &id, "cy@example.org").await;
    assert_eq!(seen(&cy, &id).await, ["Central"]);
    let r = s
        .gql(&sw.mona.auth, RECIPIENT, json!({"id": cy_id, "a": null}))
        .await;
    assert!(data(&r)["setRecipientAttributes"]["attributes"].is_null());
    let cy = visitor_signed_in(s, &id, "cy@example.org").await;
    assert_eq!(seen(&cy, &id).await, ["West"]);
    let r = s
        .gql(
            &sw.mona.auth,
            RECIPIENT,
            json!({"id": cy_id, "a": [{"key": "", "values": []}]}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
}

async fn visitor_signed_in(s: &TestServer, id: &str, email: &str) -> Visitor {
    let v = Visitor::new(s);
    let r = v
        .post(
            &format!("{}/api/sign-in", page_of(id)),
            json!({"email": email, "password": "Orchard#2026"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    v
}
