//! Access warnings as managers meet them: the project's share policy, the warnings
//! recorded on a report's links and their acknowledgement, and the definition a link
//! shows (pinned or latest). The comparison that raises warnings is
//! [`crate::exposure`]'s.

use vitrine_core::AuditAction;

use vitrine_authz::Action;
use vitrine_engine::report::ReportDefinition;
use vitrine_storage::{PinnedReport, ShareLinkRecord, ShareWarning, now_ms};

use super::Sharing;
use crate::caller::Caller;
use crate::exposure::{SharePolicy, share_policy_key};
use crate::{ApiError, ApiResult};

impl Sharing {
    /// The project's share policy, for its managers.
    pub async fn share_policy_for(
        &self,
        caller: &Caller,
        project_uid: &str,
    ) -> ApiResult<SharePolicy> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        self.directory
            .project_for(caller, project_uid, Action::Manage)
            .await?;
        self.exposure.share_policy(project_uid).await
    }

    pub async fn set_share_policy(
        &self,
        caller: &Caller,
        project_uid: &str,
        policy: SharePolicy,
    ) -> ApiResult<SharePolicy> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        caller.require_write()?;
        self.directory
            .project_for(caller, project_uid, Action::Manage)
            .await?;
        self.store
            .put_setting(&share_policy_key(project_uid), &policy)
            .await?;
        self.audit
            .record(
                caller,
                AuditAction::SharePolicySet,
                &format!("project:{project_uid}"),
                "ok",
                if policy.refuse_exposing_edits {
                    "refuse exposing edits"
                } else {
                    "warn on exposing edits"
                },
            )
            .await?;
        Ok(policy)
    }

    /// Unacknowledged access warnings of a report's links, for those who may edit it.
    pub async fn report_access_warnings(
        &self,
        caller: &Caller,
        project_uid: &vitrine_core::ProjectId,
        report_uid: &vitrine_core::ReportId,
    ) -> ApiResult<Vec<ShareWarning>> {
        if self
            .directory
            .project_for(caller, project_uid, Action::Edit)
            .await
            .is_err()
        {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for l in self.store.share_links_of_report(report_uid).await? {
            out.extend(
                l.warnings
                    .into_iter()
                    .filter(|w| w.report_uid == *report_uid),
            );
        }
        out.sort_by_key(|w| w.at_ms);
        Ok(out)
    }

    pub async fn acknowledge_share_warnings(
        &self,
        caller: &Caller,
        uid: &str,
    ) -> ApiResult<ShareLinkRecord> {
        let uid = &vitrine_core::LinkId::from(uid);
        caller.require_write()?;
        let seen = self.managed_link(caller, uid).await?;
        // What the manager saw is acknowledged; a warning raised meanwhile stays.
        let up_to = seen.warnings.iter().map(|w| w.at_ms).max().unwrap_or(0);
        self.store.clear_share_warnings(uid, up_to).await?;
        self.managed_link(caller, uid).await
    }

    /// The definition a link of a report shows now: its pinned version, or the report's.
    pub(crate) async fn link_definition(
        &self,
        link: &ShareLinkRecord,
    ) -> ApiResult<ReportDefinition> {
        if let Some(p) = &link.pinned {
            return Ok(p.definition.clone());
        }
        let report = link
            .report_uid
            .as_deref()
            .ok_or_else(|| ApiError::invalid("a project link shows every report"))?;
        let r = self
            .store
            .report(&vitrine_core::ReportId::from(report))
            .await?
            .ok_or_else(|| ApiError::not_found("report"))?;
        Ok(r.definition.clone())
    }

    /// The report's definition as it is now, to pin a link to.
    /// The report as it is now, or as revision `revision` (a uid) of the same project
    /// held it.
    pub(crate) async fn pin_report(
        &self,
        report_uid: &vitrine_core::ReportId,
        revision: Option<&str>,
    ) -> ApiResult<PinnedReport> {
        let r = self
            .store
            .report(report_uid)
            .await?
            .ok_or_else(|| ApiError::not_found("report"))?;
        let Some(revision) = revision else {
            return Ok(PinnedReport {
                definition: r.definition,
                at_ms: now_ms(),
                revision: None,
            });
        };
        let rev = self
            .store
            .revision(&vitrine_core::RevisionId::from(revision))
            .await?
            .filter(|x| x.project_uid == r.project_uid)
            .ok_or_else(|| {
                ApiError::invalid("pinnedRevisionId: no such revision of the link's project")
            })?;
        let content = crate::install::content_of(&rev)?;
        let old = content
            .reports
            .into_iter()
            .find(|x| x.uid == report_uid.as_str())
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "pinnedRevisionId: revision {} does not hold this report",
                    rev.number
                ))
            })?;
        Ok(PinnedReport {
            definition: ReportDefinition::parse(&old.definition)?,
            at_ms: rev.created_ms,
            revision: Some(rev.number),
        })
    }
}
