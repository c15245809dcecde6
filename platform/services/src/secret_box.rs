//! Secrets the instance must read back, unlike passwords and tokens it only checks: a
//! working copy's link token to its origin on another instance. They are sealed with
//! AES-256-GCM before they reach the database, so a copy of the database (a backup, a
//! dump) holds no usable credential without the key.
//!
//! The key comes from `VITRINE_SECRET_KEY` (32 bytes, base64) when set — every node of a
//! cluster must be given the same one — or else from `secret.key` in the data directory,
//! made on first start with permissions 0600.
//!
//! Rotating the key: start every node with the new key in `VITRINE_SECRET_KEY` and the
//! old one in `VITRINE_SECRET_KEY_PREVIOUS` (several, comma-separated). Values sealed
//! under a previous key still open; `resealSecrets` (admins) seals every stored secret
//! again under the current key, after which the previous key can be dropped.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::TryRngCore;
use vitrine_core::ErrorCode;

use crate::{ApiError, ApiResult};

/// What sealed values start with; anything else was stored before sealing existed.
const SEALED: &str = "sealed:v1:";

pub struct SecretBox {
    cipher: Aes256Gcm,
    /// Keys values may still be sealed under, tried after the current one.
    previous: Vec<Aes256Gcm>,
}

fn cipher_of(key: &[u8]) -> ApiResult<Aes256Gcm> {
    if key.len() != 32 {
        return Err(key_error("must be 32 bytes"));
    }
    Aes256Gcm::new_from_slice(key).map_err(key_error)
}

fn key_error(why: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::Unavailable, format!("secret key: {why}"))
}

impl SecretBox {
    /// The box of this instance: the key from `key_base64`, or from (or made in)
    /// `data_dir/secret.key`.
    pub fn open(data_dir: &Path, key_base64: Option<&str>) -> ApiResult<SecretBox> {
        Self::open_rotated(data_dir, key_base64, &[])
    }

    /// As [`SecretBox::open`], also opening values sealed under `previous` keys (base64).
    pub fn open_rotated(
        data_dir: &Path,
        key_base64: Option<&str>,
        previous: &[String],
    ) -> ApiResult<SecretBox> {
        let key = match key_base64 {
            Some(k) => STANDARD.decode(k.trim()).map_err(key_error)?,
            None => {
                let path = data_dir.join("secret.key");
                match std::fs::read(&path) {
                    Ok(k) => k,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        let mut k = vec![0u8; 32];
                        rand::rngs::OsRng
                            .try_fill_bytes(&mut k)
                            .map_err(key_error)?;
                        write_private(&path, &k).map_err(key_error)?;
                        k
                    }
                    Err(e) => return Err(key_error(format!("{}: {e}", path.display()))),
                }
            }
        };
        let cipher = cipher_of(&key)?;
        let previous = previous
            .iter()
            .filter(|k| !k.trim().is_empty())
            .map(|k| {
                let bytes = STANDARD
                    .decode(k.trim())
                    .map_err(|e| key_error(format!("a previous key: {e}")))?;
                cipher_of(&bytes)
            })
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(SecretBox { cipher, previous })
    }

    /// `plain`, sealed under a fresh nonce.
    pub fn seal(&self, plain: &str) -> ApiResult<String> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng
            .try_fill_bytes(&mut nonce)
            .map_err(|e| ApiError::internal("nonce", e))?;
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plain.as_bytes())
            .map_err(|e| ApiError::internal("seal", e))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED}{}", STANDARD.encode(out)))
    }

    /// What `stored` holds: opened when sealed, as it is when stored before sealing.
    pub fn unseal(&self, stored: &str) -> ApiResult<String> {
        let Some(b64) = stored.strip_prefix(SEALED) else {
            return Ok(stored.to_owned());
        };
        let cannot = || {
            ApiError::new(
                ErrorCode::Unavailable,
                "a stored secret cannot be opened with this instance's secret key (was VITRINE_SECRET_KEY changed?)",
            )
        };
        let bytes = decoded(b64).ok_or_else(cannot)?;
        let plain = std::iter::once(&self.cipher)
            .chain(&self.previous)
            .find_map(|c| open_with(c, &bytes))
            .ok_or_else(cannot)?;
        String::from_utf8(plain).map_err(|_| cannot())
    }

    /// Whether `stored` must be sealed again to be under the current key: sealed under a
    /// previous key, stored before sealing existed, or unreadable (so that resealing
    /// reports it rather than skipping it).
    pub fn needs_reseal(&self, stored: &str) -> bool {
        let Some(b64) = stored.strip_prefix(SEALED) else {
            return true;
        };
        decoded(b64).is_none_or(|bytes| open_with(&self.cipher, &bytes).is_none())
    }
}

/// A sealed value's bytes (nonce, then ciphertext), if it has that shape.
fn decoded(b64: &str) -> Option<Vec<u8>> {
    STANDARD.decode(b64).ok().filter(|b| b.len() >= 12)
}

/// The plain bytes of a sealed value's `bytes`, if `cipher`'s key sealed them.
fn open_with(cipher: &Aes256Gcm, bytes: &[u8]) -> Option<Vec<u8>> {
    let (nonce, sealed) = bytes.split_at(12);
    cipher.decrypt(Nonce::from_slice(nonce), sealed).ok()
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = SecretBox::open(dir.path(), None).unwrap();
        let sealed = a.seal("vwc_token").unwrap();
        assert!(sealed.starts_with(SEALED) && !sealed.contains("vwc_token"));
        assert_ne!(
            sealed,
            a.seal("vwc_token").unwrap(),
            "a fresh nonce each time"
        );
        // The same data directory gives the same key back.
        let again = SecretBox::open(dir.path(), None).unwrap();
        assert_eq!(again.unseal(&sealed).unwrap(), "vwc_token");
        // Values stored before sealing read as they are.
        assert_eq!(again.unseal("vwc_plain").unwrap(), "vwc_plain");
        let other = SecretBox::open(dir.path(), Some(&STANDARD.encode([7u8; 32]))).unwrap();
        assert_eq!(
            other.unseal(&sealed).unwrap_err().code,
            ErrorCode::Unavailable
        );
        assert!(SecretBox::open(dir.path(), Some("c2hvcnQ=")).is_err());
    }

    #[test]
    fn a_rotated_key_still_opens_what_the_previous_one_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (STANDARD.encode([1u8; 32]), STANDARD.encode([2u8; 32]));
        let before = SecretBox::open(dir.path(), Some(&old)).unwrap();
        let sealed = before.seal("pg-password").unwrap();
        assert!(!before.needs_reseal(&sealed));
        let rotated =
            SecretBox::open_rotated(dir.path(), Some(&new), std::slice::from_ref(&old)).unwrap();
        assert_eq!(rotated.unseal(&sealed).unwrap(), "pg-password");
        assert!(rotated.needs_reseal(&sealed) && rotated.needs_reseal("plain"));
        let resealed = rotated.seal("pg-password").unwrap();
        assert!(!rotated.needs_reseal(&resealed));
        // Once the previous key is dropped, only what was sealed again opens.
        let after = SecretBox::open(dir.path(), Some(&new)).unwrap();
        assert_eq!(after.unseal(&resealed).unwrap(), "pg-password");
        assert_eq!(
            after.unseal(&sealed).unwrap_err().code,
            ErrorCode::Unavailable
        );
        assert!(SecretBox::open_rotated(dir.path(), Some(&new), &["c2hvcnQ=".into()]).is_err());
    }
}
