//! Resolvers and types of share links, recipients and the share ledger.

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use vitrine_core::{LinkKind, LinkRights, RecipientRole as CoreRecipientRole};
use vitrine_storage::{ShareLinkRecord, ShareRecipientRecord, ShareWarning};

use async_graphql::connection::Connection;

use super::pagination::{connection, page};
use super::types::time;
use super::{caller, services};
use crate::GqlResult;

type R<T> = async_graphql::Result<T>;
use crate::services::{
    CreatedShareLink, Invitation as ServiceInvitation, LinkOp, NewRecipient, NewShareLink,
    ShareLinkChange, SharePolicy as ServicePolicy, link_path, link_state,
};

/// The server's public base URL, put into the schema's data so links come out whole.
#[derive(Debug, Clone)]
pub struct PublicUrl(pub String);

fn url(ctx: &Context<'_>, path: &str) -> String {
    let base = ctx
        .data_opt::<PublicUrl>()
        .map(|p| p.0.trim_end_matches('/').to_owned())
        .unwrap_or_default();
    format!("{base}{path}")
}

/// Who may follow a share link.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "vitrine_core::LinkKind")]
pub enum ShareLinkKind {
    /// Members of the project only.
    Private,
    /// Signed-in users whose permissions allow it.
    Authenticated,
    /// Named recipients with their own passwords, no account needed.
    Recipients,
    /// Anyone with the URL.
    Public,
}

/// Whether a link opens now.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "vitrine_core::LinkState")]
pub enum ShareLinkState {
    Active,
    Paused,
    /// Too many wrong passwords; a manager unlocks it.
    Locked,
    Expired,
    Revoked,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "vitrine_core::RecipientRole")]
pub enum RecipientRole {
    /// Looks, and downloads or drills when the rights allow.
    Viewer,
    /// May also edit when the link allows edits.
    Editor,
}

/// What happens to a revoked recipient's scheduled deliveries.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "vitrine_core::DeliveriesOnRevoke")]
pub enum DeliveriesOnRevoke {
    Cancel,
    TransferToOwner,
}

/// What a link's audience may do beyond looking.
#[derive(SimpleObject, Clone, Copy)]
pub struct ShareRights {
    /// Download tile data as CSV.
    pub download: bool,
    /// Edit the report in the viewer (their own copy unless syncEdits).
    pub edit: bool,
    /// Edits replace the master report.
    pub sync_edits: bool,
    /// Open the rows behind a value.
    pub drill: bool,
}

impl From<LinkRights> for ShareRights {
    fn from(r: LinkRights) -> Self {
        ShareRights {
            download: r.download,
            edit: r.edit,
            sync_edits: r.sync_edits,
            drill: r.drill,
        }
    }
}

#[derive(InputObject, Clone, Copy, Default)]
pub struct ShareRightsInput {
    #[graphql(default)]
    pub download: bool,
    #[graphql(default)]
    pub edit: bool,
    #[graphql(default)]
    pub sync_edits: bool,
    #[graphql(default)]
    pub drill: bool,
}

impl From<ShareRightsInput> for LinkRights {
    fn from(r: ShareRightsInput) -> Self {
        LinkRights {
            download: r.download,
            edit: r.edit,
            sync_edits: r.sync_edits,
            drill: r.drill,
        }
    }
}

/// Raised when a report edit widens what a public or recipients link shows.
#[derive(SimpleObject, Clone)]
pub struct AccessWarning {
    /// new_dataset, unfiltered_dataset, new_columns or wider_filter.
    pub kind: String,
    pub message: String,
    pub report_id: ID,
    pub at: DateTime<Utc>,
}

impl From<&ShareWarning> for AccessWarning {
    fn from(w: &ShareWarning) -> Self {
        AccessWarning {
            kind: w.kind.clone(),
            message: w.message.clone(),
            report_id: ID(w.report_uid.clone()),
            at: time(w.at_ms),
        }
    }
}

pub fn warnings(list: &[ShareWarning]) -> Vec<AccessWarning> {
    list.iter().map(AccessWarning::from).collect()
}

/// An external person on a recipients link.
pub struct Recipient {
    record: ShareRecipientRecord,
    link_rights: LinkRights,
}

