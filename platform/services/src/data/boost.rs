//! Access boost: viewers see a report's tiles above their connection role. The model:
//!
//! - An admin **allows** boost on the instance. Allowing boosts nothing by itself; it lets
//!   managers switch boost on for their folders and projects. Disallowing stops every
//!   boost at the next request, whatever folders and projects say (their switches are
//!   kept, and apply again once an admin allows boost again).
//! - Managers switch boost **on or off** for a project or a folder, or clear the switch
//!   to inherit. The project's switch wins, then the nearest folder's above it.
//! - Where nothing is switched, each **resource location** (the instance's data
//!   connections) has a default, set by admins: a tile whose dataset is read from a
//!   location whose default is on is boosted.
//! - Boost applies only to viewing a report's own tiles: never to drill-down (row-level
//!   queries) and never to the workflow, which only editors query. It never touches
//!   access filters: those select the rows after this decision.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use vitrine_authz::Action;
use vitrine_core::AuditAction;

use super::Data;
use crate::DataSecurity;
use crate::caller::Caller;
use crate::viewer::TileContext;
use crate::{ApiError, ApiResult};

/// The setting holding [`DataSecurity`], boost switches included.
pub(super) const DATA_SECURITY: &str = "data_security";

/// The boost switches, stored with the data-security settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoostSettings {
    /// The admin's switch: may boost apply at all (and may managers switch it on)?
    #[serde(rename = "instance_boost", default)]
    pub allowed: bool,
    #[serde(default)]
    pub boosted_folders: BTreeSet<String>,
    #[serde(default)]
    pub boosted_projects: BTreeSet<String>,
    /// Folders and projects whose managers switched boost off explicitly (over a
    /// location's default, or a folder's boost above).
    #[serde(default)]
    pub unboosted_folders: BTreeSet<String>,
    #[serde(default)]
    pub unboosted_projects: BTreeSet<String>,
    /// Resource locations (by name) whose datasets are boosted where nothing is switched.
    #[serde(default)]
    pub boosted_locations: BTreeSet<String>,
}

impl BoostSettings {
    /// The explicit switch deciding for a project in `folders` (nearest first), if any.
    fn switched(&self, project: &str, folders: &[String]) -> Option<bool> {
        let of = |on: &BTreeSet<String>, off: &BTreeSet<String>, id: &str| {
            if on.contains(id) {
                Some(true)
            } else if off.contains(id) {
                Some(false)
            } else {
                None
            }
        };
        of(&self.boosted_projects, &self.unboosted_projects, project).or_else(|| {
            folders
                .iter()
                .find_map(|f| of(&self.boosted_folders, &self.unboosted_folders, f))
        })
    }

    fn set(&mut self, target: &BoostTarget, on: Option<bool>) {
        let (yes, no, id) = match target {
            BoostTarget::Instance => {
                self.allowed = on == Some(true);
                return;
            }
            BoostTarget::Location(l) => {
                match on {
                    Some(true) => self.boosted_locations.insert(l.clone()),
                    _ => self.boosted_locations.remove(l),
                };
                return;
            }
            BoostTarget::Folder(f) => (&mut self.boosted_folders, &mut self.unboosted_folders, f),
            BoostTarget::Project(p) => {
                (&mut self.boosted_projects, &mut self.unboosted_projects, p)
            }
        };
        yes.remove(id);
        no.remove(id);
        match on {
            Some(true) => yes.insert(id.clone()),
            Some(false) => no.insert(id.clone()),
            None => false,
        };
    }
}

/// Where access boost is switched.
#[derive(Debug, Clone)]
pub enum BoostTarget {
    /// The admin's allow switch.
    Instance,
    Folder(String),
    Project(String),
    /// A resource location's default (by name).
    Location(String),
}

/// Whether boost applies to one viewer's tiles in one project, dataset by dataset: made
/// with the viewer's grant, read for each tile.
#[derive(Debug, Clone, Default)]
pub struct Boost {
    /// The answer for every dataset (disallowed, or switched on the project or a folder).
    all: Option<bool>,
    /// Otherwise: the datasets read from a location whose default is on.
    datasets: BTreeSet<String>,
}

impl Boost {
    pub fn applies(&self, dataset: &str) -> bool {
        self.all.unwrap_or_else(|| self.datasets.contains(dataset))
    }

    /// Boost on for every dataset (tests of what depends on it).
    #[cfg(test)]
    pub(crate) fn everywhere() -> Boost {
        Boost {
            all: Some(true),
            datasets: BTreeSet::new(),
        }
    }
}

