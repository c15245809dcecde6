//! What an operator does from the machine's shell (`vitrine admin …`) without a browser:
//! list users, disable or enable one, make one an administrator or stop them being one.
//! Access to the data directory is the authority, so these take no caller; each is
//! audited as the `shell`. Creating users and resetting passwords are in [`super::setup`].

use vitrine_authz::Subject;
use vitrine_core::{AuditAction, ErrorCode, ServerPermission};
use vitrine_storage::{PageRequest, UserRecord};

use super::Identity;
use crate::{ApiError, ApiResult};

/// A user as `vitrine admin list-users` shows them.
#[derive(Debug, Clone)]
pub struct ShellUser {
    pub user: UserRecord,
    pub admin: bool,
}

impl Identity {
    /// Every user, in id order, with whether they administer the instance.
    pub async fn shell_users(&self) -> ApiResult<Vec<ShellUser>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = PageRequest {
                after: after.clone(),
                first: crate::SCAN_BATCH,
            };
            let batch = self.store.users_page(&page).await?;
            after = batch.last().map(|u| u.uid.to_string());
            let done = batch.len() < crate::SCAN_BATCH;
            for user in batch {
                let admin = self.authz.is_admin(&user.uid);
                out.push(ShellUser { user, admin });
            }
            if done {
                return Ok(out);
            }
        }
    }

    async fn shell_user(&self, username: &str) -> ApiResult<UserRecord> {
        let name = username.trim().to_lowercase();
        self.store
            .user_by_username(&name)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no user is named `{name}`")))
    }

    /// Disables a user (their sessions end at once, their tokens on next use) or enables
    /// them again.
    pub async fn shell_set_disabled(
        &self,
        username: &str,
        disabled: bool,
    ) -> ApiResult<UserRecord> {
        let user = self.shell_user(username).await?;
        if disabled && self.authz.is_admin(&user.uid) && self.enabled_admins().await? <= 1 {
            return Err(last_admin());
        }
        self.store.set_user_disabled(&user.uid, disabled).await?;
        self.forget_user(&user.uid);
        let action = match disabled {
            true => AuditAction::UserDisable,
            false => AuditAction::UserEnable,
        };
        let object = format!("user:{}", user.uid);
        self.audit.shell(action, &object, "from the shell").await?;
        self.shell_user(username).await
    }

    /// Makes a user an administrator, or stops them being one; the last enabled
    /// administrator stays.
    pub async fn shell_set_admin(&self, username: &str, admin: bool) -> ApiResult<UserRecord> {
        let user = self.shell_user(username).await?;
        let subject = Subject::User(user.uid.clone().into());
        if admin {
            self.authz
                .grant_permission(&subject, ServerPermission::Admin)
                .await?;
        } else {
            if self.authz.is_admin(&user.uid) && self.enabled_admins().await? <= 1 {
                return Err(last_admin());
            }
            self.authz
                .revoke_permission(&subject, ServerPermission::Admin)
                .await?;
        }
        self.forget_user(&user.uid);
        let action = match admin {
            true => AuditAction::PolicyGrantPermission,
            false => AuditAction::PolicyRevokePermission,
        };
        let object = format!("user:{}", user.uid);
        self.audit
            .shell(action, &object, "admin, from the shell")
            .await?;
        Ok(user)
    }

    async fn enabled_admins(&self) -> ApiResult<usize> {
        let users = self.shell_users().await?;
        Ok(users.iter().filter(|u| u.admin && !u.user.disabled).count())
    }
}

fn last_admin() -> ApiError {
    ApiError::new(
        ErrorCode::PolicyViolation,
        "this is the last enabled administrator; make another one first",
    )
}
