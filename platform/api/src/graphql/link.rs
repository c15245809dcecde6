//! The viewer's API: what a share link's visitor may read and do, as GraphQL. It answers at
//! the link's own endpoint, `POST /s/v/LINK/graphql`, where the browser sends the link's
//! session cookie; the HTTP layer puts the visit into [`AuthState::Link`]. Everything is
//! decided by the services' one viewer path, the same that answers members' tiles.
//!
//! Signing in, choosing a password and signing out stay HTTP routes (they move the session
//! cookie), and so do CSV downloads (files) and QR codes (images).

use async_graphql::{Context, Enum, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;
use vitrine_core::RecipientPassword;

use super::data_types::{
    DrillValueInput, FilterValueInput, TileResult, drill_values, filter_state,
};
use super::sharing_types::{ShareLinkKind, ShareRights, url};
use super::types::time;
use super::{AuthState, services};
use crate::services::{ShareAccess, SharePage, ShareView, Sharing, link_path};
use crate::{ApiError, ApiResult, GqlResult};
use vitrine_definitions::CellValue;
use vitrine_definitions::report::{ReportFilter, Tab, definition_argument, filters_of, tabs_of};

type R<T> = async_graphql::Result<T>;

/// The visit of this request, whatever its state.
fn visit<'a>(ctx: &Context<'a>) -> ApiResult<&'a SharePage> {
    match ctx.data_opt::<AuthState>() {
        Some(AuthState::Link(page)) => Ok(page),
        Some(AuthState::Rejected(e)) => Err(e.clone()),
        _ => Err(ApiError::new(
            vitrine_core::ErrorCode::Unauthenticated,
            "a share link's visit answers at the link's own endpoint, POST /s/v/LINK/graphql",
        )),
    }
}

/// A visitor who may see what the link shares, or why not.
pub(crate) fn link_access<'a>(ctx: &Context<'a>) -> ApiResult<&'a ShareAccess> {
    let page = visit(ctx)?;
    match page {
        SharePage::Ready(a) => Ok(a),
        other => Err(other.refusal().unwrap_or_else(ApiError::unauthenticated)),
    }
}

/// The sharing service, which answers every visitor.
fn visits<'a>(ctx: &Context<'a>) -> &'a Sharing {
    services(ctx).sharing()
}

/// Where a visit stands: the page shows the report only when READY, else the step named.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum LinkVisitState {
    Ready,
    /// A public link opened without its token (a copied viewer URL in a fresh browser).
    NeedsToken,
    /// A recipients link: sign in with e-mail and password (`POST /s/v/LINK/api/sign-in`).
    SignIn,
    /// A recipient's first visit: choose a password (`POST /s/v/LINK/api/password`).
    SetPassword,
    /// A private or authenticated link: sign in to Vitrine first.
    SignInUser,
}

#[derive(Default)]
pub struct LinkQuery;

#[Object]
impl LinkQuery {
    /// The share-link visit of this request. Answers at `POST /s/v/LINK/graphql` (with the
    /// `X-Vitrine-Share: 1` header), where the browser sends the link's session cookie;
    /// anywhere else it is UNAUTHENTICATED. A link that is revoked, expired, paused or
    /// unknown is LINK_NOT_VALID.
    async fn link_visit(&self, ctx: &Context<'_>) -> R<LinkVisit> {
        let page = visit(ctx).gql()?;
        if let SharePage::Gone { .. } = page {
            return Err(page.refusal().unwrap_or_else(ApiError::unauthenticated)).gql();
        }
        Ok(LinkVisit)
    }
}

/// What a share link's visitor may see: the report, a tab's tiles under a filter state,
/// filter choices and the rows behind a value. Data fields need state READY; before that
/// they are UNAUTHENTICATED, with the step to take in the message.
pub struct LinkVisit;

#[Object]
impl LinkVisit {
    async fn state(&self, ctx: &Context<'_>) -> R<LinkVisitState> {
        Ok(match visit(ctx).gql()? {
            SharePage::Ready(_) => LinkVisitState::Ready,
            SharePage::NeedsToken | SharePage::Gone { .. } => LinkVisitState::NeedsToken,
            SharePage::SignIn { .. } => LinkVisitState::SignIn,
            SharePage::SetPassword { .. } => LinkVisitState::SetPassword,
            SharePage::SignInUser => LinkVisitState::SignInUser,
        })
    }

