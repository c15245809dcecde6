//! `vitrine-services`: the only way in. Sits above storage, authz, engine and queue and
//! below the GraphQL API (`vitrine-api`) and the HTTP server (`vitrine-server`).
//!
//! Every read and write goes through here, and every one of them checks the caller's
//! rights first. Framework-free: no poem or async-graphql type appears here; resolvers and
//! HTTP routes are thin adapters over these functions. Errors carry a stable code from the
//! core catalogue ([`ApiError`]).

mod app;
pub mod assets;
mod cluster;
mod error;
mod guard;
pub mod outbound;
pub mod paging;
pub mod qr;
mod ratelimit;
pub mod secret_box;
pub mod secrets;

mod audit;
mod commits;
mod data;
/// The data service's parts, under the names the rest of the crate uses.
pub(crate) use data::{reports, security, viewer, workflows};
mod directory;
mod events;
mod exposure;
/// The directory's projects and users, under the names the rest of the crate uses.
pub(crate) use directory::{projects, users};
mod identity;
pub mod mail;
mod plugins;
mod policy;
mod sharing;
mod tasks;
mod versions;
/// The versions service's parts, under the names the rest of the crate uses.
pub use versions::bundles;
pub(crate) use versions::{install, origin, remote, working_copies};

use std::sync::Arc;

use vitrine_authz::Authz;
use vitrine_storage::Store;

pub use error::{ApiError, ApiResult};
pub use guard::{Authorized, Edit, Manage, Permit, View};
/// Where [`Caller`] lives, under the name the rest of the crate imports it by.
pub(crate) use identity::caller;
pub use identity::caller::{Caller, Credential, RequestMeta};
/// Cursor paging, as every list method takes it.
pub use vitrine_storage::PageRequest;

pub use app::{App, AppConfig};
/// A report viewer's filter choices, as routes read them from a URL.
pub use vitrine_engine::report::FilterState;

/// The settings of the parts [`App::open`] wires, for reading a configuration file into
/// an [`AppConfig`].
pub mod config {
    pub use vitrine_engine::{EngineLimits, HostLimits};
    pub use vitrine_queue::{Backend, QueueConfig};
    pub use vitrine_storage::{
        ArtifactBackend, AuthLevel, DatabaseConfig, DatabaseCredentials, S3Artifacts,
    };
}
/// The records the services answer with, under the names the API shapes them by. The API
/// reaches storage only through these: what it may see of storage is chosen here.
pub mod records {
    pub use vitrine_storage::{
        ApiTokenRecord, AuditFilter, AuditRecord, ConnectionGrant, ConnectionRecord, DatasetRecord,
        ExportRecord, GroupRecord, LocationRecord, PluginRecord, PolicyLine, ReportRecord,
        RevisionRecord, RunCounts, RunRecord, ShareLinkRecord, ShareRecipientRecord, ShareWarning,
        TaskRecord, TaskRunProjectRecord, TemplateOrigin, UploadRecord, UserInvitationRecord,
        UserKind, UserRecord, VirtualRootRecord, WorkingCopyLinkRecord, now_ms,
    };
}

/// Values of the data engine, the plugin host and the policy engine the services answer
/// with (results, columns, run events, plugin descriptions, role explanations).
pub mod values {
    pub use vitrine_authz::{Explanation, InstanceSettings};
    pub use vitrine_engine::blocks::catalogue::{KindInfo, kinds as block_kinds};
    pub use vitrine_engine::blocks::{BlockConfig, KINDS as BLOCK_KINDS, Ports};
    pub use vitrine_engine::locations::{Access, LocationKind};
    pub use vitrine_engine::report::WarmUpSummary;
    pub use vitrine_engine::{
        BlockResult, ColumnInfo, FileFormat, InputFormat, PluginInfo, PortInfo, QueryResult,
        RunEvent,
    };
    pub use vitrine_sources::ServerInfo;
}
pub use audit::Audit;
pub use data::Data;
pub use data::boost::{BoostSettings, BoostTarget};
pub use data::connection_roles::RoleSubject;
pub use data::connections::{ConnectionInput, ConnectionSettings};
pub use data::notes::{TileNote, TileNoteKind};
pub use data::workflows::parameter_map;
pub use directory::{Directory, FolderView, ProjectView};
pub use identity::{
    AuthConfig, AuthProvider, Identity, LoginOutcome, NewApiToken, OidcProviderConfig,
    OidcSignedIn, OidcStart, Provisioning, SESSION_TTL, SETUP_TOKEN_TTL, ShellUser, TokenRequest,
};
pub use install::SyncOutcome;
pub use origin::RemoteHead;
pub use plugins::{MAX_PLUGIN_BYTES, PluginRegistry};
pub use policy::{Policy, PolicyKnown};
pub use remote::{CopyLinkRights, LinkUse, MAX_LINK_HOURS, NewCopyLink, copy_link_scope};
pub use reports::TileDownload;
pub use security::{AccessRule, DataSecurity};
pub use sharing::{
    AttributeInput, CreatedShareLink, FilterInForce, Invitation, LOCK_AFTER_FAILURES, LinkOp,
    MAX_LINK_PROJECTS, NewCoverage, NewRecipient, NewShareLink, ShareAccess, ShareLinkChange,
    ShareOpened, SharePage, SharePolicy, ShareView, SharedFile, SharedProject, Sharing,
    link_gone_error, link_path, link_state,
};
pub use tasks::{
    DEFAULT_MIN_TASK_INTERVAL, LinkDeliveryView, MAIL_DEFAULT_FROM, MAX_DELIVERIES_PER_RECIPIENT,
    MailConfig, NewLinkDelivery, TaskInput, TaskJobs, TaskRunView, Tasks,
};
pub use versions::Versions;
pub use viewer::{Grant, Viewer};
pub use workflows::{MAX_UPLOAD_BYTES, WorkflowView};
pub use working_copies::WorkingCopyStatus;

