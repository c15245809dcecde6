//! Grants, server permissions, policy import/export, explain and instance settings.

use std::collections::HashSet;
use vitrine_core::AuditAction;

use vitrine_authz::{
    Action, Explanation, ImportSummary, InstanceSettings, KnownIds, Object, Subject,
};
use vitrine_core::{Ability, Role, ServerPermission};
use vitrine_storage::PolicyLine;

use std::sync::Arc;

use vitrine_authz::Authz;
use vitrine_storage::Store;

use super::all_uids;
use crate::audit::Audit;
use crate::caller::Caller;
use crate::{ApiError, ApiResult};

/// Import input larger than this is refused before parsing.
pub const MAX_IMPORT_BYTES: usize = 8 * 1024 * 1024;

/// Snapshot of every id an import may reference.
pub struct PolicyKnown {
    users: HashSet<String>,
    groups: HashSet<String>,
    folders: HashSet<String>,
    projects: HashSet<String>,
}

impl KnownIds for PolicyKnown {
    fn user(&self, uid: &str) -> bool {
        self.users.contains(uid)
    }
    fn group(&self, uid: &str) -> bool {
        self.groups.contains(uid)
    }
    fn folder(&self, uid: &str) -> bool {
        self.folders.contains(uid)
    }
    fn project(&self, uid: &str) -> bool {
        self.projects.contains(uid)
    }
}

/// The policy service: role grants on folders and projects, server permissions, the
/// policy file (import and export), explanations of effective roles and the instance's
/// settings. Owns nothing but its handles; every method takes the caller.
pub struct Policy {
    store: Store,
    authz: Arc<Authz>,
    audit: Audit,
}

impl Policy {
    pub(crate) fn new(store: Store, authz: Arc<Authz>, audit: Audit) -> Policy {
        Policy {
            store,
            authz,
            audit,
        }
    }

    pub fn parse_subject(&self, raw: &str) -> ApiResult<Subject> {
        Subject::parse(raw).ok_or_else(|| {
            ApiError::invalid(format!("subject: `{raw}` is not user:ID or group:ID"))
        })
    }

    pub fn parse_object(&self, raw: &str) -> ApiResult<Object> {
        Object::parse(raw).ok_or_else(|| {
            ApiError::invalid(format!(
                "object: `{raw}` is not folder:ID, project:ID or instance"
            ))
        })
    }

    async fn subject_exists(&self, subject: &Subject) -> ApiResult<()> {
        let found = match subject {
            Subject::User(u) => self
                .store
                .user(&vitrine_core::UserId::from(u))
                .await?
                .is_some(),
            Subject::Group(g) => self
                .store
                .group(&vitrine_core::GroupId::from(g))
                .await?
                .is_some(),
        };
        if found {
            Ok(())
        } else {
            Err(ApiError::not_found(&subject.to_string()))
        }
    }

    async fn object_exists(&self, object: &Object) -> ApiResult<()> {
        let found = match object {
            Object::Instance => true,
            Object::Folder(f) => self
                .store
                .folder(&vitrine_core::FolderId::from(f))
                .await?
                .is_some(),
            Object::Project(p) => self
                .store
                .project(&vitrine_core::ProjectId::from(p))
                .await?
                .is_some(),
        };
        if found {
            Ok(())
        } else {
            Err(ApiError::not_found(&object.to_string()))
        }
    }

    /// Managers of an object grant roles on it, up to their own role; admins grant any.
    pub async fn grant_role(
        &self,
        caller: &Caller,
        subject: &str,
        object: &str,
        role: Role,
    ) -> ApiResult<()> {
        caller.require_write()?;
        let (subject, object) = (self.parse_subject(subject)?, self.parse_object(object)?);
        self.object_exists(&object).await?;
        let mine = self.authz.check(caller, Action::Manage, &object)?;
        if role > mine {
            return Err(ApiError::forbidden(format!(
                "you have {mine} on {object} and cannot grant more ({role})"
            )));
        }
        self.subject_exists(&subject).await?;
        self.authz.grant_role(&subject, &object, role).await?;
        self.audit
            .record(
                caller,
                AuditAction::PolicyGrantRole,
                &object.to_string(),
                "ok",
                &format!("{subject} {role}"),
            )
            .await?;
        Ok(())
    }

