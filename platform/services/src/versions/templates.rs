//! Project templates. A project's managers mark it as a template; whoever may view it
//! then starts projects from it: its workflow, reports and parameters at its latest
//! revision, with its access filters, abilities and share policy, and its datasets only
//! when asked (and only for its editors, who see its data unfiltered already). The new
//! project records the template and revision it started from.
//!
//! Marking a project as a template shows its workflow to its viewers, through the
//! projects they start from it: that is the point of a template.

use vitrine_authz::Action;
use vitrine_core::AuditAction;
use vitrine_engine::report::ReportDefinition;
use vitrine_storage::TemplateOrigin;

use super::Versions;
use super::install::{Install, Payload};
use crate::caller::Caller;
use crate::directory::{Creation, ProjectView};
use crate::projects::ProjectPlan;
use crate::{ApiError, ApiResult, Audit};

/// Where a new project's content comes from, for [`Versions::start_project`].
pub(crate) struct Start {
    /// What the content is, in errors ("revision 3").
    pub label: String,
    /// The new project's first revision message, and its audit detail.
    pub message: String,
    pub action: AuditAction,
}

impl Versions {
    /// Marks a project as a template, or not (its managers).
    pub async fn set_project_template(
        &self,
        caller: &Caller,
        project_uid: &str,
        template: bool,
    ) -> ApiResult<ProjectView> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        caller.require_write()?;
        self.directory
            .project_for(caller, project_uid, Action::Manage)
            .await?;
        let detail = if template { "on" } else { "off" };
        let object = format!("project:{project_uid}");
        let event = Audit::event(caller, AuditAction::ProjectTemplate, &object, detail);
        self.store
            .set_project_template(project_uid, template, &event)
            .await?;
        self.directory
            .project_for(caller, project_uid, Action::View)
            .await
    }

    /// The templates the caller may start projects from (those it may view), by name.
    pub async fn project_templates(&self, caller: &Caller) -> ApiResult<Vec<ProjectView>> {
        let mut out = Vec::new();
        for p in self.store.template_projects().await? {
            if let Ok(view) = self
                .directory
                .project_for(caller, &p.uid, Action::View)
                .await
            {
                out.push(view);
            }
        }
        Ok(out)
    }

    /// A new project in `folder` from template `template_uid`: its content at its latest
    /// revision and, with `with_data`, its datasets (then the template's editors only).
    /// Creating needs what creating any project needs (editor on the folder and
    /// `project_editor`). Everything is checked before the project exists.
    pub async fn create_project_from_template(
        &self,
        caller: &Caller,
        template_uid: &str,
        folder: &str,
        name: &str,
        slug: Option<&str>,
        with_data: bool,
    ) -> ApiResult<ProjectView> {
        let template_uid = &vitrine_core::ProjectId::from(template_uid);
        caller.require_write()?;
        let need = if with_data {
            Action::Edit
        } else {
            Action::View
        };
        let template = self
            .directory
            .project_for(caller, template_uid, need)
            .await?
            .record;
        if !template.template {
            return Err(ApiError::invalid(
                "templateId: this project is not a template; its managers mark it with setProjectTemplate",
            ));
        }
        let number = self.head_number(caller, template_uid).await?;
        let mut payload = self.payload_of(template_uid, number).await?;
        payload.revisions.clear();
        if !with_data {
            payload.datasets.clear();
            payload.block_states.clear();
        }
        let mut plan = self
            .directory
            .plan_project(caller, folder, name, slug, Creation::Authored)
            .await?;
        plan.started_from(TemplateOrigin {
            project_uid: template_uid.clone(),
            project_name: template.name.clone(),
            revision: number,
        });
        let security = self.security_of(&template).await?;
        self.govern(&mut plan, &security).await?;
        let data = if with_data { ", with its data" } else { "" };
        let start = Start {
            label: format!("template {} revision {number}", template.name),
            message: format!("from template {} revision {number}{data}", template.name),
            action: AuditAction::ProjectFromTemplate,
        };
        self.start_project(caller, plan, &payload, start).await
    }

    /// Creates the planned project holding `payload`, with one revision saying where it
    /// came from and the start's audit event, in one transaction; the content is checked
    /// first, so a refusal leaves nothing.
    pub(crate) async fn start_project(
        &self,
        caller: &Caller,
        plan: ProjectPlan,
        payload: &Payload,
        start: Start,
    ) -> ApiResult<ProjectView> {
        self.restorable(&payload.head, &start.label).await?;
        for r in &payload.head.reports {
            ReportDefinition::parse(&r.definition)?;
        }
        let object = format!("project:{}", plan.record().uid);
        let how = Install {
            expect_latest: Some(0),
            label: Some(start.label),
            one_revision: Some((
                Some(caller.uid().to_owned()),
                caller.user().username.clone(),
                start.message.clone(),
            )),
            creating: Some(plan.new_project().clone()),
            audit: Some(Audit::event(caller, start.action, &object, &start.message)),
            ..Install::default()
        };
        let target = self.directory.authorize_planned(&plan);
        self.install(&target, payload, how, caller.as_author())
            .await?;
        self.directory.project_planned(caller, plan).await
    }
}
