//! Recipients: a first password by the rule, sign-in that does not reveal who exists,
//! the lock after repeated failures, per-recipient rights, edits into their own copy,
//! revocation with the deliveries choice, and no way to reshare.

use serde_json::json;

use super::*;

const PASSWORD_OK: &str = "Orchard#2026";

async fn recipients_link(sw: &ShareWorld) -> (String, Value) {
    let (id, url, created) = sw
        .link(json!({"reportId": sw.report, "kind": "RECIPIENTS",
            "rights": {"download": true, "edit": true},
            "recipients": [
                {"name": "Ann Archer", "email": "ann@example.org", "role": "VIEWER"},
                {"name": "Bob Baker", "email": "bob@example.org", "role": "EDITOR", "rights": {"edit": true}}
            ]}))
        .await;
    assert_eq!(url, format!("{}{}", sw.s().url, page_of(&id)));
    (id, created)
}

async fn sign_in(v: &Visitor, id: &str, email: &str, password: &str) -> Reply {
    v.post(
        &format!("{}/api/sign-in", page_of(id)),
        json!({"email": email, "password": password}),
    )
    .await
}

#[tokio::test]
async fn recipients_set_a_password_sign_in_and_are_locked_out_by_guessing() {
    let sw = share_world().await;
    let s = sw.s();
    let (id, created) = recipients_link(&sw).await;
    // Per-recipient rights, within the link's: Ann is a viewer (no edit), Bob has no download.
    let rights: Vec<_> = created["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["recipient"]["email"].clone(),
                i["recipient"]["rights"].clone(),
            )
        })
        .collect();
    assert!(rights.contains(&(
        json!("ann@example.org"),
        json!({"download": true, "edit": false})
    )));
    assert!(rights.contains(&(
        json!("bob@example.org"),
        json!({"download": false, "edit": true})
    )));

    // Ann's first visit: her invitation becomes a cookie; she must choose a password.
    let ann = Visitor::new(s);
    ann.open(&invitation(&created, "ann@example.org")).await;
    assert_eq!(ann.view(&id, None).await.status, "UNAUTHENTICATED");
    let r = ann.visit(&id).await;
    assert_eq!(r.json()["state"], "SET_PASSWORD", "{}", r.text);
    assert_eq!(r.json()["recipientName"], "Ann Archer");
    assert!(
        r.json()["passwordRule"]
            .as_str()
            .unwrap()
            .contains("a letter, a digit")
    );
    assert_eq!(tiles(&ann, &id, "overview").await.status, "UNAUTHENTICATED");
    // The rule is spelled out when a password breaks it.
    for bad in ["short1!", "longenough!", "12345678#", "password123"] {
        let r = ann
            .post(
                &format!("{}/api/password", page_of(&id)),
                json!({"password": bad}),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.json()["error"]["code"], "INVALID_INPUT");
        assert!(
            r.text.contains("a letter, a digit and one of ! # $ % @"),
            "{}",
            r.text
        );
    }
    // Without the guard header (a cross-site form), nothing changes.
    let r = ann
        .send(
            reqwest::Method::POST,
            &format!("{}/api/password", page_of(&id)),
            json!({"password": PASSWORD_OK}),
            false,
        )
        .await;
    assert_eq!(r.status, 403);
    let r = ann
        .post(
            &format!("{}/api/password", page_of(&id)),
            json!({"password": PASSWORD_OK}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let t = tiles(&ann, &id, "overview").await;
    assert_eq!(t.status, "OK", "{}", t.text);
    assert_eq!(regions(&t.json()), ["West"]);
    // A second password cannot be set over the first.
    let r = ann
        .post(
            &format!("{}/api/password", page_of(&id)),
            json!({"password": "Another#2027"}),
        )
        .await;
    assert_eq!(r.status, 409);

    // In a fresh browser the link's page asks for e-mail and password.
    let fresh = Visitor::new(s);
    let r = fresh.visit(&id).await;
    assert_eq!(r.json()["state"], "SIGN_IN", "{}", r.text);
    assert_eq!(r.json()["locked"], false);
    let wrong = sign_in(&fresh, &id, "ann@example.org", "Wrong#2026").await;
    let unknown = sign_in(&fresh, &id, "nobody@example.org", PASSWORD_OK).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.json()["error"],
        unknown.json()["error"],
        "must not reveal who exists"
    );
    let ok = sign_in(&fresh, &id, "ann@example.org", PASSWORD_OK).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert!(ok.header("set-cookie").contains("HttpOnly"));
    assert_eq!(tiles(&fresh, &id, "overview").await.status, "OK");
    // A sign-in does not wipe the failures others caused (one recipient's success must
    // not reopen the guessing of another's password).
    assert_eq!(sw.link_state(&id).await["failedPasswords"], 2);

    // Guessing: the link locks after repeated failures; then even the right password is
    // refused until the manager unlocks it. Sessions already signed in keep working.
    // Guesses spread over many e-mails, so that no per-recipient delay comes first.
    let guesser = Visitor::new(s);
    let mut locked = false;
    for i in 0..12 {
        let email = format!("guess{i}@example.org");
        let r = sign_in(&guesser, &id, &email, &format!("Guess#{i}xyz")).await;
        if r.status == 423 {
            assert_eq!(r.json()["error"]["code"], "LINK_LOCKED");
            locked = true;
            break;
        }
        assert!(r.status == 401 || r.status == 429, "{}", r.text);
    }
    assert!(locked, "the link never locked");
    let st = sw.link_state(&id).await;
    assert_eq!(st["state"], "LOCKED");
    assert!(!st["lockedAt"].is_null());
    let r = sign_in(&Visitor::new(s), &id, "ann@example.org", PASSWORD_OK).await;
    assert!(r.status == 423 || r.status == 429, "{}", r.text);
    let r = Visitor::new(s).visit(&id).await;
    assert_eq!(r.json()["locked"], true, "{}", r.text);
    assert_eq!(tiles(&fresh, &id, "overview").await.status, "OK");
    // Only a manager unlocks.
    assert_eq!(
        code(
            &s.gql(
                &sw.w.editor.auth,
                "mutation($id:ID!){unlockShareLink(id:$id){state}}",
                json!({"id": id})
            )
            .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        data(&sw.op("unlockShareLink", &id).await)["unlockShareLink"]["state"],
        "ACTIVE"
    );
    let r = sign_in(&Visitor::new(s), &id, "ann@example.org", PASSWORD_OK).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(sw.link_state(&id).await["state"], "ACTIVE");
}

#[tokio::test]
async fn recipients_cannot_reshare_edit_into_their_own_copy_and_revocation_ends_them() {
    let sw = share_world().await;
    let s = sw.s();
    let (id, created) = recipients_link(&sw).await;
    let bob = Visitor::new(s);
    bob.open(&invitation(&created, "bob@example.org")).await;
    let r = bob
        .post(
            &format!("{}/api/password", page_of(&id)),
            json!({"password": PASSWORD_OK}),
        )
        .await;
    assert_eq!(r.status, 200);

    // A recipient's session is no Vitrine session: the API does not know them, so they
    // can never create, see or change links.
    let r = bob
        .post(
            "/graphql",
            json!({"query": "mutation($i:CreateShareLinkInput!){createShareLink(input:$i){url}}",
                   "variables": {"i": {"projectId": sw.w.project, "reportId": sw.report, "kind": "PUBLIC"}}}),
        )
        .await;
    assert_eq!(
        r.json()["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    let r = bob
        .post(
            "/graphql",
            json!({"query": "query{shareLedger{edges{node{id}}}}"}),
        )
        .await;
    assert_eq!(
        r.json()["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    // No download right for Bob.
    assert_eq!(
        bob.get(&format!("{}/download?tile=by_region", page_of(&id)))
            .await
            .status,
        403
    );

    // Bob edits: his own copy (no sync right); the master report is unchanged.
    let view = bob.view(&id, None).await.json();
    let mut def = view["definition"].clone();
    def["tabs"][0]["tiles"][0]["title"] = json!("Bob's regions");
    let edit = |def: Value| {
        let bob = &bob;
        let id = id.clone();
        async move { bob.save_report(&id, def).await }
    };
    let r = edit(def.clone()).await;
    assert_eq!(r.status, "OK", "{}", r.text);
    assert_eq!(r.json()["synced"], false);
    let view = bob.view(&id, None).await.json();
    assert_eq!(view["ownCopy"], true);
    assert_eq!(
        view["definition"]["tabs"][0]["tiles"][0]["title"],
        "Bob's regions"
    );
    let master = s
        .gql(
            &sw.mona.auth,
            "query($r:ID!){report(id:$r){definition}}",
            json!({"r": sw.report}),
        )
        .await;
    assert_eq!(
        data(&master)["report"]["definition"]["tabs"][0]["tiles"][0]["title"],
        "Sales by region"
    );
    // An edit may not reach a dataset the report does not show.
    let mut wider = def.clone();
    wider["tabs"][0]["tiles"][0]["query"]["dataset"] = json!("regions");
    let r = edit(wider).await;
    assert_eq!(r.status, "FORBIDDEN", "{}", r.text);
    assert!(r.text.contains("regions"), "{}", r.text);
    // A malformed definition is refused by field; the copy stays as it was.
    let r = edit(json!({"tabs": "nope"})).await;
    assert_eq!(r.status, "INVALID_INPUT", "{}", r.text);
    let view = bob.view(&id, None).await.json();
    assert_eq!(
        view["definition"]["tabs"][0]["tiles"][0]["title"],
        "Bob's regions"
    );
    // The same edit, typed: Bob reads `tabs` and `filters` and sends back the tabs
    // alone; the filters stay as he sees them.
    let typed_view = "query{linkVisit{report{tabs{id title tiles{id title kind query{dataset dimensions \
        measures{column function name} filters{column op values} sort{column descending} limit}}} \
        filters{id label column dataset op default}}}}";
    let typed = bob
        .link_gql(&id, typed_view, json!({}), &["linkVisit", "report"])
        .await;
    assert_eq!(typed.status, "OK", "{}", typed.text);
    let mut tabs = typed.json()["tabs"].clone();
    assert_eq!(tabs[0]["tiles"][0]["kind"], "BAR");
    tabs[0]["tiles"][0]["title"] = json!("Bob's typed regions");
    let save_tabs =
        "mutation($t:[TabInput!]){saveLinkReport(tabs:$t){synced tabs{tiles{title}} filters{id}}}";
    let r = bob
        .link_gql(&id, save_tabs, json!({"t": tabs}), &["saveLinkReport"])
        .await;
    assert_eq!(r.status, "OK", "{}", r.text);
    assert_eq!(
        r.json()["tabs"][0]["tiles"][0]["title"],
        "Bob's typed regions"
    );
    assert_eq!(
        r.json()["filters"][0]["id"],
        typed.json()["filters"][0]["id"]
    );
    assert_eq!(r.json()["filters"].as_array().unwrap().len(), 1);
    // Both forms at once are refused.
    let both = "mutation($t:[TabInput!],$d:JSON){saveLinkReport(tabs:$t,definition:$d){synced}}";
    let r = bob
        .link_gql(&id, both, json!({"t": tabs, "d": def}), &["saveLinkReport"])
        .await;
    assert_eq!(r.status, "INVALID_INPUT", "{}", r.text);

    // Ann (a viewer) may not edit at all.
    let ann = Visitor::new(s);
    ann.open(&invitation(&created, "ann@example.org")).await;
    ann.post(
        &format!("{}/api/password", page_of(&id)),
        json!({"password": PASSWORD_OK}),
    )
    .await;
    let r = ann.save_report(&id, def.clone()).await;
    assert_eq!(r.status, "FORBIDDEN", "{}", r.text);
    let r = ann
        .link_gql(&id, save_tabs, json!({"t": tabs}), &["saveLinkReport"])
        .await;
    assert_eq!(r.status, "FORBIDDEN", "{}", r.text);
    // The refusal is audited like a member's refused mutation, named by the visitor.
    let audit = s
        .gql(
            &sw.w.admin.auth,
            "{auditEvents(filter:{object:\"mutation:saveLinkReport\"},first:20){edges{node{actorName outcome detail}}}}",
            json!({}),
        )
        .await;
    let refused = data(&audit)["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        refused
            .iter()
            .any(|e| e["node"]["actorName"] == "recipient:ann@example.org"
                && e["node"]["outcome"] == "FORBIDDEN"
                && e["node"]["detail"].as_str().unwrap().contains(&id)),
        "{refused:?}"
    );

    // Revoking Bob ends his session on the next request; the deliveries choice is kept.
    let bob_uid = created["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["recipient"]["email"] == "bob@example.org")
        .unwrap()["recipient"]["id"]
        .clone();
    let revoke = "mutation($id:ID!,$d:DeliveriesOnRevoke!){revokeRecipient(id:$id,deliveries:$d){revokedAt deliveriesOnRevoke}}";
    assert_eq!(
        code(
            &s.gql(
                &sw.w.editor.auth,
                revoke,
                json!({"id": bob_uid, "d": "CANCEL"})
            )
            .await
        ),
        "FORBIDDEN"
    );
    let r = s
        .gql(
            &sw.mona.auth,
            revoke,
            json!({"id": bob_uid, "d": "TRANSFER_TO_OWNER"}),
        )
        .await;
    assert_eq!(
        data(&r)["revokeRecipient"]["deliveriesOnRevoke"],
        "TRANSFER_TO_OWNER"
    );
    let t = tiles(&bob, &id, "overview").await;
    assert_eq!(t.status, "UNAUTHENTICATED", "{}", t.text);
    assert_eq!(bob.visit(&id).await.json()["state"], "SIGN_IN");
    assert_eq!(
        sign_in(&bob, &id, "bob@example.org", PASSWORD_OK)
            .await
            .status,
        401
    );
    assert_eq!(tiles(&ann, &id, "overview").await.status, "OK");
    let st = sw.link_state(&id).await;
    let bob_row = st["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["email"] == "bob@example.org")
        .unwrap()
        .clone();
    assert!(!bob_row["revokedAt"].is_null());

    // A new recipient, and a reissued invitation that clears a forgotten password.
    let r = s
        .gql(
            &sw.mona.auth,
            "mutation($l:ID!){addRecipient(linkId:$l,input:{name:\"Cy\",email:\"cy@example.org\",role:VIEWER}){url recipient{id passwordSet}}}",
            json!({"l": id}),
        )
        .await;
    assert_eq!(data(&r)["addRecipient"]["recipient"]["passwordSet"], false);
    let r = s
        .gql(
            &sw.mona.auth,
            "mutation($l:ID!){addRecipient(linkId:$l,input:{name:\"Cy\",email:\"CY@example.org\",role:VIEWER}){url}}",
            json!({"l": id}),
        )
        .await;
    assert_eq!(code(&r), "CONFLICT");
    let ann_uid = created["invitations"][0]["recipient"]["id"].clone();
    let r = s
        .gql(
            &sw.mona.auth,
            "mutation($id:ID!){reissueInvitation(recipientId:$id){url recipient{passwordSet}}}",
            json!({"id": ann_uid}),
        )
        .await;
    let again = data(&r)["reissueInvitation"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        data(&r)["reissueInvitation"]["recipient"]["passwordSet"],
        false
    );
    // The old invitation no longer opens; the new one asks for a password again.
    assert_eq!(
        Visitor::new(s)
            .get(&invitation(&created, "ann@example.org"))
            .await
            .status,
        410
    );
    let ann2 = Visitor::new(s);
    ann2.open(&again).await;
    assert_eq!(ann2.visit(&id).await.json()["state"], "SET_PASSWORD");
}
