//! A provider that answers what an attacker would: forged, expired, misaddressed and
//! unsigned ID tokens, replayed and missing state, unknown keys, and no answer in time.
//! Each is refused with `SIGN_IN_REFUSED` (or `UNAVAILABLE` for the slow provider) and a
//! message naming what was wrong, and none of them creates a user. Keys rotated at the
//! provider are picked up on the next sign-in that uses one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use poem::web::{Data, Json};
use poem::{EndpointExt, Route, get, handler, post};
use rsa::RsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use std::sync::Mutex;

use super::{SECRET, config_file};
use crate::support::*;

pub(super) const KEY1: &str = include_str!("key1.pem");
const KEY2: &str = include_str!("key2.pem");

pub(super) fn key(pem: &str) -> RsaPrivateKey {
    RsaPrivateKey::from_pkcs8_pem(pem).unwrap()
}

fn jwk(k: &RsaPrivateKey, kid: &str) -> Value {
    json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
        "n": B64.encode(k.n().to_bytes_be()), "e": B64.encode(k.e().to_bytes_be())})
}

fn b64json(v: &Value) -> String {
    B64.encode(v.to_string())
}

/// `header.claims` signed with RS256 by `k`.
pub(super) fn rs256(k: &RsaPrivateKey, kid: &str, claims: &Value) -> String {
    let head = b64json(&json!({"alg": "RS256", "typ": "JWT", "kid": kid}));
    let input = format!("{head}.{}", b64json(claims));
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(k.clone());
    let sig = signer.sign(input.as_bytes()).to_bytes();
    format!("{input}.{}", B64.encode(sig))
}

/// What the test tells the provider to answer next.
#[derive(Default)]
pub(super) struct Script {
    pub id_token: Option<String>,
    delay: Option<Duration>,
    keys: Vec<Value>,
}

#[derive(Clone)]
pub(super) struct Hostile {
    pub issuer: Arc<Mutex<String>>,
    pub script: Arc<Mutex<Script>>,
    key_fetches: Arc<AtomicUsize>,
}

