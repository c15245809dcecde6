//! Secrets the instance must read back, unlike passwords and tokens it only checks: a
//! working copy's link token to its origin on another instance. They are sealed with
//! AES-256-GCM before they reach the database, so a copy of the database (a backup, a
//! dump) holds no usable credential without the key.
//!
//! The key comes from `VITRINE_SECRET_KEY` (32 bytes, base64) when set — every node of a
//! cluster must be given the same one — or else from `secret.key` in the data directory,
//! made on first start with permissions 0600.

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
}

fn key_error(why: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::Unavailable, format!("secret key: {why}"))
}

impl SecretBox {
    /// The box of this instance: the key from `key_base64`, or from (or made in)
    /// `data_dir/secret.key`.
    pub fn open(data_dir: &Path, key_base64: Option<&str>) -> ApiResult<SecretBox> {
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
        if key.len() != 32 {
            return Err(key_error("must be 32 bytes"));
        }
        let cipher = Aes256Gcm::new_from_slice(&key).map_err(key_error)?;
        Ok(SecretBox { cipher })
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
        let bytes = STANDARD.decode(b64).map_err(|_| cannot())?;
        if bytes.len() < 12 {
            return Err(cannot());
        }
        let (nonce, sealed) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| cannot())?;
        String::from_utf8(plain).map_err(|_| cannot())
    }
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
}
