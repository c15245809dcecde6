//! Projects (slugs, moves, abilities) and virtual roots, each read and write checked
//! against the caller's effective role.

use vitrine_authz::Action;
use vitrine_core::AuditAction;
use vitrine_core::{Ability, Name, Role, ServerPermission, Slug};
use vitrine_storage::{NewProject, PageRequest, ProjectRecord, VirtualRootRecord, new_uid, now_ms};

use super::{Creation, Directory, ProjectView, folder_obj, project_obj};
use crate::Audit;
use crate::caller::Caller;
use crate::scan_visible;
use crate::{ApiError, ApiResult};

/// A project a caller was found allowed to create, planned but not yet written: by
/// [`Directory::create_project`] alone, or inside the transaction of its first content (an
/// import, a working copy, a copy of a revision). Only this module makes one, after the
/// checks; the guard turns it into the proof that first content write needs.
#[derive(Debug)]
pub(crate) struct ProjectPlan {
    new: NewProject,
    explicit: Option<Slug>,
    base: Slug,
    suffix: u32,
}

impl ProjectPlan {
    pub(crate) fn record(&self) -> &ProjectRecord {
        &self.new.project
    }

    /// What storage writes.
    pub(crate) fn new_project(&self) -> &NewProject {
        &self.new
    }

    /// The project to be born with the access filters, abilities and share policy of the
    /// project it is made from (see `versions::bundles::security`).
    pub(crate) fn governed_by(
        &mut self,
        access_filters: Vec<vitrine_storage::AccessFilterRecord>,
        abilities: std::collections::BTreeMap<String, bool>,
        settings: Vec<(String, serde_json::Value)>,
    ) {
        self.new.access_filters = access_filters;
        self.new.project.abilities = abilities;
        self.new.settings = settings;
    }

    /// The project to be born remembering the template it starts from.
    pub(crate) fn started_from(&mut self, origin: vitrine_storage::TemplateOrigin) {
        self.new.project.template_origin = Some(origin);
    }

    fn next_suffix(&mut self) {
        self.suffix += 1;
        self.new.project.slug = self.base.with_suffix(self.suffix).into_inner();
    }
}

impl Directory {
    // ---- projects -----------------------------------------------------------------