/// Everything the API needs, built once at start-up and shared.
pub struct Services {
    // Private: everything outside reaches storage, policies, the engine and the audit
    // trail only through methods that take the caller.
    pub(crate) store: Store,
    pub(crate) engine: Arc<vitrine_engine::Engine>,
    pub(crate) audit: Audit,
    /// Who is calling: sign-in, sessions, tokens, setup and system callers.
    pub(crate) identity: Arc<Identity>,
    /// Folders, projects, users and groups, and who may see which.
    pub(crate) directory: Directory,
    /// Workflows, datasets, reports, tiles and data security.
    pub(crate) data: Data,
    policy: Policy,
    plugin_registry: PluginRegistry,
    /// Links, recipients, visits and what visitors see.
    pub(crate) sharing: Arc<Sharing>,
    /// History, working copies and portable files.
    pub(crate) versions: Versions,
    /// Scheduled and event tasks and their runs.
    pub(crate) tasks: Arc<Tasks>,
    /// Outgoing mail, and the public URL the links in it start with.
    mailer: mail::Mailer,
}

/// Reads uid-ordered rows `SCAN_BATCH` at a time from `after`, keeping those `keep` turns
/// into views, until `first` are kept. Returns them and whether more visible rows follow.
/// Filtering by permission happens here, so a page is full even when most rows are hidden.
pub(crate) async fn scan_visible<T, V, Fut>(
    page: &PageRequest,
    mut fetch: impl FnMut(PageRequest) -> Fut,
    uid: impl Fn(&T) -> &str,
    mut keep: impl FnMut(T) -> Option<V>,
) -> ApiResult<(Vec<V>, bool)>
where
    Fut: std::future::Future<Output = ApiResult<Vec<T>>>,
{
    let mut out = Vec::new();
    let mut after = page.after.clone();
    loop {
        let batch = fetch(PageRequest {
            after: after.clone(),
            first: SCAN_BATCH,
        })
        .await?;
        let exhausted = batch.len() < SCAN_BATCH;
        for row in batch {
            after = Some(uid(&row).to_owned());
            if let Some(view) = keep(row) {
                if out.len() == page.first {
                    return Ok((out, true));
                }
                out.push(view);
            }
        }
        if exhausted {
            return Ok((out, false));
        }
    }
}

/// Every uid of a table, read page by page.
pub(crate) async fn all_uids<T, Fut>(
    mut fetch: impl FnMut(PageRequest) -> Fut,
    uid: impl Fn(&T) -> &str,
) -> ApiResult<std::collections::HashSet<String>>
where
    Fut: std::future::Future<Output = ApiResult<Vec<T>>>,
{
    let mut out = std::collections::HashSet::new();
    let mut after = None;
    loop {
        let page = fetch(PageRequest {
            after: after.clone(),
            first: SCAN_BATCH,
        })
        .await?;
        after = page.last().map(|r| uid(r).to_owned());
        out.extend(page.iter().map(|r| uid(r).to_owned()));
        if page.len() < SCAN_BATCH {
            return Ok(out);
        }
    }
}

/// How far a filtered listing reads ahead per round trip.
pub(crate) const SCAN_BATCH: usize = 200;

impl Services {
    /// Who is calling: sign-in, sessions, API tokens, setup and system callers.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Folders, projects, virtual roots, users, service accounts and groups.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The audit log: refusals recorded, events read.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// Workflows and runs, datasets, reports and tiles, locations, app parameters and data
    /// security.
    pub fn data(&self) -> &Data {
        &self.data
    }

    /// Share links, recipients, the ledger, and a visitor's side of a link.
    pub fn sharing(&self) -> &Sharing {
        &self.sharing
    }

    /// History, working copies, bundles, data files and report files.
    pub fn versions(&self) -> &Versions {
        &self.versions
    }