#[Object]
impl Recipient {
    async fn id(&self) -> ID {
        ID(self.record.uid.clone())
    }
    async fn name(&self) -> &str {
        &self.record.name
    }
    async fn email(&self) -> &str {
        &self.record.email
    }
    async fn role(&self) -> RecipientRole {
        self.record.role.into()
    }
    /// What they may do: their own rights within the link's.
    async fn rights(&self) -> ShareRights {
        self.record
            .role
            .rights(self.link_rights, self.record.rights)
            .into()
    }
    /// Whether they have chosen their password yet.
    async fn password_set(&self) -> bool {
        self.record.password_hash.is_some()
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.record.revoked_ms.map(time)
    }
    async fn deliveries_on_revoke(&self) -> Option<DeliveriesOnRevoke> {
        self.record.deliveries_on_revoke.map(Into::into)
    }
    async fn last_access_at(&self) -> Option<DateTime<Utc>> {
        self.record.last_access_ms.map(time)
    }
    async fn access_count(&self) -> i64 {
        self.record.access_count
    }
}

/// A URL to a project, a report or one tab.
pub struct ShareLink(pub ShareLinkRecord);

#[Object]
impl ShareLink {
    async fn id(&self) -> ID {
        ID(self.0.uid.clone())
    }
    async fn kind(&self) -> ShareLinkKind {
        self.0.kind.into()
    }
    async fn state(&self) -> ShareLinkState {
        link_state(&self.0, vitrine_storage::now_ms()).into()
    }
    async fn label(&self) -> &str {
        &self.0.label
    }
    async fn project_id(&self) -> ID {
        ID(self.0.project_uid.clone())
    }
    /// Null for a link to the whole project.
    async fn report_id(&self) -> Option<ID> {
        self.0.report_uid.clone().map(ID)
    }
    /// Set for a link to one tab.
    async fn tab(&self) -> Option<&str> {
        self.0.tab.as_deref()
    }
    async fn rights(&self) -> ShareRights {
        self.0.rights.into()
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_ms.map(time)
    }
    /// When the link was pinned to the report as it was then; null when it follows the
    /// report's latest version.
    async fn pinned_at(&self) -> Option<DateTime<Utc>> {
        self.0.pinned.as_ref().map(|p| time(p.at_ms))
    }
    /// The revision a pinned link shows, when it was pinned to a past one.
    async fn pinned_revision(&self) -> Option<i64> {
        self.0.pinned.as_ref().and_then(|p| p.revision)
    }
    /// The link's page for private, authenticated and recipients links. A public link's
    /// URL holds its token and is shown only once, when it is created.
    async fn url(&self, ctx: &Context<'_>) -> Option<String> {
        (self.0.kind != LinkKind::Public).then(|| url(ctx, &link_path(&self.0.uid)))
    }
    async fn created_by(&self) -> ID {
        ID(self.0.created_by.clone())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        time(self.0.created_ms)
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        time(self.0.updated_ms)
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_ms.map(time)
    }
    async fn locked_at(&self) -> Option<DateTime<Utc>> {
        self.0.locked_ms.map(time)
    }
    /// Wrong passwords since the last right one.
    async fn failed_passwords(&self) -> i64 {
        self.0.failures
    }
    async fn last_access_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_access_ms.map(time)
    }
    async fn access_count(&self) -> i64 {
        self.0.access_count
    }
    /// Edits since the last acknowledgement that widened what this link shows.
    async fn access_warnings(&self) -> Vec<AccessWarning> {
        warnings(&self.0.warnings)
    }
    async fn recipients(&self, ctx: &Context<'_>) -> R<Vec<Recipient>> {
        let list = services(ctx).share_recipients_of(&self.0.uid).await.gql()?;
        Ok(list
            .into_iter()
            .map(|record| Recipient {
                record,
                link_rights: self.0.rights,
            })
            .collect())
    }
    /// The datasets whose data the link shows.
    async fn exposed_datasets(&self, ctx: &Context<'_>) -> R<Vec<String>> {
        Ok(services(ctx).exposed_datasets(&self.0).await.gql()?)
    }
}

/// A secret URL, shown once.
pub struct Invitation {
    inner: ServiceInvitation,
    link_rights: LinkRights,
}

