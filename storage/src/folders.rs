//! Folders, projects, slugs and virtual roots.

use serde_json::json;

use crate::{
    FolderRecord, NewAuditEvent, PageRequest, PolicyLine, ProjectRecord, StorageError,
    StorageResult, Store, VirtualRootRecord, now_ms,
};

/// A slug is free for `project_uid` when no other project uses it and no other project
/// keeps it as an old, redirecting slug. Checked inside the writing transaction.
const SLUG_FREE_CHECK: &str = r#"
    LET $taken = (SELECT uid FROM project WHERE slug = $slug AND uid != $uid);
    LET $aliased = (SELECT project_uid FROM slug_alias WHERE slug = $slug AND project_uid != $uid);
    IF array::len($taken) > 0 { THROW "vitrine-conflict: slug `" + $slug + "` is used by another project" };
    IF array::len($aliased) > 0 { THROW "vitrine-conflict: slug `" + $slug + "` still redirects to another project" };
"#;

/// Touches the project's folder (`$folder`) inside a transaction, failing it when the
/// folder is gone.
const FOLDER_STILL_THERE: &str = r#"
    LET $folder_row = (UPDATE folder SET projects_changed_ms = $now WHERE uid = $folder RETURN AFTER);
    IF array::len($folder_row) = 0 { THROW "vitrine-conflict: the folder was deleted meanwhile" };
"#;

/// A project to create inside a transaction: the record, its policy lines (its place in
/// the folder tree, its owner) and the audit event of its creation. Written alone by
/// [`Store::insert_project`], or as the first part of a content replacement
/// ([`crate::Replacement::new_project`]) when a project is born with content (an import, a
/// working copy, a copy of a revision): then nobody ever sees it empty or half-written.
#[derive(Debug, Clone)]
pub struct NewProject {
    pub project: ProjectRecord,
    pub policies: Vec<PolicyLine>,
    pub audit: NewAuditEvent,
    /// The access filters it is born with: a project made from another (an import, a
    /// working copy) keeps its origin's, so it never shows more rows than the origin.
    pub access_filters: Vec<crate::AccessFilterRecord>,
    /// Settings it is born with (`name`, value): its share policy.
    pub settings: Vec<(String, serde_json::Value)>,
}

impl NewProject {
    /// The statements, inside a caller's BEGIN … COMMIT, over [`NewProject::vars`]. The
    /// folder is written too, not only read: a concurrent deletion of it then conflicts
    /// with this transaction (snapshot isolation catches two writes to one record, not a
    /// read beside a write), and the retry finds it gone.
    pub(crate) fn statements() -> String {
        format!(
            "{SLUG_FREE_CHECK} {FOLDER_STILL_THERE}
            CREATE project CONTENT $new_project;
            FOR $l IN $new_policies {{ CREATE policy CONTENT $l; }};
            FOR $f IN $new_filters {{ CREATE access_filter CONTENT $f; }};
            FOR $s IN $new_settings {{ CREATE setting CONTENT {{ name: $s[0], data: $s[1], rev: 1 }}; }};
            CREATE audit_event CONTENT $new_audit;"
        )
    }

    pub(crate) fn vars(&self) -> serde_json::Value {
        let p = &self.project;
        json!({ "new_project": p, "slug": p.slug, "uid": p.uid, "folder": p.folder_uid,
                "now": p.created_ms, "new_policies": self.policies,
                "new_filters": self.access_filters, "new_settings": self.settings,
                "new_audit": self.audit.clone().into_record(p.created_ms) })
    }
}

impl Store {
    /// After every write touching projects, succeeded or not: the project cache (present
    /// only on an exclusive store) must not outlive it.
    pub(crate) fn projects_written(&self) {
        if let Some(c) = &self.projects {
            c.invalidate();
        }
    }

    pub async fn insert_folder(&self, folder: &FolderRecord) -> StorageResult<()> {
        let parent_key = folder.parent_uid.clone().unwrap_or_default();
        self.exec(
            "CREATE folder CONTENT object::extend($f, { parent_key: $pk })",
            json!({ "f": folder, "pk": parent_key }),
        )
        .await
        .map_err(|e| sibling_conflict(e, &folder.name))
    }

    pub async fn folder(
        &self,
        uid: &vitrine_core::FolderId,
    ) -> StorageResult<Option<FolderRecord>> {
        self.first(
            "SELECT * FROM folder WHERE uid = $uid",
            json!({ "uid": uid }),
        )
        .await
    }

