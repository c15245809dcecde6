//! The host against real guest components: good blocks, hostile ones, bad files.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use serde_json::json;

use crate::guests::fixture;
use crate::{Host, HostLimits, PluginError, PortTable, RunOptions};

fn host() -> Host {
    Host::new(
        HostLimits {
            time_limit: Duration::from_secs(1),
            memory_bytes: 64 << 20,
            ..HostLimits::default()
        },
        None,
    )
    .unwrap()
}

fn sample() -> PortTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("region", DataType::Utf8, true),
        Field::new("units", DataType::Int64, false),
        Field::new("amount", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![Some("West"), None, Some("East")])),
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(Float64Array::from(vec![Some(1.5), Some(2.5), None])),
        ],
    )
    .unwrap();
    PortTable {
        port: "in".into(),
        schema,
        batches: vec![batch],
    }
}

fn load(host: &Host, name: &str) -> Result<Arc<crate::Plugin>, PluginError> {
    host.load(&std::fs::read(fixture(name)).unwrap())
}

#[test]
fn echo_round_trips_a_table_through_typed_columns() {
    let host = host();
    let echo = load(&host, "echo").unwrap();
    assert_eq!(echo.info.name, "echo");
    assert_eq!(echo.info.sdk_version.as_deref(), Some("0.2.0"));
    assert_eq!(echo.info.contract, "0.2.0");
    let out = host
        .run(&echo, &json!({}), vec![sample()], RunOptions::default())
        .unwrap();
    let t = &out.outputs[0];
    assert_eq!(t.port, "out");
    let b = &t.batches[0];
    assert_eq!(b.num_rows(), 3);
    assert_eq!(b.column(0).null_count(), 1);
    assert_eq!(b.column(2).null_count(), 1);
    assert_eq!(
        b.column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(2),
        3
    );
}

/// Runs a hostile block; returns its error and how long stopping it took.
fn hostile(host: &Host, name: &str) -> (PluginError, Duration) {
    let plugin = match load(host, name) {
        Ok(p) => p,
        Err(e) => return (e, Duration::ZERO),
    };
    let start = Instant::now();
    let err = host
        .run(&plugin, &json!({}), vec![sample()], RunOptions::default())
        .expect_err(name);
    (err, start.elapsed())
}

#[test]
fn hostile_blocks_are_stopped_or_refused_and_the_host_carries_on() {
    let host = host();
    let limit = host.limits().time_limit;
    let echo = load(&host, "echo").unwrap();
    let good = |host: &Host| {
        let out = host
            .run(&echo, &json!({}), vec![sample()], RunOptions::default())
            .unwrap();
        assert_eq!(out.outputs[0].rows(), 3);
    };
    use vitrine_core::ErrorCode as C;
    for (name, code, says) in [
        ("hostile-spin", C::PluginTimeout, "time limit of 1000 ms"),
        (
            "hostile-memory-bomb",
            C::PluginMemory,
            "memory limit of 64 MiB",
        ),
        ("hostile-deep-recursion", C::PluginCrashed, "recursion"),
        // WASI is linked but denies: no preopened directory, no address, no real sleep.
        (
            "hostile-open-file",
            C::PluginFailed,
            "could not open the file",
        ),
        ("hostile-network", C::PluginFailed, "could not connect"),
        ("hostile-sleep", C::PluginFailed, "woke up"),
        ("hostile-panic", C::PluginCrashed, "the block gave up"),
        (
            "hostile-bad-schema",
            C::PluginBadOutput,
            "`score` is text; the block declared float64",
        ),
    ] {
        let (err, took) = hostile(&host, name);
        assert_eq!(err.code(), code, "{name}: {err}");
        assert!(err.to_string().contains(says), "{name}: {err}");
        assert!(
            took <= limit.mul_f64(1.1),
            "{name} was stopped after {took:?}, limit {limit:?}"
        );
        good(&host);
    }
}

