//! Access warnings as managers meet them: an edit to a report with public or recipients
//! links is compared with what each link showed ([`widening`]); what it would newly show
//! is recorded on the link, or the edit refused when the project's share policy says so.

use std::collections::BTreeSet;
use vitrine_core::AuditAction;

use serde::{Deserialize, Serialize};
use vitrine_authz::Action;
use vitrine_core::ErrorCode;
use vitrine_engine::report::ReportDefinition;
use vitrine_storage::{PinnedReport, ReportRecord, ShareLinkRecord, ShareWarning, now_ms};

use super::exposure::{Exposure, widening};
use super::link_state;
use crate::Services;
use crate::caller::Caller;
use crate::{ApiError, ApiResult};

/// Per-project rule for edits that widen what outsiders' links show.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SharePolicy {
    pub refuse_exposing_edits: bool,
}

fn share_policy_key(project_uid: &str) -> String {
    format!("share_policy:{project_uid}")
}

impl Services {
    pub async fn share_policy(&self, project_uid: &str) -> ApiResult<SharePolicy> {
        Ok(self
            .store
            .setting(&share_policy_key(project_uid))
            .await?
            .unwrap_or_default())
    }

    /// The project's share policy, for its managers.
    pub async fn share_policy_for(
        &self,
        caller: &Caller,
        project_uid: &str,
    ) -> ApiResult<SharePolicy> {
        self.directory
            .project_for(caller, project_uid, Action::Manage)
            .await?;
        self.share_policy(project_uid).await
    }