    pub async fn project(&self, caller: &Caller, uid: &str) -> ApiResult<ProjectView> {
        let uid = &vitrine_core::ProjectId::from(uid);
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
            self.load_folder(caller, &vitrine_core::FolderId::from(f), Action::View)
                .await?;
        }
        scan_visible(
            page,
            |pr| async move { Ok(self.store.projects_page(folder, &pr).await?) },
            |p| &p.uid,
            |p| {
                let role = self.authz.effective_role(caller, &project_obj(&p.uid));
                (role >= Role::Viewer).then_some(ProjectView { record: p, role })
            },
        )
        .await
    }

    /// Creates a project in a folder; the creator becomes its owner. Needs editor on the
    /// folder and the `project_editor` server permission (see [`Creation::Authored`]). The project, its policy lines
    /// and the audit event are one transaction.
    pub async fn create_project(
        &self,
        caller: &Caller,
        folder: &str,
        name: &str,
        slug: Option<&str>,
    ) -> ApiResult<ProjectView> {
        let mut plan = self
            .plan_project(caller, folder, name, slug, Creation::Authored)
            .await?;
        // A derived slug taken meanwhile moves on to the next free suffix.
        loop {
            match self.store.insert_project(&plan.new).await {
                Ok(()) => break,
                Err(vitrine_storage::StorageError::Conflict(msg))
                    if plan.explicit.is_none() && plan.suffix < 100 =>
                {
                    tracing::debug!(slug = %plan.new.project.slug, %msg, "slug taken, trying the next suffix");
                    plan.next_suffix();
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.project_planned(caller, plan).await
    }

    /// Checks that `caller` may create a project named `name` in `folder` and plans it:
    /// the record (with the first free slug, for a derived one), its policy lines and its
    /// audit event. Arriving `how` decides the server permission needed. Nothing is written.
    pub(crate) async fn plan_project(
        &self,
        caller: &Caller,
        folder: &str,
        name: &str,
        slug: Option<&str>,
        how: Creation,
    ) -> ApiResult<ProjectPlan> {
        caller.require_write()?;
        let name = Name::parse("name", name)?;
        self.load_folder(caller, &vitrine_core::FolderId::from(folder), Action::Edit)
            .await?;
        self.require_creation(caller, how)?;
        let explicit = slug.map(Slug::parse).transpose()?;
        let base = explicit
            .clone()
            .unwrap_or_else(|| Slug::derive(name.as_str()));
        let now = now_ms();
        let uid = new_uid();
        let obj = project_obj(&uid);
        let record = ProjectRecord {
            uid: uid.into(),
            name: name.into_inner(),
            slug: base.as_str().to_owned(),
            folder_uid: folder.into(),
            description: String::new(),
            abilities: Default::default(),
            created_ms: now,
            updated_ms: now,
            template: false,
            template_origin: None,
        };
        let policies = self
            .authz
            .new_project_lines(&obj, &folder_obj(folder), caller.uid());
        let action = AuditAction::ProjectCreate;
        let audit = Audit::event(caller, action, &obj.to_string(), &record.slug);
        let mut plan = ProjectPlan {
            new: NewProject {
                project: record,
                policies,
                audit,
                access_filters: Vec::new(),
                settings: Vec::new(),
            },
            explicit,
            base,
            suffix: 1,
        };
        // A derived slug starts at the first suffix free now; the writing transaction
        // checks again.
        while plan.explicit.is_none()
            && plan.suffix < 100
            && self
                .store
                .project_by_slug(&plan.new.project.slug)
                .await?
                .is_some()
        {
            plan.next_suffix();
        }
        Ok(plan)
    }

    /// Mirrors a planned project that storage wrote into the policies and answers it.
    pub(crate) async fn project_planned(
        &self,
        caller: &Caller,
        plan: ProjectPlan,
    ) -> ApiResult<ProjectView> {
        self.authz.lines_written(&plan.new.policies).await?;
        let record = plan.new.project;
        let role = self.authz.effective_role(caller, &project_obj(&record.uid));
        Ok(ProjectView { record, role })
    }

    pub async fn rename_project(
        &self,
        caller: &Caller,
        uid: &str,
        name: &str,
    ) -> ApiResult<ProjectView> {
        let uid = &vitrine_core::ProjectId::from(uid);
        caller.require_write()?;
        let name = Name::parse("name", name)?;
        self.project_for(caller, uid, Action::Edit).await?;
        self.store.rename_project(uid, name.as_str()).await?;
        self.audit
            .record(
                caller,
                AuditAction::ProjectRename,
                &format!("project:{uid}"),
                "ok",
                name.as_str(),
            )
            .await?;
        self.project(caller, uid).await
    }

    pub async fn change_project_slug(
        &self,
        caller: &Caller,
        uid: &str,
        slug: &str,
    ) -> ApiResult<ProjectView> {
        let uid = &vitrine_core::ProjectId::from(uid);
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
                AuditAction::ProjectChangeSlug,
                &format!("project:{uid}"),
                "ok",
                &format!("{} -> {slug}", view.record.slug),
            )
            .await?;
        self.project(caller, uid).await
    }

    pub async fn move_project(
        &self,
        caller: &Caller,
        uid: &str,
        folder: &str,
    ) -> ApiResult<ProjectView> {
        let uid = &vitrine_core::ProjectId::from(uid);

        let folder = &vitrine_core::FolderId::from(folder);
        caller.require_write()?;
        let before = self.project_for(caller, uid, Action::Manage).await?;
        self.load_folder(caller, folder, Action::Edit).await?;
        let owner = (before.record.folder_uid != *folder)
            .then(|| self.folder_manager(caller, folder))
            .flatten();
        let detail = match &owner {
            Some(o) => format!("folder:{folder}; owner now {o}, who manages it"),
            None => format!("folder:{folder}"),
        };
        let audit = crate::Audit::event(
            caller,
            AuditAction::ProjectMove,
            &format!("project:{uid}"),
            &detail,
        );
        self.store
            .move_project(uid, folder, owner.as_deref(), &audit)
            .await?;
        let mirrored = match owner {
            // Owner lines changed in the same transaction: read them all back.
            Some(_) => self.authz.reload().await,
            None => {
                let (p, f) = (project_obj(uid), folder_obj(folder));
                self.authz.parent_written(&p, &f).await
            }
        };
        if let Err(e) = mirrored {
            // The move is stored; the policies in memory catch up from the database.
            tracing::warn!(project = %uid, error = %e, "policies re-read after a move");
            self.authz.reload().await?;
        }
        // The mover may have handed the project on and kept no role on it.
        match self.project_for(caller, uid, Action::View).await {
            Ok(view) => Ok(view),
            Err(_) => Ok(ProjectView {
                record: self.store.project(uid).await?.unwrap_or(before.record),
                role: Role::NoAccess,
            }),
        }
    }

    /// Who becomes a project's owner when it moves into `folder`: the user who manages the
    /// folder (a direct manager or owner grant on it, or else on the nearest folder above
    /// with one); the mover when they are one of several, else the highest role, then the
    /// lowest id. None when only admins manage it: the project keeps its owners.
    fn folder_manager(&self, caller: &Caller, folder: &vitrine_core::FolderId) -> Option<String> {
        let index = self.authz.snapshot();
        let start = folder_obj(folder).to_string();
        let me = format!("user:{}", caller.uid());
        index.chain(&start).find_map(|node| {
            let managers = index.users_holding(node, Role::Manager);
            let mine = managers.iter().any(|(u, _)| *u == me);
            let first = managers.into_iter().next().map(|(u, _)| u);
            if mine { Some(me.clone()) } else { first }
        })
    }

    pub async fn delete_project(&self, caller: &Caller, uid: &str) -> ApiResult<()> {
        let uid = &vitrine_core::ProjectId::from(uid);
        caller.require_write()?;
        self.project_for(caller, uid, Action::Delete).await?;
        self.store.delete_project(uid).await?;
        self.authz.reload().await?;
        if self
            .authz
            .settings()
            .project_default_roles
            .contains_key(uid.as_str())
        {
            let key = uid.to_string();
            self.authz
                .update_settings(|s| {
                    s.project_default_roles.remove(&key);
                })
                .await?;
        }
        self.audit
            .record(
                caller,
                AuditAction::ProjectDelete,
                &format!("project:{uid}"),
                "ok",
                "",
            )
            .await?;
        Ok(())
    }

    /// Sets (or with `None` clears) the organisation's role on one project: what every
    /// signed-in user holds there before any grant, instead of the instance default. Its
    /// managers only; at most editor, so a manager never hands everyone the right to
    /// manage. Grants on the project and the folders above still apply on top.
    pub async fn set_project_default_role(
        &self,
        caller: &Caller,
        uid: &str,
        role: Option<Role>,
    ) -> ApiResult<ProjectView> {
        let uid = &vitrine_core::ProjectId::from(uid);
        caller.require_write()?;
        self.project_for(caller, uid, Action::Manage).await?;
        if role.is_some_and(|r| r > Role::Editor) {
            return Err(ApiError::invalid(
                "role: the organisation's role on a project is at most EDITOR; grant more to people or groups",
            ));
        }
        let key = uid.to_string();
        self.authz
            .update_settings(|s| match role {
                Some(r) => {
                    s.project_default_roles.insert(key, r);
                }
                None => {
                    s.project_default_roles.remove(&key);
                }
            })
            .await?;
        let detail = role.map_or("the instance default".into(), |r| r.to_string());
        self.audit
            .record(
                caller,
                AuditAction::ProjectSetDefaultRole,
                &format!("project:{uid}"),
                "ok",
                &detail,
            )
            .await?;
        self.project_for(caller, uid, Action::View).await
    }

    /// Sets (or with `None` clears) a project's own value for an ability.
    pub async fn set_project_ability(
        &self,
        caller: &Caller,
        uid: &str,
        ability: Ability,
        enabled: Option<bool>,
    ) -> ApiResult<ProjectView> {
        let uid = &vitrine_core::ProjectId::from(uid);
        caller.require_write()?;
        self.project_for(caller, uid, Action::Manage).await?;
        self.store
            .set_project_ability(uid, ability.as_str(), enabled)
            .await?;
        self.audit
            .record(
                caller,
                AuditAction::ProjectSetAbility,
                &format!("project:{uid}"),
                "ok",
                &format!("{ability}={enabled:?}"),
            )
            .await?;
        self.project(caller, uid).await
    }

    pub(crate) async fn project_for(
        &self,
        caller: &Caller,
        uid: &vitrine_core::ProjectId,
        action: Action,
    ) -> ApiResult<ProjectView> {
        let record = self.store.project(uid).await?;
        self.load_project(caller, record, action).await
    }

    pub async fn old_slugs(&self, project_uid: &str) -> ApiResult<Vec<String>> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
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
        let folder = &vitrine_core::FolderId::from(folder);
        caller.require_write()?;
        self.authz
            .require_permission(caller, ServerPermission::Admin)?;
        let name = Name::parse("name", name)?;
        self.store
            .folder(folder)
            .await?
            .ok_or_else(|| ApiError::not_found("folder"))?;
        let root = VirtualRootRecord {
            uid: new_uid().into(),
            name: name.into_inner(),
            folder_uid: folder.into(),
            position,
        };
        self.store.insert_virtual_root(&root).await?;
        self.audit
            .record(
                caller,
                AuditAction::VirtualRootCreate,
                &format!("folder:{folder}"),
                "ok",
                &root.name,
            )
            .await?;
        Ok(root)
    }

    pub async fn delete_virtual_root(&self, caller: &Caller, uid: &str) -> ApiResult<()> {
        let uid = &vitrine_core::VirtualRootId::from(uid);
        caller.require_write()?;
        self.authz
            .require_permission(caller, ServerPermission::Admin)?;
        self.store.delete_virtual_root(uid).await?;
        self.audit
            .record(
                caller,
                AuditAction::VirtualRootDelete,
                &format!("virtual_root:{uid}"),
                "ok",
                "",
            )
            .await?;
        Ok(())
    }

    /// The shortcuts the caller can follow (those whose folder is visible to them).
    pub async fn virtual_roots(&self, caller: &Caller) -> ApiResult<Vec<VirtualRootRecord>> {
        let all = self.store.virtual_roots().await?;
        Ok(all
            .into_iter()
            .filter(|r| self.visible(caller, &folder_obj(&r.folder_uid)).is_some())
            .collect())
    }
}

impl Directory {
    /// Uids of the projects in a folder, and in its sub-folders when `recursive`.
    pub(crate) async fn folder_projects(
        &self,
        folder: &str,
        recursive: bool,
    ) -> ApiResult<Vec<String>> {
        let mut folders = vec![folder.to_owned()];
        if recursive {
            let all = self.store.all_folders().await?;
            let mut i = 0;
            while i < folders.len() {
                let parent = folders[i].clone();
                folders.extend(
                    all.iter()
                        .filter(|f| f.parent_uid.as_deref() == Some(parent.as_str()))
                        .map(|f| f.uid.to_string()),
                );
                i += 1;
            }
        }
        let mut out = Vec::new();
        for f in &folders {
            let mut after = None;
            loop {
                let page = self
                    .store
                    .projects_page(
                        Some(f),
                        &PageRequest {
                            after: after.clone(),
                            first: crate::SCAN_BATCH,
                        },
                    )
                    .await?;
                after = page.last().map(|p| p.uid.clone()).map(Into::into);
                let done = page.len() < crate::SCAN_BATCH;
                out.extend(page.into_iter().map(|p| p.uid.into_string()));
                if done {
                    break;
                }
            }
        }
        Ok(out)
    }
}
