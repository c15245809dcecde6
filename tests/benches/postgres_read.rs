//! Benchmark (issue 24): rows per second reading a PostgreSQL table into Arrow record
//! batches through a data connection, against the server's own fastest export in the
//! same run — `COPY … TO STDOUT (FORMAT binary)` by psql, piped to /dev/null. Target:
//! ≥ 0.5× the peer. The table has the columns of a typical fact table: a bigint key,
//! two texts, a numeric(12,2) amount and a timestamptz.
//!
//! `cargo bench -p vitrine --bench postgres_read` (VITRINE_BENCH_ROWS, default
//! 10,000,000; each side runs 3 times, the median counts). PostgreSQL is Debian's,
//! started as the tests start it, on 127.0.0.1.

#[allow(dead_code)]
#[path = "../e2e/servers.rs"]
mod servers;
#[allow(dead_code)]
#[path = "../e2e/support.rs"]
mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use vitrine_sources::postgres::PostgresSpec;
use vitrine_sources::{ConnectionSpec, ReadLimits, ReadTarget, Secret, TlsMode};

const RUNS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let rows: u64 = std::env::var("VITRINE_BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let pg = servers::start_postgres().await;
    let client = pg.admin("postgres").await;
    let seeding = Instant::now();
    client
        .batch_execute(&format!(
            "CREATE UNLOGGED TABLE facts AS
             SELECT g::bigint AS id,
                    'customer-' || (g % 1000) AS customer,
                    (ARRAY['West', 'East', 'Central', 'South'])[1 + g % 4] AS region,
                    ((g::bigint * 7919) % 100000 / 100.0)::numeric(12, 2) AS amount,
                    timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS at
             FROM generate_series(1, {rows}) g"
        ))
        .await
        .unwrap();
    // VACUUM cannot share a batch with other statements (an implicit transaction).
    client.batch_execute("VACUUM ANALYZE facts").await.unwrap();
    println!(
        "seeded {rows} rows in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let spec = ConnectionSpec::Postgres(PostgresSpec {
        host: "127.0.0.1".into(),
        port: pg.port,
        database: "postgres".into(),
        user: "admin".into(),
        password: Secret::new(pg.admin_password.clone()),
        tls: TlsMode::Disable,
    });
    let limits = ReadLimits {
        max_rows: u64::MAX,
        timeout: Duration::from_secs(3600),
        ..ReadLimits::default()
    };
    let mut ours = Vec::new();
    let mut peer = Vec::new();
    for run in 0..RUNS {
        let started = Instant::now();
        let stream = spec
            .read(&ReadTarget::Table("facts".into()), limits)
            .await
            .unwrap();
        let read: u64 = stream
            .batches
            .try_fold(0u64, |n, b| async move { Ok(n + b.num_rows() as u64) })
            .await
            .unwrap();
        assert_eq!(read, rows);
        let secs = started.elapsed().as_secs_f64();
        ours.push(rows as f64 / secs);

        let started = Instant::now();
        let status = std::process::Command::new(pg.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &pg.port.to_string(), "-U", "admin"])
            .args([
                "-d",
                "postgres",
                "-c",
                "COPY facts TO STDOUT (FORMAT binary)",
            ])
            .env("PGPASSWORD", &pg.admin_password)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let copy_secs = started.elapsed().as_secs_f64();
        peer.push(rows as f64 / copy_secs);
        println!("run {run}: vitrine {secs:.2} s, psql COPY binary {copy_secs:.2} s");
    }
    let (ours, peer) = (median(ours), median(peer));
    println!("vitrine read to Arrow: {:.0} rows/s", ours);
    println!("psql COPY binary > /dev/null: {:.0} rows/s", peer);
    println!("ratio: {:.2}× (target ≥ 0.5×)", ours / peer);
}