#[test]
fn files_that_are_not_block_components_are_refused() {
    let host = host();
    let refused = |bytes: &[u8]| match host.load(bytes) {
        Err(e @ PluginError::Invalid(_)) => e.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(refused(b"#!/bin/sh\necho hi\n").contains("magic number"));
    // An empty core module.
    assert!(refused(b"\0asm\x01\0\0\0").contains("core WebAssembly module"));
    // An empty component: well formed, but it implements nothing.
    assert!(refused(b"\0asm\x0d\0\x01\0").contains("does not implement `vitrine:block/block`"));
    // A block of a contract version this host does not run.
    let m = refused(&crate::guests::exporting("vitrine:block/block@9.0.0"));
    assert!(
        m.contains(
            "implements vitrine:block@9.0.0, which this host does not run (it runs 0.1.0, 0.2.0)"
        ),
        "{m}"
    );
    // A truncated component.
    let echo = std::fs::read(fixture("echo")).unwrap();
    assert!(refused(&echo[..echo.len() / 2]).contains("not a valid WebAssembly component"));
    let big = Host::new(
        HostLimits {
            max_plugin_bytes: 1000,
            ..HostLimits::default()
        },
        None,
    )
    .unwrap();
    assert!(matches!(big.load(&echo), Err(PluginError::Invalid(m)) if m.contains("at most 1000")));
}

#[test]
fn compiled_components_are_cached_on_disk_across_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("echo")).unwrap();
    let first = Host::new(HostLimits::default(), Some(dir.path().to_path_buf())).unwrap();
    let start = Instant::now();
    first.load(&bytes).unwrap();
    let cold = start.elapsed();
    let cached: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(cached.len(), 1, "one compiled file");
    let second = Host::new(HostLimits::default(), Some(dir.path().to_path_buf())).unwrap();
    let start = Instant::now();
    let p = second.load(&bytes).unwrap();
    println!("compile {cold:?}, from cache {:?}", start.elapsed());
    assert_eq!(p.info.name, "echo");
    // A corrupt cache file is dropped and the component compiled again.
    let path = cached[0].as_ref().unwrap().path();
    std::fs::write(&path, b"garbage").unwrap();
    let third = Host::new(HostLimits::default(), Some(dir.path().to_path_buf())).unwrap();
    third.load(&bytes).unwrap();
    assert_ne!(std::fs::read(&path).unwrap(), b"garbage");
}

#[test]
fn a_block_with_arrow_inside_reads_and_writes_record_batches() {
    let host = host();
    let scale = load(&host, "arrow-scale").unwrap();
    assert_eq!(scale.info.input_format, crate::InputFormat::ArrowIpc);
    let out = host
        .run(
            &scale,
            &json!({"column": "amount", "factor": 10}),
            vec![sample()],
            RunOptions::default(),
        )
        .unwrap();
    let b = &out.outputs[0].batches[0];
    let amount = b.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!(amount.value(0), 15.0);
    assert_eq!(amount.value(1), 25.0);
    assert!(amount.is_null(2));
    // The text column came through untouched, nulls included.
    assert_eq!(b.column(0).null_count(), 1);
    // The block's own refusal keeps its kind and message.
    let err = host
        .run(
            &scale,
            &json!({"column": "region", "factor": 2}),
            vec![sample()],
            RunOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.code(), vitrine_core::ErrorCode::PluginFailed);
    assert!(
        err.to_string()
            .contains("invalid input: `region` is not a float64 column"),
        "{err}"
    );
}

#[test]
fn more_calls_than_pool_slots_wait_for_a_slot_instead_of_failing() {
    let host = Host::new(
        HostLimits {
            concurrent_calls: 2,
            ..HostLimits::default()
        },
        None,
    )
    .unwrap();
    let echo = load(&host, "echo").unwrap();
    std::thread::scope(|s| {
        let calls: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    host.run(&echo, &json!({}), vec![sample()], RunOptions::default())
                        .map(|o| o.outputs[0].rows())
                })
            })
            .collect();
        for c in calls {
            assert_eq!(c.join().unwrap().unwrap(), 3);
        }
    });
}

