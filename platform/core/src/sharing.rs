//! Share links as pure rules: the four kinds, what a link points at, the rights it
//! grants, the state machine that decides whether it opens, and the recipient password
//! rule. Storage and HTTP live elsewhere; everything here is checked without I/O.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// Why an edit raised an access warning on a link that reaches outsiders: what the
/// link's audience can now see that it could not before. Stored in snake case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// A tile now shows a dataset the link did not show.
    NewDataset,
    /// That dataset has no access filter: every row reaches the audience.
    UnfilteredDataset,
    /// A tile now shows columns the link did not show.
    NewColumns,
    /// A tile or report filter was dropped or loosened.
    WiderFilter,
}

/// Who may follow a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// Members of the project only: a bookmark that grants nothing.
    Private,
    /// Signed-in users whose own permissions allow them to see the target.
    Authenticated,
    /// Named recipients, each with their own password; no account needed.
    Recipients,
    /// Anyone holding the URL.
    Public,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Private => "private",
            LinkKind::Authenticated => "authenticated",
            LinkKind::Recipients => "recipients",
            LinkKind::Public => "public",
        }
    }

    /// Kinds whose audience is outside the project's own permissions: edits that widen
    /// what they show raise access warnings.
    pub fn reaches_outsiders(self) -> bool {
        matches!(self, LinkKind::Recipients | LinkKind::Public)
    }
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LinkKind {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        [
            LinkKind::Private,
            LinkKind::Authenticated,
            LinkKind::Recipients,
            LinkKind::Public,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| {
            CoreError::new(
                "kind",
                "must be private, authenticated, recipients or public",
            )
        })
    }
}

/// What a link opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkTarget {
    /// The whole project: workflow and reports.
    Project,
    /// One report, all its tabs.
    Report { report: String },
    /// One tab of one report.
    Tab { report: String, tab: String },
}

impl LinkTarget {
    pub fn report(&self) -> Option<&str> {
        match self {
            LinkTarget::Project => None,
            LinkTarget::Report { report } | LinkTarget::Tab { report, .. } => Some(report),
        }
    }

    pub fn tab(&self) -> Option<&str> {
        match self {
            LinkTarget::Tab { tab, .. } => Some(tab),
            _ => None,
        }
    }
}

/// What a link's audience may do beyond looking.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct LinkRights {
    /// Download tile data as CSV.
    pub download: bool,
    /// Change the report in the viewer (their own copy unless `sync_edits`).
    pub edit: bool,
    /// Edits replace the master report instead of staying the viewer's own copy.
    pub sync_edits: bool,
    /// Open the rows behind a value.
    pub drill: bool,
    /// Recipients set up their own scheduled deliveries of what the link shows, to
    /// their own address (recipients links only; needs `download`, since a delivery
    /// carries the data).
    pub schedule: bool,
}

impl LinkRights {
    /// The rights a link may carry, checked against its kind and target.
    pub fn check(&self, kind: LinkKind, target: &LinkTarget) -> Result<(), CoreError> {
        if kind == LinkKind::Private && *self != LinkRights::default() {
            return Err(CoreError::new(
                "rights",
                "a private link grants nothing beyond the members' own roles; leave rights empty",
            ));
        }
        if self.sync_edits && !self.edit {
            return Err(CoreError::new(
                "rights.syncEdits",
                "syncing edits back needs the edit right",
            ));
        }
        if self.schedule && kind != LinkKind::Recipients {
            return Err(CoreError::new(
                "rights.schedule",
                "only recipients of a recipients link schedule their own deliveries: they are delivered to the recipient's address",
            ));
        }
        if self.schedule && !self.download {
            return Err(CoreError::new(
                "rights.schedule",
                "a scheduled delivery carries the report's data; it needs the download right",
            ));
        }
        if self.edit && target.tab().is_some() {
            return Err(CoreError::new(
                "rights.edit",
                "a link to one tab cannot edit the report; link the whole report",
            ));
        }
        Ok(())
    }

    /// Both sets at once: what a recipient gets is never more than the link allows.
    pub fn intersect(self, other: LinkRights) -> LinkRights {
        LinkRights {
            download: self.download && other.download,
            edit: self.edit && other.edit,
            sync_edits: self.sync_edits && other.sync_edits,
            drill: self.drill && other.drill,
            schedule: self.schedule && other.schedule,
        }
    }
}

/// What a link to whole projects shows outsiders (public and recipients links): the
/// projects' reports to explore, the report files their scheduled deliveries send, or
/// both. Never the workflow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct LinkContent {
    /// Every report of the projects, interactively.
    pub dashboard: bool,
    /// The report files of the reports scheduled tasks deliver.
    pub files: bool,
}

