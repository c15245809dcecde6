//! Creating a link: what it covers (one project, several, a folder), what it opens (a
//! tab, a report, a whole project or projects' content), its rights, recipients and
//! audience, checked together before anything is stored.

use std::collections::BTreeSet;

use vitrine_core::{AuditAction, LinkContent, LinkKind, LinkRights, LinkTarget, check_kind_target};
use vitrine_storage::{ShareLinkRecord, new_uid, now_ms};

use super::recipients::new_recipient;
use super::{
    CreatedShareLink, Invitation, NewCoverage, NewRecipient, Sharing, audience, check_expiry,
    check_label, check_pin, link_path,
};
use crate::caller::Caller;
use crate::secrets::{new_token, token_hash};
use crate::{ApiError, ApiResult};

/// A new link as a manager asks for it.
#[derive(Debug, Clone)]
pub struct NewShareLink {
    /// The project, projects or folder the link covers.
    pub coverage: NewCoverage,
    pub report_uid: Option<String>,
    pub tab: Option<String>,
    pub kind: LinkKind,
    pub label: Option<String>,
    pub rights: LinkRights,
    pub expires_ms: Option<i64>,
    pub recipients: Vec<NewRecipient>,
    /// Show the report as it is now, not its later versions.
    pub pinned: bool,
    /// Show the report as this revision (uid) held it; implies `pinned`.
    pub pinned_revision: Option<String>,
    /// The attribute values the audience's rows are selected with (public and recipients
    /// links); the creator's when absent.
    pub attributes: Option<super::AttributeInput>,
    /// What a link to whole projects shows outsiders (required for several projects or
    /// a folder).
    pub content: Option<LinkContent>,
}

impl Sharing {
    /// Checks that the report (and tab) belong to the project.
    async fn check_target(
        &self,
        project_uid: &vitrine_core::ProjectId,
        target: &LinkTarget,
    ) -> ApiResult<()> {
        let Some(report_uid) = target.report() else {
            return Ok(());
        };
        let report = self
            .store
            .report(&vitrine_core::ReportId::from(report_uid))
            .await?
            .filter(|r| r.project_uid == project_uid)
            .ok_or_else(|| ApiError::invalid("reportId: no such report in this project"))?;
        if let Some(tab) = target.tab() {
            let def = report.definition.clone();
            if !def.tabs.iter().any(|t| t.id == tab) {
                return Err(ApiError::invalid(format!(
                    "tab: report `{}` has no tab `{tab}`",
                    report.name
                )));
            }
        }
        Ok(())
    }

    pub async fn create_share_link(
        &self,
        caller: &Caller,
        new: NewShareLink,
    ) -> ApiResult<CreatedShareLink> {
        caller.require_write()?;
        let (project_uid, projects, folder) = self
            .check_new_coverage(caller, &new.coverage, new.content.as_ref())
            .await?;
        let target = match (&new.report_uid, &new.tab) {
            (None, Some(_)) => return Err(ApiError::invalid("tab: needs reportId")),
            (None, None) => LinkTarget::Project,
            (Some(r), None) => LinkTarget::Report { report: r.clone() },
            (Some(r), Some(t)) => LinkTarget::Tab {
                report: r.clone(),
                tab: t.clone(),
            },
        };
        check_kind_target(new.kind, &target, new.content.as_ref())?;
        new.rights.check(new.kind, &target)?;
        if let Some(c) = &new.content {
            c.check(new.kind, &target, &new.rights)?;
        }
        check_expiry(new.expires_ms)?;
        let pin = new.pinned || new.pinned_revision.is_some();
        check_pin(pin, &target, &new.rights)?;
        self.check_target(&vitrine_core::ProjectId::from(&project_uid), &target)
            .await?;
        match (new.kind, new.recipients.is_empty()) {
            (LinkKind::Recipients, true) => {
                return Err(ApiError::invalid(
                    "recipients: a recipients link needs at least one recipient",
                ));
            }
            (LinkKind::Recipients, false) | (_, true) => {}
            (_, false) => {
                return Err(ApiError::invalid(
                    "recipients: only a recipients link has recipients",
                ));
            }
        }
        let uid = new_uid();
        let mut recipients = Vec::new();
        let mut tokens = Vec::new();
        let mut emails = BTreeSet::new();
        for (i, r) in new.recipients.iter().enumerate() {
            let (rec, token) = new_recipient(&vitrine_core::LinkId::from(&uid), r, i)?;
            if !emails.insert(rec.email.clone()) {
                return Err(ApiError::invalid(format!(
                    "recipients[{i}].email: {} is listed twice",
                    rec.email
                )));
            }
            recipients.push(rec);
            tokens.push(token);
        }
        let pinned = match (&new.report_uid, pin) {
            (Some(r), true) => Some(
                self.pin_report(
                    &vitrine_core::ReportId::from(r),
                    new.pinned_revision.as_deref(),
                )
                .await?,
            ),
            _ => None,
        };
        let attributes = audience::new_link_attributes(new.kind, new.attributes, caller.user())?;
        let public_token = (new.kind == LinkKind::Public).then(|| new_token("vts"));
        let now = now_ms();
        let link = ShareLinkRecord {
            uid: uid.clone().into(),
            project_uid: project_uid.into(),
            kind: new.kind,
            report_uid: new.report_uid.clone().map(Into::into),
            tab: new.tab.clone(),
            label: check_label(new.label.as_deref())?,
            rights: new.rights,
            expires_ms: new.expires_ms,
            token_hash: public_token.as_deref().map(token_hash),
            created_by: caller.uid().into(),
            created_ms: now,
            updated_ms: now,
            paused: false,
            revoked_ms: None,
            locked_ms: None,
            failures: 0,
            last_access_ms: None,
            access_count: 0,
            warnings: Vec::new(),
            pinned,
            attributes,
            projects,
            folder,
            content: new.content,
        };
        self.store.insert_share_link(&link, &recipients).await?;
        self.audit
            .record(
                caller,
                AuditAction::ShareLinkCreate,
                &format!("share_link:{uid}"),
                "ok",
                &format!(
                    "{} link, {} recipient(s){}",
                    link.kind,
                    recipients.len(),
                    covers(&link)
                ),
            )
            .await?;
        let invites = recipients.iter().cloned().zip(tokens.iter().cloned());
        self.send_invitations(caller, &link, invites.collect())
            .await?;
        let path = match &public_token {
            Some(t) => format!("/s/{t}"),
            None => link_path(&uid),
        };
        let invitations = recipients
            .into_iter()
            .zip(tokens)
            .map(|(r, t)| Invitation {
                recipient: Some(r),
                path: format!("/s/{t}"),
            })
            .collect();
        Ok(CreatedShareLink {
            link,
            path,
            invitations,
        })
    }
}

/// What a link to whole projects covers and shows, for its audit event.
fn covers(link: &ShareLinkRecord) -> String {
    let Some(c) = &link.content else {
        return String::new();
    };
    let scope = match (&link.folder, link.projects.len()) {
        (Some(f), _) if f.recursive => format!("folder:{} and sub-folders", f.uid),
        (Some(f), _) => format!("folder:{}", f.uid),
        (None, 0) => format!("project:{}", link.project_uid),
        (None, n) => format!("{n} projects"),
    };
    let what = match (c.dashboard, c.files) {
        (true, true) => "dashboard and delivered files",
        (true, false) => "dashboard",
        _ => "delivered files",
    };
    format!(", {scope}: {what}")
}