/// Pooled memory is kept resident between calls and reset in place (see
/// `Sandbox::new`): no call may see what an earlier one left, whether it reuses the same
/// slot right after or runs beside others.
#[test]
fn a_call_sees_nothing_an_earlier_call_left_in_memory() {
    let host = host();
    let residue = load(&host, "residue").unwrap();
    let run = || {
        let out = host
            .run(&residue, &json!({}), vec![sample()], RunOptions::default())
            .unwrap();
        let b = &out.outputs[0].batches[0];
        let cell = |name: &str| {
            let c = b.column(b.schema().index_of(name).unwrap());
            c.as_any().downcast_ref::<Int64Array>().unwrap().value(0)
        };
        (cell("earlier_calls"), cell("marked_bytes"))
    };
    for _ in 0..20 {
        assert_eq!(run(), (0, 0));
    }
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..4)
            .map(|_| s.spawn(|| (0..10).map(|_| run()).collect::<Vec<_>>()))
            .collect();
        for t in threads {
            assert!(t.join().unwrap().iter().all(|r| *r == (0, 0)));
        }
    });
}

#[test]
fn blocks_get_wasi_with_everything_denied_and_deterministic() {
    let host = host();
    let probe = load(&host, "wasi-probe").unwrap();
    let run = || {
        host.run(&probe, &json!({}), vec![sample()], RunOptions::default())
            .unwrap()
    };
    let started = Instant::now();
    let first = run();
    // The block sleeps ten seconds on a clock that never moves: the call returns at once.
    assert!(started.elapsed() < Duration::from_secs(1));
    let cell = |out: &crate::RunOutput, name: &str| {
        let b = &out.outputs[0].batches[0];
        let i = b.schema().index_of(name).unwrap();
        let c = b.column(i).as_any().downcast_ref::<StringArray>().unwrap();
        c.value(0).to_owned()
    };
    assert_eq!(cell(&first, "env"), "0");
    assert_eq!(cell(&first, "args"), "0");
    assert_eq!(cell(&first, "now"), "0", "the wall clock is frozen at 1970");
    assert_eq!(cell(&first, "slept_ms"), "0");
    assert!(
        cell(&first, "files").starts_with("refused"),
        "{}",
        cell(&first, "files")
    );
    assert_eq!(cell(&first, "stdin"), "read 0 bytes");
    // Seeded random numbers: the same draw on every run.
    let second = run();
    assert_eq!(cell(&first, "random"), cell(&second, "random"));
    // What it printed is in the log, stdout as info and stderr as warn.
    let lines: Vec<(crate::LogLevel, &str)> = first
        .log
        .iter()
        .map(|l| (l.level, l.message.as_str()))
        .collect();
    assert!(
        lines.contains(&(crate::LogLevel::Info, "probe on stdout")),
        "{lines:?}"
    );
    assert!(
        lines.contains(&(crate::LogLevel::Warn, "probe on stderr")),
        "{lines:?}"
    );
}

#[test]
fn imports_beyond_wasi_are_refused_by_name_and_unimplemented_wasi_is_linked() {
    let host = host();
    let err = host
        .load(&crate::guests::importing("acme:db/query@1.0.0"))
        .unwrap_err();
    assert_eq!(err.code(), vitrine_core::ErrorCode::InvalidPlugin);
    let m = err.to_string();
    assert!(m.contains("`acme:db/query@1.0.0`"), "{m}");
    assert!(m.contains("WASI 0.2 and `vitrine:block/host` only"), "{m}");
    // WASI the host does not implement passes the import check; this component then
    // fails only for implementing nothing.
    let err = host
        .load(&crate::guests::importing(
            "wasi:http/outgoing-handler@0.2.3",
        ))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("does not implement `vitrine:block/block`"),
        "{err}"
    );
}

#[test]
fn a_failed_call_hands_its_log_to_whoever_asked() {
    let host = host();
    let panic = load(&host, "hostile-panic").unwrap();
    let sink = crate::FailureLog::default();
    let err = host
        .run(
            &panic,
            &json!({}),
            vec![sample()],
            RunOptions {
                failure_log: Some(sink.clone()),
                ..RunOptions::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), vitrine_core::ErrorCode::PluginCrashed);
    let lines = sink.lock();
    assert!(
        lines
            .iter()
            .any(|l| l.level == crate::LogLevel::Warn && l.message.contains("panicked at")),
        "{lines:?}"
    );
}

mod languages;
