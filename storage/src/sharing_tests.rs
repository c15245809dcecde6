//! The share tables' writes that touch several records at once.

use super::*;
use crate::testing::{event, store};
use vitrine_core::{AuditAction, DeliveriesOnRevoke, RecipientRole};

fn recipient() -> ShareRecipientRecord {
    ShareRecipientRecord {
        uid: "r1".into(),
        link_uid: "l1".into(),
        name: "Ann".into(),
        email: "ann@example.com".into(),
        role: RecipientRole::Viewer,
        rights: None,
        token_hash: "t".into(),
        password_hash: None,
        created_ms: 1,
        revoked_ms: None,
        deliveries_on_revoke: None,
        last_access_ms: None,
        access_count: 0,
        attributes: None,
        invitation: Default::default(),
    }
}

async fn sessions_and_audits(store: &Store) -> (bool, usize) {
    let session = store.share_session("s1").await.unwrap();
    let page = PageRequest {
        after: None,
        first: 50,
    };
    let audits = store.audit_page(&Default::default(), &page).await.unwrap();
    (session.is_some(), audits.len())
}

/// A revocation stores the deliveries choice, ends the recipient's sessions and writes
/// its audit row together; a later change to the revoked recipient writes nothing at all.
#[tokio::test]
async fn revoking_a_recipient_ends_sessions_and_audits_in_one_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path()).await;
    let mut r = recipient();
    store.insert_share_recipient(&r).await.unwrap();
    store
        .insert_share_session(&ShareSessionRecord {
            hash: "s1".into(),
            link_uid: "l1".into(),
            recipient_uid: Some("r1".into()),
            signed_in: true,
            created_ms: 1,
            expires_ms: i64::MAX,
        })
        .await
        .unwrap();
    assert_eq!(sessions_and_audits(&store).await, (true, 0));

    r.revoked_ms = Some(5);
    r.deliveries_on_revoke = Some(DeliveriesOnRevoke::TransferToOwner);
    let revoke = event(AuditAction::ShareRecipientRevoke, "share_link:l1");
    store.save_share_recipient(&r, &revoke).await.unwrap();
    assert_eq!(sessions_and_audits(&store).await, (false, 1));
    let stored = store.share_recipient(&r.uid).await.unwrap().unwrap();
    assert_eq!(stored.revoked_ms, Some(5));
    assert_eq!(
        stored.deliveries_on_revoke,
        Some(DeliveriesOnRevoke::TransferToOwner)
    );

    // Renaming the revoked recipient (a stale read of it) is refused whole.
    let mut stale = recipient();
    stale.name = "Bea".into();
    let rename = event(AuditAction::ShareRecipientReissue, "share_link:l1");
    let err = store
        .save_share_recipient(&stale, &rename)
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::NotFound("recipient")), "{err}");
    assert_eq!(sessions_and_audits(&store).await, (false, 1));
    let stored = store.share_recipient(&r.uid).await.unwrap().unwrap();
    assert_eq!(stored.name, "Ann");
}

#[tokio::test]
async fn an_invitations_log_follows_its_current_token_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path()).await;
    let r = recipient();
    store.insert_share_recipient(&r).await.unwrap();
    let log = |s: &Store| {
        let s = s.clone();
        async move {
            let uid = vitrine_core::RecipientId::from("r1");
            s.share_recipient(&uid).await.unwrap().unwrap().invitation
        }
    };
    assert_eq!(log(&store).await, crate::InvitationLog::default());
    // A request, then no second one within the gap.
    assert!(store.invitation_requested(&r.uid, 10, 100).await.unwrap());
    assert!(!store.invitation_requested(&r.uid, 20, 100).await.unwrap());
    assert_eq!(log(&store).await.requested_ms, Some(10));
    // A failure, then a success for the current token: the request is answered.
    store
        .invitation_mailed(&r.uid, "t", 30, Some("no SMTP server"))
        .await
        .unwrap();
    assert_eq!(log(&store).await.error.as_deref(), Some("no SMTP server"));
    store
        .invitation_mailed(&r.uid, "t", 40, None)
        .await
        .unwrap();
    let l = log(&store).await;
    assert_eq!((l.sent_ms, l.error, l.requested_ms), (Some(40), None, None));
    // An old token's late outcome changes nothing.
    store
        .invitation_mailed(&r.uid, "old", 50, None)
        .await
        .unwrap();
    assert_eq!(log(&store).await.sent_ms, Some(40));
    store.invitation_opened(&r.uid, 60).await.unwrap();
    store.invitation_opened(&r.uid, 70).await.unwrap();
    assert_eq!(log(&store).await.opened_ms, Some(60));
}