#[Object]
impl Invitation {
    async fn recipient(&self) -> Option<Recipient> {
        self.inner.recipient.clone().map(|record| Recipient {
            record,
            link_rights: self.link_rights,
        })
    }
    /// The personal URL: opening it moves the token into a cookie.
    async fn url(&self, ctx: &Context<'_>) -> String {
        url(ctx, &self.inner.path)
    }
    /// The URL as a QR code (SVG).
    async fn qr_svg(&self, ctx: &Context<'_>) -> String {
        crate::qr::svg(&url(ctx, &self.inner.path))
    }
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ShareLinkCreated {
    pub link: ShareLink,
    #[graphql(skip)]
    path: String,
    /// One per recipient: personal URLs, shown only now.
    pub invitations: Vec<Invitation>,
}

#[ComplexObject]
impl ShareLinkCreated {
    /// The link's URL. For a public link it holds the token and is shown only now.
    async fn url(&self, ctx: &Context<'_>) -> String {
        url(ctx, &self.path)
    }
    /// The URL as a QR code (SVG).
    async fn qr_svg(&self, ctx: &Context<'_>) -> String {
        crate::qr::svg(&url(ctx, &self.path))
    }
}

impl From<CreatedShareLink> for ShareLinkCreated {
    fn from(c: CreatedShareLink) -> Self {
        let rights = c.link.rights;
        ShareLinkCreated {
            link: ShareLink(c.link),
            path: c.path,
            invitations: c
                .invitations
                .into_iter()
                .map(|inner| Invitation {
                    inner,
                    link_rights: rights,
                })
                .collect(),
        }
    }
}

#[derive(InputObject)]
pub struct RecipientInput {
    pub name: String,
    pub email: String,
    pub role: RecipientRole,
    /// Their own rights, within the link's; the link's when absent.
    pub rights: Option<ShareRightsInput>,
}

impl From<RecipientInput> for NewRecipient {
    fn from(r: RecipientInput) -> Self {
        NewRecipient {
            name: r.name,
            email: r.email,
            role: CoreRecipientRole::from(r.role),
            rights: r.rights.map(Into::into),
        }
    }
}

#[derive(InputObject)]
pub struct CreateShareLinkInput {
    pub project_id: ID,
    /// Link one report; absent, the link opens the whole project.
    pub report_id: Option<ID>,
    /// Link one tab of the report.
    pub tab: Option<String>,
    pub kind: ShareLinkKind,
    pub label: Option<String>,
    pub rights: Option<ShareRightsInput>,
    pub expires_at: Option<DateTime<Utc>>,
    #[graphql(default)]
    pub recipients: Vec<RecipientInput>,
    /// Show the report as it is now, whatever later edits do (report and tab links;
    /// not with the edit right). By default a link follows the latest version.
    #[graphql(default)]
    pub pinned: bool,
    /// Show the report as this revision of the project held it (implies pinned).
    pub pinned_revision_id: Option<ID>,
}

#[derive(InputObject)]
pub struct UpdateShareLinkInput {
    pub label: Option<String>,
    pub rights: Option<ShareRightsInput>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Removes the expiry.
    #[graphql(default)]
    pub clear_expiry: bool,
    /// True pins the link to the report as it is now (re-pins a pinned one); false lets
    /// it follow the latest version. What it would newly show is checked like an edit.
    pub pinned: Option<bool>,
    /// Pins the link to the report as this revision of the project held it.
    pub pinned_revision_id: Option<ID>,
}

#[derive(SimpleObject)]
pub struct SharePolicy {
    /// Edits that widen what public or recipients links show fail instead of warning.
    pub refuse_exposing_edits: bool,
}

#[derive(Default)]
pub struct SharingQuery;

#[Object]
impl SharingQuery {
    /// One share link (managers of its project).
    async fn share_link(&self, ctx: &Context<'_>, id: ID) -> R<ShareLink> {
        let c = caller(ctx).gql()?;
        Ok(ShareLink(services(ctx).share_link_for(c, &id).await.gql()?))
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
        let c = caller(ctx).gql()?;
        let p = page(first, after.clone()).gql()?;
        let n = p.first;
        let (rows, more) = services(ctx)
            .share_ledger(c, project_id.as_ref().map(|i| i.as_str()), &p)
            .await
            .gql()?;
        Ok(connection(
            rows,
            n,
            Some(more),
            after.is_some(),
            |l| l.uid.clone(),
            ShareLink,
        ))
    }

