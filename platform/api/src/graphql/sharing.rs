//! Resolvers of share links, recipients and the share ledger; their types are in
//! [`super::sharing_types`].

use async_graphql::{Context, ID, Object};
use vitrine_core::LinkKind;

use async_graphql::connection::Connection;

use super::pagination::{connection, page};
use super::sharing_types::*;
use super::types::{UserAttributeInput, attribute_input};
use super::{member, on};
use crate::GqlResult;

type R<T> = async_graphql::Result<T>;
use crate::services::{
    LinkOp, NewCoverage, NewShareLink, Services, ShareLinkChange, SharePolicy as ServicePolicy,
};

#[derive(Default)]
pub struct SharingQuery;

#[Object]
impl SharingQuery {
    /// One share link (managers of its project).
    async fn share_link(&self, ctx: &Context<'_>, id: ID) -> R<ShareLink> {
        let (s, c) = on(ctx, Services::sharing)?;
        Ok(s.share_link_for(c, &id).await.gql()?.into())
    }

    /// The share ledger: every link and recipient, with kind, rights, expiry, last access
    /// and exposed datasets. Admins see the instance, managers their projects.
    #[graphql(complexity = "crate::graphql::pagination::list_cost(first, child_complexity)")]
    async fn share_ledger(
        &self,
        ctx: &Context<'_>,
        project_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> R<Connection<String, ShareLink>> {
        let (s, c) = on(ctx, Services::sharing)?;
        let p = page(first, after.clone()).gql()?;
        let n = p.first;
        let (rows, more) = s
            .share_ledger(c, project_id.as_ref().map(|i| i.as_str()), &p)
            .await
            .gql()?;
        let prev = after.is_some();
        Ok(connection(rows, n, Some(more), prev, ShareLink::from))
    }

    async fn share_policy(&self, ctx: &Context<'_>, project_id: ID) -> R<SharePolicy> {
        let (s, c) = on(ctx, Services::sharing)?;
        let p = s.share_policy_for(c, &project_id).await.gql()?;
        Ok(SharePolicy {
            refuse_exposing_edits: p.refuse_exposing_edits,
        })
    }
}

#[derive(Default)]
pub struct SharingMutation;

async fn link_op(ctx: &Context<'_>, id: ID, op: LinkOp) -> R<ShareLink> {
    let (s, c) = on(ctx, Services::sharing)?;
    Ok(s.set_share_link_state(c, &id, op).await.gql()?.into())
}

#[Object]
impl SharingMutation {
    /// Creates a link (project managers). The URL of a public link and the recipients'
    /// invitations are in the answer only.
    async fn create_share_link(
        &self,
        ctx: &Context<'_>,
        input: CreateShareLinkInput,
    ) -> R<ShareLinkCreated> {
        let (s, c) = on(ctx, Services::sharing)?;
        let ids = |l: Vec<ID>| l.into_iter().map(|i| i.0).collect();
        let coverage = NewCoverage::from_parts(
            input.project_id.map(|p| p.0),
            input.project_ids.map(ids),
            input.folder_id.map(|f| f.0),
            input.recursive,
        )
        .gql()?;
        let created = s
            .create_share_link(
                c,
                NewShareLink {
                    coverage,
                    content: input.content.map(Into::into),
                    report_uid: input.report_id.map(|r| r.0),
                    tab: input.tab,
                    kind: LinkKind::from(input.kind),
                    label: input.label,
                    rights: input.rights.map(Into::into).unwrap_or_default(),
                    expires_ms: input.expires_at.map(|t| t.timestamp_millis()),
                    recipients: input.recipients.into_iter().map(Into::into).collect(),
                    pinned: input.pinned,
                    pinned_revision: input.pinned_revision_id.map(|r| r.0),
                    attributes: input.attributes.map(attribute_input),
                },
            )
            .await
            .gql()?;
        Ok(created.into())
    }

    async fn update_share_link(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateShareLinkInput,
    ) -> R<ShareLink> {
        let (s, c) = on(ctx, Services::sharing)?;
        let expires_ms = if input.clear_expiry {
            Some(None)
        } else {
            input.expires_at.map(|t| Some(t.timestamp_millis()))
        };
        let change = ShareLinkChange {
            label: input.label,
            rights: input.rights.map(Into::into),
            expires_ms,
            pinned: input.pinned,
            pinned_revision: input.pinned_revision_id.map(|r| r.0),
            attributes: input.attributes.map(attribute_input),
        };
        Ok(s.update_share_link(c, &id, change).await.gql()?.into())
    }

    /// Stops a link from opening until it is resumed.
    async fn pause_share_link(&self, ctx: &Context<'_>, id: ID) -> R<ShareLink> {
        link_op(ctx, id, LinkOp::Pause).await
    }

    async fn resume_share_link(&self, ctx: &Context<'_>, id: ID) -> R<ShareLink> {
        link_op(ctx, id, LinkOp::Resume).await
    }

