//! The user a verified sign-in makes or finds: keyed on (issuer, subject), refreshed from
//! the claims at every sign-in, with group memberships following the groups claim.

use std::collections::BTreeMap;

use vitrine_core::Name;
use vitrine_storage::{GroupRecord, StorageError, UserKind, UserRecord, new_uid, now_ms};

use super::{Provider, Verified, claims, refused};
use crate::identity::Identity;
use crate::{ApiError, ApiResult};

/// The most groups one sign-in may bring.
const MAX_GROUPS: usize = 200;

impl Identity {
    /// The user `profile` signs in as: found by (issuer, subject) and refreshed, or made
    /// now when the provider's provisioning rule allows. Group memberships and mapped
    /// attributes follow the claims.
    pub(super) async fn oidc_user(&self, p: &Provider, v: &Verified) -> ApiResult<UserRecord> {
        let (profile, issuer) = (&v.profile, &v.discovered.issuer);
        let mut user = match self
            .store
            .user_by_identity(issuer, &profile.subject)
            .await?
        {
            Some(mut u) => {
                u.email = profile.email.clone();
                u.display_name = profile.display_name.clone();
                u
            }
            None => {
                claims::may_provision(&p.config, profile).map_err(refused)?;
                self.provision(issuer, p, profile).await?
            }
        };
        if user.disabled {
            return Ok(user);
        }
        for attribute in p.config.attribute_claims.keys() {
            match profile.attributes.get(attribute) {
                Some(values) => user.attributes.insert(attribute.clone(), values.clone()),
                // A claim the provider no longer sends takes its values away.
                None => user.attributes.remove(attribute),
            };
        }
        if let Some(names) = &profile.groups {
            self.sync_groups(&mut user, names, p.config.keep_manual_groups)
                .await?;
        }
        self.store.refresh_oidc_user(&user).await?;
        self.forget_user(&user.uid);
        Ok(user)
    }

    async fn provision(
        &self,
        issuer: &str,
        p: &Provider,
        profile: &claims::Profile,
    ) -> ApiResult<UserRecord> {
        let display = Name::parse("displayName", &profile.display_name)
            .map(Name::into_inner)
            .unwrap_or_else(|_| profile.username.clone());
        for username in claims::username_candidates(profile, &p.config.name) {
            let user = UserRecord {
                uid: new_uid().into(),
                username,
                display_name: display.clone(),
                kind: UserKind::Person,
                issuer: issuer.to_owned(),
                subject: profile.subject.clone(),
                email: profile.email.clone(),
                password_hash: None,
                disabled: false,
                attributes: BTreeMap::new(),
                connection_role: None,
                provider_groups: Vec::new(),
                created_ms: now_ms(),
            };
            match self.store.insert_user(&user).await {
                Ok(()) => return Ok(user),
                // Another sign-in of the same person won the race: use theirs.
                Err(StorageError::Conflict(_)) => {
                    if let Some(u) = self
                        .store
                        .user_by_identity(issuer, &profile.subject)
                        .await?
                    {
                        return Ok(u);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(refused(format!(
            "no free username for `{}`; an administrator must create the user",
            profile.username
        )))
    }

    /// Makes `user`'s memberships follow the groups claim: groups are matched by name
    /// (made when missing); memberships the claim no longer names are dropped — only the
    /// ones the provider gave, when `keep_manual` is set.
    async fn sync_groups(
        &self,
        user: &mut UserRecord,
        names: &[String],
        keep_manual: bool,
    ) -> ApiResult<()> {
        let mut wanted: Vec<vitrine_core::GroupId> = Vec::new();
        for name in names.iter().take(MAX_GROUPS) {
            let Ok(name) = Name::parse("group", name) else {
                continue;
            };
            let group = match self.store.group_by_name(name.as_str()).await? {
                Some(g) => g,
                None => {
                    let g = GroupRecord {
                        uid: new_uid().into(),
                        name: name.into_inner(),
                        created_ms: now_ms(),
                    };
                    match self.store.insert_group(&g).await {
                        Ok(()) => g,
                        Err(StorageError::Conflict(_)) => self
                            .store
                            .group_by_name(&g.name)
                            .await?
                            .ok_or_else(|| ApiError::not_found("group"))?,
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            if !wanted.contains(&group.uid) {
                wanted.push(group.uid);
            }
        }
        let subject = format!("user:{}", user.uid);
        let current: Vec<vitrine_core::GroupId> = self
            .authz
            .snapshot()
            .groups_of(&subject)
            .iter()
            .filter_map(|g| g.strip_prefix("group:").map(vitrine_core::GroupId::from))
            .collect();
        let removable = if keep_manual {
            user.provider_groups.clone()
        } else {
            current.clone()
        };
        for g in removable.iter().filter(|g| !wanted.contains(g)) {
            self.authz.remove_member(&user.uid, g).await?;
        }
        for g in wanted.iter().filter(|g| !current.contains(g)) {
            self.authz.add_member(&user.uid, g).await?;
        }
        user.provider_groups = wanted;
        Ok(())
    }
}
