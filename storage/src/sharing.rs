//! Share links, recipients, share sessions and viewers' own report copies. Tokens and
//! passwords arrive here already hashed; nothing in these tables can open a link.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vitrine_core::{
    DeliveriesOnRevoke, LinkKind, LinkRights, LinkState, LinkTarget, RecipientRole,
};

use crate::{NewAuditEvent, PageRequest, StorageError, StorageResult, Store};

/// An access warning raised when a report edit widens what a link shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareWarning {
    pub kind: vitrine_core::WarningKind,
    pub message: String,
    pub report_uid: vitrine_core::ReportId,
    pub at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShareLinkRecord {
    pub uid: vitrine_core::LinkId,
    pub project_uid: vitrine_core::ProjectId,
    pub kind: LinkKind,
    /// Null for a link to the whole project.
    pub report_uid: Option<vitrine_core::ReportId>,
    /// Set for a link to one tab.
    pub tab: Option<String>,
    pub label: String,
    pub rights: LinkRights,
    pub expires_ms: Option<i64>,
    /// SHA-256 of the link's token; recipients links also carry one (the sign-in page).
    pub token_hash: Option<String>,
    pub created_by: vitrine_core::UserId,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub paused: bool,
    pub revoked_ms: Option<i64>,
    pub locked_ms: Option<i64>,
    /// Wrong passwords since the last right one; the link locks at a threshold.
    pub failures: i64,
    pub last_access_ms: Option<i64>,
    pub access_count: i64,
    #[serde(default)]
    pub warnings: Vec<ShareWarning>,
    /// Set when the link shows the report as it was when pinned rather than its latest
    /// version.
    #[serde(default)]
    pub pinned: Option<PinnedReport>,
    /// The attribute values access filters select rows with for a public or recipients
    /// link's audience: the creator's when the link was made unless given, changed only
    /// on the link itself. Null for private and authenticated links (members see what
    /// their own attributes allow).
    #[serde(default)]
    pub attributes: Option<BTreeMap<String, Vec<String>>>,
    /// A link to several projects: all of them, `project_uid` first. Empty for a link to
    /// one project (or a folder).
    #[serde(default)]
    pub projects: Vec<vitrine_core::ProjectId>,
    /// A link to every project of a folder (and its sub-folders when `recursive`), read
    /// at each visit; `project_uid` is then empty.
    #[serde(default)]
    pub folder: Option<LinkFolder>,
    /// What a link to whole projects shows outsiders (see [`vitrine_core::LinkContent`]).
    #[serde(default)]
    pub content: Option<vitrine_core::LinkContent>,
}

/// The folder a link covers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LinkFolder {
    pub uid: vitrine_core::FolderId,
    pub recursive: bool,
}

/// The report definition a pinned link keeps showing, whatever later edits do. Until
/// projects have a version history this is a copy of the definition; with history it
/// names a revision instead.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PinnedReport {
    pub definition: vitrine_core::report::ReportDefinition,
    pub at_ms: i64,
    /// The revision the definition was taken from, when pinned to a past one.
    #[serde(default)]
    pub revision: Option<i64>,
}

