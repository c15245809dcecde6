use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn slugs_are_unique_changeable_and_old_ones_redirect() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let f = s.folder(&admin, None, "Sales").await;
    let (a, slug_a) = s.project(&admin, &f, "EMEA Revenue / Q3").await;
    assert_eq!(slug_a, "emea-revenue-q3");
    let (_, slug_b) = s.project(&admin, &f, "EMEA Revenue Q3").await;
    assert_eq!(
        slug_b, "emea-revenue-q3-2",
        "a derived slug takes the next free suffix"
    );

    let create = "mutation($f:ID!,$n:String!,$s:String){createProject(folderId:$f,name:$n,slug:$s){id slug}}";
    let taken = s
        .gql(
            &admin.auth,
            create,
            json!({"f": f, "n": "Other", "s": "emea-revenue-q3"}),
        )
        .await;
    assert_eq!(code(&taken), "CONFLICT");
    for bad in [
        "Has Caps",
        "semi;colon",
        "-lead",
        "a--b",
        "ünïcode",
        &"x".repeat(65),
    ] {
        let r = s
            .gql(&admin.auth, create, json!({"f": f, "n": "Other", "s": bad}))
            .await;
        assert_eq!(code(&r), "INVALID_INPUT", "{bad}");
        assert!(message(&r).starts_with("slug"), "{r}");
    }

    let change = "mutation($i:ID!,$s:String!){changeProjectSlug(id:$i,slug:$s){slug oldSlugs}}";
    let r = s
        .gql(&admin.auth, change, json!({"i": a, "s": "emea-q3"}))
        .await;
    assert_eq!(
        data(&r)["changeProjectSlug"],
        json!({"slug": "emea-q3", "oldSlugs": ["emea-revenue-q3"]})
    );
    // The old slug still finds the project (and answers with the current slug)…
    let r = s
        .gql(
            &admin.auth,
            "query($s:String!){project(slug:$s){id slug}}",
            json!({"s": "emea-revenue-q3"}),
        )
        .await;
    assert_eq!(data(&r)["project"], json!({"id": a, "slug": "emea-q3"}));
    // …and stays reserved for it while it redirects.
    let r = s
        .gql(
            &admin.auth,
            create,
            json!({"f": f, "n": "Squatter", "s": "emea-revenue-q3"}),
        )
        .await;
    assert_eq!(code(&r), "CONFLICT");
    assert!(message(&r).contains("redirects"), "{r}");
    // The project itself may take its old slug back.
    let r = s
        .gql(&admin.auth, change, json!({"i": a, "s": "emea-revenue-q3"}))
        .await;
    assert_eq!(
        data(&r)["changeProjectSlug"],
        json!({"slug": "emea-revenue-q3", "oldSlugs": ["emea-q3"]})
    );

    let missing = s
        .gql(
            &admin.auth,
            "query($s:String!){project(slug:$s){id}}",
            json!({"s": "does-not-exist"}),
        )
        .await;
    assert_eq!(code(&missing), "NOT_FOUND");
    let both = s
        .gql(
            &admin.auth,
            "query{project(id:\"x\", slug:\"y\"){id}}",
            json!({}),
        )
        .await;
    assert_eq!(code(&both), "INVALID_INPUT");
    let garbage = s
        .gql(
            &admin.auth,
            "query{project(id:\"' OR 1=1 --\"){id}}",
            json!({}),
        )
        .await;
    assert_eq!(code(&garbage), "NOT_FOUND");
}

