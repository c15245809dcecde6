//! Who may change a project's content directly, and who may publish into it through a
//! working copy. The instance's Project Editor switch ([`InstanceSettings::project_editing`])
//! decides the first: on a production instance it is off, and content reaches projects
//! only through pushes, which managers make, and editors holding the `project_publisher`
//! server permission.
//!
//! [`InstanceSettings::project_editing`]: vitrine_authz::InstanceSettings

use vitrine_authz::Action;
use vitrine_core::{ErrorCode, ProjectId, Role, ServerPermission};

use super::{Directory, ProjectView};
use crate::caller::{Caller, Credential};
use crate::{ApiError, ApiResult};

/// How a new project arrives, which decides the server permission creating it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Creation {
    /// Written here: a blank project, a copy of a revision. Needs `project_editor`, which
    /// nobody holds while the Project Editor switch is off.
    Authored,
    /// Made elsewhere and published here: a working copy, an imported bundle. Needs
    /// `project_publisher`, or `project_editor`.
    Published,
}

impl Directory {
    /// Refuses unless `caller` holds the server permission creating a project `how`
    /// needs.
    pub(crate) fn require_creation(&self, caller: &Caller, how: Creation) -> ApiResult<()> {
        if how == Creation::Published
            && self
                .authz
                .has_permission(caller, ServerPermission::ProjectPublisher)
        {
            return Ok(());
        }
        Ok(self
            .authz
            .require_permission(caller, ServerPermission::ProjectEditor)?)
    }

    /// Refuses a direct change of `project`'s content while the Project Editor switch is
    /// off, unless the project is a working copy (copies are where changes are made).
    pub(crate) async fn require_direct_editing(&self, project: &ProjectId) -> ApiResult<()> {
        if self.authz.settings().project_editing
            || self.store.working_copy_of(project).await?.is_some()
        {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorCode::EditingOff,
            "project editing is switched off on this instance: change a working copy of this project and push it (pushing needs the MANAGER role, or the EDITOR role and the PROJECT_PUBLISHER permission)",
        ))
    }

    /// Whether `view` (the caller's view of a project) lets the caller publish into the
    /// project: create working copies of it, issue links to copy it, push to it. Managers
    /// may; editors may when they hold `project_publisher`.
    pub(crate) fn may_publish(&self, caller: &Caller, view: &ProjectView) -> bool {
        let publisher = ServerPermission::ProjectPublisher;
        let holds = match caller.credential() {
            // A working-copy link is scoped to its project, and scoped credentials carry no
            // server permission; the link stands for its creator, whose own permission
            // counts — on the one project the link reaches, by the role checked above.
            Credential::CopyLink { .. } => self.authz.has_permission(caller.uid(), publisher),
            _ => self.authz.has_permission(caller, publisher),
        };
        view.role >= Role::Manager || (view.role >= Role::Editor && holds)
    }

    /// The project, if `caller` may publish into it (see [`may_publish`](Self::may_publish));
    /// otherwise the refusal says what is missing. `what` names the attempt.
    pub(crate) async fn project_to_publish(
        &self,
        caller: &Caller,
        uid: &ProjectId,
        what: &str,
    ) -> ApiResult<ProjectView> {
        let view = self.project_for(caller, uid, Action::View).await?;
        if self.may_publish(caller, &view) {
            return Ok(view);
        }
        Err(ApiError::forbidden(format!(
            "{what} needs the MANAGER role on the project, or the EDITOR role and the {} permission; you have {}",
            ServerPermission::ProjectPublisher.as_str().to_uppercase(),
            view.role.as_str().to_uppercase()
        )))
    }
}
