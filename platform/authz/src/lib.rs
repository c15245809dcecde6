//! `vitrine-authz`: who may do what, above `vitrine-storage` and below the engine and API.
//!
//! casbin holds the model (schema/casbin/model.conf) and the policy lines, persisted in
//! SurrealDB through [`adapter::SurrealAdapter`]. Every request is answered from an
//! [`Index`] rebuilt from those same lines whenever they change, so a check costs a few
//! hash lookups however many policies exist. Rules enforced here and nowhere else:
//! roles grow down the folder tree (the folder floor) and may be raised below, never
//! lowered; admins may do everything; the instance default role applies to everyone.

mod adapter;
mod error;
mod explain;
mod import;
mod index;
mod model;
mod principal;
mod settings;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use casbin::{CoreApi, Enforcer, MgmtApi};
use parking_lot::RwLock;
use vitrine_core::{Role, ServerPermission, floor_violation};
use vitrine_storage::{PolicyLine, Store};

pub use error::{AuthzError, AuthzResult};
pub use explain::Explanation;
pub use import::{ImportSummary, KnownIds, MAX_IMPORT_LINES};
pub use index::{Contribution, Index, MAX_DEPTH};
pub use model::{Action, Grant, MODEL_CONF, Object, Subject};
pub use principal::Principal;
pub use settings::InstanceSettings;

/// The authorization service. One per process; cheap to share behind an `Arc`.
pub struct Authz {
    store: Store,
    /// Mutations go through casbin (which writes through the adapter) one at a time.
    enforcer: tokio::sync::Mutex<Enforcer>,
    /// Readers clone the `Arc` and never wait for a writer for longer than that clone.
    index: RwLock<Arc<Index>>,
    /// Shared, not copied, with every request that reads it (the viewer path does).
    settings: RwLock<Arc<InstanceSettings>>,
    /// Told of every change made through this process, so the other nodes of a cluster
    /// can [`refresh`](Authz::refresh) what they hold.
    announce: std::sync::OnceLock<Box<dyn Fn(Change) + Send + Sync>>,
}

/// What changed in the policies or the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Grants, memberships, the folder tree.
    Policies,
    /// The instance settings.
    Settings,
}

impl Authz {
    pub async fn load(store: Store) -> AuthzResult<Arc<Authz>> {
        let model = casbin::DefaultModel::from_str(MODEL_CONF).await?;
        let mut enforcer =
            Enforcer::new(model, adapter::SurrealAdapter::new(store.clone())).await?;
        enforcer.enable_auto_save(true);
        let present = enforcer.get_named_grouping_policy("g3");
        let missing: Vec<Vec<String>> = import::default_lines()
            .iter()
            .map(PolicyLine::values)
            .filter(|v| !present.contains(v))
            .collect();
        if !missing.is_empty() {
            enforcer.add_named_grouping_policies("g3", missing).await?;
        }
        let settings = settings::load(&store).await?;
        let authz = Authz {
            store,
            index: RwLock::new(Arc::new(Index::build(&lines_of(&enforcer)))),
            enforcer: tokio::sync::Mutex::new(enforcer),
            settings: RwLock::new(Arc::new(settings)),
            announce: std::sync::OnceLock::new(),
        };
        Ok(Arc::new(authz))
    }

    /// The current index; a consistent view for a whole request.
    pub fn snapshot(&self) -> Arc<Index> {
        self.index.read().clone()
    }

    pub fn settings(&self) -> Arc<InstanceSettings> {
        self.settings.read().clone()
    }

