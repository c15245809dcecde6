//! GraphQL errors: the one place a service error gets its `extensions.code` (and, for a
//! validation error, the input field it is about as `extensions.path`).

use async_graphql::ErrorExtensions;
use vitrine_services::{ApiError, ApiResult};

fn into_graphql(e: ApiError) -> async_graphql::Error {
    let (code, path) = (e.code.as_str(), e.field_path());
    async_graphql::Error::new(e.message).extend_with(|_, ext| {
        ext.set("code", code);
        if let Some(p) = &path {
            ext.set("path", p.as_str());
        }
    })
}

/// `result.gql()?` in resolvers: converts with the code kept.
pub trait GqlResult<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GqlResult<T> for ApiResult<T> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(into_graphql)
    }
}
