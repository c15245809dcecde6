//! Benchmark (issues 2a and 26): the effective-role check with 100,000 grants and a folder
//! tree 6 levels deep. Target: p99 ≤ 5 µs. Also times casbin's own `enforce` over the same
//! lines, the peer, and prints how many times faster the index answers.
//!
//! `cargo bench -p vitrine-authz --bench effective_role` (`VITRINE_BENCH_GRANTS` sets the
//! number of grants, default 100,000).

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vitrine_authz::{Authz, Object};
use vitrine_core::Role;
use vitrine_storage::{PolicyLine, Store};

fn grant_count() -> usize {
    std::env::var("VITRINE_BENCH_GRANTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}
const DEPTH: usize = 6;
const FANOUT: usize = 4;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &format!("surrealkv://{}", dir.path().join("db").display()),
        &vitrine_storage::ArtifactConfig::in_data_dir(dir.path()),
    )
    .await
    .unwrap();
    let mut rng = StdRng::seed_from_u64(7);

    // A tree: 4 top folders, each level 4 children, 6 levels → 5,460 folders; a project
    // under every deepest folder.
    let mut lines = Vec::new();
    let mut level: Vec<String> = (0..FANOUT).map(|i| format!("folder:l1-{i}")).collect();
    let mut all_folders = level.clone();
    for depth in 2..=DEPTH {
        let mut next = Vec::new();
        for parent in &level {
            for i in 0..FANOUT {
                let f = format!("{parent}.{depth}-{i}");
                lines.push(PolicyLine::new("g2", &f, parent, ""));
                next.push(f);
            }
        }
        all_folders.extend(next.iter().cloned());
        level = next;
    }
    let projects: Vec<String> = level
        .iter()
        .map(|f| format!("project:{}", f.trim_start_matches("folder:")))
        .collect();
    for (p, f) in projects.iter().zip(&level) {
        lines.push(PolicyLine::new("g2", p, f, ""));
    }
    let users: Vec<String> = (0..2_000).map(|i| format!("user:u{i}")).collect();
    let groups: Vec<String> = (0..100).map(|i| format!("group:g{i}")).collect();
    for u in &users {
        for _ in 0..2 {
            lines.push(PolicyLine::new(
                "g",
                u,
                &groups[rng.random_range(0..groups.len())],
                "",
            ));
        }
    }
    let roles = ["viewer", "editor", "manager"];
    let policies = grant_count();
    let mut grants = 0;
    while grants < policies {
        let s = if rng.random_bool(0.8) {
            &users[rng.random_range(0..users.len())]
        } else {
            &groups[rng.random_range(0..groups.len())]
        };
        let o = if rng.random_bool(0.5) {
            &all_folders[rng.random_range(0..all_folders.len())]
        } else {
            &projects[rng.random_range(0..projects.len())]
        };
        lines.push(PolicyLine::new(
            "p",
            s,
            o,
            roles[rng.random_range(0..roles.len())],
        ));
        grants += 1;
    }
    println!(
        "policy lines: {} grants, {} total (tree {} folders, {} projects, depth {DEPTH})",
        policies,
        lines.len(),
        all_folders.len(),
        projects.len()
    );
    store.add_policy_lines(&lines).await.unwrap();
    let t = Instant::now();
    let authz = Authz::load(store).await.unwrap();
    println!(
        "load + index build: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let queries: Vec<(String, Object)> = (0..100_000)
        .map(|_| {
            let u = users[rng.random_range(0..users.len())]
                .trim_start_matches("user:")
                .to_owned();
            let p = projects[rng.random_range(0..projects.len())]
                .trim_start_matches("project:")
                .to_owned();
            (u, Object::Project(p))
        })
        .collect();
    // Warm up, then time each check.
    let mut sink = Role::NoAccess;
    for (u, o) in queries.iter().take(10_000) {
        sink = sink.max(authz.effective_role(u, o));
    }
    let mut samples = Vec::with_capacity(queries.len());
    for (u, o) in &queries {
        let t = Instant::now();
        let r = authz.effective_role(u, o);
        samples.push(t.elapsed());
        sink = sink.max(r);
    }
    samples.sort();
    println!(
        "effective_role (index): p50 {:.2} µs  p99 {:.2} µs  max {:.2} µs  over {} checks",
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples.last().unwrap().as_secs_f64() * 1e6,
        samples.len()
    );

    let mut casbin = Vec::new();
    for (u, o) in queries.iter().take(50) {
        let t = Instant::now();
        let _ = authz.casbin_decision(u, o, "viewer").await.unwrap();
        casbin.push(t.elapsed());
    }
    casbin.sort();
    println!(
        "casbin enforce (the peer, a full scan): p50 {:.2} ms  p99 {:.2} ms over {} checks",
        percentile(&casbin, 0.5).as_secs_f64() * 1e3,
        percentile(&casbin, 0.99).as_secs_f64() * 1e3,
        casbin.len()
    );
    println!(
        "ratio (casbin p50 / index p50): {:.0}x faster; index p99 {:.2} µs against the 5 µs target",
        percentile(&casbin, 0.5).as_secs_f64() / percentile(&samples, 0.5).as_secs_f64(),
        percentile(&samples, 0.99).as_secs_f64() * 1e6
    );
    std::hint::black_box(sink);
}
