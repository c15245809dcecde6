//! Invitation e-mails of a recipients link: each new recipient is mailed their personal
//! link; its managers resend one (a new token, mailed before it replaces the old, so a
//! failed send changes nothing); a recipient who lost theirs asks for a new one from the
//! link's sign-in page, which tells the managers. The ledger shows what became of each
//! ([`vitrine_storage::InvitationLog`]).

use vitrine_core::{AuditAction, ErrorCode, LinkKind, check_email};
use vitrine_storage::{NewAuditEvent, ShareLinkRecord, ShareRecipientRecord, now_ms};

use super::Sharing;
use crate::caller::{Caller, RequestMeta};
use crate::mail::Mail;
use crate::secrets::{new_token, token_hash};
use crate::{ApiError, ApiResult};

/// How long a recipient waits before another request for a new invitation reaches the
/// link's managers.
const REQUEST_GAP_MS: i64 = 3_600_000;

impl Sharing {
    /// The invitation mail of `rec`, whose personal token is `token`, from `sender`,
    /// for a link sharing `what`.
    fn invitation_mail(
        &self,
        what: &str,
        rec: &ShareRecipientRecord,
        token: &str,
        sender: &str,
    ) -> ApiResult<Mail> {
        let url = self.mailer.url(&format!("/s/{token}"))?;
        Ok(Mail {
            to: vec![rec.email.clone()],
            subject: format!("{sender} shared \u{201c}{what}\u{201d} with you"),
            body: format!(
                "Hello {},\n\n{sender} shared \u{201c}{what}\u{201d} with you on Vitrine:\n\n    {url}\n\nThe first time you open it you choose your own password; afterwards you sign in with this address and that password. The link is yours alone: please do not forward it.\n",
                rec.name
            ),
            attachments: Vec::new(),
            message_id: format!(
                "<invitation.{}.{}@vitrine>",
                rec.uid,
                &token_hash(token)[..16]
            ),
        })
    }

    /// What a link shares, as a mail names it: its label, else its report's or
    /// project's name.
    async fn shared_title(&self, link: &ShareLinkRecord) -> ApiResult<String> {
        if !link.label.is_empty() {
            return Ok(link.label.clone());
        }
        if let Some(r) = &link.report_uid
            && let Some(report) = self.store.report(r).await?
        {
            return Ok(report.name);
        }
        if let Some(f) = &link.folder {
            let folder = self.store.folder(&f.uid).await?;
            return Ok(folder.map_or_else(
                || "a folder".into(),
                |f| format!("the projects of {}", f.name),
            ));
        }
        if link.projects.len() > 1 {
            return Ok(format!("{} projects", link.projects.len()));
        }
        let project = self.store.project(&link.project_uid).await?;
        Ok(project.map(|p| p.name).unwrap_or_else(|| "a report".into()))
    }

    /// Mails new recipients their invitations, off the request path: the link exists
    /// whatever the mail server says, and each outcome lands in the ledger.
    pub(super) async fn send_invitations(
        &self,
        caller: &Caller,
        link: &ShareLinkRecord,
        invites: Vec<(ShareRecipientRecord, String)>,
    ) -> ApiResult<()> {
        if invites.is_empty() {
            return Ok(());
        }
        let what = self.shared_title(link).await?;
        let sender = &caller.user().display_name;
        let mails: Vec<_> = invites
            .into_iter()
            .map(|(rec, token)| {
                let mail = self.invitation_mail(&what, &rec, &token, sender);
                (rec, mail)
            })
            .collect();
        let (store, mailer, link_uid) = (self.store.clone(), self.mailer.clone(), link.uid.clone());
        tokio::spawn(async move {
            for (rec, mail) in mails {
                let sent = match mail {
                    Ok(mail) => mailer.send(mail).await,
                    Err(e) => Err(e),
                };
                let error = sent.as_ref().err().map(|e| e.message.as_str());
                if let Some(e) = error {
                    tracing::warn!(link = %link_uid, recipient = %rec.uid, error = %e, "invitation not sent");
                }
                let stored = store
                    .invitation_mailed(&rec.uid, &rec.token_hash, now_ms(), error)
                    .await;
                if let Err(e) = stored {
                    tracing::warn!(recipient = %rec.uid, error = %e, "invitation outcome not recorded");
                }
            }
        });
        Ok(())
    }