#[tokio::test]
async fn folders_rename_move_and_delete_with_clear_refusals() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let root = s.folder(&admin, None, "Root").await;
    let child = s.folder(&admin, Some(&root), "Child").await;
    let grandchild = s.folder(&admin, Some(&child), "Grandchild").await;
    s.project(&admin, &grandchild, "Deep Project").await;

    let dup = s
        .gql(
            &admin.auth,
            "mutation($p:ID){createFolder(parentId:$p,name:\"Child\"){id}}",
            json!({"p": root}),
        )
        .await;
    assert_eq!(code(&dup), "CONFLICT");
    let long = s
        .gql(
            &admin.auth,
            "mutation($n:String!){createFolder(name:$n){id}}",
            json!({"n": "x".repeat(201)}),
        )
        .await;
    assert_eq!(code(&long), "INVALID_INPUT");
    let blank = s
        .gql(
            &admin.auth,
            "mutation{createFolder(name:\"   \"){id}}",
            json!({}),
        )
        .await;
    assert_eq!(code(&blank), "INVALID_INPUT");

    let r = s
        .gql(
            &admin.auth,
            "mutation($i:ID!){renameFolder(id:$i,name:\"Kid\"){name}}",
            json!({"i": child}),
        )
        .await;
    assert_eq!(data(&r)["renameFolder"]["name"], "Kid");
    let cycle = s
        .gql(
            &admin.auth,
            "mutation($i:ID!,$p:ID){moveFolder(id:$i,parentId:$p){id}}",
            json!({"i": root, "p": grandchild}),
        )
        .await;
    assert_eq!(code(&cycle), "INVALID_INPUT");

    let del = "mutation($i:ID!,$r:Boolean){deleteFolder(id:$i,recursive:$r)}";
    let refused = s
        .gql(&admin.auth, del, json!({"i": root, "r": false}))
        .await;
    assert_eq!(code(&refused), "NOT_EMPTY");
    let r = s
        .gql(&admin.auth, "{projects{edges{node{name}}}}", json!({}))
        .await;
    assert_eq!(
        data(&r)["projects"]["edges"].as_array().unwrap().len(),
        1,
        "a refused delete changes nothing"
    );
    data(&s.gql(&admin.auth, del, json!({"i": root, "r": true})).await);
    let r = s
        .gql(
            &admin.auth,
            "{projects{edges{node{name}}} folders{edges{node{name}}}}",
            json!({}),
        )
        .await;
    assert_eq!(data(&r)["projects"]["edges"], json!([]));
    assert_eq!(data(&r)["folders"]["edges"], json!([]));
    assert_eq!(
        code(
            &s.gql(
                &admin.auth,
                "query($i:ID!){folder(id:$i){id}}",
                json!({"i": grandchild})
            )
            .await
        ),
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn lists_are_relay_connections() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let f = s.folder(&admin, None, "Many").await;
    for i in 0..5 {
        s.project(&admin, &f, &format!("Project {i}")).await;
    }
    let q = "query($a:String){projects(first:2, after:$a){edges{cursor node{name}} pageInfo{hasNextPage endCursor}}}";
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let r = s.gql(&admin.auth, q, json!({"a": after})).await;
        let p = &data(&r)["projects"];
        names.extend(
            p["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["name"].as_str().unwrap().to_owned()),
        );
        if !p["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = Some(p["pageInfo"]["endCursor"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        names,
        (0..5).map(|i| format!("Project {i}")).collect::<Vec<_>>()
    );
    assert_eq!(
        code(
            &s.gql(
                &admin.auth,
                "{projects(first:1000){edges{cursor}}}",
                json!({})
            )
            .await
        ),
        "INVALID_INPUT"
    );
    assert_eq!(
        code(
            &s.gql(
                &admin.auth,
                "{projects(after:\"garbage\"){edges{cursor}}}",
                json!({})
            )
            .await
        ),
        "INVALID_INPUT"
    );
}

#[tokio::test]
async fn virtual_roots_are_admin_shortcuts_shown_to_who_can_see_them() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let dana = s.user(&admin, "dana").await;
    let shared = s.folder(&admin, None, "Shared").await;
    let secret = s.folder(&admin, None, "Secret").await;
    let m = "mutation($n:String!,$f:ID!){createVirtualRoot(name:$n,folderId:$f){id}}";
    data(
        &s.gql(&admin.auth, m, json!({"n": "Published", "f": shared}))
            .await,
    );
    data(
        &s.gql(&admin.auth, m, json!({"n": "Board", "f": secret}))
            .await,
    );
    assert_eq!(
        code(
            &s.gql(&dana.auth, m, json!({"n": "Mine", "f": shared}))
                .await
        ),
        "FORBIDDEN"
    );
    data(
        &s.grant(
            &admin,
            &format!("user:{}", dana.id),
            &format!("folder:{shared}"),
            "VIEWER",
        )
        .await,
    );
    let r = s
        .gql(&dana.auth, "{virtualRoots{name folder{name}}}", json!({}))
        .await;
    assert_eq!(
        data(&r)["virtualRoots"],
        json!([{"name": "Published", "folder": {"name": "Shared"}}])
    );
    let r = s.gql(&admin.auth, "{virtualRoots{name}}", json!({})).await;
    assert_eq!(data(&r)["virtualRoots"].as_array().unwrap().len(), 2);
}