    /// Revokes a link for good; its sessions end at once.
    async fn revoke_share_link(&self, ctx: &Context<'_>, id: ID) -> R<ShareLink> {
        link_op(ctx, id, LinkOp::Revoke).await
    }

    /// Revokes many links (the ledger's bulk action); nothing changes if one is refused.
    async fn revoke_share_links(&self, ctx: &Context<'_>, ids: Vec<ID>) -> R<Vec<ShareLink>> {
        let (s, c) = on(ctx, Services::sharing)?;
        let ids: Vec<String> = ids.into_iter().map(|i| i.0).collect();
        Ok(s.revoke_share_links(c, &ids)
            .await
            .gql()?
            .into_iter()
            .map(ShareLink::from)
            .collect())
    }

    /// Lifts the lock that repeated wrong passwords put on a recipients link.
    async fn unlock_share_link(&self, ctx: &Context<'_>, id: ID) -> R<ShareLink> {
        link_op(ctx, id, LinkOp::Unlock).await
    }

    /// Clears a link's access warnings once someone has looked at them.
    async fn acknowledge_access_warnings(&self, ctx: &Context<'_>, id: ID) -> R<ShareLink> {
        let (s, c) = on(ctx, Services::sharing)?;
        Ok(s.acknowledge_share_warnings(c, &id).await.gql()?.into())
    }

    async fn add_recipient(
        &self,
        ctx: &Context<'_>,
        link_id: ID,
        input: RecipientInput,
    ) -> R<Invitation> {
        let (s, c) = on(ctx, Services::sharing)?;
        let inner = s
            .add_share_recipient(c, &link_id, input.into())
            .await
            .gql()?;
        let link = s.share_link_for(c, &link_id).await.gql()?;
        Ok(Invitation {
            inner,
            link_rights: link.rights,
        })
    }

    /// E-mails a recipient a new invitation (the link's managers): the old one stops
    /// working once this one is sent; with `resetPassword` they choose a new password.
    /// UNAVAILABLE, and nothing changed, when the mail cannot be sent.
    async fn resend_share_invitation(
        &self,
        ctx: &Context<'_>,
        recipient_id: ID,
        reset_password: Option<bool>,
    ) -> R<Recipient> {
        let (s, c) = member(ctx)?;
        let reset = reset_password.unwrap_or(false);
        let sharing = s.sharing();
        let rec = sharing
            .resend_invitation(c, &recipient_id, reset)
            .await
            .gql()?;
        let link = sharing.share_link_for(c, &rec.link_uid).await.gql()?;
        Ok(Recipient::new(rec, link.rights))
    }

    /// A new invitation for a recipient; the old one stops working and their password
    /// is cleared, to be chosen again.
    async fn reissue_invitation(&self, ctx: &Context<'_>, recipient_id: ID) -> R<Invitation> {
        let (s, c) = member(ctx)?;
        let inner = s
            .sharing()
            .reissue_invitation(c, &recipient_id)
            .await
            .gql()?;
        let link_uid = inner
            .recipient
            .as_ref()
            .map(|r| r.link_uid.clone())
            .unwrap_or_default();
        let link = s.sharing().share_link_for(c, &link_uid).await.gql()?;
        Ok(Invitation {
            inner,
            link_rights: link.rights,
        })
    }

    /// Gives a recipient attribute values of their own for access filters; null makes
    /// them see what the link's values allow again.
    async fn set_recipient_attributes(
        &self,
        ctx: &Context<'_>,
        id: ID,
        attributes: Option<Vec<UserAttributeInput>>,
    ) -> R<Recipient> {
        let (s, c) = on(ctx, Services::sharing)?;
        let attributes = attributes.map(attribute_input);
        let r = s.set_recipient_attributes(c, &id, attributes).await.gql()?;
        let link = s.share_link_for(c, &r.link_uid).await.gql()?;
        Ok(Recipient::new(r, link.rights))
    }

    /// Revokes one recipient; their sessions end at once. `deliveries` says whether their
    /// scheduled deliveries are cancelled or move to the link's owner.
    async fn revoke_recipient(
        &self,
        ctx: &Context<'_>,
        id: ID,
        deliveries: DeliveriesOnRevoke,
    ) -> R<Recipient> {
        let (s, c) = on(ctx, Services::sharing)?;
        let record = s
            .revoke_share_recipient(c, &id, deliveries.into())
            .await
            .gql()?;
        let link = s.share_link_for(c, &record.link_uid).await.gql()?;
        Ok(Recipient::new(record, link.rights))
    }

    /// Whether edits that widen what outsiders' links show are refused (managers).
    async fn set_share_policy(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        refuse_exposing_edits: bool,
    ) -> R<SharePolicy> {
        let (s, c) = on(ctx, Services::sharing)?;
        let p = s
            .set_share_policy(
                c,
                &project_id,
                ServicePolicy {
                    refuse_exposing_edits,
                },
            )
            .await
            .gql()?;
        Ok(SharePolicy {
            refuse_exposing_edits: p.refuse_exposing_edits,
        })
    }
}