    async fn share_policy(&self, ctx: &Context<'_>, project_id: ID) -> R<SharePolicy> {
        let c = caller(ctx).gql()?;
        let s = services(ctx);
        let p = s.share_policy_for(c, &project_id).await.gql()?;
        Ok(SharePolicy {
            refuse_exposing_edits: p.refuse_exposing_edits,
        })
    }
}

#[derive(Default)]
pub struct SharingMutation;

async fn link_op(ctx: &Context<'_>, id: ID, op: LinkOp) -> R<ShareLink> {
    let c = caller(ctx).gql()?;
    Ok(ShareLink(
        services(ctx).set_share_link_state(c, &id, op).await.gql()?,
    ))
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
        let c = caller(ctx).gql()?;
        let created = services(ctx)
            .create_share_link(
                c,
                NewShareLink {
                    project_uid: input.project_id.0,
                    report_uid: input.report_id.map(|r| r.0),
                    tab: input.tab,
                    kind: LinkKind::from(input.kind),
                    label: input.label,
                    rights: input.rights.map(Into::into).unwrap_or_default(),
                    expires_ms: input.expires_at.map(|t| t.timestamp_millis()),
                    recipients: input.recipients.into_iter().map(Into::into).collect(),
                    pinned: input.pinned,
                    pinned_revision: input.pinned_revision_id.map(|r| r.0),
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
        let c = caller(ctx).gql()?;
        let expires_ms = if input.clear_expiry {
            Some(None)
        } else {
            input.expires_at.map(|t| Some(t.timestamp_millis()))
        };
        Ok(ShareLink(
            services(ctx)
                .update_share_link(
                    c,
                    &id,
                    ShareLinkChange {
                        label: input.label,
                        rights: input.rights.map(Into::into),
                        expires_ms,
                        pinned: input.pinned,
                        pinned_revision: input.pinned_revision_id.map(|r| r.0),
                    },
                )
                .await
                .gql()?,
        ))
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
        let c = caller(ctx).gql()?;
        let ids: Vec<String> = ids.into_iter().map(|i| i.0).collect();
        Ok(services(ctx)
            .revoke_share_links(c, &ids)
            .await
            .gql()?
            .into_iter()
            .map(ShareLink)
            .collect())
    }

    /// Lifts the lock that repeated wrong passwords put on a recipients link.
    async fn unlock_share_link(&self, ctx: &Context<'_>, id: ID) -> R<ShareLink> {
        link_op(ctx, id, LinkOp::Unlock).await
    }

    /// Clears a link's access warnings once someone has looked at them.
    async fn acknowledge_access_warnings(&self, ctx: &Context<'_>, id: ID) -> R<ShareLink> {
        let c = caller(ctx).gql()?;
        Ok(ShareLink(
            services(ctx)
                .acknowledge_share_warnings(c, &id)
                .await
                .gql()?,
        ))
    }

    async fn add_recipient(
        &self,
        ctx: &Context<'_>,
        link_id: ID,
        input: RecipientInput,
    ) -> R<Invitation> {
        let c = caller(ctx).gql()?;
        let s = services(ctx);
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

    /// A new invitation for a recipient; the old one stops working and their password
    /// is cleared, to be chosen again.
    async fn reissue_invitation(&self, ctx: &Context<'_>, recipient_id: ID) -> R<Invitation> {
        let c = caller(ctx).gql()?;
        let s = services(ctx);
        let inner = s.reissue_invitation(c, &recipient_id).await.gql()?;
        let link_uid = inner
            .recipient
            .as_ref()
            .map(|r| r.link_uid.clone())
            .unwrap_or_default();
        let link = s.share_link_for(c, &link_uid).await.gql()?;
        Ok(Invitation {
            inner,
            link_rights: link.rights,
        })
    }

    /// Revokes one recipient; their sessions end at once. `deliveries` says whether their
    /// scheduled deliveries are cancelled or move to the link's owner.
    async fn revoke_recipient(
        &self,
        ctx: &Context<'_>,
        id: ID,
        deliveries: DeliveriesOnRevoke,
    ) -> R<Recipient> {
        let c = caller(ctx).gql()?;
        let s = services(ctx);
        let record = s
            .revoke_share_recipient(c, &id, deliveries.into())
            .await
            .gql()?;
        let link = s.share_link_for(c, &record.link_uid).await.gql()?;
        Ok(Recipient {
            record,
            link_rights: link.rights,
        })
    }

    /// Whether edits that widen what outsiders' links show are refused (managers).
    async fn set_share_policy(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        refuse_exposing_edits: bool,
    ) -> R<SharePolicy> {
        let c = caller(ctx).gql()?;
        let p = services(ctx)
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