    pub async fn set_share_policy(
        &self,
        caller: &Caller,
        project_uid: &str,
        policy: SharePolicy,
    ) -> ApiResult<SharePolicy> {
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
        report: &ReportRecord,
    ) -> ApiResult<Vec<ShareWarning>> {
        if self
            .directory
            .project_for(caller, &report.project_uid, Action::Edit)
            .await
            .is_err()
        {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for l in self.store.share_links_of_report(&report.uid).await? {
            out.extend(
                l.warnings
                    .into_iter()
                    .filter(|w| w.report_uid == report.uid),
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
        caller.require_write()?;
        let seen = self.managed_link(caller, uid).await?;
        // What the manager saw is acknowledged; a warning raised meanwhile stays.
        let up_to = seen.warnings.iter().map(|w| w.at_ms).max().unwrap_or(0);
        self.store.clear_share_warnings(uid, up_to).await?;
        self.managed_link(caller, uid).await
    }

    /// Called before a report edit is saved: compares what the report's outsider links
    /// show now with what they would show. Refuses when the project says so, else returns
    /// the warnings to record once the edit is saved.
    pub(crate) async fn check_exposure(
        &self,
        report: &ReportRecord,
        new: &ReportDefinition,
    ) -> ApiResult<Vec<(ShareLinkRecord, Vec<Exposure>)>> {
        let now = now_ms();
        // Pinned links keep showing their pinned version: an edit does not reach them.
        let links: Vec<ShareLinkRecord> = self
            .store
            .share_links_of_report(&report.uid)
            .await?
            .into_iter()
            .filter(|l| {
                l.kind.reaches_outsiders() && !link_state(l, now).is_final() && l.pinned.is_none()
            })
            .collect();
        if links.is_empty() {
            return Ok(Vec::new());
        }
        let old = ReportDefinition::parse(&report.definition)?;
        let filtered = self.filtered_datasets(&report.project_uid).await?;
        let mut out = Vec::new();
        for link in links {
            let found = link_widening(&link, &old, new, &filtered);
            if !found.is_empty() {
                out.push((link, found));
            }
        }
        self.refuse_if_policy(&report.project_uid, &out).await?;
        Ok(out)
    }

    /// The same check for a change of the link itself (pinning it anew, or letting it
    /// follow the latest version): what it would newly show.
    pub(crate) async fn check_link_change(
        &self,
        link: &ShareLinkRecord,
        before: &ReportDefinition,
        after: &ReportDefinition,
    ) -> ApiResult<Vec<Exposure>> {
        if !link.kind.reaches_outsiders() {
            return Ok(Vec::new());
        }
        let filtered = self.filtered_datasets(&link.project_uid).await?;
        let found = link_widening(link, before, after, &filtered);
        let out = vec![(link.clone(), found)];
        self.refuse_if_policy(&link.project_uid, &out).await?;
        Ok(out.into_iter().next().map(|(_, f)| f).unwrap_or_default())
    }

    async fn filtered_datasets(&self, project_uid: &str) -> ApiResult<BTreeSet<String>> {
        Ok(self.rules_of(project_uid).await?.into_keys().collect())
    }

    async fn refuse_if_policy(
        &self,
        project_uid: &str,
        found: &[(ShareLinkRecord, Vec<Exposure>)],
    ) -> ApiResult<()> {
        let widened: Vec<_> = found.iter().filter(|(_, f)| !f.is_empty()).collect();
        let Some((_, first)) = widened.first() else {
            return Ok(());
        };
        if self.share_policy(project_uid).await?.refuse_exposing_edits {
            return Err(ApiError::new(
                ErrorCode::ExposureRefused,
                format!(
                    "this change would widen what {} share link(s) show ({}); the project refuses such changes",
                    widened.len(),
                    first[0].message
                ),
            ));
        }
        Ok(())
    }

    /// The definition a link of a report shows now: its pinned version, or the report's.
    pub(crate) async fn link_definition(
        &self,
        link: &ShareLinkRecord,
    ) -> ApiResult<ReportDefinition> {
        if let Some(p) = &link.pinned {
            return Ok(ReportDefinition::parse(&p.definition)?);
        }
        let report = link
            .report_uid
            .as_deref()
            .ok_or_else(|| ApiError::invalid("a project link shows every report"))?;
        let r = self
            .store
            .report(report)
            .await?
            .ok_or_else(|| ApiError::not_found("report"))?;
        Ok(ReportDefinition::parse(&r.definition)?)
    }

    /// The report's definition as it is now, to pin a link to.
    /// The report as it is now, or as revision `revision` (a uid) of the same project
    /// held it.
    pub(crate) async fn pin_report(
        &self,
        report_uid: &str,
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
            .revision(revision)
            .await?
            .filter(|x| x.project_uid == r.project_uid)
            .ok_or_else(|| {
                ApiError::invalid("pinnedRevisionId: no such revision of the link's project")
            })?;
        let content = crate::install::content_of(&rev)?;
        let old = content
            .reports
            .into_iter()
            .find(|x| x.uid == report_uid)
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "pinnedRevisionId: revision {} does not hold this report",
                    rev.number
                ))
            })?;
        vitrine_engine::report::ReportDefinition::parse(&old.definition)?;
        Ok(PinnedReport {
            definition: old.definition,
            at_ms: rev.created_ms,
            revision: Some(rev.number),
        })
    }

    /// The warnings `found` raises, per share link, for storing with the change that
    /// raised them.
    pub(crate) fn exposure_warnings(
        &self,
        report_uid: &str,
        found: Vec<(ShareLinkRecord, Vec<Exposure>)>,
    ) -> Vec<(String, Vec<ShareWarning>)> {
        let now = now_ms();
        found
            .into_iter()
            .filter(|(_, exposures)| !exposures.is_empty())
            .map(|(link, exposures)| {
                let warnings = exposures
                    .into_iter()
                    .map(|e| ShareWarning {
                        kind: e.kind,
                        message: e.message,
                        report_uid: report_uid.to_owned(),
                        at_ms: now,
                    })
                    .collect();
                (link.uid, warnings)
            })
            .collect()
    }

    /// Appends the warnings `found` raises to their links (field-level, so a concurrent
    /// edit of a link keeps both).
    pub(crate) async fn record_exposure(
        &self,
        report_uid: &str,
        found: Vec<(ShareLinkRecord, Vec<Exposure>)>,
    ) -> ApiResult<()> {
        let warnings = self.exposure_warnings(report_uid, found);
        if !warnings.is_empty() {
            self.store.append_share_warnings(&warnings).await?;
        }
        Ok(())
    }
}

/// What `new` shows a link's audience that `old` did not, within the link's tab.
fn link_widening(
    link: &ShareLinkRecord,
    old: &ReportDefinition,
    new: &ReportDefinition,
    filtered: &BTreeSet<String>,
) -> Vec<Exposure> {
    match &link.tab {
        Some(t) => widening(&only_tab(old, t), &only_tab(new, t), filtered),
        None => widening(old, new, filtered),
    }
}

fn only_tab(def: &ReportDefinition, tab: &str) -> ReportDefinition {
    ReportDefinition {
        tabs: def.tabs.iter().filter(|t| t.id == tab).cloned().collect(),
        filters: def.filters.clone(),
    }
}
