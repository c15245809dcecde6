//! Links to whole projects for outsiders: one project, several, or every project of a
//! folder (read at each visit, so projects added later are shown), with their dashboard
//! (every report, interactively), their delivered files (the report files scheduled
//! tasks mail), or both — never their workflow.
//!
//! A visit to such a link stands on one project at a time: [`Sharing::rebase`] moves it
//! to the project of the report asked for, if the link covers it, so every view below
//! is answered by the one viewer path exactly as for a link to one project. A project is
//! covered only while the link's creator can still see it.

use std::borrow::Cow;
use std::collections::BTreeSet;

use vitrine_authz::Action;
use vitrine_core::task::{Action as TaskAction, Target};
use vitrine_core::{LinkContent, Role};
use vitrine_storage::{LinkFolder, ProjectRecord, ReportRecord, ShareLinkRecord};

use super::Sharing;
use super::visit::ShareAccess;
use crate::caller::Caller;
use crate::directory::{folder_obj, project_obj};
use crate::{ApiError, ApiResult};

/// Most projects one link lists by name.
pub const MAX_LINK_PROJECTS: usize = 50;

/// What a new link covers, as its manager asks for it.
#[derive(Debug, Clone)]
pub enum NewCoverage {
    Project(String),
    /// Two or more projects, the first one the link's home.
    Projects(Vec<String>),
    Folder {
        uid: String,
        recursive: bool,
    },
}

impl NewCoverage {
    /// Exactly one of a project, a list of projects and a folder, as an API names them.
    pub fn from_parts(
        project: Option<String>,
        projects: Option<Vec<String>>,
        folder: Option<String>,
        recursive: bool,
    ) -> ApiResult<NewCoverage> {
        if recursive && folder.is_none() {
            return Err(ApiError::invalid(
                "recursive: only a folder's link recurses",
            ));
        }
        match (project, projects, folder) {
            (Some(p), None, None) => Ok(NewCoverage::Project(p)),
            (None, Some(mut list), None) if list.len() == 1 => {
                Ok(NewCoverage::Project(list.remove(0)))
            }
            (None, Some(list), None) if list.is_empty() => {
                Err(ApiError::invalid("projectIds: name at least one project"))
            }
            (None, Some(list), None) => Ok(NewCoverage::Projects(list)),
            (None, None, Some(uid)) => Ok(NewCoverage::Folder { uid, recursive }),
            _ => Err(ApiError::invalid(
                "projectId: give exactly one of projectId, projectIds and folderId",
            )),
        }
    }
}

/// What a covered project offers a link's visitors.
#[derive(Debug, Clone)]
pub struct SharedProject {
    pub uid: String,
    pub name: String,
    /// `(uid, name)` of its reports, when the link shares the dashboard.
    pub reports: Vec<(String, String)>,
    /// `(uid, name)` of the reports its scheduled tasks deliver, when the link shares
    /// delivered files.
    pub files: Vec<(String, String)>,
}

impl Sharing {
    /// Checks the caller manages everything a new link would cover: each project, or the
    /// folder (whose managers manage every project in it). Answers the link's home
    /// project, its project list and its folder.
    pub(super) async fn check_new_coverage(
        &self,
        caller: &Caller,
        c: &NewCoverage,
        content: Option<&LinkContent>,
    ) -> ApiResult<(String, Vec<vitrine_core::ProjectId>, Option<LinkFolder>)> {
        if !matches!(c, NewCoverage::Project(_)) && content.is_none() {
            return Err(ApiError::invalid(
                "content: a link to several projects or a folder shares their dashboard, their delivered files or both; say which",
            ));
        }
        match c {
            NewCoverage::Project(p) => {
                let uid = vitrine_core::ProjectId::from(p.as_str());
                self.directory
                    .project_for(caller, &uid, Action::Manage)
                    .await?;
                Ok((p.clone(), Vec::new(), None))
            }
            NewCoverage::Projects(list) => {
                if list.len() > MAX_LINK_PROJECTS {
                    return Err(ApiError::invalid(format!(
                        "projectIds: at most {MAX_LINK_PROJECTS} projects; share their folder instead"
                    )));
                }
                let mut seen = BTreeSet::new();
                for (i, p) in list.iter().enumerate() {
                    if !seen.insert(p) {
                        return Err(ApiError::invalid(format!(
                            "projectIds[{i}]: `{p}` is listed twice"
                        )));
                    }
                    let uid = vitrine_core::ProjectId::from(p.as_str());
                    self.directory
                        .project_for(caller, &uid, Action::Manage)
                        .await
                        .map_err(|e| {
                            ApiError::new(e.code, format!("projectIds[{i}]: {}", e.message))
                        })?;
                }
                let ids = list.iter().map(|p| p.as_str().into()).collect();
                Ok((list[0].clone(), ids, None))
            }
            NewCoverage::Folder { uid, recursive } => {
                let folder = vitrine_core::FolderId::from(uid.as_str());
                self.directory
                    .load_folder(caller, &folder, Action::Manage)
                    .await?;
                let f = LinkFolder {
                    uid: folder,
                    recursive: *recursive,
                };
                Ok((String::new(), Vec::new(), Some(f)))
            }
        }
    }

