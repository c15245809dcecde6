//! Files made through a link, as the link's audience sees the report: the offline report
//! file a recipient's scheduled delivery mails (with each tile's CSV when asked), and the
//! visit a delivery stands for ([`Sharing::recipient_access`]), which has no session.
//!
//! Everything goes through the one viewer path with the link's grant, so a delivered
//! file never holds more than the recipient sees in their browser: the link's (or the
//! recipient's) attribute values select the rows, and the link's download right and the
//! project's download ability are both required.

use vitrine_core::{AuditAction, ErrorCode, LinkState, Password};
use vitrine_engine::report::FilterState;

use super::Sharing;
use super::visit::{ShareAccess, share_event};
use crate::caller::RequestMeta;
use crate::versions::report_file::{FileContent, report_file_page, tile_entry};
use crate::{ApiError, ApiResult};

/// A report file made for a link's audience, with the CSV of each tile when asked.
#[derive(Debug, Clone)]
pub struct SharedFile {
    pub report_name: String,
    pub filename: String,
    pub html: Vec<u8>,
    /// `(file name, bytes)` per tile.
    pub csv: Vec<(String, Vec<u8>)>,
}

impl Sharing {
    /// A recipient's standing visit, for work done on their behalf without a session (a
    /// scheduled delivery). Read afresh each time: a revoked recipient, a link that is
    /// revoked, expired or paused, a creator who lost the project, or a link that no
    /// longer lets recipients schedule all refuse.
    pub async fn recipient_access(
        &self,
        recipient_uid: &vitrine_core::RecipientId,
    ) -> ApiResult<ShareAccess> {
        let gone = |why: &str| ApiError::new(ErrorCode::LinkNotValid, why.to_owned());
        let r = self
            .store
            .share_recipient(recipient_uid)
            .await?
            .filter(|r| r.revoked_ms.is_none())
            .ok_or_else(|| gone("the recipient was revoked"))?;
        let link = self
            .store
            .share_link(&r.link_uid)
            .await?
            .ok_or_else(|| gone("the link no longer exists"))?;
        match link.state(vitrine_storage::now_ms()) {
            LinkState::Active | LinkState::Locked => {}
            other => return Err(gone(&format!("the link is {}", other.as_str()))),
        }
        let projects = self.visit_projects(&link).await?;
        if projects.is_empty() {
            return Err(gone("the project no longer exists"));
        }
        let meta = RequestMeta {
            user_agent: Some("scheduled delivery".into()),
            ..Default::default()
        };
        let a = self
            .recipient_visit(&link, &projects, r, None, &meta)
            .await?
            .ok_or_else(|| gone("the link's owner can no longer see the project"))?;
        if !a.rights.schedule {
            return Err(ApiError::forbidden(
                "the link no longer lets its recipients schedule deliveries",
            ));
        }
        Ok(a)
    }

    /// The report a visit shows: the link's own, or `report_uid` among those a link to
    /// whole projects covers.
    pub async fn shared_report_of(
        &self,
        a: &ShareAccess,
        report_uid: Option<&str>,
    ) -> ApiResult<vitrine_storage::ReportRecord> {
        let a = &*self.rebase(a, report_uid).await?;
        if let (Some(own), Some(asked)) = (&a.link.report_uid, report_uid)
            && own != asked
        {
            return Err(ApiError::invalid(
                "reportId: this link shares one report; leave reportId out",
            ));
        }
        let (report, _, _) = self.shared_report(a, report_uid).await?;
        Ok(report)
    }

    /// The report file of a shared report as the visitor sees it (filters at their
    /// defaults), and each tile's CSV when `csv`. Needs the download right: a file
    /// carries the data. Audited as a delivery of the link.
    pub async fn share_report_file(
        &self,
        a: &ShareAccess,
        report_uid: Option<&str>,
        csv: bool,
        password: Option<Password>,
    ) -> ApiResult<SharedFile> {
        let a = &*self.rebase(a, report_uid).await?;
        let (report, def, _) = self.shared_report(a, report_uid).await?;
        let action = AuditAction::ShareDeliverySend;
        self.report_file_for(a, report, def, csv, password, action)
            .await
    }

    /// A delivered file of a link sharing projects' delivered files: the report file of
    /// a report scheduled tasks deliver, made as the link's audience sees it. The link's
    /// content is the right to it; the project's download ability still applies.
    pub async fn share_delivered_file(
        &self,
        a: &ShareAccess,
        report_uid: &str,
    ) -> ApiResult<SharedFile> {
        let a = self.rebase(a, Some(report_uid)).await?;
        if !a.link.content.is_some_and(|c| c.files) {
            return Err(ApiError::forbidden(
                "this link does not share delivered files",
            ));
        }
        let tasks = self.store.delivering_tasks().await?;
        let report = self
            .scheduled_reports(&a.project, &tasks)
            .await?
            .into_iter()
            .find(|r| r.uid == report_uid)
            .ok_or_else(|| ApiError::not_found("delivered file"))?;
        let mut a = a.into_owned();
        a.rights.download = true;
        let def = report.definition.clone();
        self.report_file_for(&a, report, def, false, None, AuditAction::ShareDownload)
            .await
    }

    async fn report_file_for(
        &self,
        a: &ShareAccess,
        report: vitrine_storage::ReportRecord,
        def: vitrine_engine::report::ReportDefinition,
        csv: bool,
        password: Option<Password>,
        action: AuditAction,
    ) -> ApiResult<SharedFile> {
        let (grant, ctx) = self.link_grant(a).await?;
        if !a.rights.download {
            return Err(ApiError::forbidden("this link does not allow downloads"));
        }
        if let Some(why) = grant.download_refused {
            return Err(ApiError::forbidden(why));
        }
        let state = FilterState::new();
        let mut tiles = serde_json::Map::new();
        let mut csv_files = Vec::new();
        for tile in def.tabs.iter().flat_map(|t| t.tiles.iter()) {
            let result = self
                .data
                .answer_tile(&grant, &ctx, &report.uid, &def, tile, &state, None)
                .await;
            if csv && let Ok(rows) = &result {
                let name = crate::reports::download_name(&report.name, &tile.id);
                csv_files.push((name, rows.csv()?));
            }
            tiles.insert(tile.id.clone(), tile_entry(result)?);
        }
        let who = a.who();
        let content = FileContent {
            report_name: &report.name,
            project_name: &a.project.name,
            made_for: &who,
            definition: &def,
            tiles,
        };
        let html = report_file_page(content, password).await?;
        let mut event = share_event(&a.link, a.recipient.as_ref(), action, &a.meta, who);
        event.detail = format!("report:{} {}", report.uid, event.detail);
        self.audit.append(event).await?;
        Ok(SharedFile {
            filename: format!("{}.html", crate::versions::bundles::safe_name(&report.name)),
            report_name: report.name,
            html: html.into_bytes(),
            csv: csv_files,
        })
    }
}