/// Folders at the top are admins' unless an admin opens them to everyone; each maker then
/// manages the folder it made, which others do not see.
#[tokio::test]
async fn root_folders_are_for_admins_unless_an_admin_opens_them() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let ria = s.user(&admin, "ria").await;
    let otto = s.user(&admin, "otto").await;
    let make = "mutation($n:String!){createFolder(name:$n){id role}}";
    let open = "mutation($o:Boolean!){setRootFolderCreation(open:$o){membersCreateRootFolders}}";
    let r = s.gql(&ria.auth, make, json!({"n": "Mine"})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let r = s.gql(&ria.auth, open, json!({"o": true})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");

    let r = s.gql(&admin.auth, open, json!({"o": true})).await;
    assert_eq!(
        data(&r)["setRootFolderCreation"]["membersCreateRootFolders"],
        true
    );
    let r = s.gql(&ria.auth, make, json!({"n": "Mine"})).await;
    assert_eq!(data(&r)["createFolder"]["role"], "MANAGER", "{r}");
    let mine = data(&r)["createFolder"]["id"].as_str().unwrap().to_owned();
    s.folder(&ria, Some(&mine), "Inside").await;
    let r = s.gql(&otto.auth, "{folders{nodes{name}}}", json!({})).await;
    assert_eq!(
        data(&r)["folders"]["nodes"],
        json!([]),
        "not shared with otto"
    );
    // A token scoped to ria's folder reaches nothing at the top.
    let session = s.session("ria", PASSWORD).await;
    let m = "mutation($s:String){createApiToken(name:\"scoped\",scope:$s){token}}";
    let r = s
        .gql(&session, m, json!({"s": format!("folder:{mine}")}))
        .await;
    let scoped = Auth::Bearer(data(&r)["createApiToken"]["token"].as_str().unwrap().into());
    let r = s.gql(&scoped, make, json!({"n": "Escape"})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");

    let r = s.gql(&admin.auth, open, json!({"o": false})).await;
    assert_eq!(
        data(&r)["setRootFolderCreation"]["membersCreateRootFolders"],
        false
    );
    let r = s.gql(&ria.auth, make, json!({"n": "Another"})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let q = "{auditEvents(filter:{actionPrefix:\"settings.root_folders\"}){nodes{detail}}}";
    let r = s.gql(&admin.auth, q, json!({})).await;
    assert_eq!(
        data(&r)["auditEvents"]["nodes"],
        json!([{"detail": "admins only"}, {"detail": "everyone"}])
    );
}

/// A project moved into another team's folder belongs to that folder's manager from then
/// on (audited); into a folder only admins manage, it keeps its owner.
#[tokio::test]
async fn a_moved_project_belongs_to_its_new_folders_manager() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let (mona, bob) = (s.user(&admin, "mona").await, s.user(&admin, "bob").await);
    let (sales, ops) = (
        s.folder(&admin, None, "Sales").await,
        s.folder(&admin, None, "Ops").await,
    );
    let archive = s.folder(&admin, None, "Archive").await;
    for (who, folder) in [(&mona, &sales), (&bob, &ops)] {
        let (subject, object) = (format!("user:{}", who.id), format!("folder:{folder}"));
        data(&s.grant(&admin, &subject, &object, "MANAGER").await);
    }
    // Mona makes a project in her folder: she owns it.
    let m = "mutation($s:String!){grantServerPermission(subject:$s,permission:PROJECT_EDITOR)}";
    let r = s
        .gql(&admin.auth, m, json!({"s": format!("user:{}", mona.id)}))
        .await;
    data(&r);
    let (project, _) = s.project(&mona, &sales, "Forecast").await;
    let role = |who: &Actor| {
        let vars = json!({"p": project});
        let auth = who.auth.clone();
        let s = &s;
        async move {
            let r = s
                .gql(&auth, "query($p:ID!){project(id:$p){role}}", vars)
                .await;
            r["data"]["project"]["role"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| code(&r))
        }
    };
    assert_eq!(role(&mona).await, "OWNER");
    // Mona may not move it into Ops, which she cannot edit.
    let mv = "mutation($p:ID!,$f:ID!){moveProject(id:$p,folderId:$f){folderId role}}";
    let r = s.gql(&mona.auth, mv, json!({"p": project, "f": ops})).await;
    assert!(
        ["FORBIDDEN", "NOT_FOUND"].contains(&code(&r).as_str()),
        "{r}"
    );
    assert_eq!(role(&bob).await, "NOT_FOUND");

    // Moved into Ops by an admin: Bob, who manages Ops, owns it; Mona kept no role there.
    let r = s
        .gql(&admin.auth, mv, json!({"p": project, "f": ops}))
        .await;
    assert_eq!(data(&r)["moveProject"]["folderId"], ops.as_str(), "{r}");
    assert_eq!(role(&bob).await, "OWNER");
    assert_eq!(role(&mona).await, "NOT_FOUND");
    let q = "{auditEvents(first:1,filter:{actionPrefix:\"project.move\"}){nodes{detail}}}";
    let r = s.gql(&admin.auth, q, json!({})).await;
    let detail = data(&r)["auditEvents"]["nodes"][0]["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        detail.contains(&format!("owner now user:{}", bob.id)),
        "{detail}"
    );

    // Into a folder only admins manage: Bob stays its owner.
    let r = s
        .gql(&admin.auth, mv, json!({"p": project, "f": archive}))
        .await;
    assert_eq!(data(&r)["moveProject"]["folderId"], archive.as_str(), "{r}");
    assert_eq!(role(&bob).await, "OWNER");
}