impl ShareLinkRecord {
    pub fn target(&self) -> LinkTarget {
        match (&self.report_uid, &self.tab) {
            (None, _) => LinkTarget::Project,
            (Some(r), None) => LinkTarget::Report {
                report: r.clone().into(),
            },
            (Some(r), Some(t)) => LinkTarget::Tab {
                report: r.clone().into(),
                tab: t.clone(),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShareRecipientRecord {
    pub uid: vitrine_core::RecipientId,
    pub link_uid: vitrine_core::LinkId,
    pub name: String,
    pub email: String,
    pub role: RecipientRole,
    /// Their own rights within the link's; null means the link's.
    pub rights: Option<LinkRights>,
    /// SHA-256 of the personal invitation token.
    pub token_hash: String,
    pub password_hash: Option<String>,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
    pub deliveries_on_revoke: Option<DeliveriesOnRevoke>,
    pub last_access_ms: Option<i64>,
    pub access_count: i64,
    /// This recipient's own attribute values; null: the link's.
    #[serde(default)]
    pub attributes: Option<BTreeMap<String, Vec<String>>>,
    /// Their invitation e-mail: sent, opened, asked for again.
    #[serde(default)]
    pub invitation: crate::InvitationLog,
}

/// A visitor's session on one link, held in an HttpOnly cookie once the token left the URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShareSessionRecord {
    pub hash: String,
    pub link_uid: vitrine_core::LinkId,
    /// Known from a personal invitation, or after signing in.
    pub recipient_uid: Option<vitrine_core::RecipientId>,
    /// True once the recipient proved their password (always true for public links).
    pub signed_in: bool,
    pub created_ms: i64,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShareCopyRecord {
    pub link_uid: vitrine_core::LinkId,
    /// `recipient:UID` or `session:HASH`.
    pub owner: String,
    pub report_uid: vitrine_core::ReportId,
    pub definition: Value,
    pub updated_ms: i64,
}

impl ShareLinkRecord {
    /// Whether the link opens at `now` (ms since the epoch), and if not, why.
    pub fn state(&self, now: i64) -> LinkState {
        LinkState::of(
            self.revoked_ms.is_some(),
            self.expires_ms,
            self.locked_ms.is_some(),
            self.paused,
            now,
        )
    }
}

/// Appends `$warn` (pairs of link uid and warnings) to links not revoked, stamped `$at`.
pub(crate) const APPEND_WARNINGS: &str = "FOR $w IN $warn {
    UPDATE share_link SET warnings = array::concat(warnings ?? [], $w[1]), updated_ms = $at
    WHERE uid = $w[0] AND !revoked_ms;
};";

impl Store {
    /// Creates a link and its recipients in one transaction.
    pub async fn insert_share_link(
        &self,
        link: &ShareLinkRecord,
        recipients: &[ShareRecipientRecord],
    ) -> StorageResult<()> {
        self.exec(
            "BEGIN; CREATE share_link CONTENT $l; FOR $r IN $rs { CREATE share_recipient CONTENT $r; }; COMMIT;",
            json!({ "l": link, "rs": recipients }),
        )
        .await
    }

    pub async fn share_link(
        &self,
        uid: &vitrine_core::LinkId,
    ) -> StorageResult<Option<ShareLinkRecord>> {
        self.cached_first(
            "SELECT * FROM share_link WHERE uid = $u",
            json!({ "u": uid }),
        )
        .await
    }

    pub async fn share_link_by_token(&self, hash: &str) -> StorageResult<Option<ShareLinkRecord>> {
        self.first(
            "SELECT * FROM share_link WHERE token_hash = $h",
            json!({ "h": hash }),
        )
        .await
    }

    /// Records another token of a public link (stored as its hash).
    pub async fn insert_share_view_token(
        &self,
        hash: &str,
        link_uid: &vitrine_core::LinkId,
        now_ms: i64,
    ) -> StorageResult<()> {
        self.exec(
            "CREATE share_view_token CONTENT { hash: $h, link_uid: $l, created_ms: $t }",
            json!({ "h": hash, "l": link_uid, "t": now_ms }),
        )
        .await
    }

    /// The link a minted view token opens.
    pub async fn share_link_by_view_token(
        &self,
        hash: &str,
    ) -> StorageResult<Option<ShareLinkRecord>> {
        self.first(
            "SELECT * FROM share_link WHERE uid = (SELECT VALUE link_uid FROM share_view_token WHERE hash = $h)[0]",
            json!({ "h": hash }),
        )
        .await
    }

    /// Stores what a manager edits on a link (label, rights, expiry, pin), and nothing
    /// else: its state (paused, locked, failures, revoked) and its access warnings change
    /// only through the statements below, so an edit that read the link before a
    /// concurrent revoke, pause or warning can never undo it. Returns false when the link is revoked (or gone).
    pub async fn update_share_link(&self, link: &ShareLinkRecord) -> StorageResult<bool> {
        Ok(self
            .count(
                "UPDATE share_link SET label = $l.label, rights = $l.rights, expires_ms = $l.expires_ms, \
                 pinned = $l.pinned, attributes = $l.attributes, updated_ms = $l.updated_ms \
                 WHERE uid = $l.uid AND !revoked_ms RETURN AFTER",
                json!({ "l": link }),
            )
            .await?
            > 0)
    }

    /// Drops a link's access warnings raised at or before `up_to_ms` (acknowledged);
    /// any raised since stay.
    pub async fn clear_share_warnings(
        &self,
        uid: &vitrine_core::LinkId,
        up_to_ms: i64,
    ) -> StorageResult<()> {
        self.exec(
            "UPDATE share_link SET warnings = (warnings ?? [])[WHERE at_ms > $at], updated_ms = $now WHERE uid = $u",
            json!({ "u": uid, "at": up_to_ms, "now": crate::now_ms() }),
        )
        .await
    }

    /// Appends access warnings to links (link uid → warnings), leaving every other field
    /// as it is.
    pub async fn append_share_warnings(
        &self,
        warnings: &[(String, Vec<ShareWarning>)],
    ) -> StorageResult<()> {
        self.exec(
            &format!("BEGIN; {APPEND_WARNINGS} COMMIT;"),
            json!({ "warn": warnings, "at": crate::now_ms() }),
        )
        .await
    }

    /// Pauses or resumes a link that is not revoked; false when it is.
    pub async fn set_share_link_paused(
        &self,
        uid: &vitrine_core::LinkId,
        paused: bool,
        now: i64,
    ) -> StorageResult<bool> {
        Ok(self
            .count(
                "UPDATE share_link SET paused = $p, updated_ms = $now WHERE uid = $u AND !revoked_ms RETURN AFTER",
                json!({ "u": uid, "p": paused, "now": now }),
            )
            .await?
            > 0)
    }

    /// Lifts a link's lock and its failure count; false when the link is revoked.
    pub async fn unlock_share_link(
        &self,
        uid: &vitrine_core::LinkId,
        now: i64,
    ) -> StorageResult<bool> {
        Ok(self
            .count(
                "UPDATE share_link SET locked_ms = NONE, failures = 0, updated_ms = $now WHERE uid = $u AND !revoked_ms RETURN AFTER",
                json!({ "u": uid, "now": now }),
            )
            .await?
            > 0)
    }

    /// Revokes a link (a revoked link keeps its first revocation time).
    pub async fn revoke_share_link(
        &self,
        uid: &vitrine_core::LinkId,
        now: i64,
    ) -> StorageResult<()> {
        // Deliveries its recipients set up can never run again: they go with the link.
        self.exec(
            "BEGIN;
             UPDATE share_link SET revoked_ms = $now, updated_ms = $now WHERE uid = $u AND !revoked_ms;
             LET $mine = (SELECT VALUE uid FROM task WHERE recipient_uid IN
                 (SELECT VALUE uid FROM share_recipient WHERE link_uid = $u));
             DELETE task_run_project WHERE run_uid IN (SELECT VALUE uid FROM task_run WHERE task_uid IN $mine);
             DELETE task_run WHERE task_uid IN $mine;
             DELETE task WHERE uid IN $mine;
             COMMIT;",
            json!({ "u": uid, "now": now }),
        )
        .await
    }

    /// Links of one project, or of every project, uid-ordered.
    pub async fn share_links_page(
        &self,
        project_uid: Option<&str>,
        page: &PageRequest,
    ) -> StorageResult<Vec<ShareLinkRecord>> {
        self.rows(
            "SELECT * FROM share_link WHERE (!$p OR project_uid = $p OR $p IN projects) AND uid > $after ORDER BY uid LIMIT $n",
            json!({ "p": project_uid, "after": page.after.clone().unwrap_or_default(), "n": page.first }),
        )
        .await
    }

    /// Live links whose dashboard shows the project: listing it, or covering a folder of
    /// `folders` (the project's folder and its ancestors; the caller checks `recursive`).
    pub async fn dashboard_links_of(
        &self,
        project_uid: &vitrine_core::ProjectId,
        folders: &[vitrine_core::FolderId],
    ) -> StorageResult<Vec<ShareLinkRecord>> {
        self.rows(
            "SELECT * FROM share_link WHERE !revoked_ms AND content.dashboard = true \
             AND (project_uid = $p OR $p IN projects OR folder.uid IN $f)",
            json!({ "p": project_uid, "f": folders }),
        )
        .await
    }

    pub async fn share_links_of_report(
        &self,
        report_uid: &vitrine_core::ReportId,
    ) -> StorageResult<Vec<ShareLinkRecord>> {
        self.rows(
            "SELECT * FROM share_link WHERE report_uid = $r AND !revoked_ms",
            json!({ "r": report_uid }),
        )
        .await
    }

    /// Counts a wrong password and locks the link when it reaches `lock_at`, in one
    /// statement so concurrent guesses cannot skip the lock. Returns the link after.
    /// Counts a wrong password on a link and locks it once `lock_at` failures are counted
    /// (the `lock_at`-th failure locks). Failures are reset only by unlocking: a
    /// recipient's success must not clear what protects the other recipients.
    pub async fn share_link_failure(
        &self,
        uid: &vitrine_core::LinkId,
        lock_at: i64,
        now: i64,
    ) -> StorageResult<Option<ShareLinkRecord>> {
        // Two statements, each conditional on what it reads, instead of one SET whose
        // second clause would see the count from before the first.
        self.exec(
            "UPDATE share_link SET failures += 1 WHERE uid = $u",
            json!({ "u": uid }),
        )
        .await?;
        self.exec(
            "UPDATE share_link SET locked_ms = $now WHERE uid = $u AND failures >= $k AND !locked_ms",
            json!({ "u": uid, "k": lock_at, "now": now }),
        )
        .await?;
        self.share_link(uid).await
    }

    /// Adds accesses counted in memory since the last flush. Only reads of links and
    /// recipients leave the read cache: this runs once a second under view load, and the
    /// views' other reads (datasets, settings, filters) stay valid across it.
    pub async fn add_share_accesses(
        &self,
        links: &[(String, i64, i64)],
        recipients: &[(String, i64, i64)],
    ) -> StorageResult<()> {
        // Counts add up; the last access only moves forward, whichever node of a cluster
        // flushes its second of views last.
        self.exec_touching(
            "BEGIN; \
             FOR $a IN $ls { UPDATE share_link SET access_count += $a[1], last_access_ms = math::max([last_access_ms OR 0, $a[2]]) WHERE uid = $a[0]; }; \
             FOR $a IN $rs { UPDATE share_recipient SET access_count += $a[1], last_access_ms = math::max([last_access_ms OR 0, $a[2]]) WHERE uid = $a[0]; }; \
             COMMIT;",
            json!({ "ls": links, "rs": recipients }),
            &["share_link", "share_recipient"],
        )
        .await
    }

    // ---- recipients -----------------------------------------------------------------

    pub async fn insert_share_recipient(&self, r: &ShareRecipientRecord) -> StorageResult<()> {
        self.exec("CREATE share_recipient CONTENT $r", json!({ "r": r }))
            .await
            .map_err(|e| match e {
                StorageError::Conflict(_) => StorageError::Conflict(format!(
                    "{} is a recipient of this link already",
                    r.email
                )),
                other => other,
            })
    }

    pub async fn share_recipient(
        &self,
        uid: &vitrine_core::RecipientId,
    ) -> StorageResult<Option<ShareRecipientRecord>> {
        self.cached_first(
            "SELECT * FROM share_recipient WHERE uid = $u",
            json!({ "u": uid }),
        )
        .await
    }

    pub async fn share_recipient_by_token(
        &self,
        hash: &str,
    ) -> StorageResult<Option<ShareRecipientRecord>> {
        self.first(
            "SELECT * FROM share_recipient WHERE token_hash = $h",
            json!({ "h": hash }),
        )
        .await
    }

    pub async fn share_recipient_by_email(
        &self,
        link_uid: &vitrine_core::LinkId,
        email: &str,
    ) -> StorageResult<Option<ShareRecipientRecord>> {
        self.first(
            "SELECT * FROM share_recipient WHERE link_uid = $l AND email = $e",
            json!({ "l": link_uid, "e": email }),
        )
        .await
    }

    pub async fn share_recipients(
        &self,
        link_uid: &vitrine_core::LinkId,
    ) -> StorageResult<Vec<ShareRecipientRecord>> {
        self.rows(
            "SELECT * FROM share_recipient WHERE link_uid = $l ORDER BY uid",
            json!({ "l": link_uid }),
        )
        .await
    }

    /// Saves a change to a recipient, ends their share sessions and appends `audit`, in
    /// one transaction: a change is never without its audit row, and no session outlives
    /// a revocation. A revocation keeps the first revocation time and its choice for the
    /// deliveries, and applies that choice to the deliveries they set up (see
    /// [`crate::deliveries::SETTLE_DELIVERIES`]); any other change to a revoked recipient fails as
    /// `NotFound("recipient")` and writes nothing.
    pub async fn save_share_recipient(
        &self,
        r: &ShareRecipientRecord,
        audit: &NewAuditEvent,
    ) -> StorageResult<()> {
        let change = if r.revoked_ms.is_some() {
            "UPDATE share_recipient SET revoked_ms = $r.revoked_ms, \
             deliveries_on_revoke = $r.deliveries_on_revoke WHERE uid = $r.uid AND !revoked_ms;"
        } else {
            "LET $n = (UPDATE share_recipient SET name = $r.name, role = $r.role, \
             rights = $r.rights, token_hash = $r.token_hash, password_hash = $r.password_hash, \
             attributes = $r.attributes WHERE uid = $r.uid AND !revoked_ms RETURN AFTER);
             IF array::len($n) = 0 { THROW \"vitrine-gone: recipient\" };"
        };
        let settle = crate::deliveries::SETTLE_DELIVERIES;
        let sql = format!(
            "BEGIN; {change} \
             DELETE share_session WHERE link_uid = $r.link_uid AND recipient_uid = $r.uid; \
             {settle} CREATE audit_event CONTENT $audit; COMMIT;"
        );
        let now = crate::now_ms();
        let audit = audit.clone().into_record(now);
        self.exec(&sql, json!({ "r": r, "audit": audit, "now": now }))
            .await
    }

    /// Sets a first password only if none is set yet: two tabs racing to set it cannot
    /// overwrite each other. Returns whether this call set it.
    pub async fn set_recipient_password(
        &self,
        uid: &vitrine_core::RecipientId,
        hash: &str,
    ) -> StorageResult<bool> {
        Ok(self
            .count(
                "UPDATE share_recipient SET password_hash = $h WHERE uid = $u AND !password_hash RETURN AFTER",
                json!({ "u": uid, "h": hash }),
            )
            .await?
            == 1)
    }

    // ---- sessions -------------------------------------------------------------------

    pub async fn insert_share_session(&self, s: &ShareSessionRecord) -> StorageResult<()> {
        self.exec("CREATE share_session CONTENT $s", json!({ "s": s }))
            .await
    }

    pub async fn share_session(&self, hash: &str) -> StorageResult<Option<ShareSessionRecord>> {
        self.cached_first(
            "SELECT * FROM share_session WHERE hash = $h",
            json!({ "h": hash }),
        )
        .await
    }

    pub async fn sign_in_share_session(
        &self,
        hash: &str,
        recipient_uid: &vitrine_core::RecipientId,
    ) -> StorageResult<()> {
        self.exec(
            "UPDATE share_session SET signed_in = true, recipient_uid = $r WHERE hash = $h",
            json!({ "h": hash, "r": recipient_uid }),
        )
        .await
    }

    pub async fn delete_share_session(&self, hash: &str) -> StorageResult<()> {
        self.exec("DELETE share_session WHERE hash = $h", json!({ "h": hash }))
            .await
    }

    /// Ends every session of a link, or of one recipient on it.
    pub async fn delete_share_sessions(
        &self,
        link_uid: &vitrine_core::LinkId,
        recipient_uid: Option<&str>,
    ) -> StorageResult<()> {
        self.exec(
            "DELETE share_session WHERE link_uid = $l AND (!$r OR recipient_uid = $r)",
            json!({ "l": link_uid, "r": recipient_uid }),
        )
        .await
    }

    // ---- viewers' own copies --------------------------------------------------------

    pub async fn share_copy(
        &self,
        link_uid: &vitrine_core::LinkId,
        owner: &str,
    ) -> StorageResult<Option<ShareCopyRecord>> {
        self.cached_first(
            "SELECT * FROM share_copy WHERE link_uid = $l AND owner = $o",
            json!({ "l": link_uid, "o": owner }),
        )
        .await
    }

    pub async fn put_share_copy(&self, c: &ShareCopyRecord) -> StorageResult<()> {
        self.exec(
            "BEGIN; DELETE share_copy WHERE link_uid = $c.link_uid AND owner = $c.owner; CREATE share_copy CONTENT $c; COMMIT;",
            json!({ "c": c }),
        )
        .await
    }
}

#[cfg(test)]
#[path = "sharing_tests.rs"]
mod tests;
