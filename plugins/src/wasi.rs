//! What a block gets of WASI: every interface a standard toolchain links, each backed by
//! nothing that reaches outside the call.
//!
//! Toolchains import WASI whether or not the block uses it: Rust's standard library
//! links stdio, environment and random numbers; `componentize-py` links files, sockets
//! and clocks; `componentize-js` adds HTTP. Refusing those imports would refuse every
//! Python or JavaScript block, so the host links them all and denies what they could
//! reach:
//!
//! - no preopened directories, no environment, no arguments, an empty stdin;
//! - sockets and name lookups refused (the context allows no address);
//! - a wall clock frozen at 1970-01-01T00:00:00Z and a monotonic clock that never moves,
//!   whose sleeps end at once: WASI's sleep would otherwise block the host thread in real
//!   time, where the epoch deadline cannot stop it;
//! - random numbers from a generator seeded by the component's content hash, so a run
//!   gives the same result every time;
//! - stdout and stderr captured into the block's log (bounded by the caller).
//!
//! WASI interfaces the host does not implement (HTTP, the unstable time zone) are linked
//! as functions that fail when called, naming what was called: a block built by a tool
//! that imports HTTP by default loads and runs as long as it makes no request. Any other
//! import is refused when the component is loaded.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use rand_wasi::SeedableRng;
use wasmtime::Engine;
use wasmtime::component::{
    Component, HasData, Linker, Resource, ResourceTable, ResourceType, types::ComponentItem,
};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};
use wasmtime_wasi::{WasiCtx, p2};

use crate::{PluginError, PluginResult};

/// WASI 0.2 interfaces linked for every block (by name, without version), backed as the
/// module comment says, and the block contract's own.
const GIVEN: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:filesystem/preopens",
    "wasi:filesystem/types",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/ip-name-lookup",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
    "vitrine:block/host",
    "vitrine:block/types",
];

/// How a component's imports are met.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Imports {
    /// WASI interfaces linked as failing functions (full import names).
    pub(crate) stubbed: Vec<String>,
}

/// Sorts a component's imports into given, stubbed and refused; refused ones fail the
/// load with a message that names them and says what to do.
pub(crate) fn check_imports(component: &Component, engine: &Engine) -> PluginResult<Imports> {
    let mut imports = Imports::default();
    let mut refused = Vec::new();
    for (name, _) in component.component_type().imports(engine) {
        let bare = name.split('@').next().unwrap_or(name);
        if GIVEN.contains(&bare) {
            continue;
        }
        if bare.starts_with("wasi:") && name.contains("@0.2.") {
            imports.stubbed.push(name.to_owned());
        } else {
            refused.push(format!("`{name}`"));
        }
    }
    if !refused.is_empty() {
        return Err(PluginError::Invalid(format!(
            "the plugin imports {}, which the host does not provide: a block may import WASI 0.2 and `vitrine:block/host` only. Remove the dependency that brings it in, or build the block against schema/wit with the SDK",
            refused.join(", ")
        )));
    }
    Ok(imports)
}

/// Why a call into a stubbed WASI function failed: it names the function.
#[derive(Debug)]
pub(crate) struct Denied(pub(crate) String);

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "it called `{}`, which blocks are not given: a block gets no network, files, environment or clock; pass what it needs as inputs or configuration",
            self.0
        )
    }
}

impl std::error::Error for Denied {}

/// A host resource standing in for the resources of a stubbed interface.
struct Stub;

/// The host type behind a WASI resource that a stubbed interface may share with a given
/// one (`wasi:http/types` uses the streams and errors of `wasi:io`), by interface and name.
fn shared_resource(interface: &str, resource: &str) -> Option<ResourceType> {
    Some(match (interface, resource) {
        ("wasi:io/poll", "pollable") => ResourceType::host::<p2::DynPollable>(),
        ("wasi:io/streams", "input-stream") => ResourceType::host::<p2::DynInputStream>(),
        ("wasi:io/streams", "output-stream") => ResourceType::host::<p2::DynOutputStream>(),
        ("wasi:io/error", "error") => ResourceType::host::<p2::IoError>(),
        _ => return None,
    })
}

