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

/// May someone with `role` on a project run a query that needs `needed`? Editors and
/// above build the workflow and see its data anyway. Viewers need the connection role,
/// unless access boost is on for the project, which lets them see the report's own
/// tiles whatever their connection role. Boost never touches access filters: those apply
/// to the rows after this decision.
pub fn may_query(
    role: Role,
    connection: crate::ConnectionRole,
    needed: crate::ConnectionRole,
    boosted: bool,
) -> bool {
    match role {
        Role::NoAccess => false,
        Role::Viewer => connection >= needed || boosted,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConnectionRole as C;

    #[test]
    fn connection_roles_and_boost() {
        assert!(may_query(Role::Viewer, C::Viewer, C::Viewer, false));
        assert!(!may_query(
            Role::Viewer,
            C::Viewer,
            C::RestrictedQuerier,
            false
        ));
        assert!(!may_query(Role::Viewer, C::NoAccess, C::Viewer, false));
        assert!(may_query(
            Role::Viewer,
            C::NoAccess,
            C::RestrictedQuerier,
            true
        ));
        assert!(may_query(Role::Editor, C::NoAccess, C::Querier, false));
        assert!(!may_query(Role::NoAccess, C::Querier, C::Viewer, true));
    }

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

/// What a folder's grant on a resource location allows its workflows: read files there,
/// or also write them (write includes read). Stored as `read` / `write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationAccess {
    Read,
    Write,
}

impl LocationAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            LocationAccess::Read => "read",
            LocationAccess::Write => "write",
        }
    }
}

impl FromStr for LocationAccess {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "read" => Ok(LocationAccess::Read),
            "write" => Ok(LocationAccess::Write),
            other => Err(format!("unknown access `{other}`; expected read or write")),
        }
    }
}

/// What a scoped credential (an API token, say) may reach: one project, or one folder and
/// everything inside it. Inside its scope the credential holds its owner's roles; outside
/// it, nothing — and never a server permission, so an admin's scoped token is no admin.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    Project(crate::ProjectId),
    Folder(crate::FolderId),
}

impl fmt::Display for TokenScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenScope::Project(p) => write!(f, "project:{p}"),
            TokenScope::Folder(d) => write!(f, "folder:{d}"),
        }
    }
}
