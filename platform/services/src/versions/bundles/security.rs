//! What governs who sees what travels with a project's data: a bundle carries the
//! project's access filters, abilities and share policy ([`BundleSecurity`]), and every
//! project made from another — an import, a working copy here or from another instance,
//! a copy of a revision — is born with its origin's, in the transaction that creates it.
//! Pushes and pulls between a copy and its origin leave each side's own as they are:
//! setting filters is a manager's act on that instance, never a side effect of syncing.

use std::collections::BTreeSet;

use vitrine_storage::{AccessFilterRecord, ProjectRecord, now_ms};

use super::format::{BundleAccessFilter, BundleRule, BundleSecurity};
use crate::directory::projects::ProjectPlan;
use crate::exposure::{SharePolicy, share_policy_key};
use crate::versions::Versions;
use crate::{ApiError, ApiResult};

impl Versions {
    /// The project's access filters, abilities and share policy, as a bundle carries them.
    pub(crate) async fn security_of(&self, project: &ProjectRecord) -> ApiResult<BundleSecurity> {
        let mut access_filters = Vec::new();
        for f in self.store.access_filters(&project.uid).await? {
            let rules: Vec<BundleRule> = serde_json::from_value(f.rules)
                .map_err(|e| ApiError::internal("access filter", e))?;
            access_filters.push(BundleAccessFilter {
                dataset: f.dataset,
                rules,
            });
        }
        let policy = self.exposure.share_policy(&project.uid).await?;
        Ok(BundleSecurity {
            access_filters,
            abilities: project.abilities.clone(),
            refuse_exposing_edits: policy.refuse_exposing_edits,
        })
    }

    /// Makes the planned project be born with `security`. Answers the attributes its
    /// filters select rows with that no user of this instance carries: until some do,
    /// those filters show such rows to nobody (they are kept, never dropped).
    pub(crate) async fn govern(
        &self,
        plan: &mut ProjectPlan,
        security: &BundleSecurity,
    ) -> ApiResult<Vec<String>> {
        let project_uid = plan.record().uid.clone();
        let now = now_ms();
        let filters = security
            .access_filters
            .iter()
            .map(|f| {
                Ok(AccessFilterRecord {
                    project_uid: project_uid.clone(),
                    dataset: f.dataset.clone(),
                    rules: serde_json::to_value(&f.rules)
                        .map_err(|e| ApiError::internal("access filter", e))?,
                    updated_ms: now,
                })
            })
            .collect::<ApiResult<Vec<_>>>()?;
        let policy = SharePolicy {
            refuse_exposing_edits: security.refuse_exposing_edits,
        };
        let settings = match policy.refuse_exposing_edits {
            true => vec![(
                share_policy_key(&project_uid),
                serde_json::to_value(&policy).map_err(|e| ApiError::internal("policy", e))?,
            )],
            false => Vec::new(),
        };
        plan.governed_by(filters, security.abilities.clone(), settings);
        let mut unknown = BTreeSet::new();
        for attribute in security.attributes() {
            if !self.store.any_user_with_attribute(attribute).await? {
                unknown.insert(attribute.to_owned());
            }
        }
        Ok(unknown.into_iter().collect())
    }
}
