use serde_json::json;

use crate::support::*;

/// Admin, a folder tree, a project inside it, and users holding each role on the project.
struct World {
    s: TestServer,
    admin: Actor,
    folder: String,
    project: String,
    viewer: Actor,
    editor: Actor,
    manager: Actor,
    outsider: Actor,
}

async fn world() -> World {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let top = s.folder(&admin, None, "Company").await;
    let folder = s.folder(&admin, Some(&top), "Analytics").await;
    let (project, _) = s.project(&admin, &folder, "Churn").await;
    let viewer = s.user(&admin, "vera").await;
    let editor = s.user(&admin, "eddie").await;
    let manager = s.user(&admin, "mona").await;
    let outsider = s.user(&admin, "otto").await;
    for (who, role) in [
        (&viewer, "VIEWER"),
        (&editor, "EDITOR"),
        (&manager, "MANAGER"),
    ] {
        data(
            &s.grant(
                &admin,
                &format!("user:{}", who.id),
                &format!("project:{project}"),
                role,
            )
            .await,
        );
    }
    World {
        s,
        admin,
        folder,
        project,
        viewer,
        editor,
        manager,
        outsider,
    }
}

#[tokio::test]
async fn every_role_against_every_project_action() {
    let w = world().await;
    let s = &w.s;
    let read = "query($i:ID!){project(id:$i){name role}}";
    let rename = "mutation($i:ID!){renameProject(id:$i,name:\"Churn v2\"){name}}";
    let slug = "mutation($i:ID!){changeProjectSlug(id:$i,slug:\"churn-model\"){slug}}";
    let ability = "mutation($i:ID!){setProjectAbility(id:$i,ability:DRILL,enabled:false){id}}";
    let delete = "mutation($i:ID!){deleteProject(id:$i)}";
    let v = json!({"i": w.project});

    /// What each role may do: `None` = allowed, `Some(code)` = refused with that code.
    struct Expect<'a> {
        actor: &'a Actor,
        read: Option<&'static str>,
        rename: Option<&'static str>,
        manage: Option<&'static str>,
    }
    let cases = [
        Expect {
            actor: &w.outsider,
            read: Some("NOT_FOUND"),
            rename: Some("NOT_FOUND"),
            manage: Some("NOT_FOUND"),
        },
        Expect {
            actor: &w.viewer,
            read: None,
            rename: Some("FORBIDDEN"),
            manage: Some("FORBIDDEN"),
        },
        Expect {
            actor: &w.editor,
            read: None,
            rename: None,
            manage: Some("FORBIDDEN"),
        },
        Expect {
            actor: &w.manager,
            read: None,
            rename: None,
            manage: None,
        },
    ];
    for Expect {
        actor,
        read: r_read,
        rename: r_rename,
        manage: r_manage,
    } in cases
    {
        let r = s.gql(&actor.auth, read, v.clone()).await;
        match r_read {
            None => assert!(
                r["data"]["project"]["name"].is_string(),
                "{}: {r}",
                actor.username
            ),
            Some(c) => assert_eq!(code(&r), c, "{} read", actor.username),
        }
        let r = s.gql(&actor.auth, rename, v.clone()).await;
        match r_rename {
            None => assert_eq!(
                data(&r)["renameProject"]["name"],
                "Churn v2",
                "{}",
                actor.username
            ),
            Some(c) => assert_eq!(code(&r), c, "{} rename", actor.username),
        }
        for m in [slug, ability] {
            let r = s.gql(&actor.auth, m, v.clone()).await;
            match r_manage {
                None => {
                    data(&r);
                }
                Some(c) => assert_eq!(code(&r), c, "{} manage: {m}", actor.username),
            }
        }
    }
    let r = s.gql(&w.viewer.auth, read, v.clone()).await;
    assert_eq!(data(&r)["project"]["role"], "VIEWER");
    // Managers delete; editors do not.
    assert_eq!(
        code(&s.gql(&w.editor.auth, delete, v.clone()).await),
        "FORBIDDEN"
    );
    data(&s.gql(&w.manager.auth, delete, v.clone()).await);
    assert_eq!(code(&s.gql(&w.manager.auth, read, v).await), "NOT_FOUND");
}

