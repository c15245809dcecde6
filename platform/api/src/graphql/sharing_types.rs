//! GraphQL types of share links, recipients, rights and access warnings, built from the
//! sharing records; the resolvers are in [`super::sharing`].

use crate::services::records::{ShareLinkRecord, ShareRecipientRecord, ShareWarning};
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use vitrine_core::{LinkRights, RecipientRole as CoreRecipientRole};

use super::services;
use super::types::{UserAttribute, UserAttributeInput, attribute_input, attribute_list, time};
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
    /// Schedule their own deliveries of what the link shows (recipients).
    pub schedule: bool,
}

impl From<LinkRights> for ShareRights {
    fn from(r: LinkRights) -> Self {
        ShareRights {
            download: r.download,
            edit: r.edit,
            sync_edits: r.sync_edits,
            drill: r.drill,
            schedule: r.schedule,
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
    /// Recipients schedule their own deliveries (recipients links; needs download).
    #[graphql(default)]
    pub schedule: bool,
}

impl From<ShareRightsInput> for LinkRights {
    fn from(r: ShareRightsInput) -> Self {
        LinkRights {
            download: r.download,
            edit: r.edit,
            sync_edits: r.sync_edits,
            drill: r.drill,
            schedule: r.schedule,
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
#[derive(SimpleObject)]
pub struct Recipient {
    pub id: ID,
    pub name: String,
    pub email: String,
    pub role: RecipientRole,
    /// What they may do: their own rights within the link's.
    pub rights: ShareRights,
    /// Whether they have chosen their password yet.
    pub password_set: bool,
    pub revoked_at: Option<DateTime<Utc>>,
    pub deliveries_on_revoke: Option<DeliveriesOnRevoke>,
    pub last_access_at: Option<DateTime<Utc>>,
    pub access_count: i64,
    /// Their own attribute values for access filters; null: the link's.
    pub attributes: Option<Vec<UserAttribute>>,
    /// What became of their invitation e-mail.
    pub invitation: InvitationStatus,
}

/// A recipient's invitation e-mail, as the ledger shows it.
#[derive(SimpleObject)]
pub struct InvitationStatus {
    /// When the current invitation was e-mailed; null: not (yet) sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// Why the last attempt to e-mail it failed.
    pub error: Option<String>,
    /// When the current invitation was first opened.
    pub opened_at: Option<DateTime<Utc>>,
    /// When the recipient last asked for a new one (answered by a resend).
    pub requested_at: Option<DateTime<Utc>>,
}

impl Recipient {
    /// The recipient as the ledger shows them, on a link with these rights.
    pub fn new(r: ShareRecipientRecord, link_rights: LinkRights) -> Self {
        Recipient {
            id: ID(r.uid.into()),
            name: r.name,
            email: r.email,
            role: r.role.into(),
            rights: r.role.rights(link_rights, r.rights).into(),
            password_set: r.password_hash.is_some(),
            revoked_at: r.revoked_ms.map(time),
            deliveries_on_revoke: r.deliveries_on_revoke.map(Into::into),
            last_access_at: r.last_access_ms.map(time),
            access_count: r.access_count,
            attributes: r.attributes.map(attribute_list),
            invitation: InvitationStatus {
                sent_at: r.invitation.sent_ms.map(time),
                error: r.invitation.error,
                opened_at: r.invitation.opened_ms.map(time),
                requested_at: r.invitation.requested_ms.map(time),
            },
        }
    }
}

/// A URL to a project, a report or one tab.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ShareLink {
    pub id: ID,
    pub kind: ShareLinkKind,
    pub state: ShareLinkState,
    pub label: String,
    /// The link's project (the first of several); null for a folder's link.
    pub project_id: Option<ID>,
    /// Every project a link to several projects lists.
    pub project_ids: Vec<ID>,
    /// The folder whose projects the link shows.
    pub folder_id: Option<ID>,
    pub recursive: bool,
    /// What a link to whole projects shows outsiders.
    pub content: Option<LinkContent>,
    /// Null for a link to the whole project.
    pub report_id: Option<ID>,
    /// Set for a link to one tab.
    pub tab: Option<String>,
    pub rights: ShareRights,
    pub expires_at: Option<DateTime<Utc>>,
    /// When the link was pinned to the report as it was then; null when it follows the
    /// report's latest version.
    pub pinned_at: Option<DateTime<Utc>>,
    /// The revision a pinned link shows, when it was pinned to a past one.
    pub pinned_revision: Option<i64>,
    pub created_by: ID,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub locked_at: Option<DateTime<Utc>>,
    /// Wrong passwords since the last right one.
    pub failed_passwords: i64,
    pub last_access_at: Option<DateTime<Utc>>,
    pub access_count: i64,
    /// Edits since the last acknowledgement that widened what this link shows.
    pub access_warnings: Vec<AccessWarning>,
    /// The attribute values access filters select its audience's rows with (public and
    /// recipients links; set when made, from the creator's unless given, and changed only
    /// here). Null for members' links: each member sees what their own allow.
    pub attributes: Option<Vec<UserAttribute>>,
    #[graphql(skip)]
    link_rights: LinkRights,
}

impl From<ShareLinkRecord> for ShareLink {
    fn from(r: ShareLinkRecord) -> Self {
        let state = link_state(&r, crate::services::records::now_ms()).into();
        ShareLink {
            id: ID(r.uid.into()),
            kind: r.kind.into(),
            state,
            label: r.label,
            project_id: (!r.project_uid.is_empty()).then(|| ID(r.project_uid.into())),
            project_ids: r.projects.into_iter().map(|p| ID(p.into())).collect(),
            recursive: r.folder.as_ref().is_some_and(|f| f.recursive),
            folder_id: r.folder.map(|f| ID(f.uid.into())),
            content: r.content.map(Into::into),
            report_id: r.report_uid.map(|u| ID(u.into())),
            tab: r.tab,
            rights: r.rights.into(),
            expires_at: r.expires_ms.map(time),
            pinned_at: r.pinned.as_ref().map(|p| time(p.at_ms)),
            pinned_revision: r.pinned.as_ref().and_then(|p| p.revision),
            created_by: ID(r.created_by.into()),
            created_at: time(r.created_ms),
            updated_at: time(r.updated_ms),
            revoked_at: r.revoked_ms.map(time),
            locked_at: r.locked_ms.map(time),
            failed_passwords: r.failures,
            last_access_at: r.last_access_ms.map(time),
            access_count: r.access_count,
            access_warnings: warnings(&r.warnings),
            attributes: r.attributes.map(attribute_list),
            link_rights: r.rights,
        }
    }
}

#[ComplexObject]
impl ShareLink {
    /// The link's page for private, authenticated and recipients links. A public link's
    /// URL holds its token and is shown only once, when it is created.
    async fn url(&self, ctx: &Context<'_>) -> Option<String> {
        (self.kind != ShareLinkKind::Public).then(|| url(ctx, &link_path(&self.id)))
    }
    async fn recipients(&self, ctx: &Context<'_>) -> R<Vec<Recipient>> {
        let list = services(ctx)
            .sharing()
            .share_recipients_of(&self.id)
            .await
            .gql()?;
        Ok(list
            .into_iter()
            .map(|r| Recipient::new(r, self.link_rights))
            .collect())
    }
    /// Each access filter of the project as it applies to the link's audience: the
    /// values in force. Empty for members' links.
    async fn filters_in_force(&self, ctx: &Context<'_>) -> R<Vec<FilterInForce>> {
        let list = services(ctx).sharing().filters_in_force(&self.id).await;
        let shown = |f: crate::services::FilterInForce| FilterInForce {
            dataset: f.dataset,
            column: f.column,
            attribute: f.attribute,
            values: f.values,
        };
        Ok(list.gql()?.into_iter().map(shown).collect())
    }
    /// The datasets whose data the link shows.
    async fn exposed_datasets(&self, ctx: &Context<'_>) -> R<Vec<String>> {
        Ok(services(ctx)
            .sharing()
            .exposed_datasets(&self.id)
            .await
            .gql()?)
    }
}

/// Rows of `dataset` whose `column` holds one of `values` (none: no rows), from the
/// link's value of `attribute`.
#[derive(SimpleObject)]
pub struct FilterInForce {
    pub dataset: String,
    pub column: String,
    pub attribute: String,
    pub values: Vec<String>,
}

/// A secret URL, shown once.
pub struct Invitation {
    pub(super) inner: ServiceInvitation,
    pub(super) link_rights: LinkRights,
}

#[Object]
impl Invitation {
    async fn recipient(&self) -> Option<Recipient> {
        let recipient = self.inner.recipient.clone();
        recipient.map(|r| Recipient::new(r, self.link_rights))
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
            link: c.link.into(),
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
    /// Their own attribute values for access filters; the link's when absent.
    pub attributes: Option<Vec<UserAttributeInput>>,
}

impl From<RecipientInput> for NewRecipient {
    fn from(r: RecipientInput) -> Self {
        NewRecipient {
            name: r.name,
            email: r.email,
            role: CoreRecipientRole::from(r.role),
            rights: r.rights.map(Into::into),
            attributes: r.attributes.map(attribute_input),
        }
    }
}

#[derive(InputObject)]
pub struct CreateShareLinkInput {
    /// The project; or `projectIds` (several), or `folderId` (every project in it).
    pub project_id: Option<ID>,
    /// Several projects (public and recipients links with `content`).
    pub project_ids: Option<Vec<ID>>,
    /// Every project of a folder, read at each visit (with `content`).
    pub folder_id: Option<ID>,
    /// With `folderId`: its sub-folders' projects too.
    #[graphql(default)]
    pub recursive: bool,
    /// What a public or recipients link to whole projects shows: their dashboard, their
    /// delivered files, or both (never their workflow).
    pub content: Option<LinkContent>,
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
    /// Public and recipients links: the attribute values access filters select the
    /// audience's rows with; yours when absent.
    pub attributes: Option<Vec<UserAttributeInput>>,
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
    /// Replaces the attribute values the audience's rows are selected with.
    pub attributes: Option<Vec<UserAttributeInput>>,
}

#[derive(SimpleObject)]
pub struct SharePolicy {
    /// Edits that widen what public or recipients links show fail instead of warning.
    pub refuse_exposing_edits: bool,
}

/// A delivery a recipient scheduled through their link.
#[derive(SimpleObject)]
pub struct LinkDelivery {
    pub id: ID,
    pub report_id: ID,
    pub cron: String,
    pub time_zone: String,
    /// Each tile's data attached as CSV.
    pub csv: bool,
    pub subject: Option<String>,
    /// The next firing; null while the link's owner has it paused.
    pub next_run_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<crate::services::LinkDeliveryView> for LinkDelivery {
    fn from(d: crate::services::LinkDeliveryView) -> Self {
        let (id, report_id) = (ID(d.uid), ID(d.report_uid));
        let (cron, time_zone, csv, subject) = (d.cron, d.time_zone, d.csv, d.subject);
        LinkDelivery {
            id,
            report_id,
            cron,
            time_zone,
            csv,
            subject,
            next_run_at: d.next_fire_ms.map(time),
            created_at: time(d.created_ms),
        }
    }
}

/// What a public or recipients link to whole projects shows.
#[derive(SimpleObject, InputObject, Clone, Copy)]
#[graphql(input_name = "LinkContentInput")]
pub struct LinkContent {
    /// Every report of the projects, interactively.
    #[graphql(default)]
    pub dashboard: bool,
    /// The report files of the reports their scheduled tasks deliver.
    #[graphql(default)]
    pub files: bool,
}

impl From<vitrine_core::LinkContent> for LinkContent {
    fn from(c: vitrine_core::LinkContent) -> Self {
        let (dashboard, files) = (c.dashboard, c.files);
        LinkContent { dashboard, files }
    }
}

impl From<LinkContent> for vitrine_core::LinkContent {
    fn from(c: LinkContent) -> Self {
        let (dashboard, files) = (c.dashboard, c.files);
        vitrine_core::LinkContent { dashboard, files }
    }
}
