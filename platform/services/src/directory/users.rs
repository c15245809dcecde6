//! Users, service accounts, groups and user attributes (admin work).

use std::collections::BTreeMap;
use vitrine_core::AuditAction;

use vitrine_authz::Subject;
use vitrine_core::{AttributeKey, Name, ServerPermission, Username};
use vitrine_storage::{GroupRecord, PageRequest, UserKind, UserRecord, new_uid, now_ms};

use super::Directory;
use crate::caller::Caller;
use crate::{ApiError, ApiResult};

/// Limits on attributes so one user record stays small.
const MAX_ATTRIBUTE_KEYS: usize = 64;
const MAX_ATTRIBUTE_VALUES: usize = 256;

/// A new local account (issuer `local`, subject = its own uid).
pub(crate) fn local_user(
    username: Username,
    display: Name,
    kind: UserKind,
    password_hash: Option<String>,
    email: Option<String>,
) -> UserRecord {
    let uid = new_uid();
    UserRecord {
        subject: uid.clone(),
        uid: uid.into(),
        username: username.into_inner(),
        display_name: display.into_inner(),
        kind,
        issuer: "local".into(),
        email,
        password_hash,
        disabled: false,
        attributes: BTreeMap::new(),
        connection_role: None,
        provider_groups: Vec::new(),
        created_ms: now_ms(),
    }
}

impl Directory {
    fn require_admin(&self, caller: &Caller) -> ApiResult<()> {
        Ok(self
            .authz
            .require_permission(caller, ServerPermission::Admin)?)
    }

    /// Users and groups are listed for admins and holders of `list_directory`.
    fn require_directory(&self, caller: &Caller) -> ApiResult<()> {
        Ok(self
            .authz
            .require_permission(caller, ServerPermission::ListDirectory)?)
    }

    pub async fn create_user(
        &self,
        caller: &Caller,
        username: &str,
        display_name: Option<&str>,
        password: Option<&str>,
        email: Option<String>,
        invite: bool,
    ) -> ApiResult<UserRecord> {
        caller.require_write()?;
        self.require_admin(caller)?;
        if password.is_none() && !invite {
            return Err(ApiError::invalid(
                "password: give one, or invite the user to choose theirs (invite: true)",
            ));
        }
        if invite && email.is_none() {
            return Err(ApiError::invalid(
                "email: an invitation is mailed; give the user an address",
            ));
        }
        let display = display_name.unwrap_or(username);
        let user = self
            .identity
            .create_local_user(username, display, password, email)
            .await?;
        let detail = user.username.clone();
        let user = self
            .audit_created(caller, user, AuditAction::UserCreate, &detail)
            .await?;
        if invite {
            self.identity.invite_user(caller, &user, false).await?;
        }
        Ok(user)
    }

    /// Mails a local user a new invitation to choose their password (admins); the old
    /// one stops working once this one is sent. UNAVAILABLE, and nothing changed, when
    /// the mail cannot be sent.
    pub async fn resend_user_invitation(
        &self,
        caller: &Caller,
        user_uid: &str,
    ) -> ApiResult<vitrine_storage::UserInvitationRecord> {
        caller.require_write()?;
        self.require_admin(caller)?;
        let user = self
            .store
            .user(&vitrine_core::UserId::from(user_uid))
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        self.identity.invite_user(caller, &user, true).await
    }

    /// A user's last invitation (admins).
    pub async fn user_invitation(
        &self,
        caller: &Caller,
        user_uid: &str,
    ) -> ApiResult<Option<vitrine_storage::UserInvitationRecord>> {
        self.require_admin(caller)?;
        let uid = vitrine_core::UserId::from(user_uid);
        Ok(self.store.user_invitation(&uid).await?)
    }

    /// Audits a user just created and answers it.
    async fn audit_created(
        &self,
        caller: &Caller,
        user: UserRecord,
        action: AuditAction,
        detail: &str,
    ) -> ApiResult<UserRecord> {
        let object = format!("user:{}", user.uid);
        self.audit
            .record(caller, action, &object, "ok", detail)
            .await?;
        Ok(user)
    }

    /// A user who will sign in through identity provider `provider` as `subject` (its
    /// `sub` claim): how people get in through a provider that admits pre-provisioned
    /// users only. Admins only; the user has no password here.
    pub async fn create_provider_user(
        &self,
        caller: &Caller,
        provider: &str,
        subject: &str,
        username: &str,
        email: Option<String>,
    ) -> ApiResult<UserRecord> {
        caller.require_write()?;
        self.require_admin(caller)?;
        let subject = subject.trim();
        if subject.is_empty() || subject.len() > 255 {
            return Err(ApiError::invalid("subject: must be 1 to 255 characters"));
        }
        let username = Username::parse(username)?;
        let issuer = self.identity.provider_issuer(provider).await?;
        if self
            .store
            .user_by_identity(&issuer, subject)
            .await?
            .is_some()
        {
            return Err(ApiError::new(
                vitrine_core::ErrorCode::Conflict,
                format!("a user is already linked to subject `{subject}` of `{provider}`"),
            ));
        }
        let display = Name::parse("displayName", username.as_str())?;
        let mut user = local_user(username, display, UserKind::Person, None, email);
        user.issuer = issuer;
        user.subject = subject.to_owned();
        self.store.insert_user(&user).await?;
        let detail = format!("{} through {provider} as {subject}", user.username);
        self.audit_created(caller, user, AuditAction::UserCreate, &detail)
            .await
    }

