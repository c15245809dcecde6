//! Record ids, one type per table, so a report's id cannot be passed where a project's is
//! expected. Stored and sent as the plain string they wrap (`serde(transparent)`); they
//! read as `&str` wherever text is wanted (`Deref`), so logs, paths and queries need no
//! conversion.
//!
//! Text from a client becomes an id once, where it enters: a service's public method
//! names it (`let project_uid = &ProjectId::from(project_uid)`), and below that the
//! services' own methods, the engine and storage take the table's id type, so a report's
//! or a folder's id cannot reach a project lookup. The few other places text becomes an id
//! are boundaries too: a queued job's payload, a policy line's subject, a block's
//! configuration naming an upload.
//!
//! One table's id is not another's:
//!
//! ```compile_fail
//! let report = vitrine_core::ReportId::from("r1");
//! let project: vitrine_core::ProjectId = report;
//! ```
//!
//! while text becomes an id only when said so:
//!
//! ```
//! let project = vitrine_core::ProjectId::from("p1");
//! assert_eq!(format!("project:{project}"), "project:p1");
//! ```

/// Declares an id type for one table.
macro_rules! record_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_owned())
            }
        }

        impl From<&String> for $name {
            fn from(s: &String) -> Self {
                $name(s.clone())
            }
        }

        impl From<&$name> for $name {
            fn from(id: &$name) -> Self {
                id.clone()
            }
        }

        impl PartialEq<&$name> for $name {
            fn eq(&self, other: &&$name) -> bool {
                self.0 == other.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

record_id!(
    /// A project's id.
    ProjectId
);
record_id!(
    /// A folder's id.
    FolderId
);
record_id!(
    /// A report's id.
    ReportId
);
record_id!(
    /// A share link's id.
    LinkId
);
record_id!(
    /// A scheduled task's id.
    TaskId
);
record_id!(
    /// A user's (or service account's) id.
    UserId
);
record_id!(
    /// A revision's id.
    RevisionId
);
record_id!(
    /// A recipient's id, on one recipients link.
    RecipientId
);

record_id!(
    /// A group's id.
    GroupId
);
record_id!(
    /// A resource location's id.
    LocationId
);
record_id!(
    /// A data connection's id (an outside database).
    ConnectionId
);
record_id!(
    /// A dataset's id.
    DatasetId
);
record_id!(
    /// A workflow run's id.
    RunId
);
record_id!(
    /// An uploaded file's id.
    UploadId
);
record_id!(
    /// An API token's id.
    TokenId
);
record_id!(
    /// A published plugin version's id.
    PluginId
);
record_id!(
    /// A working copy's link to its origin.
    CopyId
);
record_id!(
    /// A working-copy link's id (issued by an origin).
    CopyLinkId
);
record_id!(
    /// A kept export's id (bundle, data or report file).
    ExportId
);
record_id!(
    /// A task run's id.
    TaskRunId
);
record_id!(
    /// One project's part of a task run.
    TaskRunProjectId
);

record_id!(
    /// A sign-in session's id.
    SessionId
);
record_id!(
    /// A virtual root's id.
    VirtualRootId
);
record_id!(
    /// An audit event's id.
    AuditEventId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_their_string_on_the_wire_and_in_text() {
        let id = ProjectId::from("p1");
        assert_eq!(serde_json::to_value(&id).unwrap(), serde_json::json!("p1"));
        let back: ProjectId = serde_json::from_value(serde_json::json!("p1")).unwrap();
        assert_eq!(back, id);
        assert_eq!(id, "p1");
        assert_eq!(format!("project:{id}"), "project:p1");
        let as_text: &str = &id;
        assert_eq!(as_text, "p1");
    }
}
