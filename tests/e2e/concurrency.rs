//! Mutations that touch one record, run at the same time for many rounds: every change
//! that was answered with success survives, and a loser gets CONFLICT, never a silent
//! loss (issue 20, unit of work).

use serde_json::{Value, json};

use crate::support::*;
use crate::tasks::{CREATE, RUN_NOW, fleet, small_pipeline};

const ROUNDS: usize = 20;

fn task_input(project: &str, name: &str, cron: &str) -> Value {
    json!({"name": name, "trigger": {"cron": cron}, "target": {"projectId": project},
        "actions": [{"kind": "REFRESH"}]})
}

#[tokio::test]
async fn a_pause_beside_an_edit_of_the_same_task_is_kept() {
    let f = fleet(1, 0, &[]).await;
    let (s, eddy, project) = (&f.s, &f.eddy, f.projects[0].0.clone());
    for round in 0..ROUNDS {
        let name = format!("refresh {round}");
        let task =
            crate::tasks::create_task(s, eddy, task_input(&project, &name, "0 6 * * *")).await;
        let renamed = format!("{name} renamed");
        let (paused, updated) = tokio::join!(
            s.gql(
                &eddy.auth,
                "mutation($t:ID!){pauseTask(id:$t){paused}}",
                json!({"t": task}),
            ),
            s.gql(
                &eddy.auth,
                "mutation($t:ID!,$i:TaskInput!){updateTask(id:$t,input:$i){name}}",
                json!({"t": task, "i": task_input(&project, &renamed, "0 7 * * *")}),
            ),
        );
        data(&paused);
        data(&updated);
        let r = s
            .gql(
                &eddy.auth,
                "query($t:ID!){task(id:$t){name paused nextRunAt trigger{cron}}}",
                json!({"t": task}),
            )
            .await;
        let t = &data(&r)["task"];
        assert_eq!(t["paused"], true, "round {round}: the pause was lost: {t}");
        assert_eq!(
            t["name"],
            renamed.as_str(),
            "round {round}: the edit was lost: {t}"
        );
        assert_eq!(t["trigger"]["cron"], "0 7 * * *", "round {round}: {t}");
        assert!(
            t["nextRunAt"].is_null(),
            "round {round}: a paused task shows a next run: {t}"
        );
    }
}

#[tokio::test]
async fn two_tasks_never_share_a_name() {
    let f = fleet(1, 0, &[]).await;
    let (s, eddy, project) = (&f.s, &f.eddy, f.projects[0].0.clone());
    for round in 0..ROUNDS {
        // Two creates of one name: one wins, the other is told why.
        let name = format!("nightly {round}");
        let input = task_input(&project, &name, "0 6 * * *");
        let (a, b) = tokio::join!(
            s.gql(&eddy.auth, CREATE, json!({"i": input})),
            s.gql(&eddy.auth, CREATE, json!({"i": input})),
        );
        let won = [&a, &b].iter().filter(|r| r["errors"].is_null()).count();
        assert_eq!(won, 1, "round {round}: {a} {b}");
        let lost = if a["errors"].is_null() { &b } else { &a };
        assert_eq!(code(lost), "CONFLICT", "round {round}: {lost}");

        // Two renames of different tasks to one new name: the same.
        let x = crate::tasks::create_task(
            s,
            eddy,
            task_input(&project, &format!("x {round}"), "0 6 * * *"),
        )
        .await;
        let y = crate::tasks::create_task(
            s,
            eddy,
            task_input(&project, &format!("y {round}"), "0 6 * * *"),
        )
        .await;
        let target = task_input(&project, &format!("merged {round}"), "0 6 * * *");
        let update = "mutation($t:ID!,$i:TaskInput!){updateTask(id:$t,input:$i){name}}";
        let (a, b) = tokio::join!(
            s.gql(&eddy.auth, update, json!({"t": x, "i": target})),
            s.gql(&eddy.auth, update, json!({"t": y, "i": target})),
        );
        let won = [&a, &b].iter().filter(|r| r["errors"].is_null()).count();
        assert_eq!(won, 1, "round {round}: {a} {b}");
        let lost = if a["errors"].is_null() { &b } else { &a };
        assert_eq!(code(lost), "CONFLICT", "round {round}: {lost}");
    }
}

