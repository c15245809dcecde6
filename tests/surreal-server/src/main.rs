//! `surreal`: the SurrealDB server, for tests that need one (`surreal start --bind
//! 127.0.0.1:PORT --user root --pass … memory`). The same entry point the upstream binary
//! uses, with the community composer (no enterprise extensions).

fn main() -> std::process::ExitCode {
    surrealdb_server::init(surrealdb_core::CommunityComposer())
}
