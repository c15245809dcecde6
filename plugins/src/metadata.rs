//! What a plugin says about itself, checked, and the configuration check built from it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contract::wit;
use crate::tables::type_label;
use crate::{PluginError, PluginResult};

/// How a block wants its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputFormat {
    Columns,
    ArrowIpc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: String,
    pub nullable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortInfo {
    pub name: String,
    pub description: String,
    /// For outputs: the columns the block promises; `None` when they follow the input.
    pub columns: Option<Vec<ColumnSpec>>,
}

/// A plugin's checked self-description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: semver::Version,
    pub description: String,
    pub config_schema: Value,
    pub inputs: Vec<PortInfo>,
    pub outputs: Vec<PortInfo>,
    pub input_format: InputFormat,
    /// The `vitrine:block` version the component implements.
    pub contract: String,
    /// The SDK version stamped into the component, when it was built with the SDK.
    pub sdk_version: Option<String>,
    /// What built the component, as its marks say: language, version, tool.
    #[serde(default)]
    pub toolchain: Option<String>,
}

impl PluginInfo {
    pub fn output(&self, port: &str) -> Option<&PortInfo> {
        self.outputs.iter().find(|p| p.name == port)
    }
}

fn invalid(msg: String) -> PluginError {
    PluginError::Invalid(format!("the plugin describes itself wrongly: {msg}"))
}

fn check_name(what: &str, name: &str, dash: bool) -> PluginResult<()> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || if dash { c == '-' } else { c == '_' }
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "{what} `{name}` must start with a lowercase letter and hold only lowercase letters, digits and {} (at most 64)",
            if dash { "dashes" } else { "underscores" }
        )))
    }
}

fn ports(what: &str, ports: Vec<wit::Port>) -> PluginResult<Vec<PortInfo>> {
    let mut seen = std::collections::HashSet::new();
    ports
        .into_iter()
        .map(|p| {
            check_name(&format!("{what} port"), &p.name, false)?;
            if !seen.insert(p.name.clone()) {
                return Err(invalid(format!(
                    "{what} port `{}` is declared twice",
                    p.name
                )));
            }
            let columns = match p.columns {
                None => None,
                Some(cs) => {
                    let mut names = std::collections::HashSet::new();
                    let mut out = Vec::with_capacity(cs.len());
                    for c in cs {
                        if c.name.is_empty() || !names.insert(c.name.clone()) {
                            return Err(invalid(format!(
                                "{what} port `{}` declares an empty or repeated column `{}`",
                                p.name, c.name
                            )));
                        }
                        out.push(ColumnSpec {
                            name: c.name,
                            column_type: type_label(c.type_).to_owned(),
                            nullable: c.nullable,
                        });
                    }
                    Some(out)
                }
            };
            Ok(PortInfo {
                name: p.name,
                description: p.description,
                columns,
            })
        })
        .collect()
}

/// Checks what `describe` returned.
pub(crate) fn check(
    m: wit::Metadata,
    contract: &str,
    marks: crate::toolchain::Marks,
) -> PluginResult<PluginInfo> {
    check_name("name", &m.name, true)?;
    let version = semver::Version::parse(&m.version).map_err(|e| {
        invalid(format!(
            "version `{}` is not a semantic version: {e}",
            m.version
        ))
    })?;
    if m.description.len() > 4000 {
        return Err(invalid("the description is longer than 4000 bytes".into()));
    }
    let config_schema: Value = serde_json::from_str(&m.config_schema)
        .map_err(|e| invalid(format!("config-schema is not JSON: {e}")))?;
    jsonschema::validator_for(&config_schema)
        .map_err(|e| invalid(format!("config-schema is not a valid JSON Schema: {e}")))?;
    let inputs = ports("input", m.inputs)?;
    let outputs = ports("output", m.outputs)?;
    if outputs.is_empty() {
        return Err(invalid("it declares no output port".into()));
    }
    Ok(PluginInfo {
        name: m.name,
        version,
        description: m.description,
        config_schema,
        inputs,
        outputs,
        input_format: match m.input_format {
            wit::DataFormat::Columns => InputFormat::Columns,
            wit::DataFormat::ArrowIpc => InputFormat::ArrowIpc,
        },
        contract: contract.to_owned(),
        sdk_version: marks.sdk_version,
        toolchain: marks.toolchain,
    })
}

/// Checks a block configuration against the plugin's schema; the error lists every
/// violation with its place in the configuration.
pub fn check_config(info: &PluginInfo, config: &Value) -> PluginResult<()> {
    check_with(&validator(info)?, info, config)
}

pub(crate) fn validator(info: &PluginInfo) -> PluginResult<jsonschema::Validator> {
    jsonschema::validator_for(&info.config_schema)
        .map_err(|e| PluginError::Internal(format!("stored config schema: {e}")))
}

/// [`check_config`] with the schema compiled once, as a loaded plugin keeps it.
pub(crate) fn check_with(
    validator: &jsonschema::Validator,
    info: &PluginInfo,
    config: &Value,
) -> PluginResult<()> {
    let problems: Vec<String> = validator
        .iter_errors(config)
        .take(10)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                format!("config: {e}")
            } else {
                format!("config{at}: {e}")
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PluginError::InvalidConfig(format!(
            "the configuration does not fit plugin `{}` {}: {}",
            info.name,
            info.version,
            problems.join("; ")
        )))
    }
}
