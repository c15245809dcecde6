//! "May user U do A on X, and because of which grants?"

use vitrine_core::{Role, ServerPermission};

use crate::{Action, Authz, AuthzResult, Contribution, Object, Subject};

#[derive(Debug, Clone)]
pub struct Explanation {
    pub allowed: bool,
    pub required_role: Role,
    pub effective_role: Role,
    pub default_role: Role,
    pub is_admin: bool,
    /// Every grant that reaches the object for this user, nearest first.
    pub grants: Vec<Contribution>,
    /// casbin's own answer for the same question (without the default role and admin
    /// shortcut, which live outside the model); recorded so a disagreement is visible.
    pub casbin_allows: bool,
    pub reason: String,
}

impl Authz {
    pub async fn explain(
        &self,
        user_uid: &str,
        action: Action,
        object: &Object,
    ) -> AuthzResult<Explanation> {
        let index = self.snapshot();
        let user = Subject::User(user_uid.to_owned()).to_string();
        let is_admin = index.has_permission(&user, ServerPermission::Admin);
        let default_role = self.settings().default_role_on(object);
        let grants = index.contributions(&user, &object.to_string());
        let effective_role = self.effective_role(user_uid, object);
        let required_role = action.required_role();
        let allowed = effective_role >= required_role;
        let casbin_allows = self
            .casbin_decision(user_uid, object, required_role.as_str())
            .await?;
        let best = grants.iter().max_by_key(|c| c.role);
        let reason = if is_admin {
            "allowed: the user is an administrator".to_owned()
        } else if let Some(c) = best.filter(|c| c.role >= default_role) {
            let via = if c.subject == user {
                String::new()
            } else {
                format!(" through {}", c.subject)
            };
            let place = if c.inherited {
                format!("inherited from {}", c.object)
            } else {
                format!("granted on {}", c.object)
            };
            format!(
                "{}: the strongest grant is {}{via}, {place}; {} needs {required_role}",
                if allowed { "allowed" } else { "refused" },
                c.role,
                action.as_str()
            )
        } else if default_role > Role::NoAccess {
            format!(
                "{}: no grant above the default role everyone has here, {default_role}; {} needs {required_role}",
                if allowed { "allowed" } else { "refused" },
                action.as_str()
            )
        } else {
            format!(
                "refused: no grant reaches {object} for this user; {} needs {required_role}",
                action.as_str()
            )
        };
        Ok(Explanation {
            allowed,
            required_role,
            effective_role,
            default_role,
            is_admin,
            grants,
            casbin_allows,
            reason,
        })
    }
}
