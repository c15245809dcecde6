//! Folders, projects, slugs and virtual roots, each read and write checked against the
//! caller's effective role.

use vitrine_authz::{Action, MAX_DEPTH, Object, Subject};
use vitrine_core::{Ability, Name, Role, ServerPermission, Slug};
use vitrine_storage::{
    FolderRecord, PageRequest, ProjectRecord, VirtualRootRecord, new_uid, now_ms,
};

use super::Services;
use crate::caller::Caller;
use crate::{ApiError, ApiResult};

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

/// How far a filtered listing reads ahead per round trip.
const SCAN_BATCH: usize = 200;

impl Services {
    fn folder_obj(uid: &str) -> Object {
        Object::Folder(uid.to_owned())
    }
    fn project_obj(uid: &str) -> Object {
        Object::Project(uid.to_owned())
    }

    /// Visible: any role on the object, or a grant somewhere below it.
    fn visible(&self, caller: &Caller, object: &Object) -> Option<Role> {
        let role = self.authz.effective_role(caller.uid(), object);
        if role >= Role::Viewer || self.authz.has_grant_below(caller.uid(), object) {
            Some(role)
        } else {
            None
        }
    }

    /// Not-found rather than forbidden for objects the caller cannot see: their existence
    /// is not the caller's business.
    async fn load_folder(
        &self,
        caller: &Caller,
        uid: &str,
        action: Action,
    ) -> ApiResult<FolderView> {
        let record = self
            .store
            .folder(uid)
            .await?
            .ok_or_else(|| ApiError::not_found("folder"))?;
        let obj = Self::folder_obj(uid);
        let Some(role) = self.visible(caller, &obj) else {
            return Err(ApiError::not_found("folder"));
        };
        if action != Action::View || role < Role::Viewer {
            self.authz.check(caller.uid(), action, &obj).map_err(|e| {
                if action == Action::View {
                    ApiError::not_found("folder")
                } else {
                    e.into()
                }
            })?;
        }
        Ok(FolderView { record, role })
    }

    async fn load_project(
        &self,
        caller: &Caller,
        record: Option<ProjectRecord>,
        action: Action,
    ) -> ApiResult<ProjectView> {
        let record = record.ok_or_else(|| ApiError::not_found("project"))?;
        let obj = Self::project_obj(&record.uid);
        let role = self.authz.effective_role(caller.uid(), &obj);
        if role < Role::Viewer {
            return Err(ApiError::not_found("project"));
        }
        self.authz.check(caller.uid(), action, &obj)?;
        Ok(ProjectView { record, role })
    }

