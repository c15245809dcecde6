//! Resource locations: admin-defined storage places (a local directory, an S3 bucket)
//! that blocks read from and write to by name. A block only reaches a location granted
//! to its project's folder, and only by a relative path that stays inside it.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use opendal::Operator;
use serde::{Deserialize, Serialize};
use vitrine_storage::{LocationGrant, LocationRecord};

use crate::{EngineError, EngineResult};

/// How a location is reached. Secrets (S3 keys) live only here and never leave the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LocationKind {
    /// A directory on the server's file system.
    Fs { root: String },
    /// An S3-compatible bucket.
    S3 {
        bucket: String,
        #[serde(default)]
        endpoint: Option<String>,
        #[serde(default = "default_region")]
        region: String,
        #[serde(default)]
        root: Option<String>,
        #[serde(default)]
        access_key_id: Option<String>,
        #[serde(default)]
        secret_access_key: Option<String>,
    },
}

fn default_region() -> String {
    "us-east-1".into()
}

impl LocationKind {
    pub fn parse(v: &serde_json::Value) -> EngineResult<LocationKind> {
        let k: LocationKind = serde_json::from_value(v.clone())
            .map_err(|e| EngineError::invalid("definition", vitrine_core::json_words(&e)))?;
        match &k {
            LocationKind::Fs { root } => {
                let p = Path::new(root);
                if !p.is_absolute() {
                    return Err(EngineError::invalid(
                        "definition.root",
                        "must be an absolute path",
                    ));
                }
                if !p.is_dir() {
                    return Err(EngineError::invalid(
                        "definition.root",
                        format!("`{root}` is not a directory on the server"),
                    ));
                }
            }
            LocationKind::S3 { bucket, .. } => {
                if bucket.is_empty() {
                    return Err(EngineError::invalid(
                        "definition.bucket",
                        "must not be empty",
                    ));
                }
            }
        }
        Ok(k)
    }

    /// The definition without secrets, as the API shows it.
    pub fn public(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("location kinds serialize");
        if let Some(o) = v.as_object_mut()
            && o.remove("secret_access_key").is_some()
        {
            o.insert("secret_access_key".into(), "********".into());
        }
        v
    }
}

/// A grant's access, as the engine calls it (the core type).
pub use vitrine_core::LocationAccess as Access;

/// What a source needs to know about a file before reading it: enough to tell whether it
/// changed since the last run without reading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fingerprint {
    pub size: u64,
    pub modified: Option<String>,
    pub etag: Option<String>,
}

/// An opened location.
pub struct Location {
    pub record: LocationRecord,
    kind: LocationKind,
    op: Operator,
}

impl Location {
    pub fn open(record: LocationRecord) -> EngineResult<Location> {
        // opendal's HTTP transport for object stores is installed process-wide, once.
        static HTTP: std::sync::Once = std::sync::Once::new();
        HTTP.call_once(opendal::install_default);
        let kind = LocationKind::parse(&record.definition)?;
        let op = match &kind {
            LocationKind::Fs { root } => {
                Operator::new(opendal::services::Fs::default().root(root))?
            }
            LocationKind::S3 {
                bucket,
                endpoint,
                region,
                root,
                access_key_id,
                secret_access_key,
            } => {
                let mut b = opendal::services::S3::default()
                    .bucket(bucket)
                    .region(region);
                if let Some(e) = endpoint {
                    b = b.endpoint(e);
                }
                if let Some(r) = root {
                    b = b.root(r);
                }
                if let (Some(k), Some(s)) = (access_key_id, secret_access_key) {
                    b = b.access_key_id(k).secret_access_key(s);
                }
                Operator::new(b)?
            }
        };
        Ok(Location { record, kind, op })
    }

    /// May a project whose folder chain (own folder first, then ancestors) is `folders`
    /// use this location for `access`? A write grant includes reading.
    pub fn granted(&self, folders: &[String], access: Access) -> bool {
        self.record.grants.iter().any(|g: &LocationGrant| {
            folders.iter().any(|f| *f == g.folder_uid) && g.access >= access
        })
    }

    pub async fn stat(&self, path: &str) -> EngineResult<Fingerprint> {
        let path = self.checked(path)?;
        let m = self
            .op
            .stat(&path)
            .await
            .map_err(|e| self.file_error(&path, e))?;
        Ok(Fingerprint {
            size: m.content_length(),
            modified: m.last_modified().map(|t| t.to_string()),
            etag: m.etag().map(str::to_owned),
        })
    }

