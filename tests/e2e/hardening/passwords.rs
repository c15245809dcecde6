//! Password guessing: attempts are taken before hashing (a burst of concurrent guesses
//! cannot outrun the limit), the guesser is slowed and the owner elsewhere is not, a
//! client address comes from X-Forwarded-For only through a trusted proxy, one
//! recipient's success never reopens guessing of another's password, and a link locks
//! at exactly the configured count.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::sharing::{Visitor, invitation, page_of, share_world};
use crate::support::*;

/// The most checks that can reach the hash for one key within `elapsed`: the free ones,
/// then one more after each doubling delay (1 s, 2 s, 4 s, …) that has run out.
fn most_verified(free: usize, elapsed: std::time::Duration) -> usize {
    free + (elapsed.as_secs_f64() + 1.0).log2().floor() as usize
}

async fn login_from(s: &TestServer, address: &str, username: &str, password: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/auth/login", s.url))
        .header("x-forwarded-for", address)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn concurrent_guesses_are_counted_before_hashing_and_never_lock_out_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_full(
        &dir.path().join("data"),
        &[],
        &[("VITRINE_TRUSTED_PROXIES", "127.0.0.1")],
    )
    .await;
    let admin = s.admin().await;
    s.user(&admin, "victim").await;
    let attacker = "198.51.100.7";
    let guesses = (0..60).map(|i| {
        let s = &s;
        async move { login_from(s, attacker, "victim", &format!("guess number {i}")).await }
    });
    let burst = std::time::Instant::now();
    let results = join_all(guesses).await;
    let verified = results.iter().filter(|(st, _)| *st == 401).count();
    let limited = results.iter().filter(|(st, _)| *st == 429).count();
    assert_eq!(verified + limited, 60, "{results:?}");
    // Five free attempts per account and address; the rest were refused before Argon2
    // (on a slow machine a delay may run out during the burst and let one more through).
    let most = most_verified(5, burst.elapsed());
    assert!(
        verified <= most,
        "{verified} guesses were verified, at most {most} may be"
    );
    assert!(
        results
            .iter()
            .filter(|(st, _)| *st == 429)
            .all(|(_, b)| b["error"]["code"] == "RATE_LIMITED")
    );
    // Still limited for the attacker, even with the right password, while the first
    // delay (1 s after the fifth failure) runs...
    let (st, _) = login_from(&s, attacker, "victim", PASSWORD).await;
    if burst.elapsed() < std::time::Duration::from_secs(1) {
        assert_eq!(st, 429);
    }
    // ...while the owner, from elsewhere, signs in at once.
    let (st, body) = login_from(&s, "203.0.113.5", "victim", PASSWORD).await;
    assert_eq!(st, 200, "{body}");
    // A forwarded address the trusted proxy passes on is the key, not the proxy: other
    // clients behind the same proxy are not slowed by the attacker.
    let (st, body) = login_from(&s, "192.0.2.44", "victim", PASSWORD).await;
    assert_eq!(st, 200, "{body}");
}

#[tokio::test]
async fn forwarded_addresses_from_untrusted_peers_are_ignored() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    s.user(&admin, "victim").await;
    // A fresh X-Forwarded-For per guess would be a fresh key if it were believed.
    for i in 0..8 {
        login_from(&s, &format!("198.51.100.{i}"), "victim", "wrong password!!").await;
    }
    let (st, _) = login_from(&s, "203.0.113.9", "victim", "wrong password!!").await;
    assert_eq!(st, 429);
}

#[tokio::test]
async fn one_recipients_success_never_reopens_guessing_and_the_lock_comes_at_ten() {
    let sw = share_world().await;
    let s = sw.s();
    let (id, _, created) = sw
        .link(json!({"reportId": sw.report, "kind": "RECIPIENTS",
        "recipients": [
            {"name": "Ann Archer", "email": "ann@example.org", "role": "VIEWER"},
            {"name": "Bob Baker", "email": "bob@example.org", "role": "VIEWER"}
        ]}))
        .await;
    // Ann sets her password through her invitation.
    let ann = Visitor::new(s);
    ann.open(&invitation(&created, "ann@example.org")).await;
    let r = ann
        .post(
            &format!("{}/api/password", page_of(&id)),
            json!({"password": "Orchard#2026"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let bob = Visitor::new(s);
    bob.open(&invitation(&created, "bob@example.org")).await;
    let r = bob
        .post(
            &format!("{}/api/password", page_of(&id)),
            json!({"password": "Meadow#2026x"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let sign_in = |email: &'static str, password: String| {
        let v = Visitor::new(s);
        let id = id.clone();
        async move {
            v.post(
                &format!("{}/api/sign-in", page_of(&id)),
                json!({"email": email, "password": password}),
            )
            .await
        }
    };
    // Ann knows her own password and guesses Bob's, signing in between guesses to wipe
    // the count, as the old lock allowed.
    let mut statuses = Vec::new();
    let guessing = std::time::Instant::now();
    for i in 0..12 {
        let r = sign_in("bob@example.org", format!("Guess#{i}xyz")).await;
        statuses.push(r.status);
        let ok = sign_in("ann@example.org", "Orchard#2026".into()).await;
        assert!(
            ok.status == 200 || ok.status == 423,
            "ann: {} {}",
            ok.status,
            ok.text
        );
    }
    let verified = statuses.iter().filter(|s| **s == 401).count();
    let most = most_verified(5, guessing.elapsed());
    assert!(
        verified <= most,
        "Bob's password was tried {verified} times, at most {most} may be: {statuses:?}"
    );
    assert!(statuses.contains(&429), "{statuses:?}");

    // The link-wide count: guesses over fresh e-mails; the tenth failure locks.
    let before = sw.link_state(&id).await["failedPasswords"]
        .as_i64()
        .unwrap();
    let mut n = before;
    while n < 9 {
        let r = sign_in_fresh(s, &id, n).await;
        assert_eq!(r, 401, "failure {}", n + 1);
        n += 1;
    }
    assert_eq!(sw.link_state(&id).await["state"], "ACTIVE");
    assert_eq!(
        sign_in_fresh(s, &id, 100).await,
        423,
        "the tenth failure locks"
    );
    let st = sw.link_state(&id).await;
    assert_eq!(st["state"], "LOCKED");
    assert_eq!(st["failedPasswords"], 10);

    // Pausing a locked link wins: unlocking leaves it paused.
    assert_eq!(
        data(&sw.op("pauseShareLink", &id).await)["pauseShareLink"]["state"],
        "PAUSED"
    );
    assert_eq!(
        data(&sw.op("unlockShareLink", &id).await)["unlockShareLink"]["state"],
        "PAUSED"
    );
    let r = Visitor::new(s).view(&id, None).await;
    assert_eq!(
        r.status, "LINK_NOT_VALID",
        "a paused link must not open: {}",
        r.text
    );
}

async fn sign_in_fresh(s: &TestServer, id: &str, i: i64) -> u16 {
    Visitor::new(s)
        .post(
            &format!("{}/api/sign-in", page_of(id)),
            json!({"email": format!("nobody{i}@example.org"), "password": "Wrong#2026x"}),
        )
        .await
        .status
}
