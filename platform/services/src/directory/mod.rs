//! The directory service: folders (here), projects and virtual roots ([`projects`]),
//! users, service accounts and groups ([`users`]), and the visibility rules shared by all
//! of them: every read and write is checked against the caller's effective role.

pub(crate) mod projects;
mod publishing;
pub(crate) mod users;

use vitrine_authz::{Action, MAX_DEPTH, Object, Subject};
use vitrine_core::AuditAction;
use vitrine_core::{Name, Role, ServerPermission};
use vitrine_storage::{FolderRecord, PageRequest, ProjectRecord, new_uid, now_ms};

use std::sync::Arc;

use vitrine_authz::Authz;
use vitrine_storage::Store;

use crate::caller::{Caller, Credential};
use crate::scan_visible;
use crate::{ApiError, ApiResult};
use crate::{Audit, Identity};

pub(crate) use publishing::Creation;

#[derive(Debug, Clone)]
pub struct FolderView {
    pub record: FolderRecord,
    /// The caller's role; `NoAccess` for folders shown only because something inside them
    /// is shared with the caller (so the path stays navigable).
    pub role: Role,
}

#[derive(Debug, Clone)]
pub struct ProjectView {
    pub record: ProjectRecord,
    pub role: Role,
}

/// A folder as the policy engine names it.
pub(crate) fn folder_obj(uid: &str) -> Object {
    Object::Folder(uid.to_owned())
}

/// A project as the policy engine names it.
pub(crate) fn project_obj(uid: &str) -> Object {
    Object::Project(uid.to_owned())
}

/// The directory service: folders, projects, virtual roots, users, service accounts and
/// groups, and the visibility rules every other service asks before it reads or writes a
/// project ([`Directory::project_for`]).
#[derive(Clone)]
pub struct Directory {
    store: Store,
    authz: Arc<Authz>,
    audit: Audit,
    /// Changes to users reach the credentials already checked (a disabled user's next
    /// request is refused), and local accounts are made with its password hasher.
    identity: Arc<Identity>,
}

impl Directory {
    pub(crate) fn new(
        store: Store,
        authz: Arc<Authz>,
        audit: Audit,
        identity: Arc<Identity>,
    ) -> Directory {
        Directory {
            store,
            authz,
            audit,
            identity,
        }
    }

    /// Visible: any role on the object, or a grant somewhere below it.
    pub(crate) fn visible(&self, caller: &Caller, object: &Object) -> Option<Role> {
        let role = self.authz.effective_role(caller, object);
        if role >= Role::Viewer || self.authz.has_grant_below(caller, object) {
            Some(role)
        } else {
            None
        }
    }

    /// Not-found rather than forbidden for objects the caller cannot see: their existence
    /// is not the caller's business.
    pub(crate) async fn load_folder(
        &self,
        caller: &Caller,
        uid: &vitrine_core::FolderId,
        action: Action,
    ) -> ApiResult<FolderView> {
        let record = self
            .store
            .folder(uid)
            .await?
            .ok_or_else(|| ApiError::not_found("folder"))?;
        let obj = folder_obj(uid);
        let Some(role) = self.visible(caller, &obj) else {
            return Err(ApiError::not_found("folder"));
        };
        if action != Action::View || role < Role::Viewer {
            self.authz.check(caller, action, &obj).map_err(|e| {
                if action == Action::View {
                    ApiError::not_found("folder")
                } else {
                    e.into()
                }
            })?;
        }
        Ok(FolderView { record, role })
    }

    pub(crate) async fn load_project(
        &self,
        caller: &Caller,
        record: Option<ProjectRecord>,
        action: Action,
    ) -> ApiResult<ProjectView> {
        let record = record.ok_or_else(|| ApiError::not_found("project"))?;
        let obj = project_obj(&record.uid);
        let role = self.authz.effective_role(caller, &obj);
        if role < Role::Viewer {
            return Err(ApiError::not_found("project"));
        }
        self.authz.check(caller, action, &obj)?;
        Ok(ProjectView { record, role })
    }

    pub async fn folder(&self, caller: &Caller, uid: &str) -> ApiResult<FolderView> {
        self.load_folder(caller, &vitrine_core::FolderId::from(uid), Action::View)
            .await
    }

    /// Children of a folder (or the top level), filtered to what the caller may see.
    /// Returns the page and whether more follow.
    pub async fn folders(
        &self,
        caller: &Caller,
        parent: Option<&str>,
        page: &PageRequest,
    ) -> ApiResult<(Vec<FolderView>, bool)> {
        if let Some(p) = parent {
            self.load_folder(caller, &vitrine_core::FolderId::from(p), Action::View)
                .await?;
        }
        scan_visible(
            page,
            |p| async move { Ok(self.store.folders_page(parent, &p).await?) },
            |f| &f.uid,
            |f| {
                let role = self.visible(caller, &folder_obj(&f.uid))?;
                Some(FolderView { record: f, role })
            },
        )
        .await
    }

    pub async fn create_folder(
        &self,
        caller: &Caller,
        parent: Option<&str>,
        name: &str,
    ) -> ApiResult<FolderView> {
        caller.require_write()?;
        let name = Name::parse("name", name)?;
        match parent {
            Some(p) => {
                self.load_folder(caller, &vitrine_core::FolderId::from(p), Action::Manage)
                    .await?;
                if self.authz.snapshot().chain(&format!("folder:{p}")).count() >= MAX_DEPTH {
                    return Err(ApiError::invalid(format!(
                        "parentId: folders nest at most {MAX_DEPTH} deep"
                    )));
                }
            }
            // At the top: admins, and everyone when an admin opened it (never through a
            // scoped credential, which reaches nothing at the top).
            None if self.authz.settings().members_create_root_folders
                && caller.scope().is_none() => {}
            None => self
                .authz
                .require_permission(caller, ServerPermission::Admin)?,
        }
        let record = self.insert_folder(caller, name, parent).await?;
        if parent.is_none() && !self.authz.is_admin(caller) {
            let user = Subject::User(caller.uid().to_owned());
            self.authz
                .grant_role(&user, &folder_obj(&record.uid), Role::Manager)
                .await?;
        }
        let role = self.authz.effective_role(caller, &folder_obj(&record.uid));
        Ok(FolderView { record, role })
    }

