//! GraphQL types of share links, recipients, rights and access warnings, built from the
//! sharing records; the resolvers are in [`super::sharing`].

use crate::services::records::{ShareLinkRecord, ShareRecipientRecord, ShareWarning};
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use vitrine_core::{LinkKind, LinkRights, RecipientRole as CoreRecipientRole};

use super::services;
use super::types::time;
use crate::GqlResult;

type R<T> = async_graphql::Result<T>;
use crate::services::{
    CreatedShareLink, Invitation as ServiceInvitation, NewRecipient, link_path, link_state,
};

/// The server's public base URL, put into the schema's data so links come out whole.
#[derive(Debug, Clone)]
pub struct PublicUrl(pub String);

pub(super) fn url(ctx: &Context<'_>, path: &str) -> String {
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
    pub kind: AccessWarningKind,
    pub message: String,
    pub report_id: ID,
    pub at: DateTime<Utc>,
}

/// What a link's audience can now see that it could not before.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "vitrine_core::WarningKind")]
pub enum AccessWarningKind {
    /// A tile now shows a dataset the link did not show.
    NewDataset,
    /// That dataset has no access filter: every row reaches the audience.
    UnfilteredDataset,
    /// A tile now shows columns the link did not show.
    NewColumns,
    /// A tile or report filter was dropped or loosened.
    WiderFilter,
}

impl From<&ShareWarning> for AccessWarning {
    fn from(w: &ShareWarning) -> Self {
        AccessWarning {
            kind: w.kind.into(),
            message: w.message.clone(),
            report_id: ID(w.report_uid.clone().into()),
            at: time(w.at_ms),
        }
    }
}

pub fn warnings(list: &[ShareWarning]) -> Vec<AccessWarning> {
    list.iter().map(AccessWarning::from).collect()
}

/// An external person on a recipients link.
pub struct Recipient {
    pub(super) record: ShareRecipientRecord,
    pub(super) link_rights: LinkRights,
}

#[Object]
impl Recipient {
    async fn id(&self) -> ID {
        ID(self.record.uid.clone().into())
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
        ID(self.0.uid.clone().into())
    }
    async fn kind(&self) -> ShareLinkKind {
        self.0.kind.into()
    }
    async fn state(&self) -> ShareLinkState {
        link_state(&self.0, crate::services::records::now_ms()).into()
    }
    async fn label(&self) -> &str {
        &self.0.label
    }
    async fn project_id(&self) -> ID {
        ID(self.0.project_uid.clone().into())
    }
    /// Null for a link to the whole project.
    async fn report_id(&self) -> Option<ID> {
        self.0.report_uid.as_deref().map(ID::from)
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
        ID(self.0.created_by.clone().into())
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
        let list = services(ctx)
            .sharing()
            .share_recipients_of(&self.0.uid)
            .await
            .gql()?;
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
        Ok(services(ctx)
            .sharing()
            .exposed_datasets(&self.0)
            .await
            .gql()?)
    }
}

/// A secret URL, shown once.
pub struct Invitation {
    pub(super) inner: ServiceInvitation,
    pub(super) link_rights: LinkRights,
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
    pub(super) path: String,
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