    pub async fn all_folders(&self) -> StorageResult<Vec<FolderRecord>> {
        self.rows("SELECT * FROM folder ORDER BY uid", json!({}))
            .await
    }

    /// Children of `parent` (top-level folders when `None`), uid-ordered.
    pub async fn folders_page(
        &self,
        parent: Option<&str>,
        page: &PageRequest,
    ) -> StorageResult<Vec<FolderRecord>> {
        self.rows(
            "SELECT * FROM folder WHERE parent_key = $pk AND uid > $after ORDER BY uid LIMIT $limit",
            json!({ "pk": parent.unwrap_or(""), "after": page.after.clone().unwrap_or_default(), "limit": page.first }),
        )
        .await
    }

    pub async fn rename_folder(
        &self,
        uid: &vitrine_core::FolderId,
        name: &str,
    ) -> StorageResult<()> {
        self.update_one("folder", uid, "name = $name", json!({ "name": name }))
            .await
            .map_err(|e| sibling_conflict(e, name))
    }

    pub async fn move_folder(
        &self,
        uid: &vitrine_core::FolderId,
        parent: Option<&str>,
        name: &str,
    ) -> StorageResult<()> {
        self.update_one(
            "folder",
            uid,
            "parent_uid = $p, parent_key = $pk",
            json!({ "p": parent, "pk": parent.unwrap_or("") }),
        )
        .await
        .map_err(|e| sibling_conflict(e, name))
    }

    pub async fn child_count(&self, folder_uid: &vitrine_core::FolderId) -> StorageResult<usize> {
        let folders = self
            .count(
                "SELECT uid FROM folder WHERE parent_key = $f LIMIT 1",
                json!({ "f": folder_uid }),
            )
            .await?;
        let projects = self
            .count(
                "SELECT uid FROM project WHERE folder_uid = $f LIMIT 1",
                json!({ "f": folder_uid }),
            )
            .await?;
        Ok(folders + projects)
    }

    /// Deletes the folders, the projects in them, their slug aliases, virtual roots and
    /// policy lines naming any of them, in one transaction.
    pub async fn delete_folders(
        &self,
        folder_uids: &[vitrine_core::FolderId],
    ) -> StorageResult<()> {
        let result = async {
            let objects: Vec<String> = folder_uids.iter().map(|f| format!("folder:{f}")).collect();
            self.exec(
                r#"BEGIN;
                LET $pids = (SELECT VALUE uid FROM project WHERE folder_uid IN $fids);
                LET $objs = array::concat($objs, $pids.map(|$p| "project:" + $p));
                DELETE slug_alias WHERE project_uid IN $pids;
                DELETE project WHERE folder_uid IN $fids;
                DELETE virtual_root WHERE folder_uid IN $fids;
                DELETE folder WHERE uid IN $fids;
                DELETE policy WHERE v1 IN $objs OR v0 IN $objs;
                DELETE workflow WHERE project_uid IN $pids;
                DELETE block_state WHERE project_uid IN $pids;
                DELETE dataset WHERE project_uid IN $pids;
                DELETE workflow_run WHERE project_uid IN $pids;
                DELETE report WHERE project_uid IN $pids;
                DELETE access_filter WHERE project_uid IN $pids;
                DELETE upload WHERE project_uid IN $pids;
                DELETE working_copy_link WHERE project_uid IN $pids OR folder_uid IN $fids;
                COMMIT;"#,
                json!({ "fids": folder_uids, "objs": objects }),
            )
            .await
        }
        .await;
        self.projects_written();
        result
    }

    // ---- projects -----------------------------------------------------------------

    /// Creates a project with its policy lines and audit event, all or nothing.
    pub async fn insert_project(&self, new: &NewProject) -> StorageResult<()> {
        let result = async {
            let script = format!("BEGIN; {} COMMIT;", NewProject::statements());
            self.exec(&script, new.vars()).await
        }
        .await;
        self.projects_written();
        result
    }

    pub async fn project(
        &self,
        uid: &vitrine_core::ProjectId,
    ) -> StorageResult<Option<ProjectRecord>> {
        if let Some(hit) = self.projects.as_ref().and_then(|c| c.by_uid(uid)) {
            return Ok(Some(hit));
        }
        let seen = self.projects.as_ref().map(|c| c.generation());
        let row: Option<ProjectRecord> = self
            .first(
                "SELECT * FROM project WHERE uid = $uid",
                json!({ "uid": uid }),
            )
            .await?;
        if let (Some(c), Some(seen), Some(p)) = (&self.projects, seen, &row) {
            c.put(seen, p);
        }
        Ok(row)
    }