/// Runs of one refresh task started at once wait for each other on the project instead
/// of failing with "still going".
#[tokio::test]
async fn overlapping_runs_of_one_task_wait_for_each_other() {
    let f = fleet(1, 0, &[]).await;
    let (s, eddy, project) = (&f.s, &f.eddy, f.projects[0].0.clone());
    let task =
        crate::tasks::create_task(s, eddy, task_input(&project, "refresh", "0 6 * * *")).await;
    for round in 0..4 {
        let starts = futures::future::join_all((0..5).map(|_| async {
            let r = s.gql(&eddy.auth, RUN_NOW, json!({"t": task})).await;
            data(&r)["runTaskNow"]["id"].as_str().unwrap().to_owned()
        }))
        .await;
        for run in starts {
            let done =
                crate::tasks::wait_run(s, eddy, &run, std::time::Duration::from_secs(120)).await;
            assert_eq!(done["status"], "succeeded", "round {round}: {done}");
        }
    }
}

/// A rename beside a definition edit of one report: both changes survive.
#[tokio::test]
async fn a_rename_beside_a_definition_edit_keeps_both() {
    let f = fleet(1, 0, &[]).await;
    let (s, admin, project) = (&f.s, &f.admin, f.projects[0].0.clone());
    let r = s
        .gql(
            &admin.auth,
            "query($p:ID!){reports(projectId:$p){id definition}}",
            json!({"p": project}),
        )
        .await;
    let report = data(&r)["reports"][0]["id"].as_str().unwrap().to_owned();
    let mut definition = data(&r)["reports"][0]["definition"].clone();
    let update =
        "mutation($r:ID!,$n:String,$d:JSON){updateReport(id:$r,name:$n,definition:$d){id}}";
    for round in 0..ROUNDS {
        let name = format!("Report {round}");
        let title = format!("Overview {round}");
        definition["tabs"][0]["title"] = json!(title);
        let (a, b) = tokio::join!(
            s.gql(&admin.auth, update, json!({"r": report, "n": name})),
            s.gql(&admin.auth, update, json!({"r": report, "d": definition})),
        );
        data(&a);
        data(&b);
        let r = s
            .gql(
                &admin.auth,
                "query($p:ID!){reports(projectId:$p){name definition}}",
                json!({"p": project}),
            )
            .await;
        let stored = &data(&r)["reports"][0];
        assert_eq!(
            stored["name"],
            name.as_str(),
            "round {round}: the rename was lost"
        );
        assert_eq!(
            stored["definition"]["tabs"][0]["title"],
            title.as_str(),
            "round {round}: the definition edit was lost"
        );
    }
}

/// A workflow save, a report rename and a report definition edit of one project at
/// once: each success has its own revision, holding exactly its own change (none is
/// missing, none describes content that never existed).
#[tokio::test]
async fn every_save_has_its_own_revision() {
    let f = fleet(1, 0, &[]).await;
    let (s, admin, project) = (&f.s, &f.admin, f.projects[0].0.clone());
    let r = s
        .gql(
            &admin.auth,
            "query($p:ID!){reports(projectId:$p){id definition}}",
            json!({"p": project}),
        )
        .await;
    let report = data(&r)["reports"][0]["id"].as_str().unwrap().to_owned();
    let mut definition = data(&r)["reports"][0]["definition"].clone();
    let save = "mutation($p:ID!,$w:JSON!,$n:String!){saveWorkflow(projectId:$p,workflow:$w,\
        parameters:[{name:\"input\",value:\"in/superstore.csv\"},{name:\"round\",value:$n}]){version}}";
    let update =
        "mutation($r:ID!,$n:String,$d:JSON){updateReport(id:$r,name:$n,definition:$d){id}}";
    let history = "query($p:ID!){revisions(projectId:$p,first:100){edges{node{number message changes{kind object path fields}}}}}";
    let count = |r: &Value| data(r)["revisions"]["edges"].as_array().unwrap().len();
    let mut before = count(&s.gql(&admin.auth, history, json!({"p": project})).await);
    for round in 0..ROUNDS {
        definition["tabs"][0]["title"] = json!(format!("Overview {round}"));
        let (a, b, c) = tokio::join!(
            s.gql(
                &admin.auth,
                save,
                json!({"p": project, "w": small_pipeline(), "n": round.to_string()})
            ),
            s.gql(
                &admin.auth,
                update,
                json!({"r": report, "n": format!("Report {round}")})
            ),
            s.gql(&admin.auth, update, json!({"r": report, "d": definition})),
        );
        data(&a);
        data(&b);
        data(&c);
        let r = s.gql(&admin.auth, history, json!({"p": project})).await;
        let after = count(&r);
        assert_eq!(after, before + 3, "round {round}: a save has no revision");
        for edge in &data(&r)["revisions"]["edges"].as_array().unwrap()[..3] {
            let changes = edge["node"]["changes"].as_array().unwrap();
            assert_eq!(
                changes.len(),
                1,
                "round {round}: revision {} holds another save's change too: {changes:?}",
                edge["node"]["number"]
            );
        }
        before = after;
    }
}

