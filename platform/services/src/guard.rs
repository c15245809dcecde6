//! Proofs of authorization. A write of a project's content or history takes an
//! [`Authorized<ProjectRecord, A>`](Authorized): the project, together with the fact that
//! the caller may do `A` on it. Only this module makes one, and only after the check
//! passed — for a member by their effective role ([`Directory::authorize`]), for a share
//! link's visitor by the link's rights ([`Directory::authorize_link_edit`]) — so a write
//! path that skipped the check does not compile. The model is meilisearch's
//! `GuardedData<ActionPolicy<…>>`.
//!
//! The proof cannot be built outside (its fields are private and it has no public
//! constructor):
//!
//! ```compile_fail
//! use vitrine_services::{Authorized, Edit};
//! use vitrine_storage::ProjectRecord;
//!
//! fn forge(project: ProjectRecord) -> Authorized<ProjectRecord, Edit> {
//!     Authorized { value: project, action: std::marker::PhantomData }
//! }
//! ```
//!
//! while holding one is how code outside reads it:
//!
//! ```
//! use vitrine_services::{Authorized, Edit};
//! use vitrine_storage::ProjectRecord;
//!
//! fn project_id(proof: &Authorized<ProjectRecord, Edit>) -> &str {
//!     &proof.get().uid
//! }
//! ```

use std::marker::PhantomData;

use vitrine_authz::Action;
use vitrine_core::LinkRights;
use vitrine_storage::ProjectRecord;

use crate::caller::Caller;
use crate::{ApiError, ApiResult, Directory};

/// `value`, which the caller was found allowed to act on with `A`.
#[derive(Debug)]
pub struct Authorized<T, A> {
    value: T,
    action: PhantomData<A>,
}

impl<T, A> Authorized<T, A> {
    fn new(value: T) -> Self {
        Authorized {
            value,
            action: PhantomData,
        }
    }

    pub fn get(&self) -> &T {
        &self.value
    }

    pub fn into_inner(self) -> T {
        self.value
    }
}

/// Reading a project: its reports, tiles, history.
#[derive(Debug)]
pub struct View;
/// Changing a project's content: workflow, parameters, reports.
#[derive(Debug)]
pub struct Edit;
/// Managing a project: sharing, its settings, its working copies.
#[derive(Debug)]
pub struct Manage;

/// An action a proof can be for. Sealed: the three above are all there is.
pub trait Permit: sealed::Sealed {
    const ACTION: Action;
}

impl Permit for View {
    const ACTION: Action = Action::View;
}
impl Permit for Edit {
    const ACTION: Action = Action::Edit;
}
impl Permit for Manage {
    const ACTION: Action = Action::Manage;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::View {}
    impl Sealed for super::Edit {}
    impl Sealed for super::Manage {}
}

/// The checks that mint proofs belong to the directory, which knows who may do what;
/// they are written here because only this module can make an [`Authorized`].
impl Directory {
    /// The project `uid`, if `caller` may do `A` on it (by role, abilities and, for
    /// writes, a credential that may write). Editing is a direct change of content, which
    /// the instance's Project Editor switch may have turned off.
    pub(crate) async fn authorize<A: Permit>(
        &self,
        caller: &Caller,
        uid: &str,
    ) -> ApiResult<Authorized<ProjectRecord, A>> {
        if A::ACTION != Action::View {
            caller.require_write()?;
        }
        let p = self
            .project_for(caller, &vitrine_core::ProjectId::from(uid), A::ACTION)
            .await?;
        if A::ACTION == Action::Edit {
            self.require_direct_editing(&p.record.uid).await?;
        }
        Ok(Authorized::new(p.record))
    }

    /// The origin project a working copy's push replaces the content of. Pushing is how
    /// content reaches a project whose instance switched direct editing off, so the
    /// switch does not apply here. Managers push, and editors holding
    /// `project_publisher`; so does a service account with the editor role behind a
    /// link whose creator allowed pushing (`link_allows`).
    pub(crate) async fn authorize_push(
        &self,
        caller: &Caller,
        uid: &vitrine_core::ProjectId,
        link_allows: bool,
    ) -> ApiResult<Authorized<ProjectRecord, Edit>> {
        caller.require_write()?;
        let view = if link_allows {
            self.project_for(caller, uid, Action::Edit).await?
        } else {
            self.project_to_publish(caller, uid, "pushing to the origin")
                .await?
        };
        Ok(Authorized::new(view.record))
    }

    /// A project being created with its first content, in one transaction: the plan
    /// exists only once the caller was found allowed to create it, and its creator owns
    /// it (or is an administrator).
    pub(crate) fn authorize_planned(
        &self,
        plan: &crate::projects::ProjectPlan,
    ) -> Authorized<ProjectRecord, Edit> {
        Authorized::new(plan.record().clone())
    }

    /// The project a share link shows, if the link's rights let its visitors edit it in
    /// place (the edit and sync-edits rights).
    pub(crate) async fn authorize_link_edit(
        &self,
        project: &ProjectRecord,
        rights: &LinkRights,
    ) -> ApiResult<Authorized<ProjectRecord, Edit>> {
        if !(rights.edit && rights.sync_edits) {
            return Err(ApiError::forbidden(
                "this link does not let edits reach the report",
            ));
        }
        self.require_direct_editing(&project.uid).await?;
        Ok(Authorized::new(project.clone()))
    }
}
