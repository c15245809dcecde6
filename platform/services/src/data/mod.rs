//! The data service: a project's workflow and runs, its datasets and uploads, its reports
//! and tiles, resource locations, app parameters, and data security (access filters,
//! connection roles, access boost). [`viewer`] answers what any viewer — a member or a
//! link session — may see of a report and each tile of it; sharing asks it too.
//!
//! Saving content goes through [`Commits`], and an edit of a report checks first what it
//! would newly show the audiences of its links ([`Exposures`]).

pub(crate) mod activity;
pub(crate) mod boost;
pub(crate) mod connection_roles;
pub(crate) mod connections;
pub(crate) mod notes;
mod report_check;
pub(crate) mod reports;
pub(crate) mod security;
pub(crate) mod viewer;
pub(crate) mod workflows;

use std::sync::Arc;

use vitrine_authz::Authz;
use vitrine_engine::Engine;
use vitrine_storage::Store;

use crate::commits::Commits;
use crate::exposure::Exposures;
use crate::{Audit, Directory, Identity};

/// Workflows, datasets, reports, tiles and data security, each method checking the
/// caller's role on the project first.
#[derive(Clone)]
pub struct Data {
    store: Store,
    authz: Arc<Authz>,
    engine: Arc<Engine>,
    audit: Audit,
    /// A changed connection role or boost reaches the credentials already checked.
    identity: Arc<Identity>,
    directory: Directory,
    commits: Commits,
    exposure: Exposures,
    /// Seals data connections' passwords.
    secrets: Arc<crate::secret_box::SecretBox>,
}

/// What [`Data`] is built from.
pub(crate) struct DataParts {
    pub store: Store,
    pub authz: Arc<Authz>,
    pub engine: Arc<Engine>,
    pub audit: Audit,
    pub identity: Arc<Identity>,
    pub directory: Directory,
    pub commits: Commits,
    pub exposure: Exposures,
    pub secrets: Arc<crate::secret_box::SecretBox>,
}

impl Data {
    pub(crate) fn new(p: DataParts) -> Self {
        Data {
            store: p.store,
            authz: p.authz,
            engine: p.engine,
            audit: p.audit,
            identity: p.identity,
            directory: p.directory,
            commits: p.commits,
            exposure: p.exposure,
            secrets: p.secrets,
        }
    }
}
