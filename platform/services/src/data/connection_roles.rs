//! Connection roles on each data connection, for users and groups. The model:
//!
//! - A user's role on a connection is the highest role granted on it to the user or to
//!   one of their groups; with no grant there, the user's instance-wide connection role
//!   (or the instance's default). Admins are queriers everywhere.
//! - **Writing** a `database_source` block that reads a table needs RESTRICTED_QUERIER on
//!   its connection; one running free SQL (`query`) needs QUERIER. Saving a workflow
//!   checks every such block for the saver, and every run checks them again for whoever
//!   asked for it, so a lowered role stops the next run.
//! - **Viewing** a dataset read through connections takes the lowest of the viewer's roles
//!   on them, as [`may_query`](vitrine_core::may_query) reads a tile: VIEWER sees
//!   aggregated tiles, RESTRICTED_QUERIER rows and drill-down. NO_ACCESS on a connection
//!   hides its data from everyone but admins, editors included. Access boost lifts
//!   viewers as it does for instance-wide roles; access filters apply afterwards.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use vitrine_core::{AuditAction, ConnectionRole};
use vitrine_engine::EngineError;
use vitrine_engine::blocks::BlockConfig;
use vitrine_engine::blocks::database::DatabaseSource;
use vitrine_engine::connections::{ConnectionUse, Connections};
use vitrine_engine::workflow::Plan;
use vitrine_sources::ConnectionSpec;
use vitrine_storage::{ConnectionRecord, UserRecord};

use super::Data;
use super::connections::spec_of;
use crate::caller::Caller;
use crate::security::DataSecurity;
use crate::{ApiError, ApiResult};

/// Who a connection role is granted to.
#[derive(Debug, Clone)]
pub enum RoleSubject {
    User(String),
    Group(String),
}

/// The highest explicit grant on `c` to `user_uid` or one of `groups` (uids).
fn granted(c: &ConnectionRecord, user_uid: &str, groups: &[String]) -> Option<ConnectionRole> {
    c.grants
        .iter()
        .filter(|g| match g.subject.split_once(':') {
            Some(("user", u)) => u == user_uid,
            Some(("group", id)) => groups.iter().any(|x| x == id),
            _ => false,
        })
        .map(|g| g.role)
        .max()
}

fn needed(free_sql: bool) -> ConnectionRole {
    if free_sql {
        ConnectionRole::Querier
    } else {
        ConnectionRole::RestrictedQuerier
    }
}

fn refusal(name: &str, role: ConnectionRole, free_sql: bool) -> String {
    format!(
        "the connection role on data connection `{name}` ({}) does not allow {}; it needs {}",
        role.as_str().to_uppercase(),
        if free_sql {
            "free SQL"
        } else {
            "reading tables"
        },
        needed(free_sql).as_str().to_uppercase()
    )
}

/// One user's roles on connections, resolved once per request: whether they are an
/// admin, their groups and their instance-wide role are looked up a single time.
pub(crate) struct RolesOf {
    admin: bool,
    uid: String,
    groups: Vec<String>,
    /// The user's instance-wide role: where a connection grants them nothing.
    fallback: ConnectionRole,
}

impl RolesOf {
    /// The user's role on connection `c` (see the module docs).
    pub fn on(&self, c: &ConnectionRecord) -> ConnectionRole {
        if self.admin {
            return ConnectionRole::Querier;
        }
        granted(c, &self.uid, &self.groups).unwrap_or(self.fallback)
    }

    /// The role on the connection named `name`, among `all`; a connection deleted since
    /// the run that read through it leaves its rows to admins.
    fn on_named(&self, all: &[ConnectionRecord], name: &str) -> ConnectionRole {
        match all.iter().find(|c| c.name == name) {
            Some(c) => self.on(c),
            None if self.admin => ConnectionRole::Querier,
            None => ConnectionRole::NoAccess,
        }
    }
}

