//! The index must answer exactly what casbin answers from the same lines.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vitrine_core::Role;
use vitrine_storage::{PolicyLine, Store};

use crate::{Authz, Object, Subject};

async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("surrealkv://{}", dir.path().join("db").display());
    (
        Store::open(
            &url,
            &vitrine_storage::ArtifactConfig::in_data_dir(dir.path()),
        )
        .await
        .unwrap(),
        dir,
    )
}

/// A random forest of folders with projects, users in random groups, random grants.
fn random_lines(rng: &mut StdRng) -> (Vec<PolicyLine>, Vec<String>, Vec<String>) {
    let mut lines = Vec::new();
    let folders: Vec<String> = (0..12).map(|i| format!("folder:f{i}")).collect();
    for (i, f) in folders.iter().enumerate().skip(1) {
        if rng.random_bool(0.8) {
            lines.push(PolicyLine::new(
                "g2",
                f,
                &folders[rng.random_range(0..i)],
                "",
            ));
        }
    }
    let projects: Vec<String> = (0..10).map(|i| format!("project:p{i}")).collect();
    for p in &projects {
        lines.push(PolicyLine::new(
            "g2",
            p,
            &folders[rng.random_range(0..folders.len())],
            "",
        ));
    }
    let users: Vec<String> = (0..6).map(|i| format!("user:u{i}")).collect();
    let groups: Vec<String> = (0..3).map(|i| format!("group:g{i}")).collect();
    for u in &users {
        for g in &groups {
            if rng.random_bool(0.3) {
                lines.push(PolicyLine::new("g", u, g, ""));
            }
        }
    }
    let subjects: Vec<&String> = users.iter().chain(groups.iter()).collect();
    let objects: Vec<&String> = folders.iter().chain(projects.iter()).collect();
    let roles = [Role::Viewer, Role::Editor, Role::Manager, Role::Owner];
    for _ in 0..25 {
        let s = subjects[rng.random_range(0..subjects.len())];
        let o = objects[rng.random_range(0..objects.len())];
        lines.push(PolicyLine::new(
            "p",
            s,
            o,
            roles[rng.random_range(0..roles.len())].as_str(),
        ));
    }
    let all_objects = objects.into_iter().cloned().collect();
    (lines, users, all_objects)
}

#[tokio::test]
async fn index_agrees_with_casbin_on_random_policies() {
    for seed in 0..4u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let (store, _dir) = store().await;
        let (lines, users, objects) = random_lines(&mut rng);
        store.add_policy_lines(&lines).await.unwrap();
        let authz = Authz::load(store).await.unwrap();
        let mut checked = 0;
        for u in &users {
            let uid = u.trim_start_matches("user:");
            for o in &objects {
                let object = Object::parse(o).unwrap();
                let role = authz.effective_role(uid, &object);
                for needed in [Role::Viewer, Role::Editor, Role::Manager, Role::Owner] {
                    let casbin = authz
                        .casbin_decision(uid, &object, needed.as_str())
                        .await
                        .unwrap();
                    assert_eq!(
                        role >= needed,
                        casbin,
                        "seed {seed}: {u} needs {needed} on {o}; index says {role}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 6 * 22 * 4);
    }
}

#[tokio::test]
async fn grants_survive_a_reload_and_the_last_admin_stays() {
    let (store, _dir) = store().await;
    let authz = Authz::load(store.clone()).await.unwrap();
    let alice = Subject::User("alice".into());
    authz
        .set_parent(
            &Object::Project("p".into()),
            Some(&Object::Folder("f".into())),
        )
        .await
        .unwrap();
    authz
        .grant_role(&alice, &Object::Folder("f".into()), Role::Editor)
        .await
        .unwrap();
    authz
        .grant_permission(&alice, vitrine_core::ServerPermission::Admin)
        .await
        .unwrap();
    assert!(
        authz
            .revoke_permission(&alice, vitrine_core::ServerPermission::Admin)
            .await
            .is_err(),
        "last admin kept"
    );
    let again = Authz::load(store).await.unwrap();
    // Admins are owners everywhere; check the grant itself through the index.
    assert_eq!(
        again.snapshot().effective_role("user:alice", "project:p"),
        Role::Editor
    );
    assert!(again.is_admin("alice"));
}

/// A scoped principal answers its user's role on the scope and below, nothing elsewhere,
/// and holds no server permission, on every object of random policy sets.
#[tokio::test]
async fn a_scoped_principal_holds_its_roles_inside_the_scope_only() {
    use crate::Principal;
    for seed in 0..4u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let (store, _dir) = store().await;
        let (mut lines, users, objects) = random_lines(&mut rng);
        lines.push(PolicyLine::new("p", &users[0], "instance", "admin"));
        store.add_policy_lines(&lines).await.unwrap();
        let authz = Authz::load(store).await.unwrap();
        let index = authz.snapshot();
        for u in &users {
            let uid = u.trim_start_matches("user:");
            for s in &objects {
                let scope = Object::parse(s).unwrap();
                let who = Principal::scoped(uid, Some(&scope));
                assert!(!authz.is_admin(who), "seed {seed}: {u} scoped to {s}");
                for o in &objects {
                    let object = Object::parse(o).unwrap();
                    let inside = index.chain(o).any(|a| a == s);
                    let expected = if inside {
                        authz.effective_role(uid, &object)
                    } else {
                        Role::NoAccess
                    };
                    assert_eq!(
                        authz.effective_role(who, &object),
                        expected,
                        "seed {seed}: {u} scoped to {s}, on {o}"
                    );
                    let below = o != s && index.chain(s).any(|a| a == o);
                    let listed = below && authz.effective_role(uid, &scope) >= Role::Viewer;
                    assert_eq!(authz.has_grant_below(who, &object), listed);
                }
            }
        }
        assert!(authz.is_admin(users[0].trim_start_matches("user:")));
    }
}
