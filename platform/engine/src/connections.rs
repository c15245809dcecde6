//! How the engine reaches the instance's data connections. The services implement
//! [`Connections`]: they keep passwords sealed and know who holds which connection role,
//! so the engine asks for a connection by name, for whom and for what, and gets it only
//! when that use is allowed.

use futures::future::BoxFuture;
use vitrine_sources::ConnectionSpec;

use crate::EngineResult;

/// One use of a connection a run is about to make.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionUse<'a> {
    /// The connection's name, after parameter substitution.
    pub name: &'a str,
    /// Who asked for the run; `None` for the engine's own tests.
    pub run_by: Option<&'a str>,
    /// Free SQL (a query) rather than a named table: needs the QUERIER role.
    pub free_sql: bool,
}

pub trait Connections: Send + Sync {
    /// The connection, its password unsealed, when `use_` is allowed; else why not.
    fn open<'a>(&'a self, use_: ConnectionUse<'a>) -> BoxFuture<'a, EngineResult<ConnectionSpec>>;
}