    pub async fn create_service_account(
        &self,
        caller: &Caller,
        username: &str,
        display_name: Option<&str>,
    ) -> ApiResult<UserRecord> {
        caller.require_write()?;
        self.require_admin(caller)?;
        let username = Username::parse(username)?;
        let display = Name::parse("displayName", display_name.unwrap_or(username.as_str()))?;
        let user = local_user(username, display, UserKind::Service, None, None);
        self.store.insert_user(&user).await?;
        let detail = user.username.clone();
        self.audit_created(caller, user, AuditAction::UserCreateServiceAccount, &detail)
            .await
    }

    pub async fn user(&self, caller: &Caller, uid: &str) -> ApiResult<UserRecord> {
        let uid = &vitrine_core::UserId::from(uid);
        if uid != caller.uid() {
            self.require_directory(caller)?;
        }
        self.store
            .user(uid)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))
    }

    pub async fn users(&self, caller: &Caller, page: &PageRequest) -> ApiResult<Vec<UserRecord>> {
        self.require_directory(caller)?;
        Ok(self.store.users_page(page).await?)
    }

    /// Disabling ends the user's sessions at once; tokens are refused on their next use.
    pub async fn set_user_disabled(
        &self,
        caller: &Caller,
        uid: &str,
        disabled: bool,
    ) -> ApiResult<UserRecord> {
        let uid = &vitrine_core::UserId::from(uid);
        caller.require_write()?;
        self.require_admin(caller)?;
        if disabled && uid == caller.uid() {
            return Err(ApiError::invalid("id: you cannot disable your own account"));
        }
        self.store.set_user_disabled(uid, disabled).await?;
        self.identity.forget_user(uid);
        let action = if disabled {
            AuditAction::UserDisable
        } else {
            AuditAction::UserEnable
        };
        self.audit
            .record(caller, action, &format!("user:{uid}"), "ok", "")
            .await?;
        self.store
            .user(uid)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))
    }

    /// Replaces a user's attributes (the keys access filters match on).
    pub async fn set_user_attributes(
        &self,
        caller: &Caller,
        uid: &str,
        attributes: Vec<(String, Vec<String>)>,
    ) -> ApiResult<UserRecord> {
        let uid = &vitrine_core::UserId::from(uid);
        caller.require_write()?;
        self.require_admin(caller)?;
        let map = parse_attributes("attributes", attributes)?;
        self.store.set_user_attributes(uid, &map).await?;
        self.identity.forget_user(uid);
        self.audit
            .record(
                caller,
                AuditAction::UserSetAttributes,
                &format!("user:{uid}"),
                "ok",
                "",
            )
            .await?;
        self.store
            .user(uid)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))
    }

    // ---- groups -------------------------------------------------------------------

    pub async fn create_group(&self, caller: &Caller, name: &str) -> ApiResult<GroupRecord> {
        caller.require_write()?;
        self.require_admin(caller)?;
        let group = GroupRecord {
            uid: new_uid().into(),
            name: Name::parse("name", name)?.into_inner(),
            created_ms: now_ms(),
        };
        self.store.insert_group(&group).await?;
        self.audit
            .record(
                caller,
                AuditAction::GroupCreate,
                &format!("group:{}", group.uid),
                "ok",
                &group.name,
            )
            .await?;
        Ok(group)
    }

    pub async fn rename_group(
        &self,
        caller: &Caller,
        uid: &str,
        name: &str,
    ) -> ApiResult<GroupRecord> {
        let uid = &vitrine_core::GroupId::from(uid);
        caller.require_write()?;
        self.require_admin(caller)?;
        let name = Name::parse("name", name)?;
        self.store.rename_group(uid, name.as_str()).await?;
        self.audit
            .record(
                caller,
                AuditAction::GroupRename,
                &format!("group:{uid}"),
                "ok",
                name.as_str(),
            )
            .await?;
        self.store
            .group(uid)
            .await?
            .ok_or_else(|| ApiError::not_found("group"))
    }

    pub async fn groups(&self, caller: &Caller, page: &PageRequest) -> ApiResult<Vec<GroupRecord>> {
        self.require_directory(caller)?;
        Ok(self.store.groups_page(page).await?)
    }

    pub async fn group(&self, caller: &Caller, uid: &str) -> ApiResult<GroupRecord> {
        let uid = &vitrine_core::GroupId::from(uid);
        self.require_directory(caller)?;
        self.store
            .group(uid)
            .await?
            .ok_or_else(|| ApiError::not_found("group"))
    }

    pub async fn delete_group(&self, caller: &Caller, uid: &str) -> ApiResult<()> {
        let uid = &vitrine_core::GroupId::from(uid);
        caller.require_write()?;
        self.require_admin(caller)?;
        self.store
            .group(uid)
            .await?
            .ok_or_else(|| ApiError::not_found("group"))?;
        // Grants and memberships go first: if that is refused (the group holds the last
        // admin permission), the group is left whole.
        self.authz
            .remove_subject(&Subject::Group(uid.to_owned().into()))
            .await?;
        self.store.delete_group(uid).await?;
        let obj = format!("group:{uid}");
        self.audit
            .record(caller, AuditAction::GroupDelete, &obj, "ok", "")
            .await?;
        Ok(())
    }

    pub async fn set_group_member(
        &self,
        caller: &Caller,
        group_uid: &str,
        user_uid: &str,
        member: bool,
    ) -> ApiResult<GroupRecord> {
        let user_uid = &vitrine_core::UserId::from(user_uid);

        let group_uid = &vitrine_core::GroupId::from(group_uid);
        caller.require_write()?;
        self.require_admin(caller)?;
        let group = self
            .store
            .group(group_uid)
            .await?
            .ok_or_else(|| ApiError::not_found("group"))?;
        self.store
            .user(user_uid)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        if member {
            self.authz.add_member(user_uid, group_uid).await?;
        } else {
            self.authz.remove_member(user_uid, group_uid).await?;
        }
        let action = if member {
            AuditAction::GroupAddMember
        } else {
            AuditAction::GroupRemoveMember
        };
        self.audit
            .record(
                caller,
                action,
                &format!("group:{group_uid}"),
                "ok",
                &format!("user:{user_uid}"),
            )
            .await?;
        Ok(group)
    }

    pub async fn group_members(&self, group_uid: &str) -> ApiResult<Vec<UserRecord>> {
        let mut out = Vec::new();
        for uid in self.authz.members(group_uid).await {
            if let Some(u) = self.store.user(&vitrine_core::UserId::from(&uid)).await? {
                out.push(u);
            }
        }
        Ok(out)
    }

    pub fn groups_of(&self, user_uid: &str) -> Vec<String> {
        let user_uid = &vitrine_core::UserId::from(user_uid);
        self.authz
            .snapshot()
            .groups_of(&format!("user:{user_uid}"))
            .iter()
            .filter_map(|g| g.strip_prefix("group:").map(str::to_owned))
            .collect()
    }

    /// The groups a user is in, as records (groups deleted meanwhile are left out).
    pub async fn group_records_of(&self, user_uid: &str) -> ApiResult<Vec<GroupRecord>> {
        let user_uid = &vitrine_core::UserId::from(user_uid);
        let mut out = Vec::new();
        for g in self.groups_of(user_uid) {
            if let Some(r) = self.store.group(&vitrine_core::GroupId::from(&g)).await? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Whether `user_uid` is a person or a service account (the audit log says which).
    pub async fn user_kind(&self, user_uid: &str) -> ApiResult<Option<UserKind>> {
        let user_uid = &vitrine_core::UserId::from(user_uid);
        Ok(self.store.user(user_uid).await?.map(|u| u.kind))
    }

    /// The server permissions granted to a user.
    pub fn permissions_of(&self, user_uid: &str) -> Vec<ServerPermission> {
        let user_uid = &vitrine_core::UserId::from(user_uid);
        self.authz
            .snapshot()
            .permissions_of(&format!("user:{user_uid}"))
            .into_iter()
            .collect()
    }
}

/// Attribute values as access filters read them (a user's, a link's, a recipient's):
/// at most [`MAX_ATTRIBUTE_KEYS`] distinct keys of [`MAX_ATTRIBUTE_VALUES`] values each.
/// `field` names the input in errors.
pub(crate) fn parse_attributes(
    field: &str,
    attributes: Vec<(String, Vec<String>)>,
) -> ApiResult<BTreeMap<String, Vec<String>>> {
    if attributes.len() > MAX_ATTRIBUTE_KEYS {
        return Err(ApiError::invalid(format!(
            "{field}: at most {MAX_ATTRIBUTE_KEYS} keys"
        )));
    }
    let mut map = BTreeMap::new();
    for (k, values) in attributes {
        let key = AttributeKey::parse(&k)
            .map_err(|e| ApiError::invalid(format!("{field}: {}", e.reason)))?;
        if values.len() > MAX_ATTRIBUTE_VALUES {
            return Err(ApiError::invalid(format!(
                "{field}.{key}: at most {MAX_ATTRIBUTE_VALUES} values"
            )));
        }
        let values: Vec<String> = values
            .iter()
            .map(|v| {
                Name::parse("value", v)
                    .map(Name::into_inner)
                    .map_err(|e| ApiError::invalid(format!("{field}.{key}: {}", e.reason)))
            })
            .collect::<Result<_, _>>()?;
        if map.insert(key.as_str().to_owned(), values).is_some() {
            return Err(ApiError::invalid(format!(
                "{field}: key `{key}` is given twice"
            )));
        }
    }
    Ok(map)
}
