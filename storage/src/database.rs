//! Where the database is and who signs in to it: the embedded SurrealKV file, or a
//! SurrealDB server over `ws://` / `wss://` with a namespace, a database and a user at
//! the root, namespace or database level.

use std::fmt;

use surrealdb::Surreal;
use surrealdb::engine::any::{self, Any};
use surrealdb::opt::auth;

use crate::{StorageError, StorageResult};

/// The level a server user is defined at (`DEFINE USER … ON ROOT | NAMESPACE | DATABASE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthLevel {
    Root,
    Namespace,
    Database,
}

impl AuthLevel {
    pub fn parse(word: &str) -> Option<AuthLevel> {
        match word {
            "root" => Some(AuthLevel::Root),
            "namespace" => Some(AuthLevel::Namespace),
            "database" => Some(AuthLevel::Database),
            _ => None,
        }
    }
}

/// A server user. The password never appears in `Debug` output (or any log).
#[derive(Clone)]
pub struct DatabaseCredentials {
    pub level: AuthLevel,
    pub user: String,
    pub password: String,
}

impl fmt::Debug for DatabaseCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseCredentials")
            .field("level", &self.level)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// What [`crate::Store::connect`] opens.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `surrealkv://PATH` (embedded) or `ws://HOST:PORT` / `wss://HOST:PORT` (a server).
    pub url: String,
    pub namespace: String,
    pub database: String,
    /// Who signs in to a server; `None` for the embedded database (or an open server).
    pub credentials: Option<DatabaseCredentials>,
}

impl DatabaseConfig {
    /// The database at `url`, in Vitrine's default namespace and database, no sign-in.
    pub fn at(url: &str) -> DatabaseConfig {
        DatabaseConfig {
            url: url.to_owned(),
            namespace: "vitrine".into(),
            database: "main".into(),
            credentials: None,
        }
    }

    /// True for the embedded database, held by one process.
    pub fn is_embedded(&self) -> bool {
        self.url.starts_with("surrealkv://")
    }

    /// Connects, signs in and selects the namespace and database. The client keeps the
    /// sign-in and the selection and replays both when it reconnects after the server
    /// restarts, so a restart costs the requests in flight, not the process.
    pub(crate) async fn connect(&self) -> StorageResult<Surreal<Any>> {
        let open_err = |e: surrealdb::Error| StorageError::Open {
            url: self.url.clone(),
            reason: e.to_string(),
        };
        let db = any::connect(durable_endpoint(&self.url))
            .await
            .map_err(open_err)?;
        if let Some(c) = &self.credentials {
            let signed_in = match c.level {
                AuthLevel::Root => {
                    db.signin(auth::Root {
                        username: c.user.clone(),
                        password: c.password.clone(),
                    })
                    .await
                }
                AuthLevel::Namespace => {
                    db.signin(auth::Namespace {
                        namespace: self.namespace.clone(),
                        username: c.user.clone(),
                        password: c.password.clone(),
                    })
                    .await
                }
                AuthLevel::Database => {
                    db.signin(auth::Database {
                        namespace: self.namespace.clone(),
                        database: self.database.clone(),
                        username: c.user.clone(),
                        password: c.password.clone(),
                    })
                    .await
                }
            };
            // The server's own words say whether the user or the password is wrong
            // without saying which; they never contain the password.
            signed_in.map_err(|e| StorageError::Open {
                url: self.url.clone(),
                reason: format!("signing in as {} failed: {e}", c.user),
            })?;
        }
        // `USE` creates the namespace and the database the first time they are named, in
        // a write transaction of its own: nodes starting together on a fresh server race
        // to create them, and the losers are told to retry.
        crate::error::retrying(|| async {
            db.use_ns(&self.namespace)
                .use_db(&self.database)
                .await
                .map(drop)
                .map_err(StorageError::from)
        })
        .await
        .map_err(|e| StorageError::Open {
            url: self.url.clone(),
            reason: match e {
                StorageError::Database(text) => text,
                e => e.to_string(),
            },
        })?;
        Ok(db)
    }
}

/// The embedded store syncs every commit to disk unless the URL says otherwise.
pub(crate) fn durable_endpoint(url: &str) -> String {
    if url.starts_with("surrealkv://") && !url.contains("sync=") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}sync=every")
    } else {
        url.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_debug_output() {
        let c = DatabaseCredentials {
            level: AuthLevel::Database,
            user: "vitrine".into(),
            password: "hunter2-but-longer".into(),
        };
        let shown = format!("{c:?}");
        assert!(
            shown.contains("vitrine") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert_eq!(AuthLevel::parse("namespace"), Some(AuthLevel::Namespace));
        assert_eq!(AuthLevel::parse("admin"), None);
    }

    #[test]
    fn embedded_urls_are_synced() {
        assert_eq!(
            durable_endpoint("surrealkv:///d/db"),
            "surrealkv:///d/db?sync=every"
        );
        assert_eq!(
            durable_endpoint("surrealkv:///d/db?sync=never"),
            "surrealkv:///d/db?sync=never"
        );
        assert_eq!(
            durable_endpoint("ws://127.0.0.1:8000"),
            "ws://127.0.0.1:8000"
        );
    }
}