    /// Sign-in is locked after too many wrong passwords; the link's manager unlocks it.
    async fn locked(&self, ctx: &Context<'_>) -> R<bool> {
        Ok(matches!(
            visit(ctx).gql()?,
            SharePage::SignIn { locked: true }
        ))
    }

    /// The recipient's name, on their first visit (SET_PASSWORD).
    async fn recipient_name(&self, ctx: &Context<'_>) -> R<Option<String>> {
        Ok(match visit(ctx).gql()? {
            SharePage::SetPassword { name } => Some(name.clone()),
            _ => None,
        })
    }

    /// The deliveries the signed-in recipient scheduled through this link (empty for
    /// other visitors); see `scheduleLinkDelivery`.
    async fn deliveries(&self, ctx: &Context<'_>) -> R<Vec<super::sharing_types::LinkDelivery>> {
        let a = link_access(ctx).gql()?;
        let list = services(ctx).tasks().link_deliveries(a).await.gql()?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// Who may follow the link (state READY only).
    async fn kind(&self, ctx: &Context<'_>) -> R<ShareLinkKind> {
        Ok(link_access(ctx).gql()?.link.kind.into())
    }

    /// What a link to whole projects shows (null for a link to one report or tab).
    async fn content(&self, ctx: &Context<'_>) -> R<Option<super::sharing_types::LinkContent>> {
        Ok(link_access(ctx).gql()?.link.content.map(Into::into))
    }

    /// The projects a link to whole projects covers now, each with the reports its
    /// dashboard opens and the delivered files it offers (empty for other links).
    async fn projects(&self, ctx: &Context<'_>) -> R<Vec<SharedProject>> {
        let a = link_access(ctx).gql()?;
        let list = visits(ctx).link_contents(a).await.gql()?;
        let page = link_path(&a.link.uid);
        let entry = |(id, name): (String, String)| SharedReportEntry { id: ID(id), name };
        Ok(list
            .into_iter()
            .map(|p| SharedProject {
                id: ID(p.uid),
                name: p.name,
                reports: p.reports.into_iter().map(entry).collect(),
                files: p
                    .files
                    .into_iter()
                    .map(|(id, name)| SharedFileEntry {
                        url: url(ctx, &format!("{page}/file?report={id}")),
                        report_id: ID(id),
                        report_name: name,
                    })
                    .collect(),
            })
            .collect())
    }

    /// What a recipient's password must satisfy.
    async fn password_rule(&self) -> &'static str {
        RecipientPassword::RULE
    }

    /// The report the page draws: the link's report, or for a project link `reportId`
    /// (its first report when left out). A visitor who edited their own copy sees it; a
    /// tab link shows its tab only; a pinned link its pinned version.
    async fn report(&self, ctx: &Context<'_>, report_id: Option<ID>) -> R<SharedReport> {
        let a = link_access(ctx).gql()?;
        let v = visits(ctx)
            .share_view(a, report_id.as_ref().map(|r| r.as_str()))
            .await
            .gql()?;
        Ok(SharedReport(v))
    }

    /// One view: every tile of a tab (the first when left out) under the filter state
    /// (defaults for filters left out). Counted as a view of the link and audited.
    async fn tiles(
        &self,
        ctx: &Context<'_>,
        report_id: Option<ID>,
        tab_id: Option<String>,
        filters: Option<Vec<FilterValueInput>>,
    ) -> R<Vec<SharedTile>> {
        let a = link_access(ctx).gql()?;
        let tiles = visits(ctx)
            .share_tiles(
                a,
                report_id.as_ref().map(|r| r.as_str()),
                tab_id.as_deref(),
                &filter_state(filters),
            )
            .await
            .gql()?;
        Ok(tiles
            .into_iter()
            .map(|(tile_id, r)| match r {
                Ok(r) => SharedTile {
                    tile_id,
                    result: Some(TileResult(r)),
                    error: None,
                },
                Err(e) => SharedTile {
                    tile_id,
                    result: None,
                    error: Some(TileError {
                        code: e.code.into(),
                        message: e.message,
                    }),
                },
            })
            .collect())
    }