    /// Mails a recipient a new invitation (the link's managers). The old one stops
    /// working once the new one is sent; with `reset_password`, the recipient chooses a
    /// new password too. When the mail cannot be sent, nothing changes.
    pub async fn resend_invitation(
        &self,
        caller: &Caller,
        recipient_uid: &str,
        reset_password: bool,
    ) -> ApiResult<ShareRecipientRecord> {
        caller.require_write()?;
        let mut rec = self.live_recipient_for(caller, recipient_uid).await?;
        let link = self
            .store
            .share_link(&rec.link_uid)
            .await?
            .ok_or_else(|| ApiError::not_found("recipient"))?;
        let token = new_token("vtr");
        let what = self.shared_title(&link).await?;
        let mail = self.invitation_mail(&what, &rec, &token, &caller.user().display_name)?;
        self.mailer.send(mail).await?;
        rec.token_hash = token_hash(&token);
        if reset_password {
            rec.password_hash = None;
        }
        let action = AuditAction::ShareRecipientResend;
        self.save_recipient_ending_sessions(caller, &rec, action)
            .await?;
        self.store
            .invitation_mailed(&rec.uid, &rec.token_hash, now_ms(), None)
            .await?;
        Ok(self.store.share_recipient(&rec.uid).await?.unwrap_or(rec))
    }

    /// A visitor of a recipients link's sign-in page who lost their invitation (or
    /// their password) asks for a new one (`POST /s/v/LINK/api/invitation`). The answer
    /// never says whether the address is a recipient's; a real request is recorded (once
    /// an hour at most), audited and mailed to the link's creator, who resends it.
    pub async fn request_invitation(
        &self,
        link_uid: &str,
        email: &str,
        meta: &RequestMeta,
    ) -> ApiResult<()> {
        let link_uid = &vitrine_core::LinkId::from(link_uid);
        let address = meta.address.as_deref().unwrap_or("unknown");
        if let Err(r) = self.invitation_requests.reserve(&[address]).await {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!("too many requests; try again in {} s", r.seconds()),
            ));
        }
        let link = self.usable_link(link_uid).await?;
        if link.kind != LinkKind::Recipients {
            return Err(ApiError::invalid(
                "only a recipients link sends invitations",
            ));
        }
        let email =
            check_email(email).map_err(|e| ApiError::invalid(format!("email: {}", e.reason)))?;
        let Some(rec) = self
            .store
            .share_recipient_by_email(link_uid, &email)
            .await?
        else {
            return Ok(());
        };
        let now = now_ms();
        if !self
            .store
            .invitation_requested(&rec.uid, now, REQUEST_GAP_MS)
            .await?
        {
            return Ok(());
        }
        self.audit
            .append(NewAuditEvent {
                actor_uid: None,
                actor_name: format!("recipient:{email}"),
                action: AuditAction::ShareRecipientRequest,
                object: format!("share_link:{link_uid}"),
                outcome: "ok".into(),
                address: meta.address.clone(),
                detail: "asks for a new invitation".into(),
            })
            .await?;
        self.tell_managers(&link, &rec).await;
        Ok(())
    }

    /// Best effort: mails the link's creator that `rec` asked for a new invitation.
    async fn tell_managers(&self, link: &ShareLinkRecord, rec: &ShareRecipientRecord) {
        let creator = self.store.user(&link.created_by).await.ok().flatten();
        let Some(to) = creator.and_then(|u| u.email) else {
            return;
        };
        let what = self.shared_title(link).await.unwrap_or_default();
        let mail = Mail {
            to: vec![to],
            subject: format!(
                "{} asks for a new invitation to \u{201c}{what}\u{201d}",
                rec.name
            ),
            body: format!(
                "{} <{}> lost their invitation to \u{201c}{what}\u{201d} and asks for a new one. Resend it from the share ledger (resendShareInvitation).\n",
                rec.name, rec.email
            ),
            attachments: Vec::new(),
            message_id: format!("<invitation-request.{}.{}@vitrine>", rec.uid, now_ms()),
        };
        if let Err(e) = self.mailer.send(mail).await {
            tracing::warn!(link = %link.uid, error = %e.message, "invitation request not mailed");
        }
    }
}
