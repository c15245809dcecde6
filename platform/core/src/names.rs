//! Validated newtypes for user-supplied names. Each constructor refuses bad input with a
//! [`CoreError`] naming the field, so storage never sees an unchecked string.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{CoreError, MAX_TEXT_LEN};

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_inner(self) -> String {
                self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// A display name of a folder, project, group or token: 1–200 characters, trimmed, no
/// control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Name(String);
string_newtype!(Name);

impl Name {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, CoreError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(CoreError::new(field, "must not be empty"));
        }
        let len = trimmed.chars().count();
        if len > MAX_TEXT_LEN {
            return Err(CoreError::new(
                field,
                format!("is {len} characters long; the limit is {MAX_TEXT_LEN}"),
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(CoreError::new(field, "must not contain control characters"));
        }
        Ok(Name(trimmed.to_owned()))
    }
}

/// A project's human-readable, URL-safe key: 1–64 characters of `a-z`, `0-9` and `-`,
/// starting with a letter or digit, no `--`, not ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Slug(String);
string_newtype!(Slug);

impl Slug {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, CoreError> {
        let s = raw;
        if s.is_empty() {
            return Err(CoreError::new("slug", "must not be empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(CoreError::new(
                "slug",
                format!(
                    "is {} characters long; the limit is {}",
                    s.len(),
                    Self::MAX_LEN
                ),
            ));
        }
        if let Some(bad) = s
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(CoreError::new(
                "slug",
                format!("contains `{bad}`; only a-z, 0-9 and - are allowed"),
            ));
        }
        if s.starts_with('-') || s.ends_with('-') || s.contains("--") {
            return Err(CoreError::new(
                "slug",
                "must not start or end with `-` or contain `--`",
            ));
        }
        Ok(Slug(s.to_owned()))
    }

    /// Derives a slug from a display name (`"Sales Q3 / EMEA"` → `sales-q3-emea`).
    /// Falls back to `project` when nothing usable is left.
    pub fn derive(name: &str) -> Slug {
        let mut out = String::new();
        for c in name.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() {
                out.push(c);
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
            if out.len() >= Self::MAX_LEN - 8 {
                break;
            }
        }
        let trimmed = out.trim_end_matches('-');
        Slug(if trimmed.is_empty() {
            "project".to_owned()
        } else {
            trimmed.to_owned()
        })
    }

    /// `base-2`, `base-3`, … for finding a free slug.
    pub fn with_suffix(&self, n: u32) -> Slug {
        Slug(format!("{}-{n}", self.0))
    }
}

/// A local username: 3–64 characters of `a-z`, `0-9`, `.`, `_`, `-`; case-folded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Username(String);
string_newtype!(Username);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, CoreError> {
        let s = raw.trim().to_lowercase();
        if !(3..=64).contains(&s.len()) {
            return Err(CoreError::new(
                "username",
                "must be 3 to 64 characters long",
            ));
        }
        if let Some(bad) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(CoreError::new(
                "username",
                format!("contains `{bad}`; only a-z, 0-9, `.`, `_` and `-` are allowed"),
            ));
        }
        Ok(Username(s))
    }
}

