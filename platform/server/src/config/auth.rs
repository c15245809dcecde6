//! The `[auth]` section: whether local accounts sign in with passwords, and the OpenID
//! Connect providers (`[[auth.oidc]]`). Client secrets never sit in the file itself: they
//! come from an environment variable or a file the section names.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use vitrine_api::services::{AuthConfig, OidcProviderConfig, Provisioning};

use super::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSection {
    /// Local accounts sign in with a password. Off ("OIDC only"), only
    /// `break_glass_admin` still may (reset its password with `vitrine admin
    /// reset-password`).
    pub local_accounts: bool,
    pub break_glass_admin: Option<String>,
    pub oidc: Vec<OidcSection>,
}

impl Default for AuthSection {
    fn default() -> Self {
        AuthSection {
            local_accounts: true,
            break_glass_admin: None,
            oidc: Vec::new(),
        }
    }
}

/// One identity provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSection {
    /// In URLs: the provider's redirect URI is `PUBLIC_URL/auth/oidc/NAME/callback`.
    pub name: String,
    /// The sign-in button's text.
    pub label: Option<String>,
    pub issuer: String,
    pub client_id: String,
    /// The environment variable holding the client secret…
    pub client_secret_env: Option<String>,
    /// …or a file holding it (its first line).
    pub client_secret_file: Option<String>,
    /// Scopes besides `openid`; `email` and `profile` when unset.
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub userinfo: bool,
    /// `open` (default), `allowed_domains` or `pre_provisioned`.
    pub provisioning: Option<String>,
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    pub username_claim: Option<String>,
    pub groups_claim: Option<String>,
    #[serde(default)]
    pub keep_manual_groups: bool,
    /// Vitrine user attribute = the claim it is read from.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    pub timeout_secs: Option<u64>,
    /// The least seconds between two fetches of the provider's keys when a token names
    /// an unknown one (providers rotate keys); 30 when unset.
    pub key_refetch_secs: Option<u64>,
    /// Accept access tokens this provider issues for this audience as API credentials.
    pub api_audience: Option<String>,
}

impl AuthSection {
    /// What the identity service is given; `env` reads environment variables.
    pub fn resolve(&self, env: impl Fn(&str) -> Option<String>) -> Result<AuthConfig, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            key: "auth.oidc",
            message,
        };
        let mut providers = Vec::new();
        for o in &self.oidc {
            let secret = match (&o.client_secret_env, &o.client_secret_file) {
                (Some(_), Some(_)) => {
                    return Err(invalid(format!(
                        "`{}`: give client_secret_env or client_secret_file, not both",
                        o.name
                    )));
                }
                (Some(var), None) => Some(env(var).ok_or_else(|| {
                    invalid(format!("`{}`: the variable {var} is not set", o.name))
                })?),
                (None, Some(path)) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| invalid(format!("`{}`: cannot read {path}: {e}", o.name)))?;
                    Some(text.lines().next().unwrap_or_default().trim().to_owned())
                }
                (None, None) => None,
            };
            let provisioning = match o.provisioning.as_deref().unwrap_or("open") {
                "open" => Provisioning::Open,
                "allowed_domains" => Provisioning::AllowedDomains,
                "pre_provisioned" => Provisioning::PreProvisioned,
                other => {
                    return Err(invalid(format!(
                        "`{}`: provisioning `{other}` is not open, allowed_domains or pre_provisioned",
                        o.name
                    )));
                }
            };
            if provisioning == Provisioning::AllowedDomains && o.allowed_domains.is_empty() {
                return Err(invalid(format!(
                    "`{}`: provisioning = \"allowed_domains\" needs allowed_domains",
                    o.name
                )));
            }
            let mut p = OidcProviderConfig::new(&o.name, &o.issuer, &o.client_id);
            if let Some(label) = &o.label {
                p.label = label.clone();
            }
            p.client_secret = secret;
            if let Some(scopes) = &o.scopes {
                p.scopes = scopes.clone();
            }
            p.userinfo = o.userinfo;
            p.provisioning = provisioning;
            p.allowed_domains = o.allowed_domains.clone();
            if let Some(c) = &o.username_claim {
                p.username_claim = c.clone();
            }
            p.groups_claim = o.groups_claim.clone();
            p.keep_manual_groups = o.keep_manual_groups;
            p.attribute_claims = o.attributes.clone();
            p.api_audience = o.api_audience.clone();
            if let Some(t) = o.key_refetch_secs {
                p.key_refetch_interval = Duration::from_secs(t);
            }
            if let Some(t) = o.timeout_secs {
                p.timeout = Duration::from_secs(t.max(1));
            }
            providers.push(p);
        }
        if !self.local_accounts && providers.is_empty() {
            return Err(ConfigError::Invalid {
                key: "auth.local_accounts",
                message: "local accounts can be switched off only when a provider is configured"
                    .into(),
            });
        }
        Ok(AuthConfig {
            local_accounts: self.local_accounts,
            break_glass_admin: self.break_glass_admin.clone(),
            providers,
        })
    }
}