    /// A top-level folder the instance makes for its own work (the demo project), managed
    /// by the system caller's user, who may then create projects. Only a system caller
    /// ([`Services::system_caller`]) may do this; anyone else needs [`create_folder`](Self::create_folder).
    pub async fn create_instance_folder(
        &self,
        caller: &Caller,
        name: &str,
    ) -> ApiResult<FolderView> {
        if !matches!(caller.credential(), Credential::System { .. }) {
            return Err(ApiError::forbidden(
                "only the instance itself makes instance folders",
            ));
        }
        let record = self
            .insert_folder(caller, Name::parse("name", name)?, None)
            .await?;
        let user = Subject::User(caller.uid().to_owned());
        self.authz
            .grant_role(&user, &folder_obj(&record.uid), Role::Manager)
            .await?;
        self.authz
            .grant_permission(&user, ServerPermission::ProjectEditor)
            .await?;
        Ok(FolderView {
            record,
            role: Role::Manager,
        })
    }

    /// Stores a new folder under `parent`, places it in the folder tree and audits it;
    /// the callers have checked who may.
    async fn insert_folder(
        &self,
        caller: &Caller,
        name: Name,
        parent: Option<&str>,
    ) -> ApiResult<FolderRecord> {
        let record = FolderRecord {
            uid: new_uid().into(),
            name: name.into_inner(),
            parent_uid: parent.map(str::to_owned).map(Into::into),
            created_ms: now_ms(),
        };
        self.store.insert_folder(&record).await?;
        self.authz
            .set_parent(&folder_obj(&record.uid), parent.map(folder_obj).as_ref())
            .await?;
        self.audit
            .record(
                caller,
                AuditAction::FolderCreate,
                &format!("folder:{}", record.uid),
                "ok",
                &record.name,
            )
            .await?;
        Ok(record)
    }

    pub async fn rename_folder(
        &self,
        caller: &Caller,
        uid: &str,
        name: &str,
    ) -> ApiResult<FolderView> {
        let uid = &vitrine_core::FolderId::from(uid);
        caller.require_write()?;
        let name = Name::parse("name", name)?;
        self.load_folder(caller, uid, Action::Manage).await?;
        self.store.rename_folder(uid, name.as_str()).await?;
        self.audit
            .record(
                caller,
                AuditAction::FolderRename,
                &format!("folder:{uid}"),
                "ok",
                name.as_str(),
            )
            .await?;
        self.load_folder(caller, uid, Action::View).await
    }

    /// Moves a folder under another (or to the top). Refuses moves into its own subtree.
    pub async fn move_folder(
        &self,
        caller: &Caller,
        uid: &str,
        new_parent: Option<&str>,
    ) -> ApiResult<FolderView> {
        let uid = &vitrine_core::FolderId::from(uid);
        caller.require_write()?;
        let view = self.load_folder(caller, uid, Action::Manage).await?;
        match new_parent {
            Some(p) => {
                self.load_folder(caller, &vitrine_core::FolderId::from(p), Action::Manage)
                    .await?;
                let me = format!("folder:{uid}");
                if self
                    .authz
                    .snapshot()
                    .chain(&format!("folder:{p}"))
                    .any(|a| a == me)
                {
                    return Err(ApiError::invalid(
                        "parentId: a folder cannot move into itself or a folder inside it",
                    ));
                }
            }
            None => self
                .authz
                .require_permission(caller, ServerPermission::Admin)?,
        }
        self.store
            .move_folder(uid, new_parent, &view.record.name)
            .await?;
        self.authz
            .set_parent(&folder_obj(uid), new_parent.map(folder_obj).as_ref())
            .await?;
        self.audit
            .record(
                caller,
                AuditAction::FolderMove,
                &format!("folder:{uid}"),
                "ok",
                new_parent.unwrap_or("top level"),
            )
            .await?;
        self.load_folder(caller, uid, Action::View).await
    }

    /// Deletes a folder; refused while it holds anything unless `recursive`.
    pub async fn delete_folder(
        &self,
        caller: &Caller,
        uid: &str,
        recursive: bool,
    ) -> ApiResult<()> {
        let uid = &vitrine_core::FolderId::from(uid);
        caller.require_write()?;
        self.load_folder(caller, uid, Action::Delete).await?;
        let mut doomed = vec![uid.to_owned()];
        if self.store.child_count(uid).await? > 0 {
            if !recursive {
                return Err(ApiError::new(
                    vitrine_core::ErrorCode::NotEmpty,
                    "the folder is not empty; pass recursive: true to delete everything inside it",
                ));
            }
            let all = self.store.all_folders().await?;
            let mut i = 0;
            while i < doomed.len() {
                let parent = doomed[i].clone();
                doomed.extend(
                    all.iter()
                        .filter(|f| f.parent_uid.as_ref() == Some(&parent))
                        .map(|f| f.uid.clone()),
                );
                i += 1;
            }
        }
        self.store.delete_folders(&doomed).await?;
        self.authz.reload().await?;
        self.audit
            .record(
                caller,
                AuditAction::FolderDelete,
                &format!("folder:{uid}"),
                "ok",
                &format!("{} folders", doomed.len()),
            )
            .await?;
        Ok(())
    }
}
