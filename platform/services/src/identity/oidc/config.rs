//! How sign-in is configured — local accounts, providers, provisioning rules — and what
//! a sign-in's start and finish answer.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::identity::sign_in::LoginOutcome;

/// Who may become a user through a provider on their first sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provisioning {
    /// Anyone the provider signs in.
    #[default]
    Open,
    /// Only people whose verified e-mail address is in one of `allowed_domains`.
    AllowedDomains,
    /// Nobody: an administrator creates the user (with the provider's issuer and subject)
    /// first.
    PreProvisioned,
}

/// One identity provider, as the configuration names it.
#[derive(Debug, Clone)]
pub struct OidcProviderConfig {
    /// In URLs (`/auth/oidc/NAME/start`); letters, digits, `-` and `_`.
    pub name: String,
    /// The sign-in button's text.
    pub label: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Asked for besides `openid`.
    pub scopes: Vec<String>,
    /// Also read the userinfo endpoint (its claims win over the ID token's).
    pub userinfo: bool,
    pub provisioning: Provisioning,
    pub allowed_domains: Vec<String>,
    /// The claim a new user's username is made from.
    pub username_claim: String,
    /// The claim listing the user's groups; unset, group memberships are left alone.
    pub groups_claim: Option<String>,
    /// Leave memberships an administrator gave by hand: a sign-in then only adds and
    /// removes the groups the provider itself gave.
    pub keep_manual_groups: bool,
    /// Vitrine user attribute → the claim it is read from, at every sign-in.
    pub attribute_claims: BTreeMap<String, String>,
    /// Deadline of each call to the provider.
    pub timeout: Duration,
    /// When set, API clients may present an access token this provider issued for this
    /// audience (a JWT) instead of a Vitrine API token.
    pub api_audience: Option<String>,
    /// The least time between two fetches of the provider's keys on an unknown key id:
    /// a flood of forged tokens must not become a flood of requests to the provider.
    pub key_refetch_interval: Duration,
}

impl OidcProviderConfig {
    pub fn new(name: &str, issuer: &str, client_id: &str) -> OidcProviderConfig {
        OidcProviderConfig {
            name: name.into(),
            label: format!("Sign in with {name}"),
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret: None,
            scopes: vec!["email".into(), "profile".into()],
            userinfo: false,
            provisioning: Provisioning::Open,
            allowed_domains: Vec::new(),
            username_claim: "preferred_username".into(),
            groups_claim: None,
            keep_manual_groups: false,
            attribute_claims: BTreeMap::new(),
            timeout: Duration::from_secs(10),
            key_refetch_interval: Duration::from_secs(30),
            api_audience: None,
        }
    }
}

/// How people sign in here.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Local accounts sign in with a password. Off ("OIDC only"), only
    /// `break_glass_admin` still may, so an outage at the provider locks nobody out.
    pub local_accounts: bool,
    pub break_glass_admin: Option<String>,
    pub providers: Vec<OidcProviderConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            local_accounts: true,
            break_glass_admin: None,
            providers: Vec::new(),
        }
    }
}

/// A provider as the sign-in page lists it.
#[derive(Debug, Clone)]
pub struct AuthProvider {
    pub name: String,
    pub label: String,
    /// Where the sign-in button leads (a path of this server).
    pub start_path: String,
}

/// Where to send the browser, and the state the callback must bring back (it goes into a
/// cookie too, so a callback is only taken in the browser that started the sign-in).
#[derive(Debug, Clone)]
pub struct OidcStart {
    pub redirect_url: String,
    pub state: String,
}

/// A finished sign-in: the session, and where the browser goes now.
#[derive(Debug, Clone)]
pub struct OidcSignedIn {
    pub login: LoginOutcome,
    pub return_to: String,
}
