//! The GraphQL schema: thin resolvers over [`crate::services`].
//!
//! Type names are the glossary's words. Lists are Relay connections (`first`/`after`).
//! Every error carries `extensions.code` from the core catalogue; errors produced by
//! async-graphql itself (parse, validation, limits) get theirs in [`finish_response`].

mod connections;
mod copies;
mod data;
mod data_types;
mod link;
mod link_deliveries;
mod mutation;
mod pagination;
mod plugins;
mod policy_types;
mod prepared;
mod query;
mod refusals;
mod revisions;
mod sharing;
mod sharing_types;
mod task_inputs;
mod tasks;
mod templates;
mod types;

use std::sync::Arc;

use async_graphql::{MergedObject, MergedSubscription, Schema};
use vitrine_core::ErrorCode;

pub use prepared::PreparedSchema;
pub use sharing_types::PublicUrl;
pub use vitrine_query_limits::{IntrospectionAllowed, Limits, STANDARD_INTROSPECTION_QUERY};

use crate::services::{Services, SharePage};
use crate::{ApiError, ApiResult};
use crate::{Caller, RequestMeta};

/// The query root: identity and directory fields, then the data engine's.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    query::QueryRoot,
    data::DataQuery,
    plugins::PluginQuery,
    sharing::SharingQuery,
    revisions::RevisionQuery,
    copies::CopyQuery,
    tasks::TaskQuery,
    link::LinkQuery,
    templates::TemplateQuery,
    connections::ConnectionQuery,
);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    mutation::MutationRoot,
    data::DataMutation,
    plugins::PluginMutation,
    sharing::SharingMutation,
    revisions::RevisionMutation,
    copies::CopyMutation,
    tasks::TaskMutation,
    link::LinkMutation,
    link_deliveries::LinkDeliveryMutation,
    templates::TemplateMutation,
    connections::ConnectionMutation,
);

#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(data::DataSubscription, tasks::TaskSubscription);

pub type VitrineSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// What the HTTP layer found out about the caller, put into each request's data.
#[derive(Debug, Clone)]
pub enum AuthState {
    Anonymous,
    Caller(Box<Caller>),
    /// A share link's visit, at the link's own endpoint (`/s/v/LINK/graphql`): what the
    /// link lets the visitor see, or the step they must take first. Only `linkVisit` and
    /// the link mutations answer it; every member field is UNAUTHENTICATED.
    Link(Box<SharePage>),
    /// Credentials were sent but refused (revoked token, ended session, disabled user):
    /// the request fails with that reason rather than running as anonymous.
    Rejected(ApiError),
}

/// Which of the schema's own checks a copy of it makes (see [`PreparedSchema`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hooks {
    /// Shape checks as a document is parsed, audit of refused mutations, full validation.
    All,
    /// Full validation only: for documents that passed the shape checks.
    None,
    /// Only the validation that depends on the request: for query documents validated once.
    Validated,
}

/// `public_url` is the server's base URL as browsers reach it; share-link URLs start with it.
fn build(
    services: Arc<Services>,
    limits: &Limits,
    public_url: &str,
    hooks: Hooks,
) -> VitrineSchema {
    let builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .data(services)
    .data(PublicUrl(public_url.to_owned()))
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity)
    .limit_recursive_depth(limits.max_depth * 2);
    match hooks {
        // Only [`PreparedSchema`] builds these, and runs them only on documents that
        // passed the hooks' checks.
        Hooks::None => builder.finish(),
        Hooks::Validated => builder
            .validation_mode(async_graphql::ValidationMode::Fast)
            .finish(),
        Hooks::All => builder
            .extension(vitrine_query_limits::ShapeLimit {
                max_aliases: limits.max_aliases,
            })
            .extension(refusals::AuditRefusals)
            .finish(),
    }
}

/// The SDL committed at schema/graphql/vitrine.graphql.
pub fn sdl() -> String {
    build_schema_for_sdl().sdl()
}

fn build_schema_for_sdl() -> VitrineSchema {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .finish()
}

/// Gives every error without a code one: limit errors are `QUERY_TOO_LARGE`, other
/// parse and validation errors `INVALID_INPUT`.
pub fn finish_response(mut response: async_graphql::Response) -> async_graphql::Response {
    for e in &mut response.errors {
        let has_code = e
            .extensions
            .as_ref()
            .is_some_and(|x| x.get("code").is_some());
        if !has_code {
            let m = e.message.to_lowercase();
            let code = if m.contains("too deep")
                || m.contains("too complex")
                || m.contains("too many")
                || m.contains("too large")
            {
                ErrorCode::QueryTooLarge
            } else {
                ErrorCode::InvalidInput
            };
            e.extensions
                .get_or_insert_with(Default::default)
                .set("code", code.as_str());
        }
    }
    response
}

pub(crate) fn services<'a>(ctx: &async_graphql::Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Arc<Services>>()
}

/// The services and the signed-in caller, as a member's resolver starts: refused before
/// any argument is looked at when nobody (or only a link session) is signed in.
pub(crate) fn member<'a>(
    ctx: &async_graphql::Context<'a>,
) -> async_graphql::Result<(&'a Services, &'a Caller)> {
    Ok((services(ctx), crate::GqlResult::gql(caller(ctx))?))
}

/// One service and the signed-in caller, as `member` gives them: `on(ctx, Services::data)`.
pub(crate) fn on<'a, T>(
    ctx: &async_graphql::Context<'a>,
    service: fn(&'a Services) -> &'a T,
) -> async_graphql::Result<(&'a T, &'a Caller)> {
    let (s, c) = member(ctx)?;
    Ok((service(s), c))
}

pub(crate) fn meta(ctx: &async_graphql::Context<'_>) -> RequestMeta {
    ctx.data_opt::<RequestMeta>().cloned().unwrap_or_default()
}

pub(crate) fn caller<'a>(ctx: &async_graphql::Context<'a>) -> ApiResult<&'a Caller> {
    match ctx.data_opt::<AuthState>() {
        Some(AuthState::Caller(c)) => Ok(c),
        Some(AuthState::Rejected(e)) => Err(e.clone()),
        Some(AuthState::Link(_)) => Err(ApiError::new(
            ErrorCode::Unauthenticated,
            "a share link's visit reads only `linkVisit`; sign in to Vitrine for the rest",
        )),
        _ => Err(ApiError::unauthenticated()),
    }
}

pub(crate) fn optional_caller<'a>(
    ctx: &async_graphql::Context<'a>,
) -> ApiResult<Option<&'a Caller>> {
    match ctx.data_opt::<AuthState>() {
        Some(AuthState::Caller(c)) => Ok(Some(c)),
        Some(AuthState::Rejected(e)) => Err(e.clone()),
        _ => Ok(None),
    }
}