    /// Is the principal an administrator? Never through a scoped credential.
    pub fn is_admin<'a>(&self, who: impl Into<Principal<'a>>) -> bool {
        self.has_permission(who, ServerPermission::Admin)
    }

    /// Does the principal hold the server permission (admins hold them all)? A scoped
    /// credential holds none, and nobody holds `project_editor` while the instance's
    /// Project Editor switch is off.
    pub fn has_permission<'a>(
        &self,
        who: impl Into<Principal<'a>>,
        permission: ServerPermission,
    ) -> bool {
        let who = who.into();
        if permission == ServerPermission::ProjectEditor && !self.settings.read().project_editing {
            return false;
        }
        who.scope.is_none()
            && self
                .snapshot()
                .has_permission(&Subject::User(who.uid.to_owned()).to_string(), permission)
    }

    /// The principal's role on a folder or project: owner for admins, otherwise the
    /// highest of the instance default role and every grant on the object or a folder
    /// above it. Outside a scoped credential's scope: no access.
    pub fn effective_role<'a>(&self, who: impl Into<Principal<'a>>, object: &Object) -> Role {
        let who = who.into();
        let index = self.snapshot();
        if !who.reaches(&index, object) {
            return Role::NoAccess;
        }
        let user = Subject::User(who.uid.to_owned()).to_string();
        if index.has_permission(&user, ServerPermission::Admin) {
            return Role::Owner;
        }
        let default = self.settings.read().default_role_on(object);
        index
            .effective_role(&user, &object.to_string())
            .max(default)
    }

    /// Is something below `object` shared with the principal? Such folders are listed
    /// (with no role) so the path to what is shared stays navigable. For a scoped
    /// credential: is its scope below `object`, and may its user see the scope?
    pub fn has_grant_below<'a>(&self, who: impl Into<Principal<'a>>, object: &Object) -> bool {
        let who = who.into();
        let index = self.snapshot();
        match who.scope {
            Some(scope) => {
                who.scope_below(&index, object)
                    && self.effective_role(who.uid, scope) >= Role::Viewer
            }
            None => index.has_grant_below(
                &Subject::User(who.uid.to_owned()).to_string(),
                &object.to_string(),
            ),
        }
    }

    /// Refuses with `Forbidden` unless the principal's role suffices for the action.
    pub fn check<'a>(
        &self,
        who: impl Into<Principal<'a>>,
        action: Action,
        object: &Object,
    ) -> AuthzResult<Role> {
        let who = who.into();
        let role = self.effective_role(who, object);
        if role >= action.required_role() {
            Ok(role)
        } else if !who.reaches(&self.snapshot(), object) {
            Err(AuthzError::Forbidden(format!(
                "{} on {object}: this credential is scoped to {} and reaches nothing outside it",
                action.as_str(),
                who.scope.map(ToString::to_string).unwrap_or_default()
            )))
        } else {
            Err(AuthzError::Forbidden(format!(
                "{} on {object} needs role {}; you have {role}",
                action.as_str(),
                action.required_role()
            )))
        }
    }

    pub fn require_permission<'a>(
        &self,
        who: impl Into<Principal<'a>>,
        permission: ServerPermission,
    ) -> AuthzResult<()> {
        let who = who.into();
        if self.has_permission(who, permission) {
            Ok(())
        } else if permission == ServerPermission::ProjectEditor
            && !self.settings.read().project_editing
        {
            Err(AuthzError::Forbidden(format!(
                "the {permission} permission is switched off on this instance: projects arrive and change only through working copies pushed by managers and holders of {}",
                ServerPermission::ProjectPublisher
            )))
        } else if let Some(scope) = who.scope {
            Err(AuthzError::Forbidden(format!(
                "needs the server permission {permission}, which a credential scoped to {scope} never carries"
            )))
        } else {
            Err(AuthzError::Forbidden(format!(
                "needs the server permission {permission}"
            )))
        }
    }

    /// Does the instance have an administrator yet? (Setup is open until it does.)
    pub fn any_admin(&self) -> bool {
        self.snapshot().any_admin()
    }

    // ---- changing policies --------------------------------------------------------

    /// Grants `role` on a folder or project, replacing the subject's previous direct role
    /// there. Refused when it would sit below a role the subject inherits from a folder
    /// above, or when it would leave lower grants of the subject below it.
    pub async fn grant_role(
        &self,
        subject: &Subject,
        object: &Object,
        role: Role,
    ) -> AuthzResult<()> {
        if matches!(object, Object::Instance) {
            return Err(AuthzError::Invalid("roles are granted on folders and projects; use server permissions for the instance".into()));
        }
        if role == Role::NoAccess {
            return Err(AuthzError::Invalid(
                "no_access is the absence of a grant: revoke the role instead".into(),
            ));
        }
        let (sub, obj) = (subject.to_string(), object.to_string());
        let mut enforcer = self.enforcer.lock().await;
        let index = self.snapshot();
        let inherited = index.inherited_role_of_subject(&sub, &obj);
        if let Some(floor) = floor_violation(inherited, role) {
            return Err(AuthzError::Violation(format!(
                "{sub} already has {floor} on a folder above {obj}; a folder's role is the floor for everything inside it, so {obj} may be granted more than {floor}, never less"
            )));
        }
        let below = index.grants_below(&sub, &obj, role);
        if !below.is_empty() {
            let list: Vec<String> = below.iter().map(|(o, r)| format!("{r} on {o}")).collect();
            return Err(AuthzError::Violation(format!(
                "granting {role} on {obj} would put {sub}'s lower grants below it under that floor ({}); raise or revoke them first",
                list.join(", ")
            )));
        }
        if let Some(old) = index.direct_role(&sub, &obj) {
            enforcer
                .remove_policy(vec![sub.clone(), obj.clone(), old.to_string()])
                .await?;
        }
        enforcer
            .add_policy(vec![sub, obj, role.to_string()])
            .await?;
        self.rebuild(&enforcer);
        Ok(())
    }

    /// Removes the subject's direct role on the object. Returns whether one existed.
    pub async fn revoke_role(&self, subject: &Subject, object: &Object) -> AuthzResult<bool> {
        let (sub, obj) = (subject.to_string(), object.to_string());
        let mut enforcer = self.enforcer.lock().await;
        let Some(old) = self.snapshot().direct_role(&sub, &obj) else {
            return Ok(false);
        };
        enforcer
            .remove_policy(vec![sub, obj, old.to_string()])
            .await?;
        self.rebuild(&enforcer);
        Ok(true)
    }

    pub async fn grant_permission(
        &self,
        subject: &Subject,
        permission: ServerPermission,
    ) -> AuthzResult<()> {
        let mut enforcer = self.enforcer.lock().await;
        let rule = vec![
            subject.to_string(),
            "instance".to_owned(),
            permission.to_string(),
        ];
        if !enforcer.has_policy(rule.clone()) {
            enforcer.add_policy(rule).await?;
        }
        self.rebuild(&enforcer);
        Ok(())
    }

    /// Refuses to remove the last administrator: an instance nobody can administer would
    /// need a database edit to recover.
    pub async fn revoke_permission(
        &self,
        subject: &Subject,
        permission: ServerPermission,
    ) -> AuthzResult<bool> {
        let mut enforcer = self.enforcer.lock().await;
        let rule = vec![
            subject.to_string(),
            "instance".to_owned(),
            permission.to_string(),
        ];
        if !enforcer.has_policy(rule.clone()) {
            return Ok(false);
        }
        if permission == ServerPermission::Admin {
            let admins = enforcer.get_filtered_policy(1, vec!["instance".into(), "admin".into()]);
            if admins.len() <= 1 {
                return Err(AuthzError::Violation(
                    "this is the last administrator; grant admin to someone else first".into(),
                ));
            }
        }
        enforcer.remove_policy(rule).await?;
        self.rebuild(&enforcer);
        Ok(true)
    }

    pub async fn add_member(&self, user_uid: &str, group_uid: &str) -> AuthzResult<()> {
        let mut enforcer = self.enforcer.lock().await;
        let rule = vec![format!("user:{user_uid}"), format!("group:{group_uid}")];
        if !enforcer.has_grouping_policy(rule.clone()) {
            enforcer.add_grouping_policy(rule).await?;
        }
        self.rebuild(&enforcer);
        Ok(())
    }

    pub async fn remove_member(&self, user_uid: &str, group_uid: &str) -> AuthzResult<bool> {
        let mut enforcer = self.enforcer.lock().await;
        let removed = enforcer
            .remove_grouping_policy(vec![
                format!("user:{user_uid}"),
                format!("group:{group_uid}"),
            ])
            .await?;
        self.rebuild(&enforcer);
        Ok(removed)
    }

    /// Removes every grant, server permission and membership naming `subject`, in one
    /// change. Refused, changing nothing, when it would leave the instance without an
    /// administrator.
    pub async fn remove_subject(&self, subject: &Subject) -> AuthzResult<()> {
        let s = subject.to_string();
        let mut enforcer = self.enforcer.lock().await;
        let remaining: Vec<PolicyLine> = lines_of(&enforcer)
            .into_iter()
            .filter(|l| {
                !(l.ptype == "p" && l.v0 == s) && !(l.ptype == "g" && (l.v0 == s || l.v1 == s))
            })
            .collect();
        if !Index::build(&remaining).any_admin() {
            return Err(AuthzError::Violation(format!(
                "{s} holds the last administrator permission; grant admin to someone else first"
            )));
        }
        enforcer.remove_filtered_policy(0, vec![s.clone()]).await?;
        enforcer
            .remove_filtered_grouping_policy(0, vec![s.clone()])
            .await?;
        enforcer.remove_filtered_grouping_policy(1, vec![s]).await?;
        self.rebuild(&enforcer);
        Ok(())
    }

    /// Members of a group (user uids), from the `g` lines.
    pub async fn members(&self, group_uid: &str) -> Vec<String> {
        let enforcer = self.enforcer.lock().await;
        let group = format!("group:{group_uid}");
        enforcer
            .get_named_grouping_policy("g")
            .into_iter()
            .filter(|r| r.get(1) == Some(&group))
            .filter_map(|r| {
                r.first()
                    .and_then(|s| s.strip_prefix("user:"))
                    .map(str::to_owned)
            })
            .collect()
    }

    /// Places an object in the folder tree (`None`: at the top). Keeps the `g2` lines, which
    /// carry the folder floor, in step with folders and projects.
    pub async fn set_parent(&self, child: &Object, parent: Option<&Object>) -> AuthzResult<()> {
        let mut enforcer = self.enforcer.lock().await;
        replace_parent(&mut enforcer, child, parent).await?;
        self.rebuild(&enforcer);
        Ok(())
    }

    /// Mirrors a parent change that storage already wrote (in the transaction of the move
    /// it belongs to) into the in-memory policies, without writing it again.
    pub async fn parent_written(&self, child: &Object, parent: &Object) -> AuthzResult<()> {
        let mut enforcer = self.enforcer.lock().await;
        enforcer.enable_auto_save(false);
        let result = replace_parent(&mut enforcer, child, Some(parent)).await;
        enforcer.enable_auto_save(true);
        result?;
        self.rebuild(&enforcer);
        Ok(())
    }

    /// The policy lines of a new project, for storage to write in the transaction that
    /// creates it: its place under `parent` and, unless the creator is an administrator
    /// (who may do everything anyway), the creator as its owner.
    pub fn new_project_lines(
        &self,
        project: &Object,
        parent: &Object,
        creator: &str,
    ) -> Vec<PolicyLine> {
        let obj = project.to_string();
        let mut lines = vec![PolicyLine::new("g2", &obj, &parent.to_string(), "")];
        if !self.is_admin(creator) {
            let owner = Subject::User(creator.to_owned()).to_string();
            lines.push(PolicyLine::new("p", &owner, &obj, &Role::Owner.to_string()));
        }
        lines
    }

    /// Mirrors lines that storage already wrote (see [`Authz::new_project_lines`]) into
    /// the in-memory policies, without writing them again.
    pub async fn lines_written(&self, lines: &[PolicyLine]) -> AuthzResult<()> {
        let mut enforcer = self.enforcer.lock().await;
        enforcer.enable_auto_save(false);
        let mut result = Ok(());
        for l in lines {
            let added = match l.ptype.as_str() {
                "p" => enforcer.add_policy(l.values()).await,
                other => enforcer.add_named_grouping_policy(other, l.values()).await,
            };
            if let Err(e) = added {
                result = Err(e);
                break;
            }
        }
        enforcer.enable_auto_save(true);
        result?;
        self.rebuild(&enforcer);
        Ok(())
    }

    /// Re-reads every line from the database; used after deletes that removed policy lines
    /// in the same transaction as the objects they named.
    pub async fn reload(&self) -> AuthzResult<()> {
        let mut enforcer = self.enforcer.lock().await;
        enforcer.load_policy().await?;
        self.rebuild(&enforcer);
        Ok(())
    }

    /// Grants and memberships (`p` and `g` lines), sorted.
    pub fn policy_lines(&self) -> Vec<PolicyLine> {
        let mut lines: Vec<PolicyLine> = self
            .snapshot()
            .lines()
            .iter()
            .filter(|l| l.ptype == "p" || l.ptype == "g")
            .cloned()
            .collect();
        lines.sort();
        lines
    }

    /// Installs the index of what `enforcer` now holds, after a change made here.
    fn rebuild(&self, enforcer: &Enforcer) {
        *self.index.write() = Arc::new(Index::build(&lines_of(enforcer)));
        self.announced(Change::Policies);
    }

    /// Has `f` told of every change made through this process (set once).
    pub fn on_change(&self, f: impl Fn(Change) + Send + Sync + 'static) {
        let _ = self.announce.set(Box::new(f));
    }

    fn announced(&self, change: Change) {
        if let Some(f) = self.announce.get() {
            f(change);
        }
    }

    /// Reads again what another process changed. Announces nothing: that process did.
    pub async fn refresh(&self, change: Change) -> AuthzResult<()> {
        match change {
            Change::Policies => {
                let mut enforcer = self.enforcer.lock().await;
                enforcer.load_policy().await?;
                *self.index.write() = Arc::new(Index::build(&lines_of(&enforcer)));
            }
            Change::Settings => {
                let _serialize = self.enforcer.lock().await;
                *self.settings.write() = Arc::new(settings::load(&self.store).await?);
            }
        }
        Ok(())
    }

    /// Asks casbin itself (a full scan of the policy lines). Used by `explain` and the
    /// consistency tests; too slow for the request path.
    pub async fn casbin_decision(
        &self,
        user_uid: &str,
        object: &Object,
        needed: &str,
    ) -> AuthzResult<bool> {
        let enforcer = self.enforcer.lock().await;
        Ok(enforcer.enforce((
            format!("user:{user_uid}"),
            object.to_string(),
            needed.to_owned(),
        ))?)
    }
}

