//! The words casbin sees: subjects, objects and the text form of policy lines.

use std::fmt;

use vitrine_core::{Role, ServerPermission};

pub const MODEL_CONF: &str = include_str!("../../../schema/casbin/model.conf");
pub const DEFAULT_POLICY: &str = include_str!("../../../schema/casbin/default_policy.csv");

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    User(String),
    Group(String),
}

impl Subject {
    pub fn parse(s: &str) -> Option<Subject> {
        match s.split_once(':') {
            Some(("user", id)) if !id.is_empty() => Some(Subject::User(id.to_owned())),
            Some(("group", id)) if !id.is_empty() => Some(Subject::Group(id.to_owned())),
            _ => None,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::User(u) => write!(f, "user:{u}"),
            Subject::Group(g) => write!(f, "group:{g}"),
        }
    }
}

/// What a grant is on. Roles are granted on folders and projects; server permissions on
/// the instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Object {
    Instance,
    Folder(String),
    Project(String),
}

impl Object {
    pub fn parse(s: &str) -> Option<Object> {
        if s == "instance" {
            return Some(Object::Instance);
        }
        match s.split_once(':') {
            Some(("folder", id)) if !id.is_empty() => Some(Object::Folder(id.to_owned())),
            Some(("project", id)) if !id.is_empty() => Some(Object::Project(id.to_owned())),
            _ => None,
        }
    }
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Object::Instance => f.write_str("instance"),
            Object::Folder(id) => write!(f, "folder:{id}"),
            Object::Project(id) => write!(f, "project:{id}"),
        }
    }
}

/// What is being asked of an object. Each action needs a minimum role; callers use these
/// typed actions, never raw role strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// See the object and list it.
    View,
    /// Change content (workflow, reports, names).
    Edit,
    /// Change who may do what, slugs, abilities; create folders inside a folder.
    Manage,
    /// Delete the object.
    Delete,
}

impl Action {
    pub const ALL: [Action; 4] = [Action::View, Action::Edit, Action::Manage, Action::Delete];

    pub fn required_role(self) -> Role {
        match self {
            Action::View => Role::Viewer,
            Action::Edit => Role::Editor,
            Action::Manage | Action::Delete => Role::Manager,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::View => "view",
            Action::Edit => "edit",
            Action::Manage => "manage",
            Action::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// What a `p` line's third field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    Role(Role),
    Permission(ServerPermission),
}
