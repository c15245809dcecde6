use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// Roles on folders and projects, ordered: a higher role includes every lower one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    NoAccess,
    Viewer,
    Editor,
    Manager,
    Owner,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::NoAccess,
        Role::Viewer,
        Role::Editor,
        Role::Manager,
        Role::Owner,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::NoAccess => "no_access",
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Manager => "manager",
            Role::Owner => "owner",
        }
    }

    /// The role right below this one, used to write the role ladder into casbin.
    pub fn below(self) -> Option<Role> {
        match self {
            Role::NoAccess => None,
            Role::Viewer => Some(Role::NoAccess),
            Role::Editor => Some(Role::Viewer),
            Role::Manager => Some(Role::Editor),
            Role::Owner => Some(Role::Manager),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| CoreError::new("role", format!("unknown role `{s}`; expected one of no_access, viewer, editor, manager, owner")))
    }
}

/// The folder-floor rule: a grant on an object below a folder may raise the role the
/// subject inherits from that folder, never lower it. Returns the inherited floor when
/// `granted` would sit below it, so the caller can say why the grant is refused.
pub fn floor_violation(inherited: Role, granted: Role) -> Option<Role> {
    (granted < inherited).then_some(inherited)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_round_trip() {
        assert!(Role::NoAccess < Role::Viewer && Role::Viewer < Role::Editor);
        assert!(Role::Editor < Role::Manager && Role::Manager < Role::Owner);
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!(
            "admin"
                .parse::<Role>()
                .unwrap_err()
                .reason
                .contains("unknown role")
        );
    }

    #[test]
    fn floor_allows_more_refuses_less() {
        assert_eq!(
            floor_violation(Role::Editor, Role::Viewer),
            Some(Role::Editor)
        );
        assert_eq!(floor_violation(Role::Editor, Role::Editor), None);
        assert_eq!(floor_violation(Role::Editor, Role::Manager), None);
        assert_eq!(floor_violation(Role::NoAccess, Role::Viewer), None);
    }
}
