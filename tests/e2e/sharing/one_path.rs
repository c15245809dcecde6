//! One viewer path (issue 20): every ability (see a tile, drill into it, download it)
//! for every kind of viewer — members by role through GraphQL, a member through a private
//! or an authenticated link, a recipient, a public link's visitor — with the project's
//! abilities on and then off. Each link visitor gets the answer GraphQL gives the member
//! whose rights the link carries: the visitor themself on member links, a viewer with the
//! creator's attributes (Mona: West) on outsider links; a link without a right refuses
//! what it lacks.

use serde_json::{Value, json};

use super::*;

/// What a viewer got for one ability: the rows (region labels or a row count), or how
/// it was refused.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Rows(Value),
    Refused,
    NotFound,
    Other(String),
}

fn from_code(code: &str) -> Answer {
    match code {
        "FORBIDDEN" => Answer::Refused,
        "NOT_FOUND" => Answer::NotFound,
        other => Answer::Other(other.to_owned()),
    }
}

fn from_status(status: u16, text: &str) -> Answer {
    match status {
        403 => Answer::Refused,
        404 => Answer::NotFound,
        _ => Answer::Other(format!("{status} {text}")),
    }
}

/// (tile, drill, download) as a member sees them through GraphQL and `/download/tile`.
async fn member_answers(sw: &ShareWorld, who: &Actor) -> [Answer; 3] {
    let s = sw.s();
    let tile = s
        .gql(&who.auth, TILE, json!({"r": sw.report, "t": "by_region"}))
        .await;
    let tile = if tile["errors"].is_null() {
        Answer::Rows(first_column(&data(&tile)["tileResult"]["rows"]))
    } else {
        from_code(&code(&tile))
    };
    let drill = s
        .gql(
            &who.auth,
            "query($r:ID!){drillDown(reportId:$r,tileId:\"by_region\",values:[{column:\"region\",value:\"West\"}]){rowCount}}",
            json!({"r": sw.report}),
        )
        .await;
    let drill = if drill["errors"].is_null() {
        Answer::Rows(data(&drill)["drillDown"]["rowCount"].clone())
    } else {
        from_code(&code(&drill))
    };
    let Auth::Bearer(token) = &who.auth else {
        panic!("members here carry API tokens")
    };
    let resp = reqwest::Client::new()
        .get(format!(
            "{}/download/tile?report={}&tile=by_region",
            s.url, sw.report
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let download = match resp.status().as_u16() {
        200 => Answer::Rows(json!("file")),
        st => from_status(st, &resp.text().await.unwrap_or_default()),
    };
    [tile, drill, download]
}

/// The same three through a link's page.
async fn link_answers(v: &Visitor, id: &str) -> [Answer; 3] {
    let t = tiles(v, id, "overview").await;
    let tile = match t.status.as_str() {
        "OK" => Answer::Rows(json!(regions(&t.json()))),
        code => from_code(code),
    };
    let d = v.drill(id, "by_region", json!([["region", "West"]])).await;
    let drill = match d.status.as_str() {
        "OK" => Answer::Rows(json!(d.json()["rows"].as_array().unwrap().len())),
        code => from_code(code),
    };
    let f = v
        .get(&format!("{}/download?tile=by_region", page_of(id)))
        .await;
    let download = match f.status {
        200 => Answer::Rows(json!("file")),
        st => from_status(st, &f.text),
    };
    [tile, drill, download]
}

fn first_column(rows: &Value) -> Value {
    let mut labels: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect();
    labels.sort();
    json!(labels)
}

/// A visitor carrying `who`'s member session.
async fn member_visitor(sw: &ShareWorld, who: &Actor) -> Visitor {
    let (status, _, http) = sw.s().login(&who.username, PASSWORD).await;
    assert_eq!(status, 200);
    Visitor {
        http,
        base: sw.s().url.clone(),
    }
}

#[tokio::test]
async fn every_viewer_kind_gets_the_answer_graphql_gives() {
    let sw = share_world().await;
    let s = sw.s();
    let (west, editor) = (&sw.w.west, &sw.w.editor);
    let all = json!({"download": true, "drill": true});
    let (private_id, _, _) = sw
        .link(json!({"reportId": sw.report, "kind": "PRIVATE"}))
        .await;
    let (auth_id, _, _) = sw
        .link(json!({"reportId": sw.report, "kind": "AUTHENTICATED", "rights": all}))
        .await;
    let (public_id, public_url, _) = sw
        .link(json!({"reportId": sw.report, "kind": "PUBLIC", "rights": all}))
        .await;
    let (bare_id, bare_url, _) = sw
        .link(json!({"reportId": sw.report, "kind": "PUBLIC"}))
        .await;
    let (rec_id, _, created) = sw
        .link(
            json!({"reportId": sw.report, "kind": "RECIPIENTS", "rights": all,
            "recipients": [{"name": "Ann Archer", "email": "ann@example.org", "role": "VIEWER",
                            "rights": {"download": true, "drill": true}}]}),
        )
        .await;

    let wendy = member_visitor(&sw, west).await;
    let eddy = member_visitor(&sw, editor).await;
    let public = Visitor::new(s);
    public.open(&public_url).await;
    let bare = Visitor::new(s);
    bare.open(&bare_url).await;
    let ann = Visitor::new(s);
    ann.open(&invitation(&created, "ann@example.org")).await;
    let r = ann
        .post(
            &format!("{}/api/password", page_of(&rec_id)),
            json!({"password": "Orchard#2026"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    for abilities_on in [true, false] {
        if !abilities_on {
            for ability in ["DRILL", "DOWNLOAD"] {
                data(
                    &s.gql(
                        &sw.w.admin.auth,
                        "mutation($p:ID!,$a:Ability!){setProjectAbility(id:$p,ability:$a,enabled:false){id}}",
                        json!({"p": sw.w.project, "a": ability}),
                    )
                    .await,
                );
            }
        }
        let as_west = member_answers(&sw, west).await;
        let as_editor = member_answers(&sw, editor).await;
        // The member answers themselves: a West viewer sees West, an editor every region.
        assert_eq!(as_west[0], Answer::Rows(json!(["West"])));
        assert!(
            matches!(&as_editor[0], Answer::Rows(r) if r.as_array().unwrap().len() > 1),
            "{as_editor:?}"
        );
        if abilities_on {
            // Both abilities answer rows somewhere, so the table compares real answers.
            assert!(matches!(as_editor[1], Answer::Rows(_)), "{as_editor:?}");
            assert!(matches!(as_west[2], Answer::Rows(_)), "{as_west:?}");
        } else {
            for a in [&as_west, &as_editor] {
                assert_eq!(a[1], Answer::Refused, "drill with the ability off");
                assert_eq!(a[2], Answer::Refused, "download with the ability off");
            }
        }
        let [tile, _, _] = as_west.clone();
        let table: [(&str, &Visitor, &str, [Answer; 3]); 6] = [
            (
                "member viewer, private link",
                &wendy,
                &private_id,
                as_west.clone(),
            ),
            (
                "member viewer, authenticated link",
                &wendy,
                &auth_id,
                as_west.clone(),
            ),
            (
                "member editor, private link",
                &eddy,
                &private_id,
                as_editor.clone(),
            ),
            ("recipient", &ann, &rec_id, as_west.clone()),
            ("public link", &public, &public_id, as_west.clone()),
            (
                "public link without rights",
                &bare,
                &bare_id,
                [tile, Answer::Refused, Answer::Refused],
            ),
        ];
        for (who, visitor, id, expected) in table {
            let got = link_answers(visitor, id).await;
            assert_eq!(
                got, expected,
                "{who} (abilities on: {abilities_on}): the link path and GraphQL differ"
            );
        }
    }
}