/// Links `stubbed` interfaces of `component` into `linker` as functions that fail with
/// [`Denied`]. Their own resources become empty host resources; resources they use from
/// a given interface keep that interface's host type, or the types would not match.
pub(crate) fn link_stubs<T: 'static>(
    linker: &mut Linker<T>,
    component: &Component,
    engine: &Engine,
    stubbed: &[String],
) -> wasmtime::Result<()> {
    let ty = component.component_type();
    let mut shared = Vec::new();
    for (name, item) in ty.imports(engine) {
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        let bare = name.split('@').next().unwrap_or(name);
        for (export, item) in instance.exports(engine) {
            if let (ComponentItem::Resource(abstract_ty), Some(host)) =
                (item.ty, shared_resource(bare, export))
            {
                shared.push((abstract_ty, host));
            }
        }
    }
    for (name, item) in ty.imports(engine) {
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        if !stubbed.iter().any(|s| s == name) {
            continue;
        }
        let mut linked = linker.instance(name)?;
        let bare = name.split('@').next().unwrap_or(name).to_owned();
        for (export, item) in instance.exports(engine) {
            match item.ty {
                ComponentItem::ComponentFunc(_) => {
                    let called = format!("{bare}#{export}");
                    linked.func_new(export, move |_, _, _, _| {
                        Err(wasmtime::Error::new(Denied(called.clone())))
                    })?;
                }
                ComponentItem::Resource(abstract_ty) => {
                    let host = shared
                        .iter()
                        .find(|(a, _)| *a == abstract_ty)
                        .map(|(_, h)| *h)
                        .unwrap_or_else(ResourceType::host::<Stub>);
                    linked.resource(export, host, |_, _| Ok(()))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Links WASI 0.2 into `linker`, with the monotonic clock replaced by the frozen one.
pub(crate) fn link<T: WasiView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    monotonic_clock::add_to_linker::<T, StillClock>(linker, |t| StillClockView(t.ctx().table))?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The context of one call: see the module comment.
pub(crate) fn context(stdout: &MemoryOutputPipe, stderr: &MemoryOutputPipe, seed: u64) -> WasiCtx {
    WasiCtx::builder()
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .wall_clock(Frozen)
        .monotonic_clock(Frozen)
        .secure_random(rand_wasi::rngs::StdRng::seed_from_u64(seed))
        .insecure_random(rand_wasi::rngs::StdRng::seed_from_u64(seed.rotate_left(32)))
        .insecure_random_seed(u128::from(seed))
        .build()
}

/// The seed of a component's random numbers: the first eight bytes of its content hash
/// (hex), so two runs of one block draw the same numbers.
pub(crate) fn seed(content_hash: &str) -> u64 {
    content_hash
        .get(..16)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or(0)
}

/// A clock that always says the same time.
struct Frozen;

impl wasmtime_wasi::HostWallClock for Frozen {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for Frozen {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// The monotonic clock blocks see: it reads zero, and every wait on it is over at once.
struct StillClock;

impl HasData for StillClock {
    type Data<'a> = StillClockView<'a>;
}

struct StillClockView<'a>(&'a mut ResourceTable);

/// What a wait on the still clock polls: ready at once.
struct Elapsed;

impl Pollable for Elapsed {
    fn ready<'a, 'b>(&'a mut self) -> Pin<Box<dyn Future<Output = ()> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(std::future::ready(()))
    }
}

impl StillClockView<'_> {
    fn elapsed(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        let at = self.0.push(Elapsed)?;
        subscribe(self.0, at)
    }
}

impl monotonic_clock::Host for StillClockView<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(0)
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(1_000_000_000)
    }

    fn subscribe_instant(
        &mut self,
        _when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.elapsed()
    }

    fn subscribe_duration(
        &mut self,
        _duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.elapsed()
    }
}