    /// Refuses a caller who does not manage what the link covers: its folder, or its
    /// home project.
    pub(super) async fn check_manages(
        &self,
        caller: &Caller,
        link: &ShareLinkRecord,
    ) -> ApiResult<()> {
        match &link.folder {
            Some(f) => self
                .directory
                .load_folder(caller, &f.uid, Action::Manage)
                .await
                .map(drop),
            None => self
                .directory
                .project_for(caller, &link.project_uid, Action::Manage)
                .await
                .map(drop),
        }
    }

    /// The object whose managers see the link in their ledger.
    pub(super) fn managed_object(link: &ShareLinkRecord) -> vitrine_authz::Object {
        match &link.folder {
            Some(f) => folder_obj(&f.uid),
            None => project_obj(&link.project_uid),
        }
    }

    /// The projects a link to whole projects shows now, in name order: its list, or its
    /// folder's projects, that its creator can still see.
    pub(crate) async fn covered_projects(
        &self,
        link: &ShareLinkRecord,
    ) -> ApiResult<Vec<ProjectRecord>> {
        let uids: Vec<String> = match (&link.folder, link.projects.is_empty()) {
            (Some(f), _) => self.directory.folder_projects(&f.uid, f.recursive).await?,
            (None, false) => link.projects.iter().map(|p| p.to_string()).collect(),
            (None, true) => vec![link.project_uid.to_string()],
        };
        let mut out = Vec::new();
        for uid in uids {
            let role = self
                .authz
                .effective_role(&link.created_by, &project_obj(&uid));
            if role < Role::Viewer {
                continue;
            }
            if let Some(p) = self.store.project(&uid.as_str().into()).await? {
                out.push(p);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.uid.cmp(&b.uid)));
        Ok(out)
    }

    /// The projects a visit of the link may stand on: those it covers, or its one project.
    pub(super) async fn visit_projects(
        &self,
        link: &ShareLinkRecord,
    ) -> ApiResult<Vec<ProjectRecord>> {
        match link.content {
            Some(_) => self.covered_projects(link).await,
            None => Ok(self
                .store
                .project(&link.project_uid)
                .await?
                .into_iter()
                .collect()),
        }
    }

    /// The visit moved to the project of `report_uid`, when the link covers several
    /// projects and covers that one; a report it does not cover is not found.
    pub(super) async fn rebase<'a>(
        &self,
        a: &'a ShareAccess,
        report_uid: Option<&str>,
    ) -> ApiResult<Cow<'a, ShareAccess>> {
        let Some(report_uid) = report_uid.filter(|_| a.projects.len() > 1) else {
            return Ok(Cow::Borrowed(a));
        };
        let report = self
            .store
            .report(&report_uid.into())
            .await?
            .ok_or_else(|| ApiError::not_found("report"))?;
        if report.project_uid == a.project.uid {
            return Ok(Cow::Borrowed(a));
        }
        let project = a
            .projects
            .iter()
            .find(|p| p.uid == report.project_uid)
            .ok_or_else(|| ApiError::not_found("report"))?;
        let mut moved = a.clone();
        moved.project = project.clone();
        Ok(Cow::Owned(moved))
    }

    /// The reports of `project` that `tasks` (owners' delivering tasks, see
    /// `Store::delivering_tasks`, read once per answer) deliver: those whose target is the
    /// project or a folder holding it.
    pub(crate) async fn scheduled_reports(
        &self,
        project: &ProjectRecord,
        tasks: &[vitrine_storage::TaskRecord],
    ) -> ApiResult<Vec<ReportRecord>> {
        let chain = self.data.folder_chain(&project.uid);
        let covers = |t: &Target| match t {
            Target::Project { project: p } => *p == project.uid || *p == project.slug,
            Target::Folder { folder, recursive } => {
                if *recursive {
                    chain.iter().any(|f| f == folder)
                } else {
                    project.folder_uid == folder.as_str()
                }
            }
        };
        let mut names = BTreeSet::new();
        for task in tasks {
            if !covers(&task.spec.target) {
                continue;
            }
            for a in &task.spec.actions {
                if let TaskAction::Deliver { report, .. } = a {
                    names.insert(report.clone());
                }
            }
        }
        let reports = self.store.reports(&project.uid).await?;
        Ok(reports
            .into_iter()
            .filter(|r| names.contains(r.uid.as_str()) || names.contains(&r.name))
            .collect())
    }

    /// What a link to whole projects offers its visitor: per covered project, its
    /// reports (dashboard) and delivered files. Empty for a link to one report.
    pub async fn link_contents(&self, a: &ShareAccess) -> ApiResult<Vec<SharedProject>> {
        let Some(content) = a.link.content else {
            return Ok(Vec::new());
        };
        let tasks = match content.files {
            true => self.store.delivering_tasks().await?,
            false => Vec::new(),
        };
        let mut out = Vec::new();
        for p in &a.projects {
            let reports = match content.dashboard {
                true => self.store.reports(&p.uid).await?,
                false => Vec::new(),
            };
            let files = match content.files {
                true => self.scheduled_reports(p, &tasks).await?,
                false => Vec::new(),
            };
            let pairs = |list: Vec<ReportRecord>| {
                list.into_iter()
                    .map(|r| (r.uid.into_string(), r.name))
                    .collect()
            };
            out.push(SharedProject {
                uid: p.uid.to_string(),
                name: p.name.clone(),
                reports: pairs(reports),
                files: pairs(files),
            });
        }
        Ok(out)
    }
}
