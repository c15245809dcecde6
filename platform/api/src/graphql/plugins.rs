//! Resolvers and types of the plugin registry.

use crate::services::records::PluginRecord;
use crate::services::values::{InputFormat, PluginInfo, PortInfo};
use async_graphql::{Context, Enum, ID, Json, Object, SimpleObject, Upload as UploadScalar};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::member;
use super::types::time;
use crate::services::MAX_PLUGIN_BYTES;
use crate::{ApiError, GqlResult};

/// How a plugin block takes its input tables.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "vitrine_services::values::InputFormat")]
pub enum PluginInputFormat {
    /// Typed columns in plain WIT types.
    Columns,
    /// Arrow IPC streams.
    ArrowIpc,
}

/// A column a plugin's output port always has.
#[derive(SimpleObject)]
pub struct PluginColumn {
    pub name: String,
    /// boolean, int64, float64, text, date or timestamp.
    #[graphql(name = "type")]
    pub column_type: String,
    pub nullable: bool,
}

/// An input or output port of a plugin block.
#[derive(SimpleObject)]
pub struct PluginPort {
    pub name: String,
    pub description: String,
    /// Declared columns (outputs only); null when they follow the input.
    pub columns: Option<Vec<PluginColumn>>,
}

fn ports(list: &[PortInfo]) -> Vec<PluginPort> {
    list.iter()
        .map(|p| PluginPort {
            name: p.name.clone(),
            description: p.description.clone(),
            columns: p.columns.as_ref().map(|cs| {
                cs.iter()
                    .map(|c| PluginColumn {
                        name: c.name.clone(),
                        column_type: c.column_type.clone(),
                        nullable: c.nullable,
                    })
                    .collect()
            }),
        })
        .collect()
}

/// One published version of a plugin block.
pub struct Plugin {
    record: PluginRecord,
    info: Option<PluginInfo>,
}

impl Plugin {
    fn new(record: PluginRecord) -> Plugin {
        let info = serde_json::from_value(record.info.clone()).ok();
        Plugin { record, info }
    }
}

#[Object]
impl Plugin {
    async fn id(&self) -> ID {
        ID(self.record.uid.clone().into())
    }
    async fn name(&self) -> &str {
        &self.record.name
    }
    async fn version(&self) -> &str {
        &self.record.version
    }
    async fn description(&self) -> &str {
        &self.record.description
    }
    /// The JSON Schema a block's `settings` must satisfy.
    async fn config_schema(&self) -> Json<Value> {
        Json(
            self.info
                .as_ref()
                .map(|i| i.config_schema.clone())
                .unwrap_or(Value::Null),
        )
    }
    async fn inputs(&self) -> Vec<PluginPort> {
        self.info
            .as_ref()
            .map(|i| ports(&i.inputs))
            .unwrap_or_default()
    }
    async fn outputs(&self) -> Vec<PluginPort> {
        self.info
            .as_ref()
            .map(|i| ports(&i.outputs))
            .unwrap_or_default()
    }
    async fn input_format(&self) -> PluginInputFormat {
        self.info
            .as_ref()
            .map(|i| i.input_format)
            .unwrap_or(InputFormat::Columns)
            .into()
    }
    /// The `vitrine:block` contract version the component implements.
    async fn contract(&self) -> Option<&str> {
        self.info.as_ref().map(|i| i.contract.as_str())
    }
    /// The SDK version stamped into the component, when it was built with the SDK.
    async fn sdk_version(&self) -> Option<&str> {
        self.info.as_ref().and_then(|i| i.sdk_version.as_deref())
    }
    /// What built the component, e.g. `Python 3.14 (componentize-py)`.
    async fn toolchain(&self) -> Option<&str> {
        self.info.as_ref().and_then(|i| i.toolchain.as_deref())
    }
    /// Disabled versions cannot be used by workflows.
    async fn enabled(&self) -> bool {
        self.record.enabled
    }
    /// Size of the component file in bytes.
    async fn size(&self) -> i64 {
        self.record.bytes
    }
    /// SHA-256 of the component file.
    async fn content_hash(&self) -> &str {
        &self.record.content_hash
    }
    async fn published_by(&self) -> ID {
        ID(self.record.published_by.clone().into())
    }
    async fn published_at(&self) -> DateTime<Utc> {
        time(self.record.published_ms)
    }
}

#[derive(Default)]
pub struct PluginQuery;

#[Object]
impl PluginQuery {
    /// Every published plugin version, by name.
    async fn plugins(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Plugin>> {
        let (s, c) = member(ctx)?;
        let list = s.plugin_registry().plugins(c).await.gql()?;
        Ok(list.into_iter().map(Plugin::new).collect())
    }

    async fn plugin(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Plugin> {
        let (s, c) = member(ctx)?;
        let p = s.plugin_registry().plugin(c, &id).await.gql()?;
        Ok(Plugin::new(p))
    }
}

#[derive(Default)]
pub struct PluginMutation;

#[Object]
impl PluginMutation {
    /// Publishes a WebAssembly component (GraphQL multipart upload) as a new plugin
    /// version. Needs the plugin_publisher permission (admins have it). The component is
    /// checked, compiled and asked to describe itself before anything is stored.
    async fn publish_plugin(
        &self,
        ctx: &Context<'_>,
        file: UploadScalar,
    ) -> async_graphql::Result<Plugin> {
        let (s, c) = member(ctx)?;
        let caller = c;
        let value = file.value(ctx)?;
        let mut bytes = Vec::new();
        use std::io::Read;
        value
            .into_read()
            .take(MAX_PLUGIN_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| ApiError::internal("plugin upload", e))
            .gql()?;
        let p = s
            .plugin_registry()
            .publish_plugin(caller, bytes)
            .await
            .gql()?;
        Ok(Plugin::new(p))
    }

    /// Enables or disables a plugin version.
    async fn set_plugin_enabled(
        &self,
        ctx: &Context<'_>,
        id: ID,
        enabled: bool,
    ) -> async_graphql::Result<Plugin> {
        let (s, c) = member(ctx)?;
        let p = s
            .plugin_registry()
            .set_plugin_enabled(c, &id, enabled)
            .await
            .gql()?;
        Ok(Plugin::new(p))
    }
}
