//! Who may create links, which kind fits which target and rights, private and
//! authenticated links for signed-in users, tab links, and the share ledger.

use serde_json::json;

use super::*;

#[tokio::test]
async fn only_managers_create_links_and_bad_input_is_refused_by_field() {
    let sw = share_world().await;
    let s = sw.s();
    let report_link = json!({"reportId": sw.report, "kind": "PUBLIC"});
    // Editors and viewers may not share; managers may.
    assert_eq!(
        code(&sw.create(&sw.w.editor, report_link.clone()).await),
        "FORBIDDEN"
    );
    let viewer = code(&sw.create(&sw.w.west, report_link.clone()).await);
    assert!(viewer == "FORBIDDEN" || viewer == "NOT_FOUND", "{viewer}");
    data(&sw.create(&sw.mona, report_link).await);

    for (input, field) in [
        // The whole project shows the workflow: only signed-in users.
        (json!({"kind": "PUBLIC"}), "kind"),
        (
            json!({"kind": "RECIPIENTS", "recipients": [{"name": "A", "email": "a@x.org", "role": "VIEWER"}]}),
            "kind",
        ),
        (
            json!({"reportId": sw.report, "kind": "PRIVATE", "rights": {"download": true}}),
            "rights",
        ),
        (
            json!({"reportId": sw.report, "kind": "PUBLIC", "rights": {"syncEdits": true}}),
            "syncEdits",
        ),
        (
            json!({"reportId": sw.report, "tab": "overview", "kind": "PUBLIC", "rights": {"edit": true}}),
            "edit",
        ),
        (
            json!({"reportId": sw.report, "tab": "nope", "kind": "PUBLIC"}),
            "tab",
        ),
        (json!({"reportId": "nope", "kind": "PUBLIC"}), "reportId"),
        (
            json!({"reportId": sw.report, "kind": "PUBLIC", "expiresAt": "2020-01-01T00:00:00Z"}),
            "expiresAt",
        ),
        (
            json!({"reportId": sw.report, "kind": "RECIPIENTS"}),
            "recipients",
        ),
        (
            json!({"reportId": sw.report, "kind": "PUBLIC", "recipients": [{"name": "A", "email": "a@x.org", "role": "VIEWER"}]}),
            "recipients",
        ),
        (
            json!({"reportId": sw.report, "kind": "RECIPIENTS", "recipients": [{"name": "A", "email": "not-an-address", "role": "VIEWER"}]}),
            "email",
        ),
        (
            json!({"reportId": sw.report, "kind": "RECIPIENTS", "recipients": [{"name": "", "email": "a@x.org", "role": "VIEWER"}]}),
            "name",
        ),
        (
            json!({"reportId": sw.report, "kind": "RECIPIENTS", "recipients": [
            {"name": "A", "email": "a@x.org", "role": "VIEWER"}, {"name": "B", "email": "A@x.org", "role": "VIEWER"}]}),
            "twice",
        ),
    ] {
        let r = sw.create(&sw.mona, input.clone()).await;
        assert_eq!(code(&r), "INVALID_INPUT", "{input}: {r}");
        assert!(message(&r).contains(field), "{input}: {}", message(&r));
    }
    // A role name that is not one is refused by GraphQL itself, with a code.
    let r = sw
        .create(&sw.mona, json!({"reportId": sw.report, "kind": "RECIPIENTS", "recipients": [{"name": "A", "email": "a@x.org", "role": "OWNER"}]}))
        .await;
    assert_eq!(code(&r), "INVALID_INPUT");
    // Nothing half-written: only the one good link exists.
    let ledger = s
        .gql(
            &sw.mona.auth,
            "query{shareLedger{edges{node{id}}}}",
            json!({}),
        )
        .await;
    assert_eq!(
        data(&ledger)["shareLedger"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn private_and_authenticated_links_follow_the_visitors_own_permissions() {
    let sw = share_world().await;
    let s = sw.s();
    let (private_id, private_url, _) = sw
        .link(json!({"reportId": sw.report, "kind": "PRIVATE"}))
        .await;
    assert_eq!(private_url, format!("{}{}", s.url, page_of(&private_id)));
    let (auth_id, _, _) = sw
        .link(json!({"reportId": sw.report, "kind": "AUTHENTICATED", "rights": {"download": true}}))
        .await;
    let outsider = s.user(&sw.w.admin, "otto").await;
    data(
        &s.gql(
            &sw.w.admin.auth,
            "mutation($u:ID!){setUserAttributes(id:$u,attributes:[{key:\"region\",values:[\"East\"]}]){id}}",
            json!({"u": outsider.id}),
        )
        .await,
    );

    // Anonymous visitors are asked to sign in.
    let anon = Visitor::new(s);
    for id in [&private_id, &auth_id] {
        assert_eq!(anon.view(id, None).await.status, "UNAUTHENTICATED");
        let r = anon.visit(id).await;
        assert_eq!(r.json()["state"], "SIGN_IN_USER", "{}", r.text);
    }

    // A member (west, viewer) opens both, and sees their own rows.
    let (st, _, west) = s.login("wendy", PASSWORD).await;
    assert_eq!(st, 200);
    let wv = Visitor {
        http: west,
        base: s.url.clone(),
    };
    for id in [&private_id, &auth_id] {
        let t = tiles(&wv, id, "overview").await;
        assert_eq!(t.status, "OK", "{}", t.text);
        assert_eq!(regions(&t.json()), ["West"]);
    }

    // Someone without a role on the project: refused on both …
    let (_, _, otto) = s.login("otto", PASSWORD).await;
    let ov = Visitor {
        http: otto,
        base: s.url.clone(),
    };
    for id in [&private_id, &auth_id] {
        assert_eq!(tiles(&ov, id, "overview").await.status, "FORBIDDEN");
    }
    // … until the shared-report-viewer permission lets them follow authenticated links
    // (never private ones), with their own attributes selecting rows.
    data(
        &s.gql(
            &sw.w.admin.auth,
            "mutation($s:String!){grantServerPermission(subject:$s,permission:SHARED_REPORT_VIEWER)}",
            json!({"s": format!("user:{}", outsider.id)}),
        )
        .await,
    );
    let t = tiles(&ov, &auth_id, "overview").await;
    assert_eq!(t.status, "OK", "{}", t.text);
    assert_eq!(regions(&t.json()), ["East"]);
    assert_eq!(
        tiles(&ov, &private_id, "overview").await.status,
        "FORBIDDEN"
    );
    assert_eq!(
        ov.get(&format!("{}/download?tile=by_region", page_of(&auth_id)))
            .await
            .status,
        200
    );
    // The project link (authenticated) opens the project's reports.
    let (pid, _, _) = sw.link(json!({"kind": "AUTHENTICATED"})).await;
    let v = wv.view(&pid, None).await;
    assert_eq!(v.status, "OK", "{}", v.text);
    assert_eq!(v.json()["reports"][0]["id"], sw.report);
}

#[tokio::test]
async fn a_tab_link_shows_that_tab_only() {
    let sw = share_world().await;
    let s = sw.s();
    let (id, url, _) = sw
        .link(json!({"reportId": sw.report, "tab": "detail", "kind": "PUBLIC"}))
        .await;
    let v = Visitor::new(s);
    v.open(&url).await;
    let view = v.view(&id, None).await.json();
    let tabs = view["definition"]["tabs"].as_array().unwrap().clone();
    assert_eq!(tabs.len(), 1);
    assert_eq!(tabs[0]["id"], "detail");
    assert_eq!(tiles(&v, &id, "detail").await.status, "OK");
    // The other tab does not exist through this link.
    assert_eq!(tiles(&v, &id, "overview").await.status, "NOT_FOUND");
    assert_eq!(
        v.get(&format!("{}/download?tile=by_region", page_of(&id)))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn the_share_ledger_lists_links_for_admins_and_their_managers_and_revokes_in_bulk() {
    let sw = share_world().await;
    let s = sw.s();
    let (a, _, _) = sw
        .link(json!({"reportId": sw.report, "kind": "PUBLIC"}))
        .await;
    let (b, _, _) = sw
        .link(
            json!({"reportId": sw.report, "kind": "RECIPIENTS", "recipients": [
            {"name": "Ann", "email": "ann@example.org", "role": "VIEWER"}]}),
        )
        .await;
    // A project Mona does not manage, with a link of its own.
    let (other, _) = s.project(&sw.w.admin, &sw.w.folder, "Other").await;
    let r = s
        .gql(
            &sw.w.admin.auth,
            CREATE,
            json!({"i": {"projectId": other, "kind": "AUTHENTICATED"}}),
        )
        .await;
    let c = data(&r)["createShareLink"]["link"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let ledger = "query($p:ID){shareLedger(projectId:$p,first:10){edges{node{id kind state rights{download} expiresAt lastAccessAt exposedDatasets recipients{email}}}}}";
    let ids = |r: &Value| -> Vec<String> {
        data(r)["shareLedger"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = s.gql(&sw.w.admin.auth, ledger, json!({})).await;
    assert_eq!(ids(&all).len(), 3);
    let mine = s.gql(&sw.mona.auth, ledger, json!({})).await;
    assert_eq!(ids(&mine), vec![a.clone(), b.clone()]);
    let node = &data(&mine)["shareLedger"]["edges"][1]["node"];
    assert_eq!(node["recipients"][0]["email"], "ann@example.org");
    assert_eq!(node["exposedDatasets"], json!(["orders"]));
    // Editors are not managers: no ledger for the project, and nothing instance-wide.
    assert_eq!(
        code(
            &s.gql(&sw.w.editor.auth, ledger, json!({"p": sw.w.project}))
                .await
        ),
        "FORBIDDEN"
    );
    assert!(ids(&s.gql(&sw.w.editor.auth, ledger, json!({})).await).is_empty());

    // Bulk revoke: refused whole when one link is not the caller's to manage.
    let bulk = "mutation($ids:[ID!]!){revokeShareLinks(ids:$ids){id state}}";
    let r = s.gql(&sw.mona.auth, bulk, json!({"ids": [a, c]})).await;
    assert!(code(&r) == "FORBIDDEN" || code(&r) == "NOT_FOUND", "{r}");
    assert_eq!(sw.link_state(&a).await["state"], "ACTIVE");
    let r = s.gql(&sw.mona.auth, bulk, json!({"ids": [a, b]})).await;
    let states: Vec<_> = data(&r)["revokeShareLinks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["state"].clone())
        .collect();
    assert_eq!(states, vec![json!("REVOKED"), json!("REVOKED")]);
}