#[handler]
fn discovery(h: Data<&Hostile>) -> Json<Value> {
    let i = h.issuer.lock().unwrap().clone();
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

#[handler]
fn jwks(h: Data<&Hostile>) -> Json<Value> {
    h.key_fetches.fetch_add(1, Ordering::SeqCst);
    Json(json!({ "keys": h.script.lock().unwrap().keys.clone() }))
}

#[handler]
async fn token(h: Data<&Hostile>) -> Json<Value> {
    let (delay, id_token) = {
        let s = h.script.lock().unwrap();
        (s.delay, s.id_token.clone())
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    Json(json!({"access_token": "opaque", "token_type": "Bearer", "id_token": id_token}))
}

pub(super) async fn start_hostile() -> Hostile {
    let h = Hostile {
        issuer: Arc::default(),
        script: Arc::default(),
        key_fetches: Arc::default(),
    };
    h.script.lock().unwrap().keys = vec![jwk(&key(KEY1), "k1")];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    *h.issuer.lock().unwrap() = format!("http://{}", listener.local_addr().unwrap());
    let app = Route::new()
        .at("/.well-known/openid-configuration", get(discovery))
        .at("/jwks", get(jwks))
        .at("/token", post(token))
        .data(h.clone());
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    h
}

/// A sign-in's start: the state and nonce Vitrine sent to the provider.
pub(super) async fn begin(s: &TestServer, client: &reqwest::Client) -> (String, String) {
    let r = client
        .get(format!("{}/auth/oidc/test/start?return_to=/", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let to = reqwest::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let q = |k: &str| {
        to.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    assert!(
        to.query_pairs()
            .any(|(k, v)| k == "code_challenge_method" && v == "S256")
    );
    (q("state"), q("nonce"))
}

pub(super) async fn callback(
    s: &TestServer,
    client: &reqwest::Client,
    query: &str,
) -> (u16, String) {
    let r = client
        .get(format!("{}/auth/oidc/test/callback?{query}", s.url))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A server whose provider `test` is a fresh hostile provider: `auth` lines go into
/// `[auth]`, `extra` lines into the provider's block.
pub(super) struct HostileWorld {
    pub h: Hostile,
    pub issuer: String,
    pub s: TestServer,
    /// The server's data directory and config file, to start it again.
    pub dir: std::path::PathBuf,
    pub config: String,
    _conf: tempfile::TempDir,
}

pub(super) async fn hostile_world(auth: &str, extra: &str) -> HostileWorld {
    let h = start_hostile().await;
    let issuer = h.issuer.lock().unwrap().clone();
    let conf = tempfile::tempdir().unwrap();
    let config = config_file(conf.path(), &issuer, auth, extra);
    let dir = conf.path().join("data");
    let s = TestServer::start_full(&dir, &["--config", &config], &ENV).await;
    HostileWorld {
        h,
        issuer,
        s,
        dir,
        config,
        _conf: conf,
    }
}

/// The client secret, as every test server of these tests is given it.
pub(super) const ENV: [(&str, &str); 1] = [("VITRINE_TEST_OIDC_SECRET", SECRET)];

/// Signs `subject` in through the hostile provider in `client`, with a valid ID token
/// naming `username`; answers the callback's status and page.
pub(super) async fn sign_in_as(
    w: &HostileWorld,
    client: &reqwest::Client,
    subject: &str,
    username: &str,
) -> (u16, String) {
    let (state, nonce) = begin(&w.s, client).await;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"iss": w.issuer, "aud": "vitrine", "sub": subject, "iat": now,
        "exp": now + 300, "nonce": nonce, "preferred_username": username});
    w.h.script.lock().unwrap().id_token = Some(rs256(&key(KEY1), "k1", &claims));
    callback(&w.s, client, &format!("code=c&state={state}")).await
}

#[tokio::test]
async fn forged_replayed_and_slow_answers_are_refused_and_create_nothing() {
    let w = hostile_world("", "timeout_secs = 1\nkey_refetch_secs = 0").await;
    let (h, issuer, s) = (&w.h, w.issuer.clone(), &w.s);
    let admin = s.admin().await;
    let k1 = key(KEY1);
    let now = chrono::Utc::now().timestamp();
    let claims = move |nonce: &str| {
        json!({"iss": issuer, "aud": "vitrine", "sub": "mallory-1", "iat": now, "exp": now + 300,
            "nonce": nonce, "email": "m@example.com", "preferred_username": "mallory"})
    };
    // Each case: what the provider answers, given the nonce; what the refusal says.
    type Forge<'a> = Box<dyn Fn(&str) -> String + 'a>;
    let with = |f: fn(&mut Value)| -> Forge<'_> {
        let k1 = k1.clone();
        let claims = claims.clone();
        Box::new(move |n: &str| {
            let mut c = claims(n);
            f(&mut c);
            rs256(&k1, "k1", &c)
        })
    };
    let public_pem = {
        use rsa::pkcs8::EncodePublicKey;
        k1.to_public_key()
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap()
    };
    let cases: Vec<(&str, Forge<'_>, &str)> = vec![
        (
            "wrong issuer",
            with(|c| c["iss"] = json!("http://127.0.0.1:1")),
            "issuer",
        ),
        (
            "wrong audience",
            with(|c| c["aud"] = json!("someone-else")),
            "audience",
        ),
        (
            "bad nonce",
            with(|c| c["nonce"] = json!("guessed")),
            "nonce",
        ),
        (
            "expired",
            with(|c| {
                let past = c["iat"].as_i64().unwrap() - 600;
                c["exp"] = json!(past);
                c["iat"] = json!(past - 300);
            }),
            "expired",
        ),
        (
            "alg none",
            Box::new({
                let claims = claims.clone();
                move |n: &str| {
                    format!(
                        "{}.{}.",
                        b64json(&json!({"alg": "none", "typ": "JWT"})),
                        b64json(&claims(n))
                    )
                }
            }),
            "not valid",
        ),
        (
            "HS256 keyed with the public key",
            Box::new({
                let claims = claims.clone();
                move |n: &str| {
                    use hmac::Mac;
                    let head = b64json(&json!({"alg": "HS256", "typ": "JWT", "kid": "k1"}));
                    let input = format!("{head}.{}", b64json(&claims(n)));
                    let mut mac =
                        hmac::Hmac::<sha2::Sha256>::new_from_slice(public_pem.as_bytes()).unwrap();
                    mac.update(input.as_bytes());
                    format!("{input}.{}", B64.encode(mac.finalize().into_bytes()))
                }
            }),
            "not valid",
        ),
        (
            "unknown key id",
            {
                let k2 = key(KEY2);
                let claims = claims.clone();
                Box::new(move |n: &str| rs256(&k2, "k2", &claims(n)))
            },
            "not valid",
        ),
    ];
    let client = TestServer::client();
    for (what, forge, says) in &cases {
        let (state, nonce) = begin(s, &client).await;
        h.script.lock().unwrap().id_token = Some(forge(&nonce));
        let fetched = h.key_fetches.load(Ordering::SeqCst);
        let (status, page) = callback(s, &client, &format!("code=c&state={state}")).await;
        assert_eq!(status, 401, "{what}: {page}");
        assert!(page.contains("SIGN_IN_REFUSED"), "{what}: {page}");
        assert!(page.contains(says), "{what}: `{says}` not in {page}");
        if *what == "unknown key id" {
            // The keys were fetched again once (the provider may have rotated them).
            assert_eq!(h.key_fetches.load(Ordering::SeqCst), fetched + 1, "{what}");
        }
    }

    // The callback's state must be the one this browser started with, and once only.
    let (state, nonce) = begin(s, &client).await;
    let (status, page) = callback(s, &client, "code=c").await;
    assert_eq!(status, 401, "{page}");
    assert!(page.contains("no code or no state"), "{page}");
    let stranger = TestServer::client();
    let (status, page) = callback(s, &stranger, &format!("code=c&state={state}")).await;
    assert_eq!(status, 401, "{page}");
    assert!(page.contains("not started in this browser"), "{page}");
    h.script.lock().unwrap().id_token = Some(rs256(&k1, "k1", &claims(&nonce)));
    let (status, page) = callback(s, &client, &format!("code=c&state={state}")).await;
    assert_eq!(status, 401, "a state the cookie no longer holds: {page}");

    // A real sign-in works, once: replaying its callback (same code, same state) fails.
    let (state, nonce) = begin(s, &client).await;
    h.script.lock().unwrap().id_token = Some(rs256(&k1, "k1", &claims(&nonce)));
    let query = format!("code=c&state={state}");
    let (status, page) = callback(s, &client, &query).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Signed in as mallory"), "{page}");
    let replay = TestServer::client();
    let _ = begin(s, &replay).await;
    let cookie_state = state.clone();
    let (status, page) = replay
        .get(format!("{}/auth/oidc/test/callback?{query}", s.url))
        .header("cookie", format!("vitrine_oidc_state={cookie_state}"))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    let page = page.text().await.unwrap();
    assert_eq!(status, 401, "{page}");
    assert!(page.contains("already used"), "{page}");

    // Keys rotated at the provider: a token signed by the new key is taken.
    h.script.lock().unwrap().keys.push(jwk(&key(KEY2), "k2"));
    let (state, nonce) = begin(s, &client).await;
    h.script.lock().unwrap().id_token = Some(rs256(&key(KEY2), "k2", &claims(&nonce)));
    let (status, page) = callback(s, &client, &format!("code=c&state={state}")).await;
    assert_eq!(status, 200, "after rotation: {page}");

    // A provider that does not answer in time.
    let (state, nonce) = begin(s, &client).await;
    {
        let mut script = h.script.lock().unwrap();
        script.id_token = Some(rs256(&k1, "k1", &claims(&nonce)));
        script.delay = Some(Duration::from_secs(3));
    }
    let (status, page) = callback(s, &client, &format!("code=c&state={state}")).await;
    assert_eq!(status, 503, "{page}");
    assert!(page.contains("did not answer within 1 s"), "{page}");

    // Nothing was created but the one user who signed in properly (twice).
    let r = s
        .gql(
            &admin.auth,
            "{users{edges{node{username issuer}}}}",
            json!({}),
        )
        .await;
    let users: Vec<String> = data(&r)["users"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["username"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(users.len(), 2, "{users:?}");
    assert!(users.contains(&"mallory".to_owned()), "{users:?}");
    // Every refusal is in the audit log with its reason.
    let r = s
        .gql(
            &admin.auth,
            "{auditEvents(first:100, filter:{actionPrefix:\"auth.login\"}){edges{node{actorName outcome detail}}}}",
            json!({}),
        )
        .await;
    let refused = data(&r)["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["actorName"] == "oidc:test" && e["node"]["outcome"] == "refused")
        .count();
    assert!(refused >= cases.len() + 2, "{refused} refusals audited");
}
