//! Access notes (governance issue, item 5): every viewer of a report — a member or a
//! link's visitor — sees a marker on each tile some viewers see less of, with the reason;
//! a tile refused to this visitor leaves the others drawn.

use serde_json::{Value, json};

use super::*;

const NOTES: &str = "query($r:ID!){report(id:$r){tileNotes{tileId kind message}}}";
const TILES: &str =
    "{linkVisit{tiles(tabId:\"overview\"){tileId result{rowCount} error{code message}}}}";
const NOTES_OF_LINK: &str = "{linkVisit{report{tileNotes{tileId kind message}}}}";

fn kinds(notes: &Value) -> Vec<(String, String)> {
    notes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let s = |k: &str| n[k].as_str().unwrap().to_owned();
            (s("tileId"), s("kind"))
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test]
async fn viewers_and_visitors_see_which_tiles_hide_something_and_why() {
    let sw = share_world().await;
    let s = sw.s();
    let w = &sw.w;
    // `orders` is filtered by region; `rows` lists rows.
    let every = pairs(&[
        ("by_region", "FILTERED_ROWS"),
        ("total", "FILTERED_ROWS"),
        ("rows", "FILTERED_ROWS"),
        ("rows", "ROW_LEVEL"),
        ("by_segment", "FILTERED_ROWS"),
    ]);
    let r = s.gql(&w.west.auth, NOTES, json!({"r": sw.report})).await;
    let notes = &data(&r)["report"]["tileNotes"];
    assert_eq!(kinds(notes), every);
    let filtered = notes[0]["message"].as_str().unwrap();
    assert!(filtered.contains("`region` by `region`"), "{filtered}");
    assert!(!filtered.contains("West"), "no one's values: {filtered}");
    assert!(
        notes[3]["message"]
            .as_str()
            .unwrap()
            .contains("RESTRICTED_QUERIER")
    );
    let stranger = s.user(&w.admin, "stranger").await;
    let r = s.gql(&stranger.auth, NOTES, json!({"r": sw.report})).await;
    assert_eq!(code(&r), "NOT_FOUND", "{r}");

    // A public link's visitor sees the same markers.
    let (id, url, _) = sw
        .link(json!({"reportId": sw.report, "kind": "PUBLIC"}))
        .await;
    let v = Visitor::new(s);
    v.open(&url).await;
    let link_notes = || {
        let path = ["linkVisit", "report", "tileNotes"];
        let (v, id) = (&v, id.clone());
        async move { v.link_gql(&id, NOTES_OF_LINK, json!({}), &path).await }
    };
    let a = link_notes().await;
    assert_eq!(a.status, "OK", "{}", a.text);
    assert_eq!(kinds(&a.data), every);

    // The link's creator loses row-level access: that tile is refused, the others drawn.
    let role = "mutation($u:ID!,$r:ConnectionRole){setConnectionRole(userId:$u,role:$r)}";
    data(
        &s.gql(&w.admin.auth, role, json!({"u": sw.mona.id, "r": "VIEWER"}))
            .await,
    );
    let a = v
        .link_gql(&id, TILES, json!({}), &["linkVisit", "tiles"])
        .await;
    assert_eq!(a.status, "OK", "{}", a.text);
    let by_id = |t: &str| {
        a.data
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["tileId"] == t)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_id("rows")["error"]["code"], "FORBIDDEN");
    assert!(by_id("rows")["result"].is_null());
    assert!(by_id("by_region")["result"]["rowCount"].as_i64().unwrap() > 0);
    assert!(by_id("by_region")["error"].is_null());

    // Boost on the project: the row-level marker goes, and the tile is drawn.
    let boost = "mutation($s:BoostScope!,$id:ID){setAccessBoost(scope:$s,id:$id,enabled:true){instanceBoost}}";
    data(&s.gql(&w.admin.auth, boost, json!({"s": "INSTANCE"})).await);
    let vars = json!({"s": "PROJECT", "id": w.project});
    data(&s.gql(&sw.mona.auth, boost, vars).await);
    let boosted: Vec<_> = every
        .iter()
        .filter(|(_, k)| k != "ROW_LEVEL")
        .cloned()
        .collect();
    let r = s.gql(&w.west.auth, NOTES, json!({"r": sw.report})).await;
    assert_eq!(kinds(&data(&r)["report"]["tileNotes"]), boosted);
    assert_eq!(kinds(&link_notes().await.data), boosted);
    let a = v
        .link_gql(&id, TILES, json!({}), &["linkVisit", "tiles"])
        .await;
    assert!(
        a.text.contains("\"error\":null") && !a.text.contains("FORBIDDEN"),
        "{}",
        a.text
    );
}
