//! Tokens and password hashes.
//!
//! Tokens carry 256 bits from the operating system's CSPRNG and are stored only as
//! SHA-256 digests (they are random, so a fast hash is enough). Passwords use Argon2id at
//! OWASP's parameters (19 MiB, t=2, p=1); a hash costs ≈20 ms and 19 MiB, so hashing runs
//! on threads of its own, one per core, behind a semaphore of the same size. Those threads
//! run at a lower scheduling priority (nice 10 on Linux): a flood of password guesses then
//! takes only the CPU that requests leave idle, and views keep their latency.

use std::sync::Arc;
use std::sync::mpsc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::{ApiError, ApiResult};

/// A new random token with a readable prefix (`vit_…`, `vts_…`).
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .expect("operating system random source failed");
    format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct PasswordHasherPool {
    permits: Arc<Semaphore>,
    /// The hashing threads' queue; at most `permits` jobs wait in it. The threads end
    /// when the last clone of the pool is dropped.
    jobs: mpsc::Sender<Job>,
}

impl PasswordHasherPool {
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(parking_lot::Mutex::new(queue));
        for i in 0..cores {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("vitrine-hash-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = queue.lock().recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => break,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        PasswordHasherPool {
            permits: Arc::new(Semaphore::new(cores)),
            jobs,
        }
    }

    /// Runs `f` on a hashing thread once a permit is free.
    async fn run<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> ApiResult<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| ApiError::internal(what, e))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|e| ApiError::internal(what, e))?;
        rx.await.map_err(|e| ApiError::internal(what, e))
    }

    pub async fn hash(&self, password: &str) -> ApiResult<String> {
        let password = password.to_owned();
        self.run("hash", move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
        })
        .await?
        .map_err(|e| ApiError::internal("hash", e))
    }

    /// Verifies against a stored PHC string. When there is no stored hash (unknown user),
    /// a dummy verification still runs so timing does not reveal whether the user exists.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> ApiResult<bool> {
        let password = password.to_owned();
        let stored = stored.map(str::to_owned);
        self.run("verify", move || {
            let dummy;
            let phc = match &stored {
                Some(s) => s.as_str(),
                None => {
                    dummy = argon2()
                        .hash_password(b"timing-equaliser", &SaltString::generate(&mut OsRng))
                        .map(|h| h.to_string())
                        .unwrap_or_default();
                    dummy.as_str()
                }
            };
            let ok = PasswordHash::new(phc)
                .map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
                .unwrap_or(false);
            ok && stored.is_some()
        })
        .await
    }
}

/// Lowers the calling thread's scheduling priority. On Linux a nice value belongs to a
/// thread, so `setpriority(PRIO_PROCESS, 0, …)` reaches only the calling thread; elsewhere
/// it would reach the whole process, so nothing is done.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn lower_priority() {
    // SAFETY: setpriority takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
    if rc != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "cannot lower the priority of a password hashing thread"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

impl Default for PasswordHasherPool {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = new_token("vit");
        assert!(a.starts_with("vit_") && a.len() >= 4 + 43);
        assert_ne!(a, new_token("vit"));
        assert_eq!(token_hash(&a).len(), 64);
    }

    #[tokio::test]
    async fn argon2id_round_trip() {
        let pool = PasswordHasherPool::new();
        let h = pool.hash("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            pool.verify("correct horse battery", Some(&h))
                .await
                .unwrap()
        );
        assert!(!pool.verify("wrong horse battery", Some(&h)).await.unwrap());
        assert!(!pool.verify("anything", None).await.unwrap());
    }
}
