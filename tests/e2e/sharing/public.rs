//! A public link from first visit to revocation: the token leaves the URL, the view shows
//! only what the creator may see, accesses are counted and audited, CSV follows the right,
//! QR codes are served, and revocation acts on the very next request.

use serde_json::json;

use super::*;

#[tokio::test]
async fn public_link_from_first_visit_to_revocation() {
    let sw = share_world().await;
    let s = sw.s();
    let (id, url, created) = sw
        .link(json!({"reportId": sw.report, "kind": "PUBLIC", "rights": {"download": true}}))
        .await;
    assert!(url.starts_with(&s.url) && url.contains("/s/vts_"), "{url}");
    assert!(created["qrSvg"].as_str().unwrap().contains("<svg"));
    // The token URL is shown once; afterwards the link lists no URL.
    assert!(created["link"]["url"].is_null());
    let token = url.rsplit('/').next().unwrap().to_owned();

    // First visit: the token moves into a cookie; the filter state in the query survives.
    let v = Visitor::new(s);
    let location = v.open(&format!("{url}?tab=overview")).await;
    assert_eq!(location, format!("{}?tab=overview", page_of(&id)));
    let page = v.get(&location).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("/assets/viewer.js"));
    assert!(
        page.header("content-security-policy")
            .contains("script-src 'self'")
    );
    let view = v.view(&id, None).await;
    assert_eq!(view.status, "OK", "{}", view.text);
    let view = view.json();
    assert_eq!(view["kind"], "PUBLIC");
    assert_eq!(view["visitor"], "public");
    assert_eq!(view["definition"]["tabs"].as_array().unwrap().len(), 2);
    assert_eq!(view["rights"]["download"], true);
    assert_eq!(view["rights"]["edit"], false);

    // The access filter applies with the creator's attributes: West only, although the
    // dataset holds four regions and the link is public.
    let t = tiles(&v, &id, "overview").await;
    assert_eq!(t.status, "OK", "{}", t.text);
    assert_eq!(regions(&t.json()), ["West"]);
    let rows = t.json()["tiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "rows")
        .unwrap()["rows"]
        .clone();
    assert!(rows.as_array().unwrap().iter().all(|r| r[1] == "West"));
    // The report's filter state is a list of filter values; unknown filters are refused
    // by name.
    let filtered_tiles = |filters: Value| {
        v.link_gql(
            &id,
            "query($f:[FilterValueInput!]){linkVisit{tiles(tabId:\"overview\",filters:$f){tileId}}}",
            json!({ "f": filters }),
            &["linkVisit", "tiles"],
        )
    };
    let filtered = filtered_tiles(json!([{"filter": "segment", "values": ["Consumer"]}])).await;
    assert_eq!(filtered.status, "OK", "{}", filtered.text);
    let bad = filtered_tiles(json!([{"filter": "nope", "values": [1]}])).await;
    assert_eq!(bad.status, "INVALID_INPUT", "{}", bad.text);
    assert!(bad.text.contains("nope"), "{}", bad.text);
    let values = v.filter_values(&id, "segment").await;
    assert_eq!(values.status, "OK", "{}", values.text);
    assert!(!values.json().as_array().unwrap().is_empty());

    // CSV download: granted, and scoped like the view.
    let csv = v
        .get(&format!("{}/download?tile=by_region", page_of(&id)))
        .await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(csv.header("content-type").starts_with("text/csv"));
    assert_eq!(csv.text.lines().count(), 2, "{}", csv.text);
    assert!(csv.text.contains("West") && !csv.text.contains("East"));
    // The viewer API names the download URL of a tile under a filter state.
    let url = v
        .link_gql(
            &id,
            "{linkVisit{downloadUrl(tileId:\"by_region\",filters:[{filter:\"segment\",values:[\"Consumer\"]}])}}",
            json!({}),
            &["linkVisit", "downloadUrl"],
        )
        .await;
    let url = url.json().as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("{}{}/download?", s.url, page_of(&id))),
        "{url}"
    );
    let csv = v.get(&url).await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(csv.text.contains("West") && !csv.text.contains("East"));

    // The viewer API answers link visits only: without the share header (what a
    // cross-site page would send) it refuses, member fields are not reachable through it,
    // and `linkVisit` is not reachable at the member endpoint.
    let r = v
        .send(
            reqwest::Method::POST,
            &format!("{}/graphql", page_of(&id)),
            json!({"query": "{linkVisit{state}}"}),
            false,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.json()["errors"][0]["extensions"]["code"], "CSRF_REJECTED");
    let me = v
        .link_gql(&id, "{projects{edges{node{id}}}}", json!({}), &[])
        .await;
    assert_eq!(me.status, "UNAUTHENTICATED", "{}", me.text);
    let member = s.gql(&sw.mona.auth, "{linkVisit{state}}", json!({})).await;
    assert_eq!(code(&member), "UNAUTHENTICATED");

    // A copied viewer URL in a fresh browser has no cookie: it must ask for the link.
    let fresh = Visitor::new(s);
    assert_eq!(fresh.view(&id, None).await.status, "UNAUTHENTICATED");
    let r = fresh.visit(&id).await;
    assert_eq!(r.json()["state"], "NEEDS_TOKEN", "{}", r.text);
    // A made-up token and a made-up link say the same as a revoked one.
    assert_eq!(fresh.get("/s/vts_madeup").await.status, 410);
    assert_eq!(fresh.get(&page_of("nope")).await.status, 410);

    // QR codes of the token URL, for whoever holds it.
    let svg = fresh.get(&format!("/s/{token}/qr.svg")).await;
    assert_eq!(svg.status, 200);
    assert!(svg.text.contains("<svg"));
    let png = fresh
        .http
        .get(format!("{}/s/{token}/qr.png", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(png.status(), 200);
    assert_eq!(&png.bytes().await.unwrap()[..4], b"\x89PNG");

    // Accesses are counted and every view is audited with address and user agent.
    let st = sw.link_state(&id).await;
    assert!(st["accessCount"].as_i64().unwrap() >= 2, "{st}");
    assert!(!st["lastAccessAt"].is_null());
    assert_eq!(st["exposedDatasets"], json!(["orders"]));
    let audit = s
        .gql(
            &sw.w.admin.auth,
            "query($o:String!){auditEvents(filter:{object:$o},first:50){edges{node{action actorName address detail}}}}",
            json!({"o": format!("share_link:{id}")}),
        )
        .await;
    let events = data(&audit)["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    let views: Vec<_> = events
        .iter()
        .filter(|e| e["node"]["action"] == "SHARE_VIEW")
        .collect();
    // Repeated identical views within a second are one row that says how many times.
    let times = |detail: &str| -> usize {
        detail
            .strip_suffix(" times)")
            .and_then(|d| d.rsplit_once(" ("))
            .map_or(1, |(_, n)| n.parse().unwrap())
    };
    let seen: usize = views
        .iter()
        .map(|v| times(v["node"]["detail"].as_str().unwrap()))
        .sum();
    assert!(seen >= 2, "{events:?}");
    assert_eq!(views[0]["node"]["address"], "127.0.0.1");
    assert!(views[0]["node"]["detail"].as_str().unwrap().contains("ua:"));
    assert!(events.iter().any(|e| e["node"]["action"] == "SHARE_OPEN"));

    // Revocation acts on the very next request, on every route.
    data(&sw.op("revokeShareLink", &id).await);
    let t = tiles(&v, &id, "overview").await;
    assert_eq!(t.status, "LINK_NOT_VALID", "{}", t.text);
    let page = v.get(&page_of(&id)).await;
    assert_eq!(page.status, 410);
    assert!(page.text.contains("no longer valid"));
    assert_eq!(v.get(&url).await.status, 410);
    assert_eq!(fresh.get(&format!("/s/{token}/qr.svg")).await.status, 410);
    assert_eq!(
        v.get(&format!("{}/download?tile=by_region", page_of(&id)))
            .await
            .status,
        410
    );
    // Revoked is final.
    assert_eq!(code(&sw.op("resumeShareLink", &id).await), "LINK_NOT_VALID");
}

#[tokio::test]
async fn download_right_pause_and_expiry() {
    let sw = share_world().await;
    let s = sw.s();
    let (id, url, _) = sw
        .link(json!({"reportId": sw.report, "kind": "PUBLIC"}))
        .await;
    let v = Visitor::new(s);
    v.open(&url).await;
    // No download right: the CSV route refuses.
    let csv = v
        .get(&format!("{}/download?tile=by_region", page_of(&id)))
        .await;
    assert_eq!(csv.status, 403, "{}", csv.text);
    // Rights change on the next request.
    data(
        &s.gql(
            &sw.mona.auth,
            "mutation($id:ID!){updateShareLink(id:$id,input:{rights:{download:true}}){rights{download}}}",
            json!({"id": id}),
        )
        .await,
    );
    assert_eq!(
        v.get(&format!("{}/download?tile=by_region", page_of(&id)))
            .await
            .status,
        200
    );

    // Paused: not valid now, valid again after resuming, sessions intact.
    assert_eq!(
        data(&sw.op("pauseShareLink", &id).await)["pauseShareLink"]["state"],
        "PAUSED"
    );
    let t = tiles(&v, &id, "overview").await;
    assert_eq!(t.status, "LINK_NOT_VALID");
    assert!(t.text.contains("paused"), "{}", t.text);
    assert!(v.get(&page_of(&id)).await.text.contains("paused"));
    data(&sw.op("resumeShareLink", &id).await);
    assert_eq!(tiles(&v, &id, "overview").await.status, "OK");

    // Expiry: a link that expires in a moment stops on the next request after it.
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let (eid, eurl, _) = sw
        .link(json!({"reportId": sw.report, "kind": "PUBLIC", "expiresAt": soon.to_rfc3339()}))
        .await;
    let ev = Visitor::new(s);
    ev.open(&eurl).await;
    assert_eq!(tiles(&ev, &eid, "overview").await.status, "OK");
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    let t = tiles(&ev, &eid, "overview").await;
    assert_eq!(t.status, "LINK_NOT_VALID");
    assert_eq!(sw.link_state(&eid).await["state"], "EXPIRED");
    assert!(ev.get(&page_of(&eid)).await.text.contains("expired"));
    // An expiry in the past is refused when set.
    let r = s
        .gql(
            &sw.mona.auth,
            "mutation($id:ID!,$t:DateTime!){updateShareLink(id:$id,input:{expiresAt:$t}){id}}",
            json!({"id": id, "t": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT");
    assert!(message(&r).contains("expiresAt"));
}

#[tokio::test]
async fn a_copied_view_opens_in_a_fresh_browser_until_the_link_is_revoked() {
    let sw = share_world().await;
    let s = sw.s();
    let (id, url, _) = sw
        .link(json!({"reportId": sw.report, "kind": "PUBLIC"}))
        .await;
    let v = Visitor::new(s);
    v.open(&url).await;
    let state = "?tab=detail&filters=%7B%22segment%22%3A%5B%22Consumer%22%5D%7D&next=https%3A%2F%2Fevil.example";
    // The write guard applies: a cross-site form cannot mint tokens.
    let r = v
        .send(
            reqwest::Method::POST,
            &format!("{}/graphql", page_of(&id)),
            json!({"query": "mutation($q:String!){copyLinkView(query:$q)}", "variables": {"q": state}}),
            false,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = v.copy_link(&id, state).await;
    assert_eq!(r.status, "OK", "{}", r.text);
    let copied = r.json().as_str().unwrap().to_owned();
    let token = url.rsplit('/').next().unwrap();
    assert!(
        copied.starts_with(&format!("{}/s/vts_", s.url)) && !copied.contains(token),
        "{copied}"
    );
    // Only the viewer's own parameters travel.
    assert!(
        copied.contains("tab=detail") && copied.contains("filters="),
        "{copied}"
    );
    assert!(!copied.contains("evil"), "{copied}");

    // A fresh browser opens the same view: redirected without the token, state kept.
    let fresh = Visitor::new(s);
    let location = fresh.open(&copied).await;
    assert!(
        location.starts_with(&format!("{}?", page_of(&id))),
        "{location}"
    );
    assert!(location.contains("tab=detail"), "{location}");
    let t = tiles(&fresh, &id, "detail").await;
    assert_eq!(t.status, "OK", "{}", t.text);

    // A recipients link's copy is its page, which asks for a sign-in: no new credential.
    let (rid, _, created) = sw
        .link(json!({"reportId": sw.report, "kind": "RECIPIENTS",
            "recipients": [{"name": "Ann", "email": "ann@example.org", "role": "VIEWER"}]}))
        .await;
    let rv = Visitor::new(s);
    rv.open(created["invitations"][0]["url"].as_str().unwrap())
        .await;
    rv.post(
        &format!("{}/api/password", page_of(&rid)),
        json!({"password": "Orchard#2026"}),
    )
    .await;
    let r = rv.copy_link(&rid, "?tab=overview").await;
    assert_eq!(r.status, "OK", "{}", r.text);
    assert_eq!(r.json(), format!("{}{}?tab=overview", s.url, page_of(&rid)));

    // Minting is rate-limited per visitor.
    let mut limited = None;
    for _ in 0..40 {
        let r = v.copy_link(&id, "").await;
        if r.status != "OK" {
            limited = Some(r);
            break;
        }
    }
    let limited = limited.expect("copies are rate-limited");
    assert_eq!(limited.status, "RATE_LIMITED", "{}", limited.text);

    // Revoking the link ends the copied tokens with it.
    data(&sw.op("revokeShareLink", &id).await);
    let r = Visitor::new(s).get(&copied).await;
    assert_eq!(r.status, 410, "{}", r.text);
}