impl LinkContent {
    /// The rules of a link to whole projects for outsiders.
    pub fn check(
        &self,
        kind: LinkKind,
        target: &LinkTarget,
        rights: &LinkRights,
    ) -> Result<(), CoreError> {
        if !self.dashboard && !self.files {
            return Err(CoreError::new(
                "content",
                "choose the dashboard, the delivered files or both",
            ));
        }
        if !kind.reaches_outsiders() {
            return Err(CoreError::new(
                "content",
                "private and authenticated links show members the whole project already; leave content out",
            ));
        }
        if *target != LinkTarget::Project {
            return Err(CoreError::new(
                "content",
                "a link to one report shows that report; leave content out, or leave reportId out",
            ));
        }
        if rights.edit {
            return Err(CoreError::new(
                "rights.edit",
                "a link to whole projects shows their reports as they are; link one report to let its audience edit",
            ));
        }
        Ok(())
    }
}

/// Checks a kind against a target: the project's workflow is never shown outside, so a
/// whole project reaches outsiders only as [`LinkContent`].
pub fn check_kind_target(
    kind: LinkKind,
    target: &LinkTarget,
    content: Option<&LinkContent>,
) -> Result<(), CoreError> {
    if matches!(target, LinkTarget::Project) && kind.reaches_outsiders() && content.is_none() {
        return Err(CoreError::new(
            "kind",
            "a link to a whole project shows its workflow, so only signed-in users may follow it: use private or authenticated, link a report, or share the project's content (dashboard, delivered files)",
        ));
    }
    Ok(())
}

/// Whether a link opens right now. Order matters: the most final state wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    Active,
    Paused,
    Locked,
    Expired,
    Revoked,
}

impl LinkState {
    pub fn of(
        revoked: bool,
        expires_ms: Option<i64>,
        locked: bool,
        paused: bool,
        now_ms: i64,
    ) -> LinkState {
        if revoked {
            LinkState::Revoked
        } else if expires_ms.is_some_and(|e| e <= now_ms) {
            LinkState::Expired
        } else if paused {
            // A manager's pause wins over a lock: pausing a locked link must keep it shut
            // after an unlock.
            LinkState::Paused
        } else if locked {
            LinkState::Locked
        } else {
            LinkState::Active
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Active => "active",
            LinkState::Paused => "paused",
            LinkState::Locked => "locked",
            LinkState::Expired => "expired",
            LinkState::Revoked => "revoked",
        }
    }

    /// Revoked and expired links never open again; paused and locked ones may.
    pub fn is_final(self) -> bool {
        matches!(self, LinkState::Expired | LinkState::Revoked)
    }
}

/// What a recipient may do: viewers look, editors may also edit when the link allows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientRole {
    Viewer,
    Editor,
}

impl RecipientRole {
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientRole::Viewer => "viewer",
            RecipientRole::Editor => "editor",
        }
    }

    /// The rights a recipient ends up with: their own (or the link's), within the
    /// link's, with edit rights only for editors.
    pub fn rights(self, link: LinkRights, own: Option<LinkRights>) -> LinkRights {
        let mut r = own.map_or(link, |o| o.intersect(link));
        if self == RecipientRole::Viewer {
            r.edit = false;
            r.sync_edits = false;
        }
        r
    }
}

/// What happens to a revoked recipient's scheduled deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveriesOnRevoke {
    Cancel,
    TransferToOwner,
}

/// The special characters a recipient password must contain one of.
pub const RECIPIENT_PASSWORD_SPECIALS: &str = "!#$%@";

/// A password a recipient sets on first visit: at least 8 characters with a letter, a
/// digit and one of `!#$%@`. Every broken rule is named in one message.
#[derive(Clone)]
pub struct RecipientPassword(String);

impl fmt::Debug for RecipientPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecipientPassword(***)")
    }
}

impl RecipientPassword {
    pub const MIN_LEN: usize = 8;
    pub const MAX_LEN: usize = 256;
    pub const RULE: &str = "at least 8 characters, with a letter, a digit and one of ! # $ % @";

