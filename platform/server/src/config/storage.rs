//! `[storage]`, `[artifacts]` and `[cluster]`: where the records, the artifacts and what
//! the nodes of a cluster share live. The defaults keep everything in the data directory
//! of one process; a cluster points every node at one SurrealDB server, one object store
//! and one Redis.

use std::path::PathBuf;

use serde::Deserialize;
use vitrine_api::services::config::{
    ArtifactBackend, AuthLevel, DatabaseConfig, DatabaseCredentials, S3Artifacts,
};

use super::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    /// `surrealkv://PATH` (embedded) or `ws://HOST:PORT` / `wss://HOST:PORT` (a SurrealDB
    /// server). Empty: embedded under `data_dir/db`.
    pub database_url: Option<String>,
    /// The namespace and database on the server.
    pub namespace: String,
    pub database: String,
    /// The server user Vitrine signs in as; unset: no sign-in (an open server).
    pub user: Option<String>,
    /// Where `user` is defined: `root`, `namespace` or `database`.
    pub auth_level: String,
    /// A file holding the password (a mounted secret). The password itself is never in
    /// this file: `VITRINE_DATABASE_PASSWORD` gives it directly.
    pub password_file: Option<PathBuf>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./vitrine-data"),
            database_url: None,
            namespace: "vitrine".into(),
            database: "main".into(),
            user: None,
            auth_level: "root".into(),
            password_file: None,
        }
    }
}

/// Where the shared artifacts (datasets, uploads, plugins, exports) live.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArtifactsSection {
    /// `fs` (a directory) or `s3` (an S3-compatible object store).
    pub kind: String,
    /// fs: the directory (a shared file system for a cluster); unset: `data_dir/artifacts`.
    pub root: Option<PathBuf>,
    /// s3: the bucket, a prefix inside it, its region and, for S3-compatible servers,
    /// its URL. Keys come from `VITRINE_S3_ACCESS_KEY_ID` and
    /// `VITRINE_S3_SECRET_ACCESS_KEY`, else the usual `AWS_…` variables, shared config
    /// files or an instance role.
    pub bucket: Option<String>,
    pub prefix: String,
    pub region: String,
    pub endpoint: Option<String>,
}

impl Default for ArtifactsSection {
    fn default() -> Self {
        ArtifactsSection {
            kind: "fs".into(),
            root: None,
            bucket: None,
            prefix: String::new(),
            region: "us-east-1".into(),
            endpoint: None,
        }
    }
}

/// What the nodes of a cluster share beyond the database and the artifacts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSection {
    /// Redis holding the password-attempt limits and carrying cache invalidations
    /// between nodes. Unset: the queue's Redis when the queue runs on Redis, else none
    /// (one process keeps both to itself).
    pub redis_url: Option<String>,
}

/// The environment variables of these sections, with the setting each overrides.
pub(super) fn apply_env(
    c: &mut super::Config,
    var: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let s = &mut c.storage;
    if let Some(v) = var("VITRINE_DATA_DIR") {
        s.data_dir = PathBuf::from(v);
    }
    if let Some(v) = var("VITRINE_DATABASE_URL") {
        s.database_url = Some(v);
    }
    if let Some(v) = var("VITRINE_DATABASE_NAMESPACE") {
        s.namespace = v;
    }
    if let Some(v) = var("VITRINE_DATABASE_NAME") {
        s.database = v;
    }
    if let Some(v) = var("VITRINE_DATABASE_USER") {
        s.user = Some(v);
    }
    if let Some(v) = var("VITRINE_DATABASE_AUTH_LEVEL") {
        s.auth_level = v;
    }
    if let Some(v) = var("VITRINE_DATABASE_PASSWORD_FILE") {
        s.password_file = Some(PathBuf::from(v));
    }
    let a = &mut c.artifacts;
    if let Some(v) = var("VITRINE_ARTIFACTS_KIND") {
        a.kind = v;
    }
    if let Some(v) = var("VITRINE_ARTIFACTS_ROOT") {
        a.root = Some(PathBuf::from(v));
    }
    if let Some(v) = var("VITRINE_ARTIFACTS_BUCKET") {
        a.bucket = Some(v);
    }
    if let Some(v) = var("VITRINE_ARTIFACTS_PREFIX") {
        a.prefix = v;
    }
    if let Some(v) = var("VITRINE_ARTIFACTS_REGION") {
        a.region = v;
    }
    if let Some(v) = var("VITRINE_ARTIFACTS_ENDPOINT") {
        a.endpoint = Some(v);
    }
    if let Some(v) = var("VITRINE_REDIS_URL") {
        c.cluster.redis_url = Some(v);
    }
    Ok(())
}