/// A password about to be set. The rule (12–256 characters, not all one character class)
/// follows current NIST guidance: length over composition, and no silent truncation.
#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    pub const MIN_LEN: usize = 12;
    pub const MAX_LEN: usize = 256;

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, CoreError> {
        let len = raw.chars().count();
        if len < Self::MIN_LEN {
            return Err(CoreError::new(
                field,
                format!("must be at least {} characters long", Self::MIN_LEN),
            ));
        }
        if len > Self::MAX_LEN {
            return Err(CoreError::new(
                field,
                format!("must be at most {} characters long", Self::MAX_LEN),
            ));
        }
        if raw.chars().all(|c| c == raw.chars().next().unwrap_or(' ')) {
            return Err(CoreError::new(field, "must not repeat a single character"));
        }
        Ok(Password(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A user-attribute key used by access filters (`region`, `cost_center`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AttributeKey(String);
string_newtype!(AttributeKey);

impl AttributeKey {
    pub fn parse(raw: &str) -> Result<Self, CoreError> {
        let ok_start = raw.chars().next().is_some_and(|c| c.is_ascii_lowercase());
        if !ok_start
            || raw.len() > 64
            || !raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(CoreError::new(
                "attributes.key",
                format!("`{raw}` must be 1–64 characters of a-z, 0-9, `_`, starting with a letter"),
            ));
        }
        Ok(AttributeKey(raw.to_owned()))
    }
}

macro_rules! keyword_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
        impl FromStr for $name {
            type Err = CoreError;
            fn from_str(s: &str) -> Result<Self, CoreError> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let all: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    CoreError::new($field, format!("unknown value `{s}`; expected one of {}", all.join(", ")))
                })
            }
        }
    };
}

keyword_enum!(
    /// Instance-wide rights, independent of folders and projects.
    ServerPermission, "permission" {
        Admin => "admin",
        ProjectPublisher => "project_publisher",
        ProjectEditor => "project_editor",
        ListDirectory => "list_directory",
        SharedReportViewer => "shared_report_viewer",
        PluginPublisher => "plugin_publisher",
    }
);

keyword_enum!(
    /// Per-project switches; instance defaults apply until a project sets its own, and an
    /// admin may disable one everywhere.
    Ability, "ability" {
        Schedule => "schedule",
        Download => "download",
        Drill => "drill",
        ViewersSeeWorkflow => "viewers_see_workflow",
    }
);

keyword_enum!(
    /// What a user may query from data, lowest first: viewers see aggregated tiles,
    /// restricted queriers also row-level tables and drill-downs, queriers everything.
    ConnectionRole, "connection role" {
        NoAccess => "no_access",
        Viewer => "viewer",
        RestrictedQuerier => "restricted_querier",
        Querier => "querier",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(Slug::parse("sales-2026").is_ok());
        for bad in [
            "",
            "Sales",
            "a b",
            "-a",
            "a-",
            "a--b",
            "ä",
            "a/b",
            &"x".repeat(65),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Slug::derive("Sales Q3 / EMEA").as_str(), "sales-q3-emea");
        assert_eq!(Slug::derive("!!!").as_str(), "project");
        assert!(Slug::parse(Slug::derive(&"Ab ".repeat(100)).as_str()).is_ok());
    }

    #[test]
    fn names_and_users() {
        assert_eq!(Name::parse("name", "  Sales ").unwrap().as_str(), "Sales");
        assert!(Name::parse("name", "  ").is_err());
        assert!(Name::parse("name", &"x".repeat(201)).is_err());
        assert!(Name::parse("name", "a\u{0}b").is_err());
        assert_eq!(Username::parse("Alice").unwrap().as_str(), "alice");
        assert!(Username::parse("al").is_err());
        assert!(Username::parse("al ice").is_err());
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("password", "short").is_err());
        assert!(Password::parse("password", "aaaaaaaaaaaaaaa").is_err());
        assert!(Password::parse("password", "correct horse battery").is_ok());
        assert_eq!(
            format!(
                "{:?}",
                Password::parse("p", "correct horse battery").unwrap()
            ),
            "Password(***)"
        );
    }

    #[test]
    fn keywords() {
        assert_eq!(
            "admin".parse::<ServerPermission>().unwrap(),
            ServerPermission::Admin
        );
        assert!(
            "root"
                .parse::<ServerPermission>()
                .unwrap_err()
                .reason
                .contains("project_publisher")
        );
        assert_eq!("drill".parse::<Ability>().unwrap(), Ability::Drill);
        assert!(AttributeKey::parse("region").is_ok());
        assert!(AttributeKey::parse("Region").is_err());
    }
}
