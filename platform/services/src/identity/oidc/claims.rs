//! What a provider's claims make of a Vitrine user — name, e-mail, groups, attributes —
//! and whether the provider's provisioning rule lets a new user in.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{OidcProviderConfig, Provisioning};

/// A user as one sign-in's claims describe them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Profile {
    pub subject: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub email_verified: bool,
    /// The groups claim's names; `None` when the provider has no groups claim configured.
    pub groups: Option<Vec<String>>,
    /// Vitrine attribute → values, for every mapped claim the provider sent.
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// The standard claims a profile is made from (the rest come as `other`).
pub(crate) struct StandardClaims<'a> {
    pub subject: &'a str,
    pub preferred_username: Option<&'a str>,
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub email_verified: Option<bool>,
}

/// A claim's values as text: a string, or the strings, numbers and booleans of a list.
fn values(v: &Value) -> Vec<String> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match v {
        Value::Array(items) => items.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}

pub(crate) fn profile(
    p: &OidcProviderConfig,
    std: StandardClaims<'_>,
    other: &serde_json::Map<String, Value>,
) -> Profile {
    let claim = |name: &str| -> Option<String> {
        match name {
            "preferred_username" => std.preferred_username.map(str::to_owned),
            "email" => std.email.map(str::to_owned),
            "name" => std.name.map(str::to_owned),
            "sub" => Some(std.subject.to_owned()),
            other_name => other
                .get(other_name)
                .and_then(|v| values(v).into_iter().next()),
        }
    };
    let username = claim(&p.username_claim)
        .or_else(|| std.email.map(str::to_owned))
        .unwrap_or_else(|| std.subject.to_owned());
    let groups = p
        .groups_claim
        .as_deref()
        .map(|c| other.get(c).map(values).unwrap_or_default());
    let attributes = p
        .attribute_claims
        .iter()
        .filter_map(|(attribute, claim)| other.get(claim).map(|v| (attribute.clone(), values(v))))
        .collect();
    Profile {
        subject: std.subject.to_owned(),
        display_name: std
            .name
            .map(str::to_owned)
            .unwrap_or_else(|| username.clone()),
        username,
        email: std.email.map(str::to_owned),
        email_verified: std.email_verified.unwrap_or(false),
        groups,
        attributes,
    }
}

/// Whether `profile`, not yet a user here, may become one through this provider.
pub(crate) fn may_provision(p: &OidcProviderConfig, profile: &Profile) -> Result<(), String> {
    match p.provisioning {
        Provisioning::Open => Ok(()),
        Provisioning::PreProvisioned => Err(format!(
            "no account here is linked to this {} identity; an administrator must create it first",
            p.name
        )),
        Provisioning::AllowedDomains => {
            let domain = profile
                .email
                .as_deref()
                .filter(|_| profile.email_verified)
                .and_then(|e| e.rsplit_once('@'))
                .map(|(_, d)| d.to_ascii_lowercase());
            match domain {
                Some(d) if p.allowed_domains.iter().any(|a| a.eq_ignore_ascii_case(&d)) => Ok(()),
                Some(d) => Err(format!("e-mail domain `{d}` may not sign up here")),
                None => Err("the provider sent no verified e-mail address".into()),
            }
        }
    }
}

/// A username for a new user: the claimed one made valid, or with a suffix when taken.
pub(crate) fn username_candidates(profile: &Profile, provider: &str) -> Vec<String> {
    let clean: String = profile
        .username
        .to_lowercase()
        .chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() || "._-".contains(c) => c,
            '@' => '.',
            _ => '-',
        })
        .take(40)
        .collect();
    // Usernames are 3 to 64 characters of [a-z0-9._-].
    let base = if clean.len() < 3 {
        format!("user-{clean}")
    } else {
        clean
    };
    let short: String = crate::secrets::token_hash(&profile.subject)
        .chars()
        .take(8)
        .collect();
    vec![
        base.clone(),
        format!("{base}.{provider}"),
        format!("{base}.{provider}.{short}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn provider(provisioning: Provisioning) -> OidcProviderConfig {
        OidcProviderConfig {
            name: "corp".into(),
            groups_claim: Some("groups".into()),
            attribute_claims: BTreeMap::from([("region".into(), "region".into())]),
            provisioning,
            allowed_domains: vec!["example.com".into()],
            ..OidcProviderConfig::new("corp", "http://127.0.0.1:1", "vitrine")
        }
    }

    fn std_claims(email: Option<&str>, verified: bool) -> StandardClaims<'_> {
        StandardClaims {
            subject: "s-1",
            preferred_username: Some("Ann Lee"),
            name: Some("Ann Lee"),
            email,
            email_verified: Some(verified),
        }
    }

    #[test]
    fn claims_become_groups_and_attributes() {
        let other = json!({"groups": ["sales", "eu"], "region": "north", "x": {"a": 1}});
        let p = profile(
            &provider(Provisioning::Open),
            std_claims(Some("ann@example.com"), true),
            other.as_object().unwrap(),
        );
        assert_eq!(p.groups, Some(vec!["sales".into(), "eu".into()]));
        assert_eq!(p.attributes["region"], vec!["north".to_string()]);
        assert_eq!(username_candidates(&p, "corp")[0], "ann-lee");
        // No groups claim sent: membership is synced to none, not left alone.
        let p = profile(
            &provider(Provisioning::Open),
            std_claims(None, false),
            json!({}).as_object().unwrap(),
        );
        assert_eq!(p.groups, Some(vec![]));
        assert!(p.attributes.is_empty());
    }

    #[test]
    fn provisioning_rules_admit_only_whom_they_say() {
        let other = serde_json::Map::new();
        let make = |email, verified| {
            profile(
                &provider(Provisioning::Open),
                std_claims(email, verified),
                &other,
            )
        };
        let domains = provider(Provisioning::AllowedDomains);
        assert!(may_provision(&domains, &make(Some("ann@Example.com"), true)).is_ok());
        assert!(may_provision(&domains, &make(Some("ann@evil.com"), true)).is_err());
        // An unverified address proves nothing about the domain.
        assert!(may_provision(&domains, &make(Some("ann@example.com"), false)).is_err());
        assert!(may_provision(&domains, &make(None, false)).is_err());
        let closed = provider(Provisioning::PreProvisioned);
        assert!(may_provision(&closed, &make(Some("ann@example.com"), true)).is_err());
        assert!(may_provision(&provider(Provisioning::Open), &make(None, false)).is_ok());
    }
}
