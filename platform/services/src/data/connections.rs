//! Data connections (admins): outside databases that `database_source` blocks read.
//! The settings are stored as the kind's JSON document; the password only sealed (see
//! [`crate::secret_box`]), and it never leaves the server: the API shows whether one is
//! set, audit events name the connection, and errors name the host and user.
//!
//! Who may use a connection is its **connection roles** ([`super::connection_roles`]).

use serde::{Deserialize, Serialize};
use vitrine_core::{AuditAction, ConnectionRole, ErrorCode};
use vitrine_sources::postgres::PostgresSpec;
use vitrine_sources::{ConnectionSpec, Secret, ServerInfo, TlsMode};
use vitrine_storage::{ConnectionRecord, new_uid, now_ms};

use super::Data;
use crate::caller::Caller;
use crate::secret_box::SecretBox;
use crate::{ApiError, ApiResult};

/// The kinds a connection may be, as the API names them.
pub const KINDS: &[&str] = &["postgres"];

/// What an admin gives to create or change a connection.
#[derive(Debug, Clone, Default)]
pub struct ConnectionInput {
    pub name: String,
    pub kind: String,
    pub host: String,
    pub port: Option<u16>,
    pub database: String,
    pub user: String,
    /// `None` keeps the stored password (on a change); `Some("")` removes it.
    pub password: Option<String>,
    /// `disable`, `prefer`, `require` or `verify-full`; `prefer` when not given.
    pub tls: Option<String>,
}

/// A PostgreSQL connection's settings without the password: what the record stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionSettings {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub tls: String,
}

impl ConnectionSettings {
    pub fn of(record: &ConnectionRecord) -> ApiResult<ConnectionSettings> {
        serde_json::from_value(record.settings.clone())
            .map_err(|e| ApiError::internal("connection settings", e))
    }

    fn spec(&self, password: Secret) -> ApiResult<ConnectionSpec> {
        let tls = TlsMode::parse(&self.tls).map_err(source_error)?;
        let spec = ConnectionSpec::Postgres(PostgresSpec {
            host: self.host.clone(),
            port: self.port,
            database: self.database.clone(),
            user: self.user.clone(),
            password,
            tls,
        });
        spec.check().map_err(source_error)?;
        Ok(spec)
    }
}

pub(crate) fn source_error(e: vitrine_sources::SourceError) -> ApiError {
    match e {
        vitrine_sources::SourceError::Invalid { field, reason } => {
            ApiError::invalid(format!("{field}: {reason}"))
        }
        other => ApiError::new(other.code(), other.to_string()),
    }
}

/// A stored connection's settings and its unsealed password, as a read needs them.
pub(crate) fn spec_of(record: &ConnectionRecord, secrets: &SecretBox) -> ApiResult<ConnectionSpec> {
    let password = match &record.sealed_password {
        Some(s) => Secret::new(secrets.unseal(s)?),
        None => Secret::default(),
    };
    ConnectionSettings::of(record)?.spec(password)
}

impl ConnectionInput {
    /// The checked settings (nothing is stored when a field is wrong).
    fn settings(&self) -> ApiResult<ConnectionSettings> {
        if !KINDS.contains(&self.kind.as_str()) {
            return Err(ApiError::invalid(format!(
                "kind: `{}` is not a connection kind; kinds are {}",
                self.kind,
                KINDS.join(", ")
            )));
        }
        let tls = match self.tls.as_deref() {
            Some(t) => TlsMode::parse(t).map_err(source_error)?,
            None => TlsMode::Prefer,
        };
        let settings = ConnectionSettings {
            host: self.host.trim().to_owned(),
            port: self.port.unwrap_or(5432),
            database: self.database.trim().to_owned(),
            user: self.user.trim().to_owned(),
            tls: tls.as_str().to_owned(),
        };
        settings.spec(Secret::default())?;
        Ok(settings)
    }
}

const MAX_PASSWORD: usize = 1024;

impl Data {
    /// Admins see every connection; others those they may read from (RESTRICTED_QUERIER
    /// or above), to build source blocks on.
    pub async fn data_connections(&self, caller: &Caller) -> ApiResult<Vec<ConnectionRecord>> {
        let all = self.store.connections().await?;
        if self.authz.is_admin(caller) {
            return Ok(all);
        }
        let roles = self.roles_of(caller.user(), &self.data_security().await?);
        Ok(all
            .into_iter()
            .filter(|c| roles.on(c) >= ConnectionRole::RestrictedQuerier)
            .collect())
    }

