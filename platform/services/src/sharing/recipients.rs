//! Recipients of a recipients link as its managers handle them: add one, reissue an
//! invitation, revoke one (with the choice for their scheduled deliveries), list them.
//! Each recipient holds only an invitation token until they choose a password.

use vitrine_core::AuditAction;
use vitrine_core::{
    DeliveriesOnRevoke, ErrorCode, LinkKind, LinkRights, RecipientRole, check_email,
};
use vitrine_storage::{ShareRecipientRecord, new_uid, now_ms};

use super::Sharing;
use super::{Invitation, link_state};
use crate::caller::Caller;
use crate::directory::users::parse_attributes;
use crate::secrets::{new_token, token_hash};
use crate::{ApiError, ApiResult, Audit};

#[derive(Debug, Clone)]
pub struct NewRecipient {
    pub name: String,
    pub email: String,
    pub role: RecipientRole,
    pub rights: Option<LinkRights>,
    /// Their own attribute values for access filters; the link's when absent.
    pub attributes: Option<super::AttributeInput>,
}

pub(super) fn new_recipient(
    link_uid: &vitrine_core::LinkId,
    r: &NewRecipient,
    i: usize,
) -> ApiResult<(ShareRecipientRecord, String)> {
    let name = vitrine_core::Name::parse("name", &r.name)
        .map_err(|e| ApiError::invalid(format!("recipients[{i}].name: {}", e.reason)))?;
    let email = check_email(&r.email)
        .map_err(|e| ApiError::invalid(format!("recipients[{i}].email: {}", e.reason)))?;
    let attributes = match r.attributes.clone() {
        Some(a) => Some(parse_attributes(&format!("recipients[{i}].attributes"), a)?),
        None => None,
    };
    let token = new_token("vtr");
    Ok((
        ShareRecipientRecord {
            uid: new_uid().into(),
            link_uid: link_uid.into(),
            name: name.into_inner(),
            email,
            role: r.role,
            rights: r.rights,
            token_hash: token_hash(&token),
            password_hash: None,
            created_ms: now_ms(),
            revoked_ms: None,
            deliveries_on_revoke: None,
            last_access_ms: None,
            access_count: 0,
            attributes,
            invitation: Default::default(),
        },
        token,
    ))
}

impl Sharing {
    pub async fn add_share_recipient(
        &self,
        caller: &Caller,
        link_uid: &str,
        new: NewRecipient,
    ) -> ApiResult<Invitation> {
        let link_uid = &vitrine_core::LinkId::from(link_uid);
        caller.require_write()?;
        let link = self.managed_link(caller, link_uid).await?;
        if link.kind != LinkKind::Recipients {
            return Err(ApiError::invalid(
                "linkId: only a recipients link has recipients",
            ));
        }
        if link_state(&link, now_ms()).is_final() {
            return Err(ApiError::new(
                ErrorCode::LinkNotValid,
                "this link is no longer valid",
            ));
        }
        let (rec, token) = new_recipient(link_uid, &new, 0)
            .map_err(|e| ApiError::new(e.code, e.message.replace("recipients[0].", "")))?;
        self.store.insert_share_recipient(&rec).await?;
        let invite = vec![(rec.clone(), token.clone())];
        self.send_invitations(caller, &link, invite).await?;
        self.audit
            .record(
                caller,
                AuditAction::ShareRecipientAdd,
                &format!("share_link:{link_uid}"),
                "ok",
                &rec.email,
            )
            .await?;
        Ok(Invitation {
            recipient: Some(rec),
            path: format!("/s/{token}"),
        })
    }

    /// A fresh invitation for a recipient who lost theirs or forgot their password: the
    /// old invitation stops working and the password is cleared, to be set again.
    pub async fn reissue_invitation(
        &self,
        caller: &Caller,
        recipient_uid: &str,
    ) -> ApiResult<Invitation> {
        caller.require_write()?;
        let mut rec = self.live_recipient_for(caller, recipient_uid).await?;
        let token = new_token("vtr");
        rec.token_hash = token_hash(&token);
        rec.password_hash = None;
        self.save_recipient_ending_sessions(caller, &rec, AuditAction::ShareRecipientReissue)
            .await?;
        Ok(Invitation {
            recipient: Some(rec),
            path: format!("/s/{token}"),
        })
    }