impl Data {
    /// How boost applies in `project_uid` (see the module docs), for the datasets the
    /// request's context read already. The workflow is read only when a location's
    /// default could decide.
    pub(super) async fn boost_in(
        &self,
        project_uid: &vitrine_core::ProjectId,
        ctx: &TileContext,
    ) -> ApiResult<Boost> {
        let b = &ctx.security.boost;
        let all = if !b.allowed {
            Some(false)
        } else {
            b.switched(project_uid.as_str(), &self.folder_chain(project_uid))
                .or(b.boosted_locations.is_empty().then_some(false))
        };
        if all.is_some() {
            return Ok(Boost {
                all,
                datasets: BTreeSet::new(),
            });
        }
        let Some(wf) = self.store.workflow(project_uid).await? else {
            return Ok(Boost::default());
        };
        let datasets = ctx
            .datasets
            .keys()
            .filter(|d| {
                vitrine_engine::workflow::locations_feeding(&wf.definition, d)
                    .iter()
                    .any(|l| b.boosted_locations.contains(l))
            })
            .cloned()
            .collect();
        Ok(Boost { all, datasets })
    }

    /// Switches access boost (see the module docs): allowing it on the instance and a
    /// location's default need an admin; a folder's or a project's switch its managers,
    /// and switching one on needs boost allowed. `on: None` clears a folder's or project's
    /// switch (it inherits again).
    pub async fn set_access_boost(
        &self,
        caller: &Caller,
        target: BoostTarget,
        on: Option<bool>,
    ) -> ApiResult<DataSecurity> {
        caller.require_write()?;
        let object = match &target {
            BoostTarget::Instance => {
                self.require_admin_caller(caller)?;
                "instance".to_owned()
            }
            BoostTarget::Location(name) => {
                self.require_admin_caller(caller)?;
                self.store
                    .location_by_name(name)
                    .await?
                    .ok_or_else(|| ApiError::not_found("resource location"))?;
                format!("location:{name}")
            }
            BoostTarget::Folder(f) => {
                self.directory
                    .load_folder(caller, &vitrine_core::FolderId::from(f), Action::Manage)
                    .await?;
                format!("folder:{f}")
            }
            BoostTarget::Project(p) => {
                self.directory
                    .project_for(caller, &vitrine_core::ProjectId::from(p), Action::Manage)
                    .await?;
                format!("project:{p}")
            }
        };
        let switchable = matches!(target, BoostTarget::Folder(_) | BoostTarget::Project(_));
        if on.is_none() && !switchable {
            return Err(ApiError::invalid(
                "enabled: the instance and locations are on or off; only a folder or project inherits",
            ));
        }
        if on == Some(true) && switchable && !self.data_security().await?.boost.allowed {
            return Err(ApiError::forbidden(
                "access boost is not allowed on this instance; an admin allows it first (setAccessBoost(scope: INSTANCE, enabled: true))",
            ));
        }
        let sec = self.switch_boost(&target, on).await?;
        let detail = match on {
            Some(true) if matches!(target, BoostTarget::Instance) => "allowed",
            Some(false) if matches!(target, BoostTarget::Instance) => "off everywhere",
            Some(true) => "on",
            Some(false) => "off",
            None => "inherited",
        };
        self.audit
            .record(caller, AuditAction::AccessBoostSet, &object, "ok", detail)
            .await?;
        Ok(sec)
    }

    /// Forgets a deleted location's boost default, so a new location of the same name
    /// does not inherit it.
    pub(super) async fn forget_location_boost(&self, name: &str) -> ApiResult<()> {
        let target = BoostTarget::Location(name.to_owned());
        self.switch_boost(&target, None).await.map(drop)
    }

    /// Stores one switch in one conditional read-modify-write: switching boost on one
    /// project can never undo a concurrent switch on another.
    async fn switch_boost(
        &self,
        target: &BoostTarget,
        on: Option<bool>,
    ) -> ApiResult<DataSecurity> {
        Ok(self
            .store
            .update_setting(DATA_SECURITY, |sec: Option<DataSecurity>| {
                let mut sec = sec.unwrap_or_default();
                sec.boost.set(target, on);
                sec
            })
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_project_wins_then_the_nearest_folder() {
        let mut b = BoostSettings {
            allowed: true,
            ..Default::default()
        };
        let chain = vec!["inner".to_owned(), "outer".to_owned()];
        assert_eq!(b.switched("p", &chain), None);
        b.set(&BoostTarget::Folder("outer".into()), Some(true));
        assert_eq!(b.switched("p", &chain), Some(true));
        b.set(&BoostTarget::Folder("inner".into()), Some(false));
        assert_eq!(b.switched("p", &chain), Some(false));
        b.set(&BoostTarget::Project("p".into()), Some(true));
        assert_eq!(b.switched("p", &chain), Some(true));
        b.set(&BoostTarget::Project("p".into()), None);
        assert_eq!(b.switched("p", &chain), Some(false));
        assert_eq!(b.unboosted_folders, ids(&["inner"]));
        assert!(b.boosted_projects.is_empty() && b.unboosted_projects.is_empty());
    }

    #[test]
    fn stored_settings_of_before_the_model_still_read() {
        let old = serde_json::json!({"default_connection_role": "viewer",
            "instance_boost": true, "boosted_projects": ["p"]});
        let sec: DataSecurity = serde_json::from_value(old).unwrap();
        assert!(sec.boost.allowed);
        assert_eq!(sec.boost.boosted_projects, ids(&["p"]));
        assert!(sec.boost.boosted_locations.is_empty());
    }
}
