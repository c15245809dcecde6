//! Data connections as the API shows and takes them: where an outside database is and
//! who may use it. The password goes in through [`DataConnectionInput`] and never comes
//! out: [`DataConnection`] says only whether one is set.

use async_graphql::{Enum, ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use crate::time;
use vitrine_services::records::ConnectionRecord;
use vitrine_services::values::ServerInfo;
use vitrine_services::{ApiResult, ConnectionInput, ConnectionSettings, RoleSubject};

/// What a user may query from data.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "vitrine_core::ConnectionRole")]
pub enum ConnectionRole {
    NoAccess,
    Viewer,
    RestrictedQuerier,
    Querier,
}

/// Who a connection role is granted to.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum RoleSubjectKind {
    User,
    Group,
}

/// A connection role granted on one connection.
#[derive(SimpleObject)]
pub struct ConnectionRoleGrant {
    pub subject_kind: RoleSubjectKind,
    pub subject_id: ID,
    pub role: ConnectionRole,
}

/// An outside database that `database_source` blocks read (admins define them).
#[derive(SimpleObject)]
pub struct DataConnection {
    pub id: ID,
    pub name: String,
    /// `postgres`.
    pub kind: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    /// `disable`, `prefer`, `require` or `verify-full`.
    pub tls: String,
    /// Whether a password is stored (it is never answered).
    pub has_password: bool,
    /// Roles granted on this connection; users and groups without one have their
    /// instance-wide connection role.
    pub grants: Vec<ConnectionRoleGrant>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl DataConnection {
    pub fn of(r: ConnectionRecord) -> ApiResult<DataConnection> {
        let s = ConnectionSettings::of(&r)?;
        Ok(DataConnection {
            id: ID(r.uid.into()),
            name: r.name,
            kind: r.kind,
            host: s.host,
            port: s.port,
            database: s.database,
            user: s.user,
            tls: s.tls,
            has_password: r.sealed_password.is_some(),
            grants: r
                .grants
                .into_iter()
                .filter_map(|g| {
                    let (kind, id) = match g.subject.split_once(':')? {
                        ("user", id) => (RoleSubjectKind::User, id),
                        ("group", id) => (RoleSubjectKind::Group, id),
                        _ => return None,
                    };
                    Some(ConnectionRoleGrant {
                        subject_kind: kind,
                        subject_id: ID(id.to_owned()),
                        role: g.role.into(),
                    })
                })
                .collect(),
            created_at: time(r.created_ms),
            updated_at: time(r.updated_ms),
        })
    }
}

/// Where a connection points. On `updateDataConnection`, a `password` left out keeps
/// the stored one and an empty one removes it.
#[derive(InputObject)]
pub struct DataConnectionInput {
    pub name: String,
    #[graphql(default = "postgres")]
    pub kind: String,
    pub host: String,
    #[graphql(default = 5432)]
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: Option<String>,
    /// `disable`, `prefer` (the default), `require` or `verify-full`.
    pub tls: Option<String>,
}

impl From<DataConnectionInput> for ConnectionInput {
    fn from(i: DataConnectionInput) -> Self {
        ConnectionInput {
            name: i.name,
            kind: i.kind,
            host: i.host,
            port: Some(i.port),
            database: i.database,
            user: i.user,
            password: i.password,
            tls: i.tls,
        }
    }
}

impl RoleSubjectKind {
    pub fn subject(self, id: ID) -> RoleSubject {
        match self {
            RoleSubjectKind::User => RoleSubject::User(id.0),
            RoleSubjectKind::Group => RoleSubject::Group(id.0),
        }
    }
}

/// What a successful connection test found.
#[derive(SimpleObject)]
pub struct ConnectionTest {
    /// The server's own version string (`PostgreSQL 15.8 …`).
    pub version: String,
    /// Whether the connection is encrypted.
    pub tls: bool,
}

impl From<ServerInfo> for ConnectionTest {
    fn from(i: ServerInfo) -> Self {
        ConnectionTest {
            version: i.version,
            tls: i.tls,
        }
    }
}
