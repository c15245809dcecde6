//! The plugin registry: publishing plugin versions (admins and plugin publishers),
//! listing them (anyone signed in, to build workflows), enabling and disabling them.

use vitrine_core::AuditAction;
use vitrine_core::{ErrorCode, ServerPermission};
use vitrine_storage::PluginRecord;

use std::sync::Arc;

use vitrine_authz::Authz;
use vitrine_engine::Engine;
use vitrine_storage::Store;

use crate::audit::Audit;
use crate::caller::Caller;
use crate::{ApiError, ApiResult};

/// The largest component file accepted for publishing.
pub const MAX_PLUGIN_BYTES: usize = 64 << 20;

/// The plugin registry service: publishing, listing, enabling and disabling plugin
/// versions. Owns nothing but its handles; every method takes the caller.
pub struct PluginRegistry {
    store: Store,
    authz: Arc<Authz>,
    engine: Arc<Engine>,
    audit: Audit,
}

impl PluginRegistry {
    pub(crate) fn new(
        store: Store,
        authz: Arc<Authz>,
        engine: Arc<Engine>,
        audit: Audit,
    ) -> PluginRegistry {
        PluginRegistry {
            store,
            authz,
            engine,
            audit,
        }
    }

    fn require_plugin_publisher(&self, caller: &Caller) -> ApiResult<()> {
        Ok(self
            .authz
            .require_permission(caller, ServerPermission::PluginPublisher)?)
    }

    /// Checks and publishes a component as a new plugin version.
    pub async fn publish_plugin(&self, caller: &Caller, bytes: Vec<u8>) -> ApiResult<PluginRecord> {
        caller.require_write()?;
        self.require_plugin_publisher(caller)?;
        if bytes.len() > MAX_PLUGIN_BYTES {
            return Err(ApiError::new(
                ErrorCode::QueryTooLarge,
                format!("plugins are at most {MAX_PLUGIN_BYTES} bytes"),
            ));
        }
        let result = self.engine.publish_plugin(bytes, caller.uid()).await;
        let (outcome, detail) = match &result {
            Ok(p) => ("ok", format!("{} {}", p.name, p.version)),
            Err(e) => ("refused", e.code().as_str().to_owned()),
        };
        self.audit
            .record(
                caller,
                AuditAction::PluginPublish,
                "instance",
                outcome,
                &detail,
            )
            .await?;
        Ok(result?)
    }

    /// Every published version; anyone signed in may list them to build workflows.
    /// (A caller is needed: resolving one already refused anonymous requests.)
    pub async fn plugins(&self, _caller: &Caller) -> ApiResult<Vec<PluginRecord>> {
        Ok(self.store.plugins().await?)
    }

    pub async fn plugin(&self, _caller: &Caller, uid: &str) -> ApiResult<PluginRecord> {
        let uid = &vitrine_core::PluginId::from(uid);
        self.store
            .plugin_by_uid(uid)
            .await?
            .ok_or_else(|| ApiError::not_found("plugin"))
    }

    /// Disabling a version stops workflows that pin it from saving or running (their
    /// blocks fail with a message naming the plugin); nothing is deleted.
    pub async fn set_plugin_enabled(
        &self,
        caller: &Caller,
        uid: &str,
        enabled: bool,
    ) -> ApiResult<PluginRecord> {
        let uid = &vitrine_core::PluginId::from(uid);
        caller.require_write()?;
        self.require_plugin_publisher(caller)?;
        let mut p = self.plugin(caller, uid).await?;
        self.store.set_plugin_enabled(uid, enabled).await?;
        p.enabled = enabled;
        self.audit
            .record(
                caller,
                if enabled {
                    AuditAction::PluginEnable
                } else {
                    AuditAction::PluginDisable
                },
                "instance",
                "ok",
                &format!("{} {}", p.name, p.version),
            )
            .await?;
        Ok(p)
    }
}
