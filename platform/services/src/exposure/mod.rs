//! Exposure checks: before a report edit (or a link change, or an installed push) is
//! saved, what each public or recipients link of the report would newly show its
//! audience ([`widening`]). The project's share policy decides whether that refuses the
//! change or is recorded as warnings on the links, in the change's own transaction.
//!
//! A component below data, sharing and versions, which all change what links show: it
//! reads links, access filters and the policy, and writes only the warnings it raises.

mod widening;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use vitrine_core::ErrorCode;
use vitrine_engine::report::ReportDefinition;
use vitrine_storage::{ReportRecord, ShareLinkRecord, ShareWarning, Store, now_ms};

use crate::{ApiError, ApiResult};
pub(crate) use widening::Exposure;
use widening::widening;

/// Per-project rule for edits that widen what outsiders' links show.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SharePolicy {
    pub refuse_exposing_edits: bool,
}

pub(crate) fn share_policy_key(project_uid: &vitrine_core::ProjectId) -> String {
    format!("share_policy:{project_uid}")
}

/// Reads what links show and raises the warnings an edit causes.
#[derive(Clone)]
pub(crate) struct Exposures {
    store: Store,
}

impl Exposures {
    pub(crate) fn new(store: Store) -> Self {
        Exposures { store }
    }

    /// The project's share policy (the default when none was set).
    pub(crate) async fn share_policy(
        &self,
        project_uid: &vitrine_core::ProjectId,
    ) -> ApiResult<SharePolicy> {
        Ok(self
            .store
            .setting(&share_policy_key(project_uid))
            .await?
            .unwrap_or_default())
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
        let mut links = self.store.share_links_of_report(&report.uid).await?;
        links.extend(self.dashboard_links(&report.project_uid).await?);
        let links: Vec<ShareLinkRecord> = links
            .into_iter()
            .filter(|l| {
                l.kind.reaches_outsiders() && !l.state(now).is_final() && l.pinned.is_none()
            })
            .collect();
        if links.is_empty() {
            return Ok(Vec::new());
        }
        let old = report.definition.clone();
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

    /// Links to whole projects whose dashboard shows the project's reports.
    async fn dashboard_links(
        &self,
        project_uid: &vitrine_core::ProjectId,
    ) -> ApiResult<Vec<ShareLinkRecord>> {
        let Some(project) = self.store.project(project_uid).await? else {
            return Ok(Vec::new());
        };
        let mut chain = vec![project.folder_uid.clone()];
        while let Some(parent) = match chain.last() {
            Some(f) => self.store.folder(f).await?.and_then(|f| f.parent_uid),
            None => None,
        } {
            if chain.contains(&parent) || chain.len() > 64 {
                break;
            }
            chain.push(parent);
        }
        let links = self.store.dashboard_links_of(project_uid, &chain).await?;
        Ok(links
            .into_iter()
            .filter(|l| match &l.folder {
                Some(f) => f.recursive || f.uid == project.folder_uid,
                None => true,
            })
            .collect())
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

    /// The datasets with an access filter: what they show differs per viewer.
    async fn filtered_datasets(
        &self,
        project_uid: &vitrine_core::ProjectId,
    ) -> ApiResult<BTreeSet<String>> {
        Ok(self
            .store
            .access_filters(project_uid)
            .await?
            .into_iter()
            .map(|f| f.dataset)
            .collect())
    }

    async fn refuse_if_policy(
        &self,
        project_uid: &vitrine_core::ProjectId,
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

    /// The warnings `found` raises, per share link, for storing with the change that
    /// raised them.
    pub(crate) fn exposure_warnings(
        &self,
        report_uid: &vitrine_core::ReportId,
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
                        report_uid: report_uid.into(),
                        at_ms: now,
                    })
                    .collect();
                (link.uid.into_string(), warnings)
            })
            .collect()
    }

    /// Appends the warnings `found` raises to their links (field-level, so a concurrent
    /// edit of a link keeps both).
    pub(crate) async fn record_exposure(
        &self,
        report_uid: &vitrine_core::ReportId,
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