    pub async fn folder(&self, caller: &Caller, uid: &str) -> ApiResult<FolderView> {
        self.load_folder(caller, uid, Action::View).await
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
            self.load_folder(caller, p, Action::View).await?;
        }
        let mut out = Vec::new();
        let mut after = page.after.clone();
        loop {
            let batch = self
                .store
                .folders_page(
                    parent,
                    &PageRequest {
                        after: after.clone(),
                        first: SCAN_BATCH,
                    },
                )
                .await?;
            let exhausted = batch.len() < SCAN_BATCH;
            for f in batch {
                after = Some(f.uid.clone());
                if let Some(role) = self.visible(caller, &Self::folder_obj(&f.uid)) {
                    if out.len() == page.first {
                        return Ok((out, true));
                    }
                    out.push(FolderView { record: f, role });
                }
            }
            if exhausted {
                return Ok((out, false));
            }
        }
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
                self.load_folder(caller, p, Action::Manage).await?;
                if self.authz.snapshot().chain(&format!("folder:{p}")).count() >= MAX_DEPTH {
                    return Err(ApiError::invalid(format!(
                        "parentId: folders nest at most {MAX_DEPTH} deep"
                    )));
                }
            }
            None => self
                .authz
                .require_permission(caller.uid(), ServerPermission::Admin)?,
        }
        let record = FolderRecord {
            uid: new_uid(),
            name: name.into_inner(),
            parent_uid: parent.map(str::to_owned),
            created_ms: now_ms(),
        };
        self.store.insert_folder(&record).await?;
        self.authz
            .set_parent(
                &Self::folder_obj(&record.uid),
                parent.map(Self::folder_obj).as_ref(),
            )
            .await?;
        self.audit
            .record(
                caller,
                "folder.create",
                &format!("folder:{}", record.uid),
                "ok",
                &record.name,
            )
            .await;
        let role = self
            .authz
            .effective_role(caller.uid(), &Self::folder_obj(&record.uid));
        Ok(FolderView { record, role })
    }

    pub async fn rename_folder(
        &self,
        caller: &Caller,
        uid: &str,
        name: &str,
    ) -> ApiResult<FolderView> {
        caller.require_write()?;
        let name = Name::parse("name", name)?;
        self.load_folder(caller, uid, Action::Manage).await?;
        self.store.rename_folder(uid, name.as_str()).await?;
        self.audit
            .record(
                caller,
                "folder.rename",
                &format!("folder:{uid}"),
                "ok",
                name.as_str(),
            )
            .await;
        self.load_folder(caller, uid, Action::View).await
    }

    /// Moves a folder under another (or to the top). Refuses moves into its own subtree.
    pub async fn move_folder(
        &self,
        caller: &Caller,
        uid: &str,
        new_parent: Option<&str>,
    ) -> ApiResult<FolderView> {
        caller.require_write()?;
        let view = self.load_folder(caller, uid, Action::Manage).await?;
        match new_parent {
            Some(p) => {
                self.load_folder(caller, p, Action::Manage).await?;
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
                .require_permission(caller.uid(), ServerPermission::Admin)?,
        }
        self.store
            .move_folder(uid, new_parent, &view.record.name)
            .await?;
        self.authz
            .set_parent(
                &Self::folder_obj(uid),
                new_parent.map(Self::folder_obj).as_ref(),
            )
            .await?;
        self.audit
            .record(
                caller,
                "folder.move",
                &format!("folder:{uid}"),
                "ok",
                new_parent.unwrap_or("top level"),
            )
            .await;
        self.load_folder(caller, uid, Action::View).await
    }

    /// Deletes a folder; refused while it holds anything unless `recursive`.
    pub async fn delete_folder(
        &self,
        caller: &Caller,
        uid: &str,
        recursive: bool,
    ) -> ApiResult<()> {
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
                        .filter(|f| f.parent_uid.as_deref() == Some(&parent))
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
                "folder.delete",
                &format!("folder:{uid}"),
                "ok",
                &format!("{} folders", doomed.len()),
            )
            .await;
        Ok(())
    }

    // ---- projects -----------------------------------------------------------------

    pub async fn project(&self, caller: &Caller, uid: &str) -> ApiResult<ProjectView> {
        let record = self.store.project(uid).await?;
        self.load_project(caller, record, Action::View).await
    }

    /// Looks a project up by current or old slug (old slugs keep redirecting).
    pub async fn project_by_slug(&self, caller: &Caller, slug: &str) -> ApiResult<ProjectView> {
        let slug = Slug::parse(slug)?;
        let record = self
            .store
            .project_by_slug(slug.as_str())
            .await?
            .map(|(p, _)| p);
        self.load_project(caller, record, Action::View).await
    }

    pub async fn projects(
        &self,
        caller: &Caller,
        folder: Option<&str>,
        page: &PageRequest,
    ) -> ApiResult<(Vec<ProjectView>, bool)> {
        if let Some(f) = folder {
            self.load_folder(caller, f, Action::View).await?;
        }
        let mut out = Vec::new();
        let mut after = page.after.clone();
        loop {
            let batch = self
                .store
                .projects_page(
                    folder,
                    &PageRequest {
                        after: after.clone(),
                        first: SCAN_BATCH,
                    },
                )
                .await?;
            let exhausted = batch.len() < SCAN_BATCH;
            for p in batch {
                after = Some(p.uid.clone());
                let role = self
                    .authz
                    .effective_role(caller.uid(), &Self::project_obj(&p.uid));
                if role >= Role::Viewer {
                    if out.len() == page.first {
                        return Ok((out, true));
                    }
                    out.push(ProjectView { record: p, role });
                }
            }
            if exhausted {
                return Ok((out, false));
            }
        }
    }

    /// Creates a project in a folder; the creator becomes its owner. Needs editor on the
    /// folder and the `project_editor` server permission.
    pub async fn create_project(
        &self,
        caller: &Caller,
        folder: &str,
        name: &str,
        slug: Option<&str>,
    ) -> ApiResult<ProjectView> {
        caller.require_write()?;
        let name = Name::parse("name", name)?;
        self.load_folder(caller, folder, Action::Edit).await?;
        self.authz
            .require_permission(caller.uid(), ServerPermission::ProjectEditor)?;
        let explicit = slug.map(Slug::parse).transpose()?;
        let base = explicit
            .clone()
            .unwrap_or_else(|| Slug::derive(name.as_str()));
        let now = now_ms();
        let mut record = ProjectRecord {
            uid: new_uid(),
            name: name.into_inner(),
            slug: base.as_str().to_owned(),
            folder_uid: folder.to_owned(),
            description: String::new(),
            abilities: Default::default(),
            created_ms: now,
            updated_ms: now,
        };
        // An explicit slug must be free; a derived one takes the first free suffix.
        let mut n = 1;
        loop {
            match self.store.insert_project(&record).await {
                Ok(()) => break,
                Err(vitrine_storage::StorageError::Conflict(msg))
                    if explicit.is_none() && n < 100 =>
                {
                    tracing::debug!(slug = %record.slug, %msg, "slug taken, trying the next suffix");
                    n += 1;
                    record.slug = base.with_suffix(n).into_inner();
                }
                Err(e) => return Err(e.into()),
            }
        }
        let obj = Self::project_obj(&record.uid);
        self.authz
            .set_parent(&obj, Some(&Self::folder_obj(folder)))
            .await?;
        if !self.authz.is_admin(caller.uid()) {
            self.authz
                .grant_role(&Subject::User(caller.uid().to_owned()), &obj, Role::Owner)
                .await?;
        }
        self.audit
            .record(
                caller,
                "project.create",
                &obj.to_string(),
                "ok",
                &record.slug,
            )
            .await;
        let role = self.authz.effective_role(caller.uid(), &obj);
        Ok(ProjectView { record, role })
    }

    pub async fn rename_project(
        &self,
        caller: &Caller,
        uid: &str,
        name: &str,
    ) -> ApiResult<ProjectView> {
        caller.require_write()?;
        let name = Name::parse("name", name)?;
        self.project_for(caller, uid, Action::Edit).await?;
        self.store.rename_project(uid, name.as_str()).await?;
        self.audit
            .record(
                caller,
                "project.rename",
                &format!("project:{uid}"),
                "ok",
                name.as_str(),
            )
            .await;
        self.project(caller, uid).await
    }

    pub async fn change_project_slug(
        &self,
        caller: &Caller,
        uid: &str,
        slug: &str,
    ) -> ApiResult<ProjectView> {
        caller.require_write()?;
        let slug = Slug::parse(slug)?;
        let view = self.project_for(caller, uid, Action::Manage).await?;
        if view.record.slug == slug.as_str() {
            return Ok(view);
        }
        self.store
            .change_slug(uid, &view.record.slug, slug.as_str())
            .await?;
        self.audit
            .record(
                caller,
                "project.change_slug",
                &format!("project:{uid}"),
                "ok",
                &format!("{} -> {slug}", view.record.slug),
            )
            .await;
        self.project(caller, uid).await
    }

    pub async fn move_project(
        &self,
        caller: &Caller,
        uid: &str,
        folder: &str,
    ) -> ApiResult<ProjectView> {
        caller.require_write()?;
        self.project_for(caller, uid, Action::Manage).await?;
        self.load_folder(caller, folder, Action::Edit).await?;
        self.store.move_project(uid, folder).await?;
        self.authz
            .set_parent(&Self::project_obj(uid), Some(&Self::folder_obj(folder)))
            .await?;
        self.audit
            .record(
                caller,
                "project.move",
                &format!("project:{uid}"),
                "ok",
                &format!("folder:{folder}"),
            )
            .await;
        self.project(caller, uid).await
    }

    pub async fn delete_project(&self, caller: &Caller, uid: &str) -> ApiResult<()> {
        caller.require_write()?;
        self.project_for(caller, uid, Action::Delete).await?;
        self.store.delete_project(uid).await?;
        self.authz.reload().await?;
        self.audit
            .record(
                caller,
                "project.delete",
                &format!("project:{uid}"),
                "ok",
                "",
            )
            .await;
        Ok(())
    }

    /// Sets (or with `None` clears) a project's own value for an ability.
    pub async fn set_project_ability(
        &self,
        caller: &Caller,
        uid: &str,
        ability: Ability,
        enabled: Option<bool>,
    ) -> ApiResult<ProjectView> {
        caller.require_write()?;
        self.project_for(caller, uid, Action::Manage).await?;
        self.store
            .set_project_ability(uid, ability.as_str(), enabled)
            .await?;
        self.audit
            .record(
                caller,
                "project.set_ability",
                &format!("project:{uid}"),
                "ok",
                &format!("{ability}={enabled:?}"),
            )
            .await;
        self.project(caller, uid).await
    }

    async fn project_for(
        &self,
        caller: &Caller,
        uid: &str,
        action: Action,
    ) -> ApiResult<ProjectView> {
        let record = self.store.project(uid).await?;
        self.load_project(caller, record, action).await
    }

    pub async fn old_slugs(&self, project_uid: &str) -> ApiResult<Vec<String>> {
        Ok(self.store.slug_aliases(project_uid).await?)
    }

    // ---- virtual roots ------------------------------------------------------------

    pub async fn create_virtual_root(
        &self,
        caller: &Caller,
        name: &str,
        folder: &str,
        position: i64,
    ) -> ApiResult<VirtualRootRecord> {
        caller.require_write()?;
        self.authz
            .require_permission(caller.uid(), ServerPermission::Admin)?;
        let name = Name::parse("name", name)?;
        self.store
            .folder(folder)
            .await?
            .ok_or_else(|| ApiError::not_found("folder"))?;
        let root = VirtualRootRecord {
            uid: new_uid(),
            name: name.into_inner(),
            folder_uid: folder.to_owned(),
            position,
        };
        self.store.insert_virtual_root(&root).await?;
        self.audit
            .record(
                caller,
                "virtual_root.create",
                &format!("folder:{folder}"),
                "ok",
                &root.name,
            )
            .await;
        Ok(root)
    }

    pub async fn delete_virtual_root(&self, caller: &Caller, uid: &str) -> ApiResult<()> {
        caller.require_write()?;
        self.authz
            .require_permission(caller.uid(), ServerPermission::Admin)?;
        self.store.delete_virtual_root(uid).await?;
        self.audit
            .record(
                caller,
                "virtual_root.delete",
                &format!("virtual_root:{uid}"),
                "ok",
                "",
            )
            .await;
        Ok(())
    }

    /// The shortcuts the caller can follow (those whose folder is visible to them).
    pub async fn virtual_roots(&self, caller: &Caller) -> ApiResult<Vec<VirtualRootRecord>> {
        let all = self.store.virtual_roots().await?;
        Ok(all
            .into_iter()
            .filter(|r| {
                self.visible(caller, &Self::folder_obj(&r.folder_uid))
                    .is_some()
            })
            .collect())
    }
}
