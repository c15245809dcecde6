//! The share ledger: which links exist, for whom, and which datasets each one shows.

use std::collections::BTreeSet;

use vitrine_authz::Action;
use vitrine_core::ServerPermission;
use vitrine_storage::{PageRequest, ShareLinkRecord};

use super::Sharing;
use crate::caller::Caller;
use crate::{ApiError, ApiResult};

impl Sharing {
    /// The share ledger: every link of `project` (its managers) or of the instance
    /// (admins; non-admins see the links of projects they manage).
    pub async fn share_ledger(
        &self,
        caller: &Caller,
        project_uid: Option<&str>,
        page: &PageRequest,
    ) -> ApiResult<(Vec<ShareLinkRecord>, bool)> {
        self.access_log.flush().await;
        if let Some(p) = project_uid {
            self.directory
                .project_for(caller, &vitrine_core::ProjectId::from(p), Action::Manage)
                .await?;
        }
        let admin = self.authz.has_permission(caller, ServerPermission::Admin);
        crate::scan_visible(
            page,
            |req| async move { Ok(self.store.share_links_page(project_uid, &req).await?) },
            |l: &ShareLinkRecord| &l.uid,
            |l| {
                (admin
                    || self.authz.effective_role(caller, &Self::managed_object(&l))
                        >= vitrine_core::Role::Manager)
                    .then_some(l)
            },
        )
        .await
    }

    /// The datasets a link shows: those its report's (or project's reports') tiles read.
    /// Answered for a link the caller already holds (its ledger entry).
    pub async fn exposed_datasets(&self, link_uid: &str) -> ApiResult<Vec<String>> {
        let link_uid = &vitrine_core::LinkId::from(link_uid);
        let link = &self
            .store
            .share_link(link_uid)
            .await?
            .ok_or_else(|| ApiError::not_found("share link"))?;
        let definitions = match &link.report_uid {
            Some(_) => vec![self.link_definition(link).await?],
            None => {
                let mut out = Vec::new();
                for p in self.visit_projects(link).await? {
                    for r in self.store.reports(&p.uid).await? {
                        out.push(r.definition.clone());
                    }
                }
                out
            }
        };
        let mut out = BTreeSet::new();
        for def in definitions {
            for tab in def
                .tabs
                .iter()
                .filter(|t| link.tab.as_ref().is_none_or(|x| *x == t.id))
            {
                out.extend(tab.tiles.iter().map(|t| t.query.dataset.clone()));
            }
        }
        Ok(out.into_iter().collect())
    }
}