    /// The values a report filter control offers, within what the link shows.
    async fn filter_values(
        &self,
        ctx: &Context<'_>,
        report_id: Option<ID>,
        filter_id: String,
    ) -> R<Vec<Option<CellValue>>> {
        let a = link_access(ctx).gql()?;
        let v = visits(ctx)
            .share_filter_values(a, report_id.as_ref().map(|r| r.as_str()), &filter_id)
            .await
            .gql()?;
        Ok(vitrine_definitions::cells(v))
    }

    /// The rows behind one value of a tile (needs the link's drill right and the
    /// project's drill ability).
    async fn drill_down(
        &self,
        ctx: &Context<'_>,
        report_id: Option<ID>,
        tile_id: String,
        values: Vec<DrillValueInput>,
        filters: Option<Vec<FilterValueInput>>,
    ) -> R<TileResult> {
        let a = link_access(ctx).gql()?;
        let values = drill_values(values);
        let r = visits(ctx)
            .share_drill(
                a,
                report_id.as_ref().map(|r| r.as_str()),
                &tile_id,
                values,
                &filter_state(filters),
            )
            .await
            .gql()?;
        Ok(TileResult(r))
    }

    /// Where a tile's rows download as CSV under the filter state (an HTTP GET with the
    /// link's cookie), when the link grants downloads; null otherwise.
    async fn download_url(
        &self,
        ctx: &Context<'_>,
        report_id: Option<ID>,
        tile_id: String,
        filters: Option<Vec<FilterValueInput>>,
    ) -> R<Option<String>> {
        let a = link_access(ctx).gql()?;
        let report = report_id.as_ref().map(|r| r.as_str());
        let filters = filter_state(filters);
        let path = visits(ctx).share_download_path(a, report, &tile_id, &filters);
        Ok(path.gql()?.map(|p| url(ctx, &p)))
    }
}

/// The report as a link's visitor sees it.
pub struct SharedReport(ShareView);

#[Object]
impl SharedReport {
    async fn kind(&self) -> ShareLinkKind {
        self.0.kind.into()
    }
    async fn report_id(&self) -> ID {
        ID(self.0.report_uid.clone())
    }
    async fn report_name(&self) -> &str {
        &self.0.report_name
    }
    async fn project_name(&self) -> &str {
        &self.0.project_name
    }
    /// Tabs, tiles and filters as JSON (only the linked tab for a tab link).
    #[graphql(deprecation = "read `tabs` and `filters`, typed")]
    async fn definition(&self) -> R<Json<Value>> {
        let v = serde_json::to_value(&self.0.definition)
            .map_err(|e| ApiError::internal("report", e))
            .gql()?;
        Ok(Json(v))
    }
    /// The tabs and their tiles (only the linked tab for a tab link).
    async fn tabs(&self) -> R<Vec<Tab>> {
        tabs_of(&self.0.definition).gql()
    }
    /// The report's filter controls.
    async fn filters(&self) -> R<Vec<ReportFilter>> {
        filters_of(&self.0.definition).gql()
    }
    async fn rights(&self) -> ShareRights {
        self.0.rights.into()
    }
    /// The visitor sees their own edited copy.
    async fn own_copy(&self) -> bool {
        self.0.own_copy
    }
    /// When the version a pinned link shows was pinned.
    async fn pinned_at(&self) -> Option<DateTime<Utc>> {
        self.0.pinned_at.map(time)
    }
    /// Who the visit is recorded as: the recipient's e-mail, the user, or "public".
    async fn visitor(&self) -> &str {
        &self.0.visitor
    }
    /// Markers on the tiles some viewers see less of, with the reason.
    async fn tile_notes(&self) -> Vec<super::data_types::TileNote> {
        super::data_types::tile_notes(&self.0.notes)
    }
    /// The reports a project link opens (empty for a report or tab link).
    async fn reports(&self) -> Vec<SharedReportEntry> {
        self.0
            .reports
            .iter()
            .map(|(id, name)| SharedReportEntry {
                id: ID(id.clone()),
                name: name.clone(),
            })
            .collect()
    }
}

