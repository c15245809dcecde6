//! Instance-wide settings that shape every check: the default role and the abilities.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use vitrine_core::{Ability, Role};
use vitrine_storage::Store;

use crate::{Authz, AuthzResult};

const KEY: &str = "authz";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstanceSettings {
    /// The role everyone signed in has on everything, before any grant.
    pub default_role: Role,
    /// Ability values for projects that set none.
    pub ability_defaults: BTreeMap<Ability, bool>,
    /// Abilities an admin switched off everywhere, whatever projects say.
    pub disabled_abilities: BTreeSet<Ability>,
    /// Projects whose managers set the organisation's role on them (project id → role),
    /// higher or lower than `default_role`. Grants on the project and on the folders above
    /// it still apply on top: a folder's role stays the floor for whoever holds it.
    #[serde(default)]
    pub project_default_roles: BTreeMap<String, Role>,
    /// Whether signed-in users (not only admins) may create folders at the top; each then
    /// manages the folder it made.
    #[serde(default)]
    pub members_create_root_folders: bool,
    /// The Project Editor switch. Off on a production instance: nobody holds the
    /// `project_editor` permission (admins included) and a project's content — workflow,
    /// reports, revisions — changes only through a working-copy push, which managers and
    /// holders of `project_publisher` make. Working copies themselves stay editable.
    #[serde(default = "switched_on")]
    pub project_editing: bool,
}

fn switched_on() -> bool {
    true
}

impl Default for InstanceSettings {
    fn default() -> Self {
        InstanceSettings {
            default_role: Role::NoAccess,
            ability_defaults: [
                (Ability::Schedule, true),
                (Ability::Download, true),
                (Ability::Drill, true),
                (Ability::ViewersSeeWorkflow, false),
            ]
            .into_iter()
            .collect(),
            disabled_abilities: BTreeSet::new(),
            project_default_roles: BTreeMap::new(),
            members_create_root_folders: false,
            project_editing: true,
        }
    }
}

impl InstanceSettings {
    /// The role everyone signed in has on `object` before any grant: the project's own
    /// organisation role when its managers set one, else the instance default.
    pub fn default_role_on(&self, object: &crate::Object) -> Role {
        match object {
            crate::Object::Project(p) => self
                .project_default_roles
                .get(p)
                .copied()
                .unwrap_or(self.default_role),
            _ => self.default_role,
        }
    }

    /// Is `ability` on for a project that sets `overrides`? A disabled ability is off
    /// everywhere; otherwise the project's own value wins over the default.
    pub fn ability(&self, overrides: &BTreeMap<String, bool>, ability: Ability) -> bool {
        if self.disabled_abilities.contains(&ability) {
            return false;
        }
        overrides.get(ability.as_str()).copied().unwrap_or_else(|| {
            self.ability_defaults
                .get(&ability)
                .copied()
                .unwrap_or(false)
        })
    }
}

pub(crate) async fn load(store: &Store) -> AuthzResult<InstanceSettings> {
    Ok(store.setting(KEY).await?.unwrap_or_default())
}

impl Authz {
    /// Applies a change to the settings and stores it before publishing it.
    pub async fn update_settings(
        &self,
        change: impl FnOnce(&mut InstanceSettings),
    ) -> AuthzResult<InstanceSettings> {
        let _serialize = self.enforcer.lock().await;
        // From the database, not from memory: another node may have changed them since
        // this one last heard.
        let mut next = load(&self.store).await?;
        change(&mut next);
        self.store.put_setting(KEY, &next).await?;
        *self.settings.write() = std::sync::Arc::new(next.clone());
        self.announced(crate::Change::Settings);
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_beats_project_override() {
        let mut s = InstanceSettings::default();
        let on: BTreeMap<String, bool> = [("drill".to_owned(), true)].into_iter().collect();
        assert!(s.ability(&on, Ability::Drill));
        s.disabled_abilities.insert(Ability::Drill);
        assert!(!s.ability(&on, Ability::Drill));
        assert!(!s.ability(&BTreeMap::new(), Ability::ViewersSeeWorkflow));
        let off: BTreeMap<String, bool> = [("download".to_owned(), false)].into_iter().collect();
        assert!(!s.ability(&off, Ability::Download));
    }

    #[test]
    fn a_projects_organisation_role_replaces_the_default_there_only() {
        let mut s = InstanceSettings {
            default_role: Role::Viewer,
            ..InstanceSettings::default()
        };
        let (p, q) = (
            crate::Object::Project("p".into()),
            crate::Object::Project("q".into()),
        );
        s.project_default_roles.insert("p".into(), Role::NoAccess);
        assert_eq!(s.default_role_on(&p), Role::NoAccess);
        assert_eq!(s.default_role_on(&q), Role::Viewer);
        assert_eq!(
            s.default_role_on(&crate::Object::Folder("p".into())),
            Role::Viewer
        );
    }
}
