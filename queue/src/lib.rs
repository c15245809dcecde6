//! `vitrine-queue`: scheduled work without anyone clicking.
//!
//! Sits above `vitrine-storage` and `vitrine-core`, below `vitrine-api`. It owns the
//! transport and the timing of jobs, not what they do:
//! - [`Queue`]: apalis over SQLite (a file in the data directory, the default) or Redis
//!   (shared by several processes), with idempotency keys so a job pushed twice runs
//!   once;
//! - [`run_workers`]: pulls jobs and hands each to a [`JobHandler`] (the API implements
//!   it: every action goes through the permission-checking services);
//! - [`run_clock`]: claims due cron firings with a conditional write, so any number of
//!   processes start each firing once, and calls the handler's housekeeping tick.
//!
//! Delivery is at least once: a worker killed mid-job has its job re-delivered to
//! another (or restarted) worker once its heartbeats stop. Handlers make that safe by
//! recording per-project progress in storage before and after each side effect.

mod backend;
mod clock;
mod error;
mod job;
mod worker;

pub use backend::{Backend, Queue, QueueConfig, QueueDepth};
pub use clock::{ClockConfig, run_clock};
pub use error::{QueueError, QueueResult};
pub use job::Job;
pub use worker::{JobHandler, run_workers};
