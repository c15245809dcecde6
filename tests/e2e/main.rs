//! Vitrine end-to-end tests: the real `vitrine` binary on 127.0.0.1 port 0, a fresh data
//! directory per test, real HTTP.

mod admin_cli;
mod architecture;
mod audit;
mod audit_data;
mod auth;
mod browser;
mod bundle_security;
mod bundles;
mod claims;
mod concurrency;
mod copies;
mod data;
mod directory;
mod docs;
mod hardening;
mod identity;
mod limits;
mod metrics;
mod module_cycles;
mod oidc;
mod permissions;
mod plugins;
mod policies;
mod publishing;
mod remote_copies;
mod revisions;
mod schema;
mod scoped_tokens;
mod setup;
mod sharing;
mod support;
mod tasks;
mod templates;
mod typed_client;
mod user_invitations;