/// A project a link to whole projects covers.
#[derive(SimpleObject)]
pub struct SharedProject {
    pub id: ID,
    pub name: String,
    /// Its reports, when the link shares the dashboard.
    pub reports: Vec<SharedReportEntry>,
    /// The report files its scheduled tasks deliver, when the link shares them.
    pub files: Vec<SharedFileEntry>,
}

/// A delivered file: the report file, made as the link's audience sees the report.
#[derive(SimpleObject)]
pub struct SharedFileEntry {
    pub report_id: ID,
    pub report_name: String,
    /// `GET` it with the link's session (`/s/v/LINK/file?report=ID`).
    pub url: String,
}

#[derive(SimpleObject)]
pub struct SharedReportEntry {
    pub id: ID,
    pub name: String,
}

/// One tile of a view: its result, or why it cannot be shown.
#[derive(SimpleObject)]
pub struct SharedTile {
    pub tile_id: String,
    pub result: Option<TileResult>,
    pub error: Option<TileError>,
}

/// Why one tile of a view cannot be shown; the others are.
#[derive(SimpleObject)]
pub struct TileError {
    /// Why: FORBIDDEN, NOT_FOUND, QUERY_FAILED…
    pub code: super::types::ErrorCode,
    pub message: String,
}

/// A saved visitor edit.
#[derive(SimpleObject)]
pub struct SavedLinkReport {
    /// The definition as saved, as JSON.
    #[graphql(deprecation = "read `tabs` and `filters`, typed")]
    pub definition: Json<Value>,
    /// The tabs as saved.
    pub tabs: Vec<Tab>,
    /// The filters as saved.
    pub filters: Vec<ReportFilter>,
    /// The edit replaced the master report (the link's sync right); otherwise it is the
    /// visitor's own copy.
    pub synced: bool,
}

#[derive(Default)]
pub struct LinkMutation;

#[Object]
impl LinkMutation {
    /// A URL to exactly this view (`query`: the viewer's `?report=…&tab=…&filters=…`)
    /// that opens in a fresh browser: for a public link it carries a newly minted token
    /// (rate-limited), for every other kind it is the link's page, where the visitor signs
    /// in. At `POST /s/v/LINK/graphql` only.
    async fn copy_link_view(&self, ctx: &Context<'_>, query: String) -> R<String> {
        let a = link_access(ctx).gql()?;
        let path = visits(ctx).share_copy_link(a, &query).await.gql()?;
        Ok(url(ctx, &path))
    }

    /// Saves a visitor's edit of the report (the link's edit right): into the master
    /// report with the sync right, else into the visitor's own copy. An edit may only use
    /// datasets the report already shows. At `POST /s/v/LINK/graphql` only.
    /// `tabs` or `filters` left out stay as the visitor sees them.
    async fn save_link_report(
        &self,
        ctx: &Context<'_>,
        report_id: Option<ID>,
        tabs: Option<Vec<Tab>>,
        filters: Option<Vec<ReportFilter>>,
        #[graphql(deprecation = "pass `tabs` and `filters`, typed")] definition: Option<
            Json<Value>,
        >,
    ) -> R<SavedLinkReport> {
        let a = link_access(ctx).gql()?;
        let report_id = report_id.as_ref().map(|r| r.as_str());
        let current = async { Ok(visits(ctx).share_view(a, report_id).await?.definition) };
        let definition = definition_argument(tabs, filters, definition, current)
            .await
            .gql()?
            .ok_or_else(|| ApiError::invalid("tabs: give the edited report's `tabs` and `filters`"))
            .gql()?;
        let def = visits(ctx)
            .share_save(a, report_id, &definition)
            .await
            .gql()?;
        let saved = serde_json::to_value(&def)
            .map_err(|e| ApiError::internal("report", e))
            .gql()?;
        Ok(SavedLinkReport {
            definition: Json(saved),
            tabs: tabs_of(&def).gql()?,
            filters: filters_of(&def).gql()?,
            synced: a.rights.sync_edits,
        })
    }
}
