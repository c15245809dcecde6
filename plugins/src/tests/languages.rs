//! Blocks written in Python (componentize-py) and JavaScript (componentize-js), built
//! with each tool's default command: they load under the denied WASI, give the Rust
//! example's output bit for bit (they implement contract 0.1.0, the Rust one the newest,
//! so this is also what proves older contracts are still served), and crash in their
//! own words.
//!
//! The tools are installed from PyPI and npm on first use (see `guests`). Where they
//! cannot be, these tests say so and pass, unless `VITRINE_REQUIRE_TOOLCHAINS` is set,
//! as CI sets it.

use std::sync::Arc;

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use serde_json::{Value, json};

use crate::guests;
use crate::{Host, HostLimits, PortTable, RunOptions};

fn host() -> Host {
    Host::new(
        HostLimits {
            time_limit: std::time::Duration::from_secs(20),
            ..HostLimits::default()
        },
        None,
    )
    .unwrap()
}

/// Sales with nulls, integers and text: what the z-score reads and what it must keep.
fn sales() -> PortTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("region", DataType::Utf8, true),
        Field::new("units", DataType::Int64, false),
        Field::new("amount", DataType::Float64, true),
    ]));
    let n = 500;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter(
                (0..n).map(|i| (i % 7 != 0).then(|| ["West", "East", "Nord"][i % 3])),
            )),
            Arc::new(Int64Array::from_iter_values(
                (0..n).map(|i| (i * 37 % 101) as i64),
            )),
            Arc::new(Float64Array::from_iter((0..n).map(|i| {
                (i % 11 != 0)
                    .then(|| (i as f64 * 1.37).sin() * 100.0 + if i == 250 { 900.0 } else { 0.0 })
            }))),
        ],
    )
    .unwrap();
    PortTable {
        port: "in".into(),
        schema,
        batches: vec![batch],
    }
}

/// The output and log lines of `bytes` on `settings`, or the error's code and message.
fn run(host: &Host, bytes: &[u8], settings: Value) -> Result<(PortTable, Vec<String>), String> {
    let plugin = host.load(bytes).map_err(|e| e.to_string())?;
    host.run(&plugin, &settings, vec![sales()], RunOptions::default())
        .map(|mut out| {
            let log = out.log.iter().map(|l| l.message.clone()).collect();
            (out.outputs.remove(0), log)
        })
        .map_err(|e| format!("{}: {e}", e.code()))
}

#[test]
fn python_and_javascript_blocks_give_the_rust_example_s_output() {
    let Some((python, javascript)) = guests::zscore_translations() else {
        return;
    };
    let rust = std::fs::read(guests::example("zscore")).unwrap();
    let host = host();
    // The Rust block is built against the newest contract, the Python and JavaScript ones
    // against 0.1.0 (their `wit` link): the host serves both, with the same tables.
    let contract = |bytes: &[u8]| host.load(bytes).unwrap().info.contract.clone();
    assert_eq!(contract(&rust), crate::CONTRACT_VERSION);
    assert_eq!(contract(&python), "0.1.0");
    assert_eq!(contract(&javascript), "0.1.0");
    for settings in [
        json!({"column": "amount"}),
        json!({"column": "units", "threshold": 1.5, "prefix": "u_"}),
        // Replaces the column of the same name, as the SDK's `with_column` does.
        json!({"column": "amount", "prefix": "", "threshold": 0.5}),
        // Refusals read the same in every language.
        json!({"column": "region"}),
        json!({"column": "price"}),
    ] {
        let expected = run(&host, &rust, settings.clone());
        for (language, bytes) in [("python", &python), ("javascript", &javascript)] {
            let got = run(&host, bytes, settings.clone());
            match (&expected, &got) {
                (Ok((want, want_log)), Ok((got, got_log))) => {
                    assert_eq!(want.schema, got.schema, "{language} {settings}");
                    assert_eq!(want.batches, got.batches, "{language} {settings}");
                    assert_eq!(want_log, got_log, "{language} {settings}");
                }
                (Err(want), Err(got)) => assert_eq!(want, got, "{language} {settings}"),
                _ => panic!("{language} {settings}: rust {expected:?}, {language} {got:?}"),
            }
        }
    }
    assert!(
        matches!(&run(&host, &rust, json!({"column": "region"})), Err(e) if e.contains("is text, not a number"))
    );

    // What built each one is recorded.
    let toolchain = |bytes: &[u8]| host.load(bytes).unwrap().info.toolchain.clone().unwrap();
    assert!(
        toolchain(&python).starts_with("Python 3."),
        "{}",
        toolchain(&python)
    );
    assert_eq!(toolchain(&javascript), "JavaScript (ComponentizeJS 0.23.0)");
    assert!(
        toolchain(&rust).starts_with("Rust (vitrine-sdk 0.2.0"),
        "{}",
        toolchain(&rust)
    );
}

#[test]
fn python_and_javascript_crashes_and_denials_are_told_in_the_guest_s_words() {
    let Some(python) = guests::built_or_skip(guests::python("plugins/guests/python")) else {
        return;
    };
    let Some(javascript) =
        guests::built_or_skip(guests::javascript("plugins/guests/javascript", "block.js"))
    else {
        return;
    };
    let host = host();
    let err = run(&host, &python, json!({"do": "raise"})).unwrap_err();
    // The whole traceback is in the failed call's log.
    let plugin = host.load(&python).unwrap();
    let sink = crate::FailureLog::default();
    let options = RunOptions {
        failure_log: Some(sink.clone()),
        ..RunOptions::default()
    };
    assert!(
        host.run(&plugin, &json!({"do": "raise"}), vec![sales()], options)
            .is_err()
    );
    assert!(
        sink.lock()
            .iter()
            .any(|l| l.message.starts_with("Traceback (most recent call last)")),
        "{:?}",
        sink.lock()
    );
    assert!(
        err.starts_with(
            "PLUGIN_CRASHED: the block crashed: ValueError: the fixture was asked to fail (File"
        ),
        "{err}"
    );
    let err = run(&host, &javascript, json!({"do": "throw"})).unwrap_err();
    assert_eq!(
        err,
        "PLUGIN_CRASHED: the block crashed: Error: the fixture was asked to fail"
    );
    // HTTP is linked but fails when called, naming the call.
    let err = run(&host, &javascript, json!({"do": "fetch"})).unwrap_err();
    assert!(err.contains("it called `wasi:http/"), "{err}");
    assert!(err.contains("which blocks are not given"), "{err}");
    // Python's open() finds no file system.
    let (out, _) = run(&host, &python, json!({"do": "open"})).unwrap();
    let result = out.batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .value(0)
        .to_owned();
    assert!(result.starts_with("refused:"), "{result}");
    // Printing lands in the log: stdout as info, stderr as warn.
    for (bytes, language) in [(&python, "python"), (&javascript, "javascript")] {
        let plugin = host.load(bytes).unwrap();
        let out = host
            .run(
                &plugin,
                &json!({"do": "print"}),
                vec![sales()],
                RunOptions::default(),
            )
            .unwrap();
        let lines: Vec<(crate::LogLevel, String)> = out
            .log
            .iter()
            .map(|l| (l.level, l.message.clone()))
            .collect();
        assert!(
            lines.contains(&(crate::LogLevel::Info, format!("{language} on stdout"))),
            "{lines:?}"
        );
        assert!(
            lines.contains(&(crate::LogLevel::Warn, format!("{language} on stderr"))),
            "{lines:?}"
        );
        assert_eq!(out.outputs[0].rows(), 500);
    }
}
