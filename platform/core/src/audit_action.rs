//! Audit actions: every kind of event the audit trail records, one enum. Stored rows
//! keep the dotted name ([`AuditAction::as_str`]); GraphQL shows the enum (its values are
//! generated from the same list, see [`for_each_audit_action`]).

/// Calls `$m!` with the list of audit actions (`Variant = "stored.name",`), so the Rust
/// enum here and the GraphQL enum in `vitrine-api` are made from one list.
#[macro_export]
macro_rules! for_each_audit_action {
    ($m:ident) => {
        $m! {
            AccessBoostSet = "access_boost.set",
            AccessFilterSet = "access_filter.set",
            AuditPrune = "audit.prune",
            AuthLogin = "auth.login",
            AuthLogout = "auth.logout",
            BundleExport = "bundle.export",
            BundleImport = "bundle.import",
            ConnectionCreate = "connection.create",
            ConnectionDelete = "connection.delete",
            ConnectionRole = "connection.role",
            ConnectionUpdate = "connection.update",
            DatasetExport = "dataset.export",
            FolderCreate = "folder.create",
            FolderDelete = "folder.delete",
            FolderMove = "folder.move",
            FolderRename = "folder.rename",
            GroupAddMember = "group.add_member",
            GroupCreate = "group.create",
            GroupDelete = "group.delete",
            GroupRemoveMember = "group.remove_member",
            GroupRename = "group.rename",
            InstanceConnectionRole = "instance.connection_role",
            LocationCreate = "location.create",
            LocationDelete = "location.delete",
            LocationGrant = "location.grant",
            MutationRefused = "mutation.refused",
            ParametersInstance = "parameters.instance",
            PluginDisable = "plugin.disable",
            PluginEnable = "plugin.enable",
            PluginPublish = "plugin.publish",
            PolicyGrantPermission = "policy.grant_permission",
            PolicyGrantRole = "policy.grant_role",
            PolicyImport = "policy.import",
            PolicyRevokePermission = "policy.revoke_permission",
            PolicyRevokeRole = "policy.revoke_role",
            ProjectChangeSlug = "project.change_slug",
            ProjectCreate = "project.create",
            ProjectFromTemplate = "project.from_template",
            ProjectDelete = "project.delete",
            ProjectMove = "project.move",
            ProjectRename = "project.rename",
            ProjectTemplate = "project.template",
            ProjectSetAbility = "project.set_ability",
            ProjectSetDefaultRole = "project.set_default_role",
            ReportCreate = "report.create",
            ReportDelete = "report.delete",
            ReportExportFile = "report.export_file",
            ReportUpdate = "report.update",
            ReportsWarmUp = "reports.warm_up",
            RevisionCopy = "revision.copy",
            RevisionRecord = "revision.record",
            RevisionRevert = "revision.revert",
            SecretsRotate = "secrets.rotate",
            SettingsAbility = "settings.ability",
            SettingsDefaultRole = "settings.default_role",
            SettingsProjectEditing = "settings.project_editing",
            SettingsRootFolders = "settings.root_folders",
            SetupComplete = "setup.complete",
            ShareCopyLink = "share.copy_link",
            ShareDeliveryCancel = "share.delivery_cancel",
            ShareDeliveryCreate = "share.delivery_create",
            ShareDeliverySend = "share.delivery_send",
            ShareDownload = "share.download",
            ShareEditCopy = "share.edit_copy",
            ShareEditSync = "share.edit_sync",
            ShareOpen = "share.open",
            SharePasswordSet = "share.password_set",
            ShareSignIn = "share.sign_in",
            ShareView = "share.view",
            ShareLinkCreate = "share_link.create",
            ShareLinkPause = "share_link.pause",
            ShareLinkResume = "share_link.resume",
            ShareLinkRevoke = "share_link.revoke",
            ShareLinkUnlock = "share_link.unlock",
            ShareLinkUpdate = "share_link.update",
            SharePolicySet = "share_policy.set",
            ShareRecipientAdd = "share_recipient.add",
            ShareRecipientReissue = "share_recipient.reissue",
            ShareRecipientRequest = "share_recipient.request",
            ShareRecipientResend = "share_recipient.resend",
            ShareRecipientRevoke = "share_recipient.revoke",
            ShareRecipientUpdate = "share_recipient.update",
            SystemAct = "system.act",
            TaskCancelRun = "task.cancel_run",
            TaskCreate = "task.create",
            TaskDelete = "task.delete",
            TaskPause = "task.pause",
            TaskResume = "task.resume",
            TaskRunNow = "task.run_now",
            TaskUpdate = "task.update",
            TileDownload = "tile.download",
            TileDrill = "tile.drill",
            TileQuery = "tile.query",
            TileView = "tile.view",
            TokenCreate = "token.create",
            TokenRevoke = "token.revoke",
            Unknown = "unknown.action",
            UploadCreate = "upload.create",
            UserChangePassword = "user.change_password",
            UserConnectionRole = "user.connection_role",
            UserCreate = "user.create",
            UserInvitationAccept = "user.invitation_accept",
            UserInvite = "user.invite",
            UserCreateServiceAccount = "user.create_service_account",
            UserDisable = "user.disable",
            UserEnable = "user.enable",
            UserSetAttributes = "user.set_attributes",
            VirtualRootCreate = "virtual_root.create",
            VirtualRootDelete = "virtual_root.delete",
            WorkflowCancel = "workflow.cancel",
            WorkflowRun = "workflow.run",
            WorkflowSave = "workflow.save",
            WorkingCopyCreate = "working_copy.create",
            WorkingCopyDetach = "working_copy.detach",
            WorkingCopyFetch = "working_copy.fetch",
            WorkingCopyLink = "working_copy.link",
            WorkingCopyLinkRevoke = "working_copy.link_revoke",
            WorkingCopyPull = "working_copy.pull",
            WorkingCopyPush = "working_copy.push",
        }
    };
}

macro_rules! define_audit_action {
    ($($variant:ident = $name:literal,)*) => {
        /// What an audit event records. `Unknown` stands for a stored name this version
        /// does not know (written by a newer one).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum AuditAction {
            $($variant,)*
        }

        impl AuditAction {
            /// Every action, in the order of their stored names.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)*];

            /// The name stored in audit rows, e.g. `share_link.create`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $name,)*
                }
            }

            /// The action a stored name stands for; `Unknown` for any other name.
            pub fn parse(name: &str) -> AuditAction {
                match name {
                    $($name => AuditAction::$variant,)*
                    _ => AuditAction::Unknown,
                }
            }
        }
    };
}

for_each_audit_action!(define_audit_action);

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for a in AuditAction::ALL {
            assert!(seen.insert(a.as_str()), "{a:?} repeats a name");
            assert_eq!(AuditAction::parse(a.as_str()), *a);
            let (area, verb) = a.as_str().split_once('.').expect("area.verb");
            assert!(!area.is_empty() && !verb.is_empty());
        }
        assert_eq!(AuditAction::parse("made.up"), AuditAction::Unknown);
    }
}
