//! `vitrine-api`: the GraphQL API and the service layer under it.
//!
//! Sits above storage and authz and below the HTTP server. [`services`] holds the rules
//! (every read and write checks the caller's rights there); [`graphql`] is a thin
//! async-graphql face over them. Errors carry a stable code from the core catalogue.

pub mod assets;
mod caller;
mod error;
pub mod graphql;
pub mod outbound;
pub mod qr;
mod ratelimit;
pub mod secrets;
pub mod services;

pub use caller::{Caller, Credential, RequestMeta};
pub use error::{ApiError, ApiResult, GqlResult};
pub use graphql::{Limits, VitrineSchema, build_schema};
pub use services::Services;