    pub async fn revoke_role(
        &self,
        caller: &Caller,
        subject: &str,
        object: &str,
    ) -> ApiResult<bool> {
        caller.require_write()?;
        let (subject, object) = (self.parse_subject(subject)?, self.parse_object(object)?);
        self.authz.check(caller, Action::Manage, &object)?;
        let removed = self.authz.revoke_role(&subject, &object).await?;
        self.audit
            .record(
                caller,
                AuditAction::PolicyRevokeRole,
                &object.to_string(),
                "ok",
                &subject.to_string(),
            )
            .await?;
        Ok(removed)
    }

    pub async fn set_server_permission(
        &self,
        caller: &Caller,
        subject: &str,
        permission: ServerPermission,
        granted: bool,
    ) -> ApiResult<bool> {
        caller.require_write()?;
        self.authz
            .require_permission(caller, ServerPermission::Admin)?;
        let subject = self.parse_subject(subject)?;
        self.subject_exists(&subject).await?;
        let changed = if granted {
            self.authz.grant_permission(&subject, permission).await?;
            true
        } else {
            self.authz.revoke_permission(&subject, permission).await?
        };
        let action = if granted {
            AuditAction::PolicyGrantPermission
        } else {
            AuditAction::PolicyRevokePermission
        };
        self.audit
            .record(
                caller,
                action,
                "instance",
                "ok",
                &format!("{subject} {permission}"),
            )
            .await?;
        Ok(changed)
    }

    pub fn policy_lines(&self, caller: &Caller) -> ApiResult<Vec<PolicyLine>> {
        self.authz
            .require_permission(caller, ServerPermission::Admin)?;
        Ok(self.authz.policy_lines())
    }

    pub fn export_policies(&self, caller: &Caller) -> ApiResult<String> {
        self.authz
            .require_permission(caller, ServerPermission::Admin)?;
        Ok(self.authz.export_csv())
    }

    pub async fn import_policies(&self, caller: &Caller, csv: &str) -> ApiResult<ImportSummary> {
        caller.require_write()?;
        self.authz
            .require_permission(caller, ServerPermission::Admin)?;
        if csv.len() > MAX_IMPORT_BYTES {
            return Err(ApiError::new(
                vitrine_core::ErrorCode::InvalidPolicy,
                format!(
                    "the file is {} bytes; the limit is {MAX_IMPORT_BYTES}",
                    csv.len()
                ),
            ));
        }
        let known = self.known_ids().await?;
        // A refused import is audited with the error by the GraphQL layer's refusal record.
        let summary = self.authz.import_csv(csv, &known).await?;
        self.audit
            .record(
                caller,
                AuditAction::PolicyImport,
                "instance",
                "ok",
                &format!(
                    "{} grants, {} memberships",
                    summary.grants, summary.memberships
                ),
            )
            .await?;
        Ok(summary)
    }

    async fn known_ids(&self) -> ApiResult<PolicyKnown> {
        let store = &self.store;
        Ok(PolicyKnown {
            users: all_uids(
                |p| async move { Ok(store.users_page(&p).await?) },
                |u| &u.uid,
            )
            .await?,
            groups: all_uids(
                |p| async move { Ok(store.groups_page(&p).await?) },
                |g| &g.uid,
            )
            .await?,
            folders: store
                .all_folders()
                .await?
                .into_iter()
                .map(|f| f.uid.into_string())
                .collect(),
            projects: all_uids(
                |p| async move { Ok(store.projects_page(None, &p).await?) },
                |p| &p.uid,
            )
            .await?,
        })
    }