    pub async fn create_data_connection(
        &self,
        caller: &Caller,
        input: ConnectionInput,
    ) -> ApiResult<ConnectionRecord> {
        caller.require_write()?;
        self.require_admin_caller(caller)?;
        let name = vitrine_core::Name::parse("name", &input.name)?.into_inner();
        let settings = input.settings()?;
        let now = now_ms();
        let record = ConnectionRecord {
            uid: new_uid().into(),
            name,
            kind: input.kind.clone(),
            settings: serde_json::to_value(&settings).expect("settings serialise"),
            sealed_password: self.sealed(input.password.as_deref())?,
            grants: vec![],
            created_ms: now,
            updated_ms: now,
        };
        self.store.insert_connection(&record).await?;
        self.audit_connection(caller, AuditAction::ConnectionCreate, &record, &settings)
            .await?;
        Ok(record)
    }

    /// Changes a connection's name and settings, and its password when one is given.
    pub async fn update_data_connection(
        &self,
        caller: &Caller,
        uid: &str,
        input: ConnectionInput,
    ) -> ApiResult<ConnectionRecord> {
        caller.require_write()?;
        self.require_admin_caller(caller)?;
        let mut record = self.connection_record(uid).await?;
        let name = vitrine_core::Name::parse("name", &input.name)?.into_inner();
        if input.kind != record.kind {
            return Err(ApiError::invalid(format!(
                "kind: a `{}` connection stays one; create a new connection for `{}`",
                record.kind, input.kind
            )));
        }
        let settings = input.settings()?;
        record.name = name;
        record.settings = serde_json::to_value(&settings).expect("settings serialise");
        if let Some(p) = input.password.as_deref() {
            record.sealed_password = self.sealed(Some(p))?;
        }
        record.updated_ms = now_ms();
        self.store.update_connection(&record).await?;
        self.audit_connection(caller, AuditAction::ConnectionUpdate, &record, &settings)
            .await?;
        Ok(record)
    }

    pub async fn delete_data_connection(&self, caller: &Caller, uid: &str) -> ApiResult<bool> {
        caller.require_write()?;
        self.require_admin_caller(caller)?;
        let record = self.connection_record(uid).await?;
        self.store.delete_connection(&record.uid).await?;
        self.audit
            .record(
                caller,
                AuditAction::ConnectionDelete,
                &format!("connection:{}", record.uid),
                "ok",
                &record.name,
            )
            .await?;
        Ok(true)
    }

    /// Connects and signs in with the stored settings: the "test connection" button. A
    /// failure is an error with the source's code and the server's own words.
    pub async fn test_data_connection(&self, caller: &Caller, uid: &str) -> ApiResult<ServerInfo> {
        self.require_admin_caller(caller)?;
        let record = self.connection_record(uid).await?;
        let spec = spec_of(&record, &self.secrets)?;
        spec.test().await.map_err(source_error)
    }

    /// Seals every stored secret again under the current key (after a key rotation; see
    /// [`crate::secret_box`]). Returns how many were sealed again.
    pub async fn reseal_secrets(&self, caller: &Caller) -> ApiResult<usize> {
        caller.require_write()?;
        self.require_admin_caller(caller)?;
        let mut n = 0;
        for c in self.store.connections().await? {
            if let Some(s) = &c.sealed_password
                && self.secrets.needs_reseal(s)
            {
                let again = self.secrets.seal(&self.secrets.unseal(s)?)?;
                n += usize::from(
                    self.store
                        .reseal_connection_password(&c.uid, s, &again)
                        .await?,
                );
            }
        }
        for (uid, token) in self.store.sealed_origin_tokens().await? {
            if self.secrets.needs_reseal(&token) {
                let again = self.secrets.seal(&self.secrets.unseal(&token)?)?;
                n += usize::from(self.store.reseal_origin_token(&uid, &token, &again).await?);
            }
        }
        self.audit
            .record(
                caller,
                AuditAction::SecretsRotate,
                "instance",
                "ok",
                &format!("{n} sealed again"),
            )
            .await?;
        Ok(n)
    }

    pub(crate) async fn connection_record(&self, uid: &str) -> ApiResult<ConnectionRecord> {
        self.store
            .connection(&vitrine_core::ConnectionId::from(uid))
            .await?
            .ok_or_else(|| ApiError::not_found("data connection"))
    }

    fn sealed(&self, password: Option<&str>) -> ApiResult<Option<String>> {
        match password {
            None | Some("") => Ok(None),
            Some(p) if p.len() > MAX_PASSWORD => Err(ApiError::new(
                ErrorCode::InvalidInput,
                format!("password: at most {MAX_PASSWORD} bytes"),
            )),
            Some(p) => self.secrets.seal(p).map(Some),
        }
    }

    /// The audit event of a created or changed connection: where it points, never the
    /// password.
    async fn audit_connection(
        &self,
        caller: &Caller,
        action: AuditAction,
        record: &ConnectionRecord,
        s: &ConnectionSettings,
    ) -> ApiResult<()> {
        self.audit
            .record(
                caller,
                action,
                &format!("connection:{}", record.uid),
                "ok",
                &format!(
                    "{} {}@{}:{}/{} tls={}",
                    record.name, s.user, s.host, s.port, s.database, s.tls
                ),
            )
            .await?;
        Ok(())
    }
}