    pub async fn read(&self, path: &str, max_bytes: u64) -> EngineResult<Bytes> {
        let path = self.checked(path)?;
        let m = self
            .op
            .stat(&path)
            .await
            .map_err(|e| self.file_error(&path, e))?;
        if m.content_length() > max_bytes {
            return Err(EngineError::Data(format!(
                "`{path}` is {} bytes; sources read at most {max_bytes}",
                m.content_length()
            )));
        }
        Ok(self
            .op
            .read(&path)
            .await
            .map_err(|e| self.file_error(&path, e))?
            .to_bytes())
    }

    pub async fn write(&self, path: &str, bytes: Vec<u8>) -> EngineResult<()> {
        let path = self.checked(path)?;
        self.op
            .write(&path, bytes)
            .await
            .map_err(|e| self.file_error(&path, e))?;
        Ok(())
    }

    fn file_error(&self, path: &str, e: opendal::Error) -> EngineError {
        let what = format!("`{path}` in location `{}`", self.record.name);
        crate::error::store_error(e, &what)
    }

    /// The path, once it is proven to stay inside the location: relative, no `..`, and on
    /// a file system no link that leads outside the root.
    fn checked(&self, path: &str) -> EngineResult<String> {
        let clean = check_relative(path).map_err(|why| {
            EngineError::Path(format!(
                "path `{path}` in location `{}` refused: {why}",
                self.record.name
            ))
        })?;
        if let LocationKind::Fs { root } = &self.kind {
            check_no_escape(Path::new(root), &clean).map_err(|why| {
                EngineError::Path(format!(
                    "path `{path}` in location `{}` refused: {why}",
                    self.record.name
                ))
            })?;
        }
        Ok(clean)
    }
}

/// Lexical rules every location shares.
pub fn check_relative(path: &str) -> Result<String, String> {
    if path.is_empty() {
        return Err("it is empty".into());
    }
    if path.chars().any(|c| c.is_control()) {
        return Err("it contains control characters".into());
    }
    if path.contains('\\') {
        return Err("use `/` to separate folders".into());
    }
    if path.starts_with('/') || path.as_bytes().get(1) == Some(&b':') {
        return Err("absolute paths are not allowed; give a path relative to the location".into());
    }
    for part in path.split('/') {
        match part {
            ".." => return Err("`..` would leave the location".into()),
            "." | "" => return Err("empty or `.` path segments are not allowed".into()),
            _ => {}
        }
    }
    Ok(path.to_owned())
}

/// Resolves links: the deepest existing ancestor of root/path must still be under root.
fn check_no_escape(root: &Path, rel: &str) -> Result<(), String> {
    let root = root
        .canonicalize()
        .map_err(|e| format!("the location root is unreachable: {e}"))?;
    let full = root.join(rel);
    // A file to be written (or a missing one to be read) does not exist yet: check the
    // deepest ancestor that does. A dangling link counts as existing and fails below.
    let mut probe: PathBuf = full;
    while std::fs::symlink_metadata(&probe).is_err() {
        if !probe.pop() {
            return Ok(());
        }
    }
    let real = probe
        .canonicalize()
        .map_err(|_| "it goes through a link that points nowhere".to_string())?;
    if !real.starts_with(&root) {
        return Err("it goes through a link that leads outside the location".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_rules() {
        assert!(check_relative("sales/2024.csv").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../b",
            "a//b",
            "./a",
            "C:/x",
            "a\\b",
            "a\0b",
        ] {
            assert!(check_relative(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[cfg(unix)]
    #[test]
    fn links_out_of_the_root_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.csv"), "a\n1\n").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("link")).unwrap();
        std::fs::write(root.path().join("ok.csv"), "a\n1\n").unwrap();
        assert!(check_no_escape(root.path(), "ok.csv").is_ok());
        let e = check_no_escape(root.path(), "link/secret.csv").unwrap_err();
        assert!(e.contains("outside the location"), "{e}");
        assert!(check_no_escape(root.path(), "link/new.csv").is_err());
        assert!(check_no_escape(root.path(), "sub/new.csv").is_ok());
    }
}