    /// Admins explain anyone's access; everyone else only their own.
    pub async fn explain(
        &self,
        caller: &Caller,
        user_uid: Option<&str>,
        action: &str,
        object: &str,
    ) -> ApiResult<Explanation> {
        let user = user_uid.unwrap_or(caller.uid());
        if user != caller.uid() {
            self.authz
                .require_permission(caller, ServerPermission::Admin)?;
        }
        self.store
            .user(&vitrine_core::UserId::from(user))
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        let action = Action::parse(action).ok_or_else(|| {
            ApiError::invalid(format!(
                "action: `{action}` is not one of view, edit, manage, delete"
            ))
        })?;
        let object = self.parse_object(object)?;
        if matches!(object, Object::Instance) {
            return Err(ApiError::invalid(
                "object: explain answers for folders and projects",
            ));
        }
        // A caller who may not see the object hears the same "not found" as from any
        // other read, whether it exists or not.
        if !self.authz.is_admin(caller) && self.authz.effective_role(caller, &object) < Role::Viewer
        {
            return Err(ApiError::not_found(&object.to_string()));
        }
        self.object_exists(&object).await?;
        Ok(self.authz.explain(user, action, &object).await?)
    }

    pub fn instance_settings(&self) -> std::sync::Arc<InstanceSettings> {
        self.authz.settings()
    }

    pub async fn set_default_role(
        &self,
        caller: &Caller,
        role: Role,
    ) -> ApiResult<InstanceSettings> {
        let action = AuditAction::SettingsDefaultRole;
        self.change_instance(caller, action, role.as_str(), |s| s.default_role = role)
            .await
    }

    /// Opens (or closes) creating folders at the top to every signed-in user. Admins only.
    pub async fn set_root_folder_creation(
        &self,
        caller: &Caller,
        open: bool,
    ) -> ApiResult<InstanceSettings> {
        let detail = if open { "everyone" } else { "admins only" };
        let action = AuditAction::SettingsRootFolders;
        self.change_instance(caller, action, detail, |s| {
            s.members_create_root_folders = open
        })
        .await
    }

    /// Turns the Project Editor switch on or off (see
    /// [`InstanceSettings::project_editing`]). Admins only; the next request sees it.
    pub async fn set_project_editing(
        &self,
        caller: &Caller,
        on: bool,
    ) -> ApiResult<InstanceSettings> {
        let detail = if on {
            "on"
        } else {
            "off: content changes only through pushes"
        };
        let action = AuditAction::SettingsProjectEditing;
        self.change_instance(caller, action, detail, |s| s.project_editing = on)
            .await
    }

    pub async fn set_ability_setting(
        &self,
        caller: &Caller,
        ability: Ability,
        default: Option<bool>,
        disabled: Option<bool>,
    ) -> ApiResult<InstanceSettings> {
        let detail = format!("{ability} default={default:?} disabled={disabled:?}");
        let action = AuditAction::SettingsAbility;
        self.change_instance(caller, action, &detail, |s| {
            if let Some(d) = default {
                s.ability_defaults.insert(ability, d);
            }
            match disabled {
                Some(true) => {
                    s.disabled_abilities.insert(ability);
                }
                Some(false) => {
                    s.disabled_abilities.remove(&ability);
                }
                None => {}
            }
        })
        .await
    }

    /// An admin's change to the instance settings, stored, then audited as `action`.
    async fn change_instance(
        &self,
        caller: &Caller,
        action: AuditAction,
        detail: &str,
        change: impl FnOnce(&mut InstanceSettings),
    ) -> ApiResult<InstanceSettings> {
        caller.require_write()?;
        self.authz
            .require_permission(caller, ServerPermission::Admin)?;
        let s = self.authz.update_settings(change).await?;
        self.audit
            .record(caller, action, "instance", "ok", detail)
            .await?;
        Ok(s)
    }
}