    /// Looks a project up by its current slug, then by an old one. The flag says whether
    /// the slug was an old one (the caller answers with a redirect to the current slug).
    pub async fn project_by_slug(
        &self,
        slug: &str,
    ) -> StorageResult<Option<(ProjectRecord, bool)>> {
        if let Some(hit) = self.projects.as_ref().and_then(|c| c.by_slug(slug)) {
            return Ok(Some((hit, false)));
        }
        let seen = self.projects.as_ref().map(|c| c.generation());
        if let Some(p) = self
            .first::<ProjectRecord>(
                "SELECT * FROM project WHERE slug = $s",
                json!({ "s": slug }),
            )
            .await?
        {
            if let (Some(c), Some(seen)) = (&self.projects, seen) {
                c.put(seen, &p);
            }
            return Ok(Some((p, false)));
        }
        let alias: Option<serde_json::Value> = self
            .first(
                "SELECT project_uid FROM slug_alias WHERE slug = $s",
                json!({ "s": slug }),
            )
            .await?;
        match alias.and_then(|a| a["project_uid"].as_str().map(str::to_owned)) {
            Some(uid) => Ok(self
                .project(&vitrine_core::ProjectId::from(&uid))
                .await?
                .map(|p| (p, true))),
            None => Ok(None),
        }
    }

    pub async fn projects_page(
        &self,
        folder: Option<&str>,
        page: &PageRequest,
    ) -> StorageResult<Vec<ProjectRecord>> {
        let filter = if folder.is_some() {
            "folder_uid = $f AND"
        } else {
            ""
        };
        self.rows(
            &format!("SELECT * FROM project WHERE {filter} uid > $after ORDER BY uid LIMIT $limit"),
            json!({ "f": folder, "after": page.after.clone().unwrap_or_default(), "limit": page.first }),
        )
        .await
    }

    pub async fn slug_aliases(
        &self,
        project_uid: &vitrine_core::ProjectId,
    ) -> StorageResult<Vec<String>> {
        self.rows(
            "SELECT VALUE slug FROM slug_alias WHERE project_uid = $p ORDER BY created_ms",
            json!({ "p": project_uid }),
        )
        .await
    }

    pub async fn rename_project(
        &self,
        uid: &vitrine_core::ProjectId,
        name: &str,
    ) -> StorageResult<()> {
        let result = async {
            self.update_one(
                "project",
                uid,
                "name = $n, updated_ms = $now",
                json!({ "n": name, "now": now_ms() }),
            )
            .await
        }
        .await;
        self.projects_written();
        result
    }

    /// Moves a project into `folder_uid`; a conflict when that folder is deleted meanwhile
    /// (see [`FOLDER_STILL_THERE`]).
    /// Moves a project into a folder, with the policy line that makes the folder its
    /// parent (its floor of roles) and the move's audit event, in one transaction. The
    /// caller mirrors the policy line into the in-memory policies afterwards.
    /// Moves a project into `folder_uid`; with `new_owner` (`user:ID`), that user becomes
    /// its one direct owner, replacing whoever held the owner role on it directly.
    pub async fn move_project(
        &self,
        uid: &vitrine_core::ProjectId,
        folder_uid: &vitrine_core::FolderId,
        new_owner: Option<&str>,
        audit: &crate::NewAuditEvent,
    ) -> StorageResult<()> {
        let result = async {
            let owners: Vec<crate::PolicyLine> = new_owner
                .map(|o| crate::PolicyLine::new("p", o, &format!("project:{uid}"), "owner"))
                .into_iter()
                .collect();
            let script = format!(
                "BEGIN; {FOLDER_STILL_THERE} UPDATE project SET folder_uid = $folder, updated_ms = $now WHERE uid = $uid;
                DELETE policy WHERE ptype = 'g2' AND v0 = $child;
                CREATE policy CONTENT $parent;
                IF array::len($owners) > 0 {{
                    DELETE policy WHERE ptype = 'p' AND v1 = $child AND v0 = $owners[0].v0;
                    DELETE policy WHERE ptype = 'p' AND v1 = $child AND v2 = 'owner';
                    CREATE policy CONTENT $owners[0];
                }};
                CREATE audit_event CONTENT $audit;
                COMMIT;"
            );
            self.exec(
                &script,
                json!({
                    "uid": uid,
                    "folder": folder_uid,
                    "now": now_ms(),
                    "child": format!("project:{uid}"),
                    "parent": crate::PolicyLine::new("g2", &format!("project:{uid}"), &format!("folder:{folder_uid}"), ""),
                    "owners": owners,
                    "audit": audit.clone().into_record(now_ms()),
                }),
            )
            .await
        }
        .await;
        self.projects_written();
        result
    }