impl super::Config {
    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        match &self.storage.database_url {
            Some(u) if !u.is_empty() => u.clone(),
            _ => {
                let dir = std::path::absolute(self.storage.data_dir.join("db"))
                    .unwrap_or_else(|_| self.storage.data_dir.join("db"));
                format!("surrealkv://{}", dir.display())
            }
        }
    }

    /// The database to open and who signs in to it; `var` reads the environment (the
    /// password's one source besides a file).
    pub fn database(
        &self,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<DatabaseConfig, ConfigError> {
        let s = &self.storage;
        let url = self.database_url();
        let invalid = |key, message: String| ConfigError::Invalid { key, message };
        let server = url.starts_with("ws://") || url.starts_with("wss://");
        if !server && !url.starts_with("surrealkv://") && !url.starts_with("mem://") {
            return Err(invalid(
                "storage.database_url",
                format!("`{url}` is not surrealkv://PATH, ws://HOST:PORT or wss://HOST:PORT"),
            ));
        }
        for (key, value) in [
            ("storage.namespace", &s.namespace),
            ("storage.database", &s.database),
        ] {
            if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(invalid(
                    key,
                    format!("`{value}` must be letters, digits and underscores"),
                ));
            }
        }
        let level = AuthLevel::parse(&s.auth_level).ok_or_else(|| {
            invalid(
                "storage.auth_level",
                format!("`{}` is not root, namespace or database", s.auth_level),
            )
        })?;
        let password = match (var("VITRINE_DATABASE_PASSWORD"), &s.password_file) {
            (Some(p), _) => Some(p),
            (None, Some(file)) => Some(
                std::fs::read_to_string(file)
                    .map_err(|e| {
                        invalid(
                            "storage.password_file",
                            format!("cannot read {}: {e}", file.display()),
                        )
                    })?
                    // A secret file usually ends with a newline nobody meant.
                    .trim_end_matches(['\n', '\r'])
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let credentials = match (&s.user, password) {
            (None, None) => None,
            (Some(user), Some(password)) if server => Some(DatabaseCredentials {
                level,
                user: user.clone(),
                password,
            }),
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "storage.user",
                    "credentials are for a SurrealDB server (ws:// or wss://); the embedded database has none".into(),
                ));
            }
            (Some(_), None) => {
                return Err(invalid(
                    "storage.user",
                    "a user needs a password: VITRINE_DATABASE_PASSWORD or storage.password_file"
                        .into(),
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "storage.user",
                    "a database password was given without a user".into(),
                ));
            }
        };
        Ok(DatabaseConfig {
            url,
            namespace: s.namespace.clone(),
            database: s.database.clone(),
            credentials,
        })
    }

    /// Where the shared artifacts live; `None`: `artifacts/` in the data directory.
    pub fn artifacts(
        &self,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<ArtifactBackend>, ConfigError> {
        let a = &self.artifacts;
        let invalid = |key, message: &str| ConfigError::Invalid {
            key,
            message: message.to_owned(),
        };
        match a.kind.as_str() {
            "fs" => Ok(a.root.clone().map(|root| ArtifactBackend::Fs { root })),
            "s3" => {
                let bucket = a
                    .bucket
                    .clone()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| invalid("artifacts.bucket", "the s3 kind needs a bucket"))?;
                if let Some(e) = &a.endpoint
                    && !(e.starts_with("http://") || e.starts_with("https://"))
                {
                    return Err(invalid(
                        "artifacts.endpoint",
                        "must be an http:// or https:// URL",
                    ));
                }
                let access_key_id = var("VITRINE_S3_ACCESS_KEY_ID");
                let secret_access_key = var("VITRINE_S3_SECRET_ACCESS_KEY");
                if access_key_id.is_some() != secret_access_key.is_some() {
                    return Err(invalid(
                        "artifacts.kind",
                        "VITRINE_S3_ACCESS_KEY_ID and VITRINE_S3_SECRET_ACCESS_KEY go together",
                    ));
                }
                Ok(Some(ArtifactBackend::S3(S3Artifacts {
                    bucket,
                    prefix: a.prefix.clone(),
                    region: a.region.clone(),
                    endpoint: a.endpoint.clone(),
                    access_key_id,
                    secret_access_key,
                })))
            }
            other => Err(ConfigError::Invalid {
                key: "artifacts.kind",
                message: format!("`{other}` is not fs or s3"),
            }),
        }
    }

    /// The Redis the nodes share (see [`ClusterSection::redis_url`]).
    pub fn cluster_redis_url(&self) -> Option<String> {
        self.cluster
            .redis_url
            .clone()
            .filter(|u| !u.is_empty())
            .or_else(|| {
                (self.queue.backend == "redis")
                    .then(|| self.queue.redis_url.clone())
                    .flatten()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn a_server_database_takes_credentials_from_the_environment_or_a_file() {
        let mut c = Config::default();
        let vars = env(&[
            ("VITRINE_DATABASE_URL", "ws://127.0.0.1:8000"),
            ("VITRINE_DATABASE_USER", "vitrine"),
            ("VITRINE_DATABASE_AUTH_LEVEL", "database"),
            ("VITRINE_DATABASE_NAMESPACE", "acme"),
            ("VITRINE_DATABASE_PASSWORD", "from-the-env"),
        ]);
        c.apply_env(&vars).unwrap();
        let d = c.database(&vars).unwrap();
        assert_eq!(
            (d.namespace.as_str(), d.database.as_str()),
            ("acme", "main")
        );
        let creds = d.credentials.unwrap();
        assert_eq!(creds.level, AuthLevel::Database);
        assert_eq!(creds.password, "from-the-env");

        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "from-a-file\n").unwrap();
        c.storage.password_file = Some(file.path().to_owned());
        let d = c.database(|_| None).unwrap();
        assert_eq!(d.credentials.unwrap().password, "from-a-file");
    }

    #[test]
    fn bad_database_settings_name_the_setting() {
        let check = |edit: &dyn Fn(&mut Config), key: &str| {
            let mut c = Config::default();
            c.storage.database_url = Some("ws://db:8000".into());
            edit(&mut c);
            let err = c.database(|_| None).unwrap_err().to_string();
            assert!(err.starts_with(key), "{key}: {err}");
        };
        check(
            &|c| c.storage.database_url = Some("postgres://x".into()),
            "storage.database_url",
        );
        check(
            &|c| c.storage.auth_level = "admin".into(),
            "storage.auth_level",
        );
        check(&|c| c.storage.namespace = "a b".into(), "storage.namespace");
        check(&|c| c.storage.user = Some("v".into()), "storage.user");
        check(
            &|c| c.storage.password_file = Some("/nonexistent/pw".into()),
            "storage.password_file",
        );
        check(
            &|c| {
                c.storage.database_url = None;
                c.storage.user = Some("v".into());
                c.storage.password_file = Some("/dev/null".into());
            },
            "storage.user",
        );
    }

    #[test]
    fn artifacts_go_to_s3_with_a_bucket_and_paired_keys() {
        let mut c = Config::default();
        assert!(c.artifacts(|_| None).unwrap().is_none());
        c.artifacts.kind = "s3".into();
        let err = c.artifacts(|_| None).unwrap_err().to_string();
        assert!(err.starts_with("artifacts.bucket"), "{err}");
        let vars = env(&[
            ("VITRINE_ARTIFACTS_BUCKET", "vitrine"),
            ("VITRINE_ARTIFACTS_ENDPOINT", "http://127.0.0.1:9000"),
            ("VITRINE_S3_ACCESS_KEY_ID", "key"),
            ("VITRINE_S3_SECRET_ACCESS_KEY", "secret"),
        ]);
        c.apply_env(&vars).unwrap();
        let Some(ArtifactBackend::S3(s3)) = c.artifacts(&vars).unwrap() else {
            panic!("not s3")
        };
        assert_eq!(s3.bucket, "vitrine");
        assert!(!format!("{s3:?}").contains("secret\""), "{s3:?}");
        let half = env(&[("VITRINE_S3_ACCESS_KEY_ID", "key")]);
        assert!(c.artifacts(half).is_err());
        c.artifacts.endpoint = Some("ftp://x".into());
        let err = c.artifacts(|_| None).unwrap_err().to_string();
        assert!(err.starts_with("artifacts.endpoint"), "{err}");
        c.artifacts.kind = "gcs".into();
        assert!(c.artifacts(|_| None).is_err());
    }

    #[test]
    fn the_cluster_shares_the_queue_redis_unless_told_otherwise() {
        let mut c = Config::default();
        assert_eq!(c.cluster_redis_url(), None);
        c.queue.backend = "redis".into();
        c.queue.redis_url = Some("redis://q:6379/0".into());
        assert_eq!(c.cluster_redis_url().as_deref(), Some("redis://q:6379/0"));
        c.cluster.redis_url = Some("redis://c:6379/1".into());
        assert_eq!(c.cluster_redis_url().as_deref(), Some("redis://c:6379/1"));
    }
}