    /// Stores a changed recipient, ends their sessions (a new invitation or a revocation
    /// must not leave an old session open) and audits `action`, in one transaction.
    pub(super) async fn save_recipient_ending_sessions(
        &self,
        caller: &Caller,
        rec: &ShareRecipientRecord,
        action: AuditAction,
    ) -> ApiResult<()> {
        let object = format!("share_link:{}", rec.link_uid);
        let audit = Audit::event(caller, action, &object, &rec.email);
        match self.store.save_share_recipient(rec, &audit).await {
            Err(vitrine_storage::StorageError::NotFound("recipient")) => Err(ApiError::new(
                ErrorCode::LinkNotValid,
                "this recipient is revoked; add them again",
            )),
            other => Ok(other?),
        }
    }

    /// A recipient of a link the caller manages, who is not revoked.
    pub(super) async fn live_recipient_for(
        &self,
        caller: &Caller,
        recipient_uid: &str,
    ) -> ApiResult<ShareRecipientRecord> {
        let uid = vitrine_core::RecipientId::from(recipient_uid);
        let rec = self.recipient_for(caller, &uid).await?;
        if rec.revoked_ms.is_some() {
            return Err(ApiError::new(
                ErrorCode::LinkNotValid,
                "this recipient is revoked; add them again",
            ));
        }
        Ok(rec)
    }

    pub(super) async fn recipient_for(
        &self,
        caller: &Caller,
        recipient_uid: &vitrine_core::RecipientId,
    ) -> ApiResult<ShareRecipientRecord> {
        let rec = self
            .store
            .share_recipient(recipient_uid)
            .await?
            .ok_or_else(|| ApiError::not_found("recipient"))?;
        self.managed_link(caller, &rec.link_uid)
            .await
            .map_err(|e| match e.code {
                ErrorCode::NotFound => ApiError::not_found("recipient"),
                _ => e,
            })?;
        Ok(rec)
    }

    /// Revokes one recipient: their sessions end now; their scheduled deliveries are
    /// cancelled or handed to the link's owner, as the caller chooses (the scheduler reads
    /// the stored choice).
    pub async fn revoke_share_recipient(
        &self,
        caller: &Caller,
        recipient_uid: &str,
        deliveries: DeliveriesOnRevoke,
    ) -> ApiResult<ShareRecipientRecord> {
        let recipient_uid = &vitrine_core::RecipientId::from(recipient_uid);
        caller.require_write()?;
        let mut rec = self.recipient_for(caller, recipient_uid).await?;
        let scheduled = self.store.recipient_tasks(recipient_uid).await?.len();
        if deliveries == DeliveriesOnRevoke::TransferToOwner && scheduled > 0 {
            self.check_owner_address(&rec).await?;
        }
        rec.revoked_ms.get_or_insert(now_ms());
        rec.deliveries_on_revoke = Some(deliveries);
        let object = format!("share_link:{}", rec.link_uid);
        let detail = format!(
            "{} ({scheduled} scheduled deliveries {})",
            rec.email,
            match deliveries {
                DeliveriesOnRevoke::Cancel => "cancelled",
                DeliveriesOnRevoke::TransferToOwner => "transferred to the link's owner",
            }
        );
        let audit = Audit::event(caller, AuditAction::ShareRecipientRevoke, &object, &detail);
        match self.store.save_share_recipient(&rec, &audit).await {
            Err(vitrine_storage::StorageError::NotFound("owner address")) => {
                return Err(no_owner_address());
            }
            other => other?,
        }
        Ok(rec)
    }

    /// The link's owner must have an address for a revoked recipient's deliveries to
    /// go to.
    async fn check_owner_address(&self, rec: &ShareRecipientRecord) -> ApiResult<()> {
        let link = self.store.share_link(&rec.link_uid).await?;
        let owner = match link {
            Some(l) => self.store.user(&l.created_by).await?,
            None => None,
        };
        match owner.and_then(|u| u.email) {
            Some(_) => Ok(()),
            None => Err(no_owner_address()),
        }
    }

    pub async fn share_recipients_of(
        &self,
        link_uid: &str,
    ) -> ApiResult<Vec<ShareRecipientRecord>> {
        let link_uid = &vitrine_core::LinkId::from(link_uid);
        Ok(self.store.share_recipients(link_uid).await?)
    }
}

fn no_owner_address() -> ApiError {
    ApiError::invalid(
        "deliveries: the link's owner has no e-mail address to receive the recipient's deliveries; choose CANCEL, or give the owner an address first",
    )
}