impl Data {
    /// `user`'s roles on connections (see the module docs).
    pub(crate) fn roles_of(&self, user: &UserRecord, sec: &DataSecurity) -> RolesOf {
        let uid = user.uid.as_str();
        RolesOf {
            admin: self.authz.is_admin(&user.uid),
            uid: uid.to_owned(),
            groups: self.directory.groups_of(uid),
            fallback: self.connection_role(user, sec),
        }
    }

    /// Grants `role` on a connection to a user or a group, or with `None` removes the
    /// grant (the instance-wide role applies again).
    pub async fn set_data_connection_role(
        &self,
        caller: &Caller,
        uid: &str,
        subject: RoleSubject,
        role: Option<ConnectionRole>,
    ) -> ApiResult<ConnectionRecord> {
        caller.require_write()?;
        self.require_admin_caller(caller)?;
        let record = self.connection_record(uid).await?;
        let subject = match subject {
            RoleSubject::User(u) => {
                self.store
                    .user(&vitrine_core::UserId::from(&u))
                    .await?
                    .ok_or_else(|| ApiError::not_found("user"))?;
                format!("user:{u}")
            }
            RoleSubject::Group(g) => {
                self.store
                    .group(&vitrine_core::GroupId::from(&g))
                    .await?
                    .ok_or_else(|| ApiError::not_found("group"))?;
                format!("group:{g}")
            }
        };
        let updated = self
            .store
            .set_connection_grant(&record.uid, &subject, role)
            .await?
            .ok_or_else(|| ApiError::not_found("data connection"))?;
        self.audit
            .record(
                caller,
                AuditAction::ConnectionRole,
                &format!("connection:{}", record.uid),
                "ok",
                &format!("{subject} {}", role.map_or("inherited", |r| r.as_str())),
            )
            .await?;
        Ok(updated)
    }

    /// Refuses a workflow whose `database_source` blocks `caller` may not write (see the
    /// module docs), from its validated plan (connection names substituted).
    pub(crate) async fn require_connection_uses(
        &self,
        caller: &Caller,
        plan: &Plan,
    ) -> ApiResult<()> {
        let uses: Vec<(&String, &DatabaseSource)> = plan
            .blocks
            .iter()
            .filter_map(|p| match &p.config {
                BlockConfig::DatabaseSource(c) => Some((&p.block.id, c)),
                _ => None,
            })
            .collect();
        if uses.is_empty() {
            return Ok(());
        }
        let roles = self.roles_of(caller.user(), &self.data_security().await?);
        for (block, c) in uses {
            let name = &c.connection;
            let record = self.store.connection_by_name(name).await?.ok_or_else(|| {
                ApiError::new(
                    vitrine_core::ErrorCode::InvalidWorkflow,
                    format!("block `{block}`, config.connection: no data connection is named `{name}` on this instance"),
                )
            })?;
            let role = roles.on(&record);
            if role < needed(c.is_free_sql()) {
                return Err(ApiError::forbidden(format!(
                    "block `{block}`: {}",
                    refusal(name, role, c.is_free_sql())
                )));
            }
        }
        Ok(())
    }

    /// Refuses `caller` the rows of datasets read through a connection on which they are
    /// below RESTRICTED_QUERIER (dataset and bundle exports: rows, not tiles).
    pub async fn require_rows_of(
        &self,
        caller: &Caller,
        datasets: &[vitrine_storage::DatasetRecord],
    ) -> ApiResult<()> {
        let sec = self.data_security().await?;
        let roles = self
            .roles_on_connections(caller.user(), datasets.iter(), &sec)
            .await?;
        for d in datasets {
            for c in &d.connections {
                let role = roles.get(c).copied().unwrap_or(ConnectionRole::NoAccess);
                if role < ConnectionRole::RestrictedQuerier {
                    return Err(ApiError::forbidden(format!(
                        "dataset `{}` was read through data connection `{c}`, on which your connection role ({}) does not allow rows; it needs RESTRICTED_QUERIER",
                        d.name,
                        role.as_str().to_uppercase()
                    )));
                }
            }
        }
        Ok(())
    }

