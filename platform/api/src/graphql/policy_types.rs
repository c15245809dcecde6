//! Policies and instance settings in GraphQL: policy lines, the explanation of a role,
//! abilities and the instance-wide switches.

use async_graphql::SimpleObject;

use super::types::{Ability, Role};
use crate::services::records::PolicyLine;

/// One casbin policy line: a grant (`p`) or a membership (`g`).
#[derive(SimpleObject)]
pub struct PolicyRule {
    /// `p` for a grant, `g` for a group membership.
    pub ptype: String,
    pub subject: String,
    /// The object of a grant, or the group of a membership.
    pub object: String,
    /// The role or server permission of a grant; empty for memberships.
    pub grant: String,
}

impl From<PolicyLine> for PolicyRule {
    fn from(l: PolicyLine) -> Self {
        PolicyRule {
            ptype: l.ptype,
            subject: l.v0,
            object: l.v1,
            grant: l.v2,
        }
    }
}

#[derive(SimpleObject)]
pub struct PolicyImportResult {
    pub grants: i32,
    pub memberships: i32,
}

#[derive(SimpleObject)]
pub struct GrantContribution {
    pub subject: String,
    pub object: String,
    pub role: Role,
    /// True when the grant sits on a folder above the object (the folder floor).
    pub inherited: bool,
}

#[derive(SimpleObject)]
pub struct Explanation {
    pub allowed: bool,
    pub required_role: Role,
    pub effective_role: Role,
    pub default_role: Role,
    pub is_admin: bool,
    pub grants: Vec<GrantContribution>,
    /// casbin's own answer from the stored model, without the default role and the admin
    /// shortcut; equal to `allowed` whenever neither applies.
    pub casbin_allows: bool,
    pub reason: String,
}

impl From<crate::services::values::Explanation> for Explanation {
    fn from(e: crate::services::values::Explanation) -> Self {
        Explanation {
            allowed: e.allowed,
            required_role: e.required_role.into(),
            effective_role: e.effective_role.into(),
            default_role: e.default_role.into(),
            is_admin: e.is_admin,
            grants: e
                .grants
                .into_iter()
                .map(|c| GrantContribution {
                    subject: c.subject,
                    object: c.object,
                    role: c.role.into(),
                    inherited: c.inherited,
                })
                .collect(),
            casbin_allows: e.casbin_allows,
            reason: e.reason,
        }
    }
}

#[derive(SimpleObject)]
pub struct AbilitySetting {
    pub ability: Ability,
    pub default_enabled: bool,
    pub disabled: bool,
}

#[derive(SimpleObject)]
pub struct InstanceSettings {
    pub default_role: Role,
    pub abilities: Vec<AbilitySetting>,
    /// Whether every signed-in user may create folders at the top (else admins only).
    pub members_create_root_folders: bool,
    /// The Project Editor switch. Off on a production instance: projects' content (workflow,
    /// reports, revisions) changes only through working-copy pushes (EDITING_OFF
    /// otherwise), nobody holds PROJECT_EDITOR, and working copies stay editable.
    pub project_editing: bool,
}

impl From<crate::services::values::InstanceSettings> for InstanceSettings {
    fn from(s: crate::services::values::InstanceSettings) -> Self {
        InstanceSettings {
            default_role: s.default_role.into(),
            members_create_root_folders: s.members_create_root_folders,
            project_editing: s.project_editing,
            abilities: vitrine_core::Ability::ALL
                .iter()
                .map(|a| AbilitySetting {
                    ability: (*a).into(),
                    default_enabled: s.ability_defaults.get(a).copied().unwrap_or(false),
                    disabled: s.disabled_abilities.contains(a),
                })
                .collect(),
        }
    }
}
