//! `vitrine-api`: the GraphQL API, a thin async-graphql face over `vitrine-services`.
//!
//! Sits above the services and below the HTTP server. Resolvers take the caller from the
//! request, call one service method and shape its answer; every rule lives in the
//! services. Errors keep their stable code from the core catalogue (see [`GqlResult`]).

// The merged query root's resolver futures are checked for `Send`/`Sync` through the
// engine's types down to DataFusion's SQL syntax tree, which is deeper than the default
// limit allows.
#![recursion_limit = "256"]

mod error;
pub mod graphql;

pub use error::GqlResult;
pub use graphql::{Limits, PreparedSchema, VitrineSchema};
// The service layer, under the names resolvers and the server have always used.
pub use vitrine_services::{
    self as services, ApiError, ApiResult, Caller, Credential, RequestMeta, Services, assets,
    outbound, qr, secrets,
};
