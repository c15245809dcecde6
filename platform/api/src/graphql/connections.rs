//! Resolvers of data connections: outside databases, their tests and connection roles.

use async_graphql::{Context, ID, Object};
use vitrine_definitions::connections::{
    ConnectionRole, ConnectionTest, DataConnection, DataConnectionInput, RoleSubjectKind,
};

use super::on;
use crate::GqlResult;
use crate::services::Services;

fn shown(r: crate::services::records::ConnectionRecord) -> async_graphql::Result<DataConnection> {
    DataConnection::of(r).gql()
}

#[derive(Default)]
pub struct ConnectionQuery;

#[Object]
impl ConnectionQuery {
    /// Admins see every connection; others those they may read from (RESTRICTED_QUERIER
    /// or above on it).
    async fn data_connections(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<DataConnection>> {
        let (s, c) = on(ctx, Services::data)?;
        s.data_connections(c)
            .await
            .gql()?
            .into_iter()
            .map(shown)
            .collect()
    }
}

#[derive(Default)]
pub struct ConnectionMutation;

#[Object]
impl ConnectionMutation {
    /// Defines a connection (admins). The password is stored sealed and never answered.
    async fn create_data_connection(
        &self,
        ctx: &Context<'_>,
        input: DataConnectionInput,
    ) -> async_graphql::Result<DataConnection> {
        let (s, c) = on(ctx, Services::data)?;
        shown(s.create_data_connection(c, input.into()).await.gql()?)
    }

    /// Changes a connection (admins); without `password` the stored one is kept.
    async fn update_data_connection(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: DataConnectionInput,
    ) -> async_graphql::Result<DataConnection> {
        let (s, c) = on(ctx, Services::data)?;
        shown(s.update_data_connection(c, &id, input.into()).await.gql()?)
    }

    async fn delete_data_connection(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<bool> {
        let (s, c) = on(ctx, Services::data)?;
        s.delete_data_connection(c, &id).await.gql()
    }

    /// Connects and signs in with the stored settings (admins); an error says why not.
    async fn test_data_connection(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<ConnectionTest> {
        let (s, c) = on(ctx, Services::data)?;
        Ok(s.test_data_connection(c, &id).await.gql()?.into())
    }

    /// Grants a connection role on one connection to a user or a group (admins); no
    /// `role` removes the grant, and the instance-wide role applies again.
    async fn set_data_connection_role(
        &self,
        ctx: &Context<'_>,
        id: ID,
        subject_kind: RoleSubjectKind,
        subject_id: ID,
        role: Option<ConnectionRole>,
    ) -> async_graphql::Result<DataConnection> {
        let (s, c) = on(ctx, Services::data)?;
        let subject = subject_kind.subject(subject_id);
        shown(
            s.set_data_connection_role(c, &id, subject, role.map(Into::into))
                .await
                .gql()?,
        )
    }

    /// Seals every stored secret again under the current secret key, after a rotation
    /// (admins); answers how many were sealed again.
    async fn reseal_secrets(&self, ctx: &Context<'_>) -> async_graphql::Result<u32> {
        let (s, c) = on(ctx, Services::data)?;
        Ok(s.reseal_secrets(c).await.gql()? as u32)
    }
}