    /// Scheduled and event tasks, their runs, and app-wide parameters.
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// Role grants, server permissions, the policy file and instance settings.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Publishing, listing, enabling and disabling plugin versions.
    pub fn plugin_registry(&self) -> &PluginRegistry {
        &self.plugin_registry
    }

    /// Outgoing mail; the server tells it the public URL mailed links start with.
    pub fn mailer(&self) -> &mail::Mailer {
        &self.mailer
    }

    /// Whether this process can serve: the database answers, the artifact store is
    /// writable and the job queue answers (`/readyz`).
    pub async fn ready(&self) -> ApiResult<()> {
        self.store.ping().await?;
        self.queue_depth().await.map(|_| ())
    }

    /// Jobs waiting and running in the queue (`/metrics`, `/readyz`).
    pub async fn queue_depth(&self) -> ApiResult<vitrine_queue::QueueDepth> {
        (self.tasks.queue().depth().await).map_err(|e| ApiError::new(e.code(), e.to_string()))
    }

    /// The engine's caches and their lookups so far (`/metrics`).
    pub fn cache_stats(&self) -> [vitrine_engine::CacheStats; 2] {
        self.engine.cache_stats()
    }

    /// Only [`App::open`] builds the services, so every process wires them the same way.
    pub(crate) async fn new(
        store: Store,
        authz: Arc<Authz>,
        queue: vitrine_queue::Queue,
        settings: Settings,
    ) -> Arc<Services> {
        let Settings {
            cluster,
            engine_limits,
            outbound,
            mail,
            oidc,
            secrets,
        } = settings;
        let secrets = Arc::new(secrets);
        let shared_limits = cluster.as_ref().map(|c| c.limits());
        if let Some(cluster) = &cluster {
            cluster.join(&authz);
        }
        let access_log = sharing::AccessLog::new(store.clone());
        let audit = Audit::new(store.clone(), authz.clone(), access_log.clone());
        let engine = vitrine_engine::Engine::new(store.clone(), engine_limits);
        let mailer = mail::Mailer::new(mail);
        let identity = Arc::new(Identity::new(
            store.clone(),
            authz.clone(),
            audit.clone(),
            oidc,
            mailer.clone(),
            shared_limits.as_ref(),
        ));
        let commits = commits::Commits::new(store.clone());
        let exposure = exposure::Exposures::new(store.clone());
        let directory = Directory::new(
            store.clone(),
            authz.clone(),
            audit.clone(),
            identity.clone(),
        );
        let data = Data::new(data::DataParts {
            store: store.clone(),
            authz: authz.clone(),
            engine: engine.clone(),
            audit: audit.clone(),
            identity: identity.clone(),
            directory: directory.clone(),
            commits: commits.clone(),
            exposure: exposure.clone(),
            secrets: secrets.clone(),
        });
        engine.use_connections(data.connection_opener());
        let sharing = Arc::new(Sharing::new(sharing::SharingParts {
            mailer: mailer.clone(),
            store: store.clone(),
            authz: authz.clone(),
            audit: audit.clone(),
            identity: identity.clone(),
            directory: directory.clone(),
            data: data.clone(),
            commits: commits.clone(),
            exposure: exposure.clone(),
            access_log,
            shared_limits,
        }));
        let events = events::Events::new();
        let outbound = crate::outbound::Outbound::new(outbound);
        let versions = Versions::new(versions::VersionsParts {
            store: store.clone(),
            engine: engine.clone(),
            audit: audit.clone(),
            identity: identity.clone(),
            directory: directory.clone(),
            data: data.clone(),
            commits: commits.clone(),
            exposure: exposure.clone(),
            events: events.clone(),
            outbound: outbound.clone(),
            secrets,
        });
        let tasks = Arc::new(Tasks::new(tasks::TasksParts {
            store: store.clone(),
            authz: authz.clone(),
            engine: engine.clone(),
            audit: audit.clone(),
            directory: directory.clone(),
            data: data.clone(),
            versions: versions.clone(),
            events,
            outbound,
            queue,
            mail: mailer.clone(),
            sharing: sharing.clone(),
        }));
        let services = Services {
            mailer,
            tasks,
            versions,
            sharing,
            data,
            directory,
            identity,
            policy: Policy::new(store.clone(), authz.clone(), audit.clone()),
            plugin_registry: PluginRegistry::new(
                store.clone(),
                authz.clone(),
                engine.clone(),
                audit.clone(),
            ),
            audit,
            engine,
            store,
        };
        Arc::new(services)
    }
}

/// What the services are built from besides the store, the policies and the queue: the
/// parts of the configuration each service keeps.
pub(crate) struct Settings {
    /// In a cluster: the link to the other nodes (shared attempt limits, announcements).
    pub cluster: Option<Arc<cluster::Cluster>>,
    pub engine_limits: vitrine_engine::EngineLimits,
    pub outbound: crate::outbound::OutboundPolicy,
    pub mail: MailConfig,
    pub oidc: identity::Providers,
    pub secrets: secret_box::SecretBox,
}