pub(crate) fn lines_of(enforcer: &Enforcer) -> Vec<PolicyLine> {
    let mut lines: Vec<PolicyLine> = enforcer
        .get_policy()
        .into_iter()
        .map(|r| rule_line("p", &r))
        .collect();
    for ptype in ["g", "g2", "g3"] {
        lines.extend(
            enforcer
                .get_named_grouping_policy(ptype)
                .into_iter()
                .map(|r| rule_line(ptype, &r)),
        );
    }
    lines
}

fn rule_line(ptype: &str, rule: &[String]) -> PolicyLine {
    let get = |i: usize| rule.get(i).map(String::as_str).unwrap_or("");
    PolicyLine::new(ptype, get(0), get(1), get(2))
}

/// Makes `parent` the only `g2` parent of `child` (none: at the top).
async fn replace_parent(
    enforcer: &mut Enforcer,
    child: &Object,
    parent: Option<&Object>,
) -> AuthzResult<()> {
    let c = child.to_string();
    let old = enforcer
        .get_named_grouping_policy("g2")
        .into_iter()
        .filter(|r| r.first() == Some(&c))
        .collect::<Vec<_>>();
    for r in old {
        enforcer.remove_named_grouping_policy("g2", r).await?;
    }
    if let Some(p) = parent {
        enforcer
            .add_named_grouping_policy("g2", vec![c, p.to_string()])
            .await?;
    }
    Ok(())
}