/// Views of a link counted while its manager edits the link's label: every view is in
/// the count afterwards (the edit writes only what it changes; views add to the count).
#[tokio::test]
async fn views_during_label_edits_are_all_counted() {
    use crate::sharing::{Visitor, share_world, tiles};
    let sw = share_world().await;
    let s = sw.s();
    let (id, url, _) = sw
        .link(json!({"reportId": sw.report, "kind": "PUBLIC"}))
        .await;
    let v = Visitor::new(s);
    v.open(&url).await;
    let count = || async { sw.link_state(&id).await["accessCount"].as_i64().unwrap() };
    // What one view of a tab adds, measured rather than assumed.
    let before = count().await;
    assert_eq!(tiles(&v, &id, "overview").await.status, "OK");
    let per_view = count().await - before;
    assert!(per_view >= 1, "a view was not counted");

    let start = count().await;
    let views = 300;
    let edit = "mutation($id:ID!,$l:String!){updateShareLink(id:$id,input:{label:$l}){id}}";
    let viewing = futures::future::join_all((0..views).map(|_| async {
        assert_eq!(tiles(&v, &id, "overview").await.status, "OK");
    }));
    let (mona, link) = (&sw.mona, &id);
    let editing = futures::future::join_all((0..30).map(|i| async move {
        let r = s
            .gql(
                &mona.auth,
                edit,
                json!({"id": link, "l": format!("label {i}")}),
            )
            .await;
        data(&r);
    }));
    tokio::join!(viewing, editing);
    assert_eq!(count().await, start + views * per_view);
}

/// A project created into a folder being deleted: either the creation loses (CONFLICT)
/// or the project goes with the folder; never a project left in a deleted folder.
#[tokio::test]
async fn no_project_survives_in_a_deleted_folder() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let home = s.folder(&admin, None, "Home").await;
    for round in 0..ROUNDS {
        let folder = s.folder(&admin, None, &format!("Doomed {round}")).await;
        let (created, deleted) = tokio::join!(
            s.gql(
                &admin.auth,
                "mutation($f:ID!,$n:String!){createProject(folderId:$f,name:$n){id}}",
                json!({"f": folder, "n": format!("P{round}")}),
            ),
            s.gql(
                &admin.auth,
                "mutation($f:ID!){deleteFolder(id:$f,recursive:true)}",
                json!({"f": folder}),
            ),
        );
        if !deleted["errors"].is_null() {
            // Deleting lost (the folder was not empty any more): both are there.
            data(&created);
            continue;
        }
        // The same for a project moved into a folder being deleted.
        let target = s.folder(&admin, None, &format!("Target {round}")).await;
        let (moving, _) = s.project(&admin, &home, &format!("M{round}")).await;
        let (moved, removed) = tokio::join!(
            s.gql(
                &admin.auth,
                "mutation($p:ID!,$f:ID!){moveProject(id:$p,folderId:$f){id}}",
                json!({"p": moving, "f": target}),
            ),
            s.gql(
                &admin.auth,
                "mutation($f:ID!){deleteFolder(id:$f,recursive:true)}",
                json!({"f": target}),
            ),
        );
        if removed["errors"].is_null() && moved["errors"].is_null() {
            let r = s
                .gql(
                    &admin.auth,
                    "query($p:ID!){project(id:$p){folder{id}}}",
                    json!({"p": moving}),
                )
                .await;
            assert!(
                r["data"]["project"].is_null(),
                "round {round}: moved project {moving} outlived its folder: {r}"
            );
        }
        match created["data"]["createProject"]["id"].as_str() {
            Some(project) => {
                let r = s
                    .gql(
                        &admin.auth,
                        "query($p:ID!){project(id:$p){id}}",
                        json!({"p": project}),
                    )
                    .await;
                assert!(
                    r["data"]["project"].is_null(),
                    "round {round}: project {project} outlived its folder: {r}"
                );
            }
            None => assert!(
                matches!(code(&created).as_str(), "CONFLICT" | "NOT_FOUND"),
                "round {round}: {created}"
            ),
        }
    }
}

