//! The versions service: a project's history (revisions, diffs, revert, copy from a
//! revision), templates, working copies on this instance or another (push, pull, detach, links),
//! and its portable files (bundles, data files, report files). Installing a pushed or
//! imported content is one transaction ([`install`]).
//!
//! A push into a project or an import announces itself as a project event ([`Events`]);
//! the task service, above this one, fires the event tasks that follow it.

pub mod bundles;
pub(crate) mod connections;
pub(crate) mod install;
pub(crate) mod origin;
pub(crate) mod remote;
pub(crate) mod report_file;
pub(crate) mod revisions;
pub(crate) mod templates;
pub(crate) mod working_copies;

use std::sync::Arc;

use vitrine_engine::Engine;
use vitrine_storage::Store;

use crate::commits::Commits;
use crate::events::Events;
use crate::exposure::Exposures;
use crate::outbound::Outbound;
use crate::{Audit, Data, Directory, Identity};

/// History, working copies and portable files, each method checking the caller's role on
/// the project first.
#[derive(Clone)]
pub struct Versions {
    store: Store,
    engine: Arc<Engine>,
    audit: Audit,
    identity: Arc<Identity>,
    directory: Directory,
    /// Reports' tiles for report files, and abilities.
    data: Data,
    commits: Commits,
    exposure: Exposures,
    events: Events,
    /// Requests to other instances (working-copy origins).
    outbound: Outbound,
    /// Seals the link tokens of working copies of other instances' projects.
    secrets: Arc<crate::secret_box::SecretBox>,
}

/// What [`Versions`] is built from.
pub(crate) struct VersionsParts {
    pub store: Store,
    pub engine: Arc<Engine>,
    pub audit: Audit,
    pub identity: Arc<Identity>,
    pub directory: Directory,
    pub data: Data,
    pub commits: Commits,
    pub exposure: Exposures,
    pub events: Events,
    pub outbound: Outbound,
    pub secrets: Arc<crate::secret_box::SecretBox>,
}

impl Versions {
    pub(crate) fn new(p: VersionsParts) -> Self {
        Versions {
            store: p.store,
            engine: p.engine,
            audit: p.audit,
            identity: p.identity,
            directory: p.directory,
            data: p.data,
            commits: p.commits,
            exposure: p.exposure,
            events: p.events,
            outbound: p.outbound,
            secrets: p.secrets,
        }
    }
}
