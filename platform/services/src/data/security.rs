//! Data security around tile queries: access filters (which rows) and connection roles
//! (whether a viewer may run a query at all). Access boost, which lets viewers see a
//! report's tiles above their connection role and never touches access filters, is
//! [`super::boost`].

use std::collections::BTreeMap;
use vitrine_core::AuditAction;

use serde::{Deserialize, Serialize};
use vitrine_authz::Action;
use vitrine_core::ConnectionRole;
use vitrine_engine::Scope;
use vitrine_storage::{AccessFilterRecord, DatasetRecord, UserRecord, now_ms};

use super::Data;
use super::boost::{BoostSettings, DATA_SECURITY};
use crate::caller::Caller;
use crate::{ApiError, ApiResult};

/// Instance-wide data-security settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DataSecurity {
    pub default_connection_role: ConnectionRole,
    /// Access boost: where it is allowed and switched (see [`super::boost`]).
    #[serde(flatten)]
    pub boost: BoostSettings,
}

impl Default for DataSecurity {
    fn default() -> Self {
        DataSecurity {
            default_connection_role: ConnectionRole::Querier,
            boost: BoostSettings::default(),
        }
    }
}

/// One access-filter rule: the dataset's `column` must equal one of the viewer's values
/// of `attribute`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRule {
    pub column: String,
    pub attribute: String,
}

impl Data {
    pub async fn data_security(&self) -> ApiResult<DataSecurity> {
        Ok(self.store.setting(DATA_SECURITY).await?.unwrap_or_default())
    }

    pub(super) fn connection_role(&self, user: &UserRecord, sec: &DataSecurity) -> ConnectionRole {
        user.connection_role.unwrap_or(sec.default_connection_role)
    }

    pub async fn set_connection_role(
        &self,
        caller: &Caller,
        user_uid: &str,
        role: Option<ConnectionRole>,
    ) -> ApiResult<UserRecord> {
        let user_uid = &vitrine_core::UserId::from(user_uid);
        caller.require_write()?;
        self.require_admin_caller(caller)?;
        self.store.set_connection_role(user_uid, role).await?;
        self.identity.forget_user(user_uid);
        self.audit
            .record(
                caller,
                AuditAction::UserConnectionRole,
                &format!("user:{user_uid}"),
                "ok",
                role.map(|r| r.as_str()).unwrap_or("default"),
            )
            .await?;
        self.store
            .user(user_uid)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))
    }

    pub async fn set_default_connection_role(
        &self,
        caller: &Caller,
        role: ConnectionRole,
    ) -> ApiResult<DataSecurity> {
        caller.require_write()?;
        self.require_admin_caller(caller)?;
        let sec = self
            .store
            .update_setting(DATA_SECURITY, |sec: Option<DataSecurity>| DataSecurity {
                default_connection_role: role,
                ..sec.unwrap_or_default()
            })
            .await?;
        self.audit
            .record(
                caller,
                AuditAction::InstanceConnectionRole,
                "instance",
                "ok",
                role.as_str(),
            )
            .await?;
        Ok(sec)
    }

    // ---- access filters -------------------------------------------------------------

    pub async fn access_filters(
        &self,
        caller: &Caller,
        project_uid: &str,
    ) -> ApiResult<BTreeMap<String, Vec<AccessRule>>> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        self.directory
            .project_for(caller, project_uid, Action::Edit)
            .await?;
        self.rules_of(project_uid).await
    }

    pub(crate) async fn rules_of(
        &self,
        project_uid: &vitrine_core::ProjectId,
    ) -> ApiResult<BTreeMap<String, Vec<AccessRule>>> {
        let mut out = BTreeMap::new();
        for f in self.store.access_filters(project_uid).await? {
            let rules: Vec<AccessRule> = serde_json::from_value(f.rules)
                .map_err(|e| ApiError::internal("access filter", e))?;
            out.insert(f.dataset, rules);
        }
        Ok(out)
    }

    /// Sets a dataset's access filter (managers); an empty rule list removes it.
    pub async fn set_access_filter(
        &self,
        caller: &Caller,
        project_uid: &str,
        dataset: &str,
        rules: Vec<AccessRule>,
    ) -> ApiResult<Vec<AccessRule>> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        caller.require_write()?;
        self.directory
            .project_for(caller, project_uid, Action::Manage)
            .await?;
        vitrine_engine::workflow::check_ident(dataset)
            .map_err(|r| ApiError::invalid(format!("dataset: {r}")))?;
        for (i, r) in rules.iter().enumerate() {
            vitrine_core::AttributeKey::parse(&r.attribute)
                .map_err(|e| ApiError::invalid(format!("rules[{i}].attribute: {}", e.reason)))?;
            if r.column.is_empty() {
                return Err(ApiError::invalid(format!(
                    "rules[{i}].column: must not be empty"
                )));
            }
        }
        if let Some(ds) = self.store.dataset(project_uid, dataset).await? {
            for (i, r) in rules.iter().enumerate() {
                if !has_column(&ds, &r.column) {
                    return Err(ApiError::invalid(format!(
                        "rules[{i}].column: dataset `{dataset}` has no column `{}`",
                        r.column
                    )));
                }
            }
        }
        self.store
            .put_access_filter(&AccessFilterRecord {
                project_uid: project_uid.into(),
                dataset: dataset.to_owned(),
                rules: serde_json::to_value(&rules)
                    .map_err(|e| ApiError::internal("access filter", e))?,
                updated_ms: now_ms(),
            })
            .await?;
        self.audit
            .record(
                caller,
                AuditAction::AccessFilterSet,
                &format!("project:{project_uid}"),
                "ok",
                dataset,
            )
            .await?;
        Ok(rules)
    }
}

pub(super) fn has_column(ds: &DatasetRecord, column: &str) -> bool {
    ds.schema
        .as_array()
        .is_some_and(|c| c.iter().any(|x| x["name"] == column))
}

pub(super) fn scope_of(
    attributes: &BTreeMap<String, Vec<String>>,
    rules: Option<&Vec<AccessRule>>,
) -> Scope {
    match rules {
        None => Scope::unrestricted(),
        Some(rules) => Scope {
            rules: Some(
                rules
                    .iter()
                    .map(|r| {
                        let mut values = attributes.get(&r.attribute).cloned().unwrap_or_default();
                        values.sort();
                        (r.column.clone(), values)
                    })
                    .collect(),
            ),
        },
    }
}