/// A working copy's push beside a rename of the origin's report: the rename lands after
/// the push and both survive, or it lands first and the push is refused with CONFLICT
/// (the origin moved); the push never writes the old name or the old definition back.
#[tokio::test]
async fn a_push_beside_a_rename_of_the_origin_keeps_both_or_is_refused() {
    use crate::copies::{PULL, PUSH, first_report, published_world, staging, working_copy};
    let w = published_world().await;
    let (s, admin) = (&w.s, &w.admin);
    let stage = staging(&w).await;
    let copy = working_copy(
        s,
        admin,
        json!({"p": w.project, "f": stage, "n": "Staging copy"}),
    )
    .await;
    let (origin_report, _) = first_report(s, admin, &w.project).await;
    let update =
        "mutation($r:ID!,$n:String,$d:JSON){updateReport(id:$r,name:$n,definition:$d){id}}";
    let (mut pushed, mut refused) = (0, 0);
    for round in 0..ROUNDS {
        let (copy_report, mut def) = first_report(s, admin, &copy).await;
        let title = format!("Staged {round}");
        def["tabs"][0]["tiles"][0]["title"] = json!(title);
        data(
            &s.gql(&admin.auth, update, json!({"r": copy_report, "d": def}))
                .await,
        );
        let name = format!("Renamed {round}");
        let (push, rename) = tokio::join!(
            s.gql(&admin.auth, PUSH, json!({"p": copy})),
            s.gql(&admin.auth, update, json!({"r": origin_report, "n": name})),
        );
        data(&rename);
        let r = s
            .gql(
                &admin.auth,
                "query($p:ID!){reports(projectId:$p){name definition}}",
                json!({"p": w.project}),
            )
            .await;
        let stored = &data(&r)["reports"][0];
        assert_eq!(
            stored["name"],
            name.as_str(),
            "round {round}: the rename was lost"
        );
        if push["errors"].is_null() {
            pushed += 1;
            assert_eq!(
                stored["definition"]["tabs"][0]["tiles"][0]["title"],
                title.as_str(),
                "round {round}: the pushed definition was lost"
            );
        } else {
            refused += 1;
            assert!(
                matches!(code(&push).as_str(), "ORIGIN_MOVED" | "CONFLICT"),
                "round {round}: {push}"
            );
        }
        // In step again for the next round.
        data(
            &s.gql(&admin.auth, PULL, json!({"p": copy, "d": true}))
                .await,
        );
    }
    assert_eq!(pushed + refused, ROUNDS);
}

/// Report edits that raise access warnings on a public link, beside edits of the link's
/// label: every warning raised is still on the link afterwards (the label edit writes
/// only what it changes; warnings are appended).
#[tokio::test]
async fn warnings_raised_during_label_edits_are_all_kept() {
    use crate::sharing::share_world;
    let sw = share_world().await;
    let s = sw.s();
    let (link, _, _) = sw
        .link(json!({"reportId": sw.report, "kind": "PUBLIC"}))
        .await;
    let r = s
        .gql(
            &sw.mona.auth,
            "query($r:ID!){report(id:$r){definition}}",
            json!({"r": sw.report}),
        )
        .await;
    let narrow = data(&r)["report"]["definition"].clone();
    let mut wide = narrow.clone();
    wide["tabs"][0]["tiles"].as_array_mut().unwrap().push(json!({
        "id": "all_regions", "title": "All regions", "kind": "table",
        "query": {"dataset": "regions", "dimensions": ["region"], "measures": [{"column": "sales", "function": "sum"}]}}));
    let edit = "mutation($r:ID!,$d:JSON!){updateReport(id:$r,definition:$d){id}}";
    let label = "mutation($id:ID!,$l:String){updateShareLink(id:$id,input:{label:$l}){id}}";
    let warnings = |r: &Value| {
        data(r)["shareLink"]["accessWarnings"]
            .as_array()
            .unwrap()
            .len()
    };
    let state = "query($id:ID!){shareLink(id:$id){accessWarnings{kind}}}";
    let mut seen = 0;
    for round in 0..ROUNDS {
        // Narrow again first (no warning), so that every widening edit raises some.
        data(
            &s.gql(
                &sw.w.editor.auth,
                edit,
                json!({"r": sw.report, "d": narrow}),
            )
            .await,
        );
        let (a, b) = tokio::join!(
            s.gql(&sw.w.editor.auth, edit, json!({"r": sw.report, "d": wide})),
            s.gql(
                &sw.mona.auth,
                label,
                json!({"id": link, "l": format!("Label {round}")})
            ),
        );
        data(&a);
        data(&b);
        let now = warnings(&s.gql(&sw.mona.auth, state, json!({"id": link})).await);
        assert!(
            now > seen,
            "round {round}: the warnings of this edit were lost ({now} after {seen})"
        );
        seen = now;
    }
}
