//! Several nodes on one SurrealDB server, one Redis and one S3-compatible store (issue 22):
//! everything started by the test on 127.0.0.1 (see `crate::servers`). `serve` nodes run
//! no jobs here; `vitrine worker` processes run them.

mod database;
mod nodes;
mod refresh;
mod world;

pub use world::*;