    /// The viewer's role on each connection the datasets of a request were read through.
    pub(crate) async fn roles_on_connections(
        &self,
        user: &UserRecord,
        datasets: impl Iterator<Item = &vitrine_storage::DatasetRecord>,
        sec: &DataSecurity,
    ) -> ApiResult<BTreeMap<String, ConnectionRole>> {
        let names: std::collections::BTreeSet<&String> =
            datasets.flat_map(|d| d.connections.iter()).collect();
        if names.is_empty() {
            return Ok(BTreeMap::new());
        }
        let all = self.store.connections().await?;
        let roles = self.roles_of(user, sec);
        Ok(names
            .into_iter()
            .map(|n| (n.clone(), roles.on_named(&all, n)))
            .collect())
    }

    /// What the engine opens connections with (given to it at start).
    pub(crate) fn connection_opener(&self) -> Arc<dyn Connections> {
        Arc::new(Opener(self.clone()))
    }
}

/// Opens connections for the engine's runs, checking the requester's role each time.
struct Opener(Data);

impl Opener {
    async fn open_checked(&self, u: ConnectionUse<'_>) -> ApiResult<ConnectionSpec> {
        let data = &self.0;
        let c = data
            .store
            .connection_by_name(u.name)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    vitrine_core::ErrorCode::InvalidWorkflow,
                    format!("no data connection is named `{}` on this instance", u.name),
                )
            })?;
        if let Some(uid) = u.run_by {
            let user = data
                .store
                .user(&vitrine_core::UserId::from(uid))
                .await?
                .ok_or_else(|| ApiError::forbidden("the run's requester no longer exists"))?;
            let sec = data.data_security().await?;
            let role = data.roles_of(&user, &sec).on(&c);
            if role < needed(u.free_sql) {
                return Err(ApiError::forbidden(format!(
                    "{} (for {}, who asked for this run)",
                    refusal(u.name, role, u.free_sql),
                    user.username
                )));
            }
        }
        spec_of(&c, &data.secrets)
    }
}

impl Connections for Opener {
    fn open<'a>(
        &'a self,
        u: ConnectionUse<'a>,
    ) -> BoxFuture<'a, vitrine_engine::EngineResult<ConnectionSpec>> {
        Box::pin(async move {
            self.open_checked(u)
                .await
                .map_err(|e| EngineError::Source(e.message.clone(), e.code))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_storage::ConnectionGrant;

    #[test]
    fn the_highest_grant_to_the_user_or_a_group_counts() {
        let grant = |subject: &str, role| ConnectionGrant {
            subject: subject.into(),
            role,
        };
        let c = ConnectionRecord {
            uid: "c".into(),
            name: "prod".into(),
            kind: "postgres".into(),
            settings: serde_json::json!({}),
            sealed_password: None,
            grants: vec![
                grant("user:ann", ConnectionRole::Viewer),
                grant("group:analysts", ConnectionRole::Querier),
                grant("user:bob", ConnectionRole::NoAccess),
            ],
            created_ms: 0,
            updated_ms: 0,
        };
        assert_eq!(granted(&c, "ann", &[]), Some(ConnectionRole::Viewer));
        assert_eq!(
            granted(&c, "ann", &["analysts".into()]),
            Some(ConnectionRole::Querier)
        );
        assert_eq!(granted(&c, "bob", &[]), Some(ConnectionRole::NoAccess));
        assert_eq!(granted(&c, "carol", &["others".into()]), None);
        assert_eq!(needed(true), ConnectionRole::Querier);
        assert!(refusal("prod", ConnectionRole::Viewer, false).contains("RESTRICTED_QUERIER"));
    }
}