#[tokio::test]
async fn a_user_invitation_is_accepted_once_before_it_expires_and_never_when_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path()).await;
    let invite = |hash: &str, expires_ms| crate::UserInvitationRecord {
        user_uid: "u1".into(),
        token_hash: hash.into(),
        created_ms: 1,
        expires_ms,
        sent_ms: None,
        error: None,
        accepted_ms: None,
    };
    store
        .put_user_invitation(&invite("old", 100))
        .await
        .unwrap();
    store
        .put_user_invitation(&invite("new", 100))
        .await
        .unwrap();
    let gone = |r: StorageResult<vitrine_core::UserId>| {
        matches!(r, Err(StorageError::NotFound("invitation")))
    };
    assert!(gone(store.accept_user_invitation("old", "h", 10).await));
    assert!(gone(store.accept_user_invitation("new", "h", 100).await));
    let uid = store.accept_user_invitation("new", "h", 10).await.unwrap();
    assert_eq!(uid.as_str(), "u1");
    assert!(gone(store.accept_user_invitation("new", "h2", 11).await));
    let u = vitrine_core::UserId::from("u1");
    let stored = store.user_invitation(&u).await.unwrap().unwrap();
    assert_eq!(stored.accepted_ms, Some(10));
}

fn delivery(uid: &str, recipient: &str) -> crate::TaskRecord {
    use vitrine_core::task::{Action, Notify, Target, TaskSpec, Trigger};
    crate::TaskRecord {
        uid: uid.into(),
        name: format!("delivery {uid}"),
        owner_uid: "owner".into(),
        run_as_token_uid: None,
        spec: TaskSpec {
            trigger: Trigger::Manual,
            target: Target::Project {
                project: "p".into(),
            },
            actions: vec![
                Action::WarmUp,
                Action::Deliver {
                    report: "r".into(),
                    recipients: vec!["ann@example.com".into()],
                    csv: false,
                    subject: None,
                },
            ],
            concurrency: None,
            max_attempts: 1,
            notify: Notify::default(),
        },
        paused: false,
        next_fire_ms: None,
        event_kind: None,
        created_ms: 1,
        updated_ms: 1,
        recipient_uid: Some(recipient.into()),
        transferred_from: None,
    }
}

/// A revocation settles the recipient's deliveries in its own transaction: cancelled, or
/// handed to the link's owner, who becomes their only addressee. A delivery saved for a
/// revoked recipient is refused.
#[tokio::test]
async fn revoking_a_recipient_settles_their_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path()).await;
    store
        .exec(
            "CREATE user CONTENT { uid: 'owner', username: 'olga', email: 'olga@example.com' };
             CREATE share_link CONTENT { uid: 'l1', created_by: 'owner' };",
            json!({}),
        )
        .await
        .unwrap();
    let mut ann = recipient();
    let mut bea = ShareRecipientRecord {
        uid: "r2".into(),
        email: "bea@example.com".into(),
        token_hash: "t2".into(),
        ..recipient()
    };
    store.insert_share_recipient(&ann).await.unwrap();
    store.insert_share_recipient(&bea).await.unwrap();
    store
        .insert_recipient_task(&delivery("t1", "r1"))
        .await
        .unwrap();
    store
        .insert_recipient_task(&delivery("t2", "r2"))
        .await
        .unwrap();

    ann.revoked_ms = Some(5);
    ann.deliveries_on_revoke = Some(DeliveriesOnRevoke::TransferToOwner);
    let revoke = event(AuditAction::ShareRecipientRevoke, "share_link:l1");
    store.save_share_recipient(&ann, &revoke).await.unwrap();
    let moved = store.task(&"t1".into()).await.unwrap().unwrap();
    assert_eq!(moved.recipient_uid, None);
    assert_eq!(moved.owner_uid, "owner");
    assert_eq!(moved.transferred_from.as_deref(), Some("ann@example.com"));
    match &moved.spec.actions[1] {
        vitrine_core::task::Action::Deliver { recipients, .. } => {
            assert_eq!(recipients, &vec!["olga@example.com".to_owned()])
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(moved.spec.actions[0], vitrine_core::task::Action::WarmUp);

    bea.revoked_ms = Some(6);
    bea.deliveries_on_revoke = Some(DeliveriesOnRevoke::Cancel);
    store.save_share_recipient(&bea, &revoke).await.unwrap();
    assert!(store.task(&"t2".into()).await.unwrap().is_none());
    assert!(store.task(&"t1".into()).await.unwrap().is_some());

    let err = store
        .insert_recipient_task(&delivery("t3", "r2"))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::NotFound("recipient")), "{err}");
    assert!(
        store
            .recipient_tasks(&"r2".into())
            .await
            .unwrap()
            .is_empty()
    );

    // Revoking the whole link takes its recipients' deliveries with it; a delivery
    // handed to the owner is hers and stays.
    let cy = ShareRecipientRecord {
        uid: "r3".into(),
        email: "cy@example.com".into(),
        token_hash: "t3".into(),
        ..recipient()
    };
    store.insert_share_recipient(&cy).await.unwrap();
    store
        .insert_recipient_task(&delivery("t4", "r3"))
        .await
        .unwrap();
    store.revoke_share_link(&"l1".into(), 7).await.unwrap();
    assert!(store.task(&"t4".into()).await.unwrap().is_none());
    assert!(store.task(&"t1".into()).await.unwrap().is_some());
}