    pub async fn set_project_ability(
        &self,
        uid: &vitrine_core::ProjectId,
        ability: &str,
        enabled: Option<bool>,
    ) -> StorageResult<()> {
        let result = async {
            match enabled {
                Some(on) => {
                    self.update_one(
                        "project",
                        uid,
                        &format!("abilities.{ability} = $on"),
                        json!({ "on": on }),
                    )
                    .await
                }
                None => {
                    self.update_one(
                        "project",
                        uid,
                        &format!("abilities.{ability} = NONE"),
                        json!({}),
                    )
                    .await
                }
            }
        }
        .await;
        self.projects_written();
        result
    }

    /// Marks a project as a template, or not, with the change's audit event, in one
    /// transaction.
    pub async fn set_project_template(
        &self,
        uid: &vitrine_core::ProjectId,
        template: bool,
        audit: &crate::NewAuditEvent,
    ) -> StorageResult<()> {
        let result = self
            .exec(
                "BEGIN; UPDATE project SET template = $t, updated_ms = $now WHERE uid = $uid;
                CREATE audit_event CONTENT $audit; COMMIT;",
                json!({ "uid": uid, "t": template, "now": now_ms(),
                    "audit": audit.clone().into_record(now_ms()) }),
            )
            .await;
        self.projects_written();
        result
    }

    /// Every project marked as a template, by name (the caller filters what it may see).
    pub async fn template_projects(&self) -> StorageResult<Vec<ProjectRecord>> {
        self.rows(
            "SELECT * FROM project WHERE template = true ORDER BY name",
            json!({}),
        )
        .await
    }

    /// Changes the slug; the old one becomes an alias that keeps redirecting and stays
    /// reserved for this project. Taking back one of its own old slugs removes that alias.
    pub async fn change_slug(
        &self,
        uid: &vitrine_core::ProjectId,
        old: &str,
        new: &str,
    ) -> StorageResult<()> {
        let result = async {
            let script = format!(
                "BEGIN; {SLUG_FREE_CHECK}
                DELETE slug_alias WHERE slug = $slug;
                CREATE slug_alias CONTENT {{ slug: $old, project_uid: $uid, created_ms: $now }};
                UPDATE project SET slug = $slug, updated_ms = $now WHERE uid = $uid;
                COMMIT;"
            );
            self.exec(
                &script,
                json!({ "uid": uid, "slug": new, "old": old, "now": now_ms() }),
            )
            .await
        }
        .await;
        self.projects_written();
        result
    }

    pub async fn delete_project(&self, uid: &vitrine_core::ProjectId) -> StorageResult<()> {
        let result = async {
            let sql = format!(
                r#"BEGIN;
                DELETE slug_alias WHERE project_uid = $uid;
                DELETE project WHERE uid = $uid;
                DELETE policy WHERE v1 = $obj OR v0 = $obj;
                {}
                COMMIT;"#,
                Store::delete_project_data_sql()
            );
            self.exec(&sql, json!({ "uid": uid, "obj": format!("project:{uid}") }))
                .await
        }
        .await;
        self.projects_written();
        result
    }

    // ---- virtual roots ------------------------------------------------------------

    pub async fn insert_virtual_root(&self, root: &VirtualRootRecord) -> StorageResult<()> {
        self.exec("CREATE virtual_root CONTENT $r", json!({ "r": root }))
            .await
            .map_err(|e| match e {
                StorageError::Conflict(_) => {
                    StorageError::Conflict(format!("a virtual root named `{}` exists", root.name))
                }
                other => other,
            })
    }

    pub async fn virtual_roots(&self) -> StorageResult<Vec<VirtualRootRecord>> {
        self.rows(
            "SELECT * FROM virtual_root ORDER BY position, name",
            json!({}),
        )
        .await
    }

    pub async fn delete_virtual_root(
        &self,
        uid: &vitrine_core::VirtualRootId,
    ) -> StorageResult<()> {
        let gone = self
            .count(
                "DELETE virtual_root WHERE uid = $uid RETURN BEFORE",
                json!({ "uid": uid }),
            )
            .await?;
        if gone == 0 {
            return Err(StorageError::NotFound("virtual root"));
        }
        Ok(())
    }
}

fn sibling_conflict(e: StorageError, name: &str) -> StorageError {
    match e {
        StorageError::Conflict(_) => {
            StorageError::Conflict(format!("a folder named `{name}` exists here already"))
        }
        other => other,
    }
}