#[tokio::test]
async fn managers_grant_up_to_their_own_role() {
    let w = world().await;
    let s = &w.s;
    let target = format!("user:{}", w.outsider.id);
    let obj = format!("project:{}", w.project);
    assert_eq!(
        code(&s.grant(&w.editor, &target, &obj, "VIEWER").await),
        "FORBIDDEN"
    );
    data(&s.grant(&w.manager, &target, &obj, "MANAGER").await);
    let r = s.grant(&w.manager, &target, &obj, "OWNER").await;
    assert_eq!(code(&r), "FORBIDDEN");
    assert!(message(&r).contains("cannot grant more"), "{r}");
    data(&s.grant(&w.admin, &target, &obj, "OWNER").await);
    let r = s
        .gql(
            &w.manager.auth,
            "mutation($s:String!,$o:String!){revokeRole(subject:$s,object:$o)}",
            json!({"s": target, "o": obj}),
        )
        .await;
    assert_eq!(data(&r)["revokeRole"], true);
    assert_eq!(
        code(
            &s.gql(
                &w.outsider.auth,
                "query($i:ID!){project(id:$i){id}}",
                json!({"i": w.project})
            )
            .await
        ),
        "NOT_FOUND"
    );
    // Bad subjects and objects are refused with the field named.
    let r = s.grant(&w.admin, "alice", &obj, "VIEWER").await;
    assert_eq!(code(&r), "INVALID_INPUT");
    assert!(message(&r).starts_with("subject"), "{r}");
    assert_eq!(
        code(&s.grant(&w.admin, &target, "project:nope", "VIEWER").await),
        "NOT_FOUND"
    );
    assert_eq!(
        code(&s.grant(&w.admin, "user:nope", &obj, "VIEWER").await),
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn a_folder_role_is_the_floor() {
    let w = world().await;
    let s = &w.s;
    let otto = format!("user:{}", w.outsider.id);
    data(
        &s.grant(&w.admin, &otto, &format!("folder:{}", w.folder), "EDITOR")
            .await,
    );
    // Inherited: otto edits the project without any grant on it.
    let r = s
        .gql(
            &w.outsider.auth,
            "query($i:ID!){project(id:$i){role}}",
            json!({"i": w.project}),
        )
        .await;
    assert_eq!(data(&r)["project"]["role"], "EDITOR");
    // Less than the floor is refused, with the reason.
    let r = s
        .grant(&w.admin, &otto, &format!("project:{}", w.project), "VIEWER")
        .await;
    assert_eq!(code(&r), "POLICY_VIOLATION");
    assert!(message(&r).contains("floor"), "{r}");
    // More is fine.
    data(
        &s.grant(
            &w.admin,
            &otto,
            &format!("project:{}", w.project),
            "MANAGER",
        )
        .await,
    );
    // A folder grant that would sit above a lower grant below it is refused too.
    let vera = format!("user:{}", w.viewer.id);
    let r = s
        .grant(&w.admin, &vera, &format!("folder:{}", w.folder), "EDITOR")
        .await;
    assert_eq!(code(&r), "POLICY_VIOLATION", "{r}");
    let r = s
        .gql(
            &w.viewer.auth,
            "query($i:ID!){project(id:$i){role}}",
            json!({"i": w.project}),
        )
        .await;
    assert_eq!(
        data(&r)["project"]["role"],
        "VIEWER",
        "the refused grant changed nothing"
    );
}

#[tokio::test]
async fn lists_only_show_what_the_caller_may_see() {
    let w = world().await;
    let s = &w.s;
    let other = s.folder(&w.admin, None, "Hidden").await;
    s.project(&w.admin, &other, "Secret Plan").await;
    let names = |r: &serde_json::Value, key: &str| -> Vec<String> {
        data(r)[key]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = s
        .gql(&w.viewer.auth, "{projects{edges{node{name}}}}", json!({}))
        .await;
    assert_eq!(names(&r, "projects"), vec!["Churn"]);
    let r = s
        .gql(&w.outsider.auth, "{projects{edges{node{name}}}}", json!({}))
        .await;
    assert!(names(&r, "projects").is_empty());
    // Folders above something shared are listed (role NO_ACCESS) so the path stays
    // navigable; unrelated folders are not.
    let r = s
        .gql(
            &w.viewer.auth,
            "{folders{edges{node{name role}}}}",
            json!({}),
        )
        .await;
    assert_eq!(
        data(&r)["folders"]["edges"],
        json!([{"node": {"name": "Company", "role": "NO_ACCESS"}}])
    );
    let r = s
        .gql(&w.outsider.auth, "{folders{edges{node{name}}}}", json!({}))
        .await;
    assert!(names(&r, "folders").is_empty());
    let r = s
        .gql(&w.admin.auth, "{projects{edges{node{name}}}}", json!({}))
        .await;
    assert_eq!(names(&r, "projects").len(), 2);
    // Users are listed for admins and list_directory holders only.
    assert_eq!(
        code(
            &s.gql(&w.viewer.auth, "{users{edges{node{username}}}}", json!({}))
                .await
        ),
        "FORBIDDEN"
    );
    let m = "mutation($s:String!){grantServerPermission(subject:$s,permission:LIST_DIRECTORY)}";
    data(
        &s.gql(
            &w.admin.auth,
            m,
            json!({"s": format!("user:{}", w.viewer.id)}),
        )
        .await,
    );
    let r = s
        .gql(&w.viewer.auth, "{users{edges{node{username}}}}", json!({}))
        .await;
    assert_eq!(data(&r)["users"]["edges"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn groups_carry_grants_to_their_members() {
    let w = world().await;
    let s = &w.s;
    let r = s
        .gql(
            &w.admin.auth,
            "mutation{createGroup(name:\"Analysts\"){id subject}}",
            json!({}),
        )
        .await;
    let group = data(&r)["createGroup"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        code(
            &s.gql(
                &w.admin.auth,
                "mutation{createGroup(name:\"Analysts\"){id}}",
                json!({})
            )
            .await
        ),
        "CONFLICT"
    );
    let rename = "mutation($g:ID!,$n:String!){renameGroup(id:$g,name:$n){name}}";
    let r = s
        .gql(&w.manager.auth, rename, json!({"g": group, "n": "Data"}))
        .await;
    assert_eq!(code(&r), "FORBIDDEN");
    let r = s
        .gql(&w.admin.auth, rename, json!({"g": group, "n": "Data"}))
        .await;
    assert_eq!(data(&r)["renameGroup"]["name"], "Data");
    let r = s
        .gql(&w.admin.auth, rename, json!({"g": group, "n": " "}))
        .await;
    assert_eq!(code(&r), "INVALID_INPUT");
    data(
        &s.grant(
            &w.admin,
            &format!("group:{group}"),
            &format!("folder:{}", w.folder),
            "VIEWER",
        )
        .await,
    );
    let read = "query($i:ID!){project(id:$i){role}}";
    assert_eq!(
        code(&s.gql(&w.outsider.auth, read, json!({"i": w.project})).await),
        "NOT_FOUND"
    );
    let add = "mutation($g:ID!,$u:ID!){addGroupMember(groupId:$g,userId:$u){members{username}}}";
    assert_eq!(
        code(
            &s.gql(
                &w.manager.auth,
                add,
                json!({"g": group, "u": w.outsider.id})
            )
            .await
        ),
        "FORBIDDEN"
    );
    let r = s
        .gql(&w.admin.auth, add, json!({"g": group, "u": w.outsider.id}))
        .await;
    assert_eq!(
        data(&r)["addGroupMember"]["members"],
        json!([{"username": "otto"}])
    );
    assert_eq!(
        data(&s.gql(&w.outsider.auth, read, json!({"i": w.project})).await)["project"]["role"],
        "VIEWER"
    );
    data(
        &s.gql(
            &w.admin.auth,
            "mutation($g:ID!){deleteGroup(id:$g)}",
            json!({"g": group}),
        )
        .await,
    );
    assert_eq!(
        code(&s.gql(&w.outsider.auth, read, json!({"i": w.project})).await),
        "NOT_FOUND",
        "grants go with the group"
    );
}

#[tokio::test]
async fn default_role_abilities_and_creation_rights() {
    let w = world().await;
    let s = &w.s;
    let read = "query($i:ID!){project(id:$i){role abilities{ability enabled projectValue disabledByAdmin}}}";
    assert_eq!(
        code(&s.gql(&w.outsider.auth, read, json!({"i": w.project})).await),
        "NOT_FOUND"
    );
    assert_eq!(
        code(
            &s.gql(
                &w.viewer.auth,
                "mutation{setDefaultRole(role:VIEWER){defaultRole}}",
                json!({})
            )
            .await
        ),
        "FORBIDDEN"
    );
    data(
        &s.gql(
            &w.admin.auth,
            "mutation{setDefaultRole(role:VIEWER){defaultRole}}",
            json!({}),
        )
        .await,
    );
    let r = s.gql(&w.outsider.auth, read, json!({"i": w.project})).await;
    assert_eq!(
        data(&r)["project"]["role"],
        "VIEWER",
        "the instance default role applies to everyone"
    );
    let drill = |r: &serde_json::Value| {
        data(r)["project"]["abilities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["ability"] == "DRILL")
            .unwrap()
            .clone()
    };
    assert_eq!(drill(&r)["enabled"], true);
    data(
        &s.gql(
            &w.manager.auth,
            "mutation($i:ID!){setProjectAbility(id:$i,ability:DRILL,enabled:true){id}}",
            json!({"i": w.project}),
        )
        .await,
    );
    data(
        &s.gql(
            &w.admin.auth,
            "mutation{setAbilitySetting(ability:DRILL,disabled:true){defaultRole}}",
            json!({}),
        )
        .await,
    );
    let r = s.gql(&w.outsider.auth, read, json!({"i": w.project})).await;
    assert_eq!(
        drill(&r),
        json!({"ability": "DRILL", "enabled": false, "projectValue": true, "disabledByAdmin": true})
    );

    // Creating projects needs editor on the folder and the project_editor permission.
    let create = "mutation($f:ID!){createProject(folderId:$f,name:\"New\"){role}}";
    let f = json!({"f": w.folder});
    let eve = format!("user:{}", w.editor.id);
    data(
        &s.grant(&w.admin, &eve, &format!("folder:{}", w.folder), "EDITOR")
            .await
            .clone(),
    );
    assert_eq!(
        code(&s.gql(&w.editor.auth, create, f.clone()).await),
        "FORBIDDEN"
    );
    data(
        &s.gql(
            &w.admin.auth,
            "mutation($s:String!){grantServerPermission(subject:$s,permission:PROJECT_EDITOR)}",
            json!({"s": eve}),
        )
        .await,
    );
    let r = s.gql(&w.editor.auth, create, f.clone()).await;
    assert_eq!(
        data(&r)["createProject"]["role"],
        "OWNER",
        "the creator owns the project"
    );
    assert_eq!(code(&s.gql(&w.viewer.auth, create, f).await), "FORBIDDEN");
    // Top-level folders are for admins.
    assert_eq!(
        code(
            &s.gql(
                &w.manager.auth,
                "mutation{createFolder(name:\"Mine\"){id}}",
                json!({})
            )
            .await
        ),
        "FORBIDDEN"
    );
}

/// A project's managers set the organisation's role on it, above or below the instance
/// default; grants still apply on top; editors may not; more than EDITOR is refused.
#[tokio::test]
async fn a_projects_managers_set_the_organisations_role_on_it() {
    let w = world().await;
    let s = &w.s;
    let read = "query($i:ID!){project(id:$i){role defaultRole}}";
    let set = "mutation($i:ID!,$r:Role){setProjectDefaultRole(id:$i,role:$r){defaultRole}}";
    let outsider = &w.outsider.auth;
    let outsider_sees = |p: &str| {
        let vars = json!({"i": p});
        async move { s.gql(outsider, read, vars).await }
    };
    assert_eq!(code(&outsider_sees(&w.project).await), "NOT_FOUND");
    for who in [&w.editor, &w.viewer] {
        let r = s
            .gql(&who.auth, set, json!({"i": w.project, "r": "VIEWER"}))
            .await;
        assert_eq!(code(&r), "FORBIDDEN", "{r}");
    }
    let r = s
        .gql(
            &w.manager.auth,
            set,
            json!({"i": w.project, "r": "MANAGER"}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    let r = s
        .gql(&w.manager.auth, set, json!({"i": w.project, "r": "EDITOR"}))
        .await;
    assert_eq!(data(&r)["setProjectDefaultRole"]["defaultRole"], "EDITOR");
    assert_eq!(
        data(&outsider_sees(&w.project).await)["project"],
        json!({"role": "EDITOR", "defaultRole": "EDITOR"})
    );
    let (other, _) = s.project(&w.admin, &w.folder, "Retention").await;
    let r = outsider_sees(&other).await;
    assert_eq!(code(&r), "NOT_FOUND", "that project only");
    // Lower than the instance default: closed to everyone without a grant.
    let m = "mutation{setDefaultRole(role:VIEWER){defaultRole}}";
    data(&s.gql(&w.admin.auth, m, json!({})).await);
    let r = s
        .gql(
            &w.manager.auth,
            set,
            json!({"i": w.project, "r": "NO_ACCESS"}),
        )
        .await;
    assert_eq!(
        data(&r)["setProjectDefaultRole"]["defaultRole"],
        "NO_ACCESS"
    );
    assert_eq!(code(&outsider_sees(&w.project).await), "NOT_FOUND");
    assert_eq!(
        data(&outsider_sees(&other).await)["project"]["role"],
        "VIEWER"
    );
    let r = s.gql(&w.editor.auth, read, json!({"i": w.project})).await;
    assert_eq!(
        data(&r)["project"]["role"],
        "EDITOR",
        "a grant still applies"
    );
    // A folder's grant stays the floor for whoever holds it.
    let (who, on) = (
        format!("user:{}", w.outsider.id),
        format!("folder:{}", w.folder),
    );
    data(&s.grant(&w.admin, &who, &on, "VIEWER").await);
    assert_eq!(
        data(&outsider_sees(&w.project).await)["project"]["role"],
        "VIEWER"
    );

    // Null follows the instance default again.
    let r = s
        .gql(&w.manager.auth, set, json!({"i": w.project, "r": null}))
        .await;
    assert!(data(&r)["setProjectDefaultRole"]["defaultRole"].is_null());
    let q = "{auditEvents(filter:{actionPrefix:\"project.set_default_role\"}){nodes{actorName detail}}}";
    let r = s.gql(&w.admin.auth, q, json!({})).await;
    let details: Vec<&str> = data(&r)["auditEvents"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert_eq!(details, ["the instance default", "no_access", "editor"]);
}