    pub fn parse(raw: &str) -> Result<Self, CoreError> {
        let len = raw.chars().count();
        let mut missing = Vec::new();
        if len < Self::MIN_LEN {
            missing.push("is shorter than 8 characters");
        }
        if !raw.chars().any(char::is_alphabetic) {
            missing.push("has no letter");
        }
        if !raw.chars().any(|c| c.is_ascii_digit()) {
            missing.push("has no digit");
        }
        if !raw.chars().any(|c| RECIPIENT_PASSWORD_SPECIALS.contains(c)) {
            missing.push("has none of ! # $ % @");
        }
        if len > Self::MAX_LEN {
            missing.push("is longer than 256 characters");
        }
        if missing.is_empty() {
            Ok(RecipientPassword(raw.to_owned()))
        } else {
            Err(CoreError::new(
                "password",
                format!(
                    "the password {}; it needs {}",
                    missing.join(", "),
                    Self::RULE
                ),
            ))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// An e-mail address as far as a share needs it: one `@` with text on both sides, a
/// dot in the domain, no spaces. Delivery is what proves it.
pub fn check_email(raw: &str) -> Result<String, CoreError> {
    let e = raw.trim();
    let ok = e.len() <= 254
        && !e.chars().any(char::is_whitespace)
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if ok {
        Ok(e.to_lowercase())
    } else {
        Err(CoreError::new(
            "email",
            "must be an e-mail address like name@example.com",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_machine_takes_the_most_final_state() {
        let now = 1_000;
        assert_eq!(
            LinkState::of(false, None, false, false, now),
            LinkState::Active
        );
        assert_eq!(
            LinkState::of(false, None, false, true, now),
            LinkState::Paused
        );
        // Pause wins over a lock (a paused link stays shut when it is unlocked).
        assert_eq!(
            LinkState::of(false, None, true, true, now),
            LinkState::Paused
        );
        assert_eq!(
            LinkState::of(false, None, true, false, now),
            LinkState::Locked
        );
        assert_eq!(
            LinkState::of(false, Some(now), true, true, now),
            LinkState::Expired
        );
        assert_eq!(
            LinkState::of(false, Some(now + 1), false, false, now),
            LinkState::Active
        );
        assert_eq!(
            LinkState::of(true, Some(now), true, true, now),
            LinkState::Revoked
        );
        assert!(LinkState::Revoked.is_final() && !LinkState::Locked.is_final());
    }

    #[test]
    fn recipient_password_rule_names_what_is_missing() {
        assert!(RecipientPassword::parse("abcd123!").is_ok());
        assert!(RecipientPassword::parse("Zürich9@").is_ok());
        let e = RecipientPassword::parse("abc").unwrap_err();
        assert!(e.reason.contains("shorter than 8"), "{}", e.reason);
        assert!(e.reason.contains("no digit") && e.reason.contains("none of"));
        let e = RecipientPassword::parse("12345678!").unwrap_err();
        assert!(e.reason.contains("no letter"), "{}", e.reason);
        let e = RecipientPassword::parse("abcdefg1&").unwrap_err();
        assert!(e.reason.contains("none of ! # $ % @"), "{}", e.reason);
        assert!(e.reason.contains(RecipientPassword::RULE));
    }

    #[test]
    fn rights_follow_kind_target_and_role() {
        let report = LinkTarget::Report { report: "r".into() };
        let tab = LinkTarget::Tab {
            report: "r".into(),
            tab: "t".into(),
        };
        let all = LinkRights {
            download: true,
            edit: true,
            sync_edits: true,
            drill: true,
            schedule: true,
        };
        assert!(all.check(LinkKind::Recipients, &report).is_ok());
        let e = all.check(LinkKind::Public, &report).unwrap_err();
        assert_eq!(e.field, "rights.schedule");
        let blind = LinkRights {
            download: false,
            ..all
        };
        let e = blind.check(LinkKind::Recipients, &report).unwrap_err();
        assert!(e.reason.contains("download right"), "{}", e.reason);
        let all = LinkRights {
            schedule: false,
            ..all
        };
        assert!(all.check(LinkKind::Public, &report).is_ok());
        assert!(all.check(LinkKind::Private, &report).is_err());
        assert!(all.check(LinkKind::Public, &tab).is_err());
        let sync_only = LinkRights {
            sync_edits: true,
            ..Default::default()
        };
        assert!(sync_only.check(LinkKind::Public, &report).is_err());
        let project = LinkTarget::Project;
        assert!(check_kind_target(LinkKind::Public, &project, None).is_err());
        assert!(check_kind_target(LinkKind::Recipients, &project, None).is_err());
        assert!(check_kind_target(LinkKind::Authenticated, &project, None).is_ok());
        let both = LinkContent {
            dashboard: true,
            files: true,
        };
        assert!(check_kind_target(LinkKind::Public, &project, Some(&both)).is_ok());
        let none = LinkRights::default();
        assert!(both.check(LinkKind::Public, &project, &none).is_ok());
        assert!(both.check(LinkKind::Private, &project, &none).is_err());
        assert!(both.check(LinkKind::Public, &report, &none).is_err());
        let e = LinkContent::default()
            .check(LinkKind::Public, &project, &none)
            .unwrap_err();
        assert_eq!(e.field, "content");
        let edit = LinkRights { edit: true, ..none };
        assert!(both.check(LinkKind::Recipients, &project, &edit).is_err());

        let viewer = RecipientRole::Viewer.rights(all, None);
        assert!(viewer.download && !viewer.edit && !viewer.sync_edits);
        let own = LinkRights {
            download: true,
            edit: true,
            ..Default::default()
        };
        let editor = RecipientRole::Editor.rights(LinkRights::default(), Some(own));
        assert_eq!(editor, LinkRights::default(), "never more than the link");
    }

    #[test]
    fn emails() {
        assert_eq!(check_email(" Ann@Example.org ").unwrap(), "ann@example.org");
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.org",
            "ann@host",
            "a b@x.org",
            "a@x.org.",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
