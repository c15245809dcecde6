/// schema/graphql/vitrine.graphql is generated from the code and committed; this fails
/// when they differ. Regenerate with `cargo run -- schema > schema/graphql/vitrine.graphql`.
#[test]
fn committed_sdl_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schema/graphql/vitrine.graphql"
    ))
    .expect("committed SDL");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .arg("schema")
        .output()
        .expect("run vitrine schema");
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    assert!(
        committed == generated,
        "schema/graphql/vitrine.graphql is out of date: run `cargo run -- schema > schema/graphql/vitrine.graphql`"
    );
}

/// docs/errors.md is the error-code catalogue, generated like the SDL: every code the
/// API can answer, its HTTP status and meaning. Regenerate with `cargo run -- errors >
/// docs/errors.md`.
#[test]
fn committed_error_catalogue_matches_the_code() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors.md"))
            .expect("committed docs/errors.md");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .arg("errors")
        .output()
        .expect("run vitrine errors");
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    assert!(
        committed == generated,
        "docs/errors.md is out of date: run `cargo run -- errors > docs/errors.md`"
    );
    for code in vitrine_core::ErrorCode::ALL {
        assert!(committed.contains(&format!("| `{}` |", code.as_str())));
    }
    // The schema names them all too, each with its meaning.
    let sdl = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schema/graphql/vitrine.graphql"
    ))
    .unwrap();
    let start = sdl.find("enum ErrorCode {").expect("ErrorCode in the SDL");
    let block = &sdl[start..start + sdl[start..].find('}').unwrap()];
    for code in vitrine_core::ErrorCode::ALL {
        assert!(block.contains(&format!("\t{}\n", code.as_str())), "{code}");
    }
    assert!(block.contains("The caller is known but may not do this."));
}

/// Released versions of the plugin contract, with the SHA-256 of their frozen WIT. A
/// released contract never changes (blocks built against it must keep running); a change
/// belongs in a new version directory, added here when it is released.
const RELEASED_WIT: &[(&str, &str)] = &[
    (
        "vitrine-block-0.1.0/block.wit",
        "37f0b4e17cdd0784b43993c45b779aaab526f69bcbb523b7b1f3fb003498356a",
    ),
    (
        "vitrine-block-0.2.0/block.wit",
        "3d69d034cd944905d8d5a9e25b87db9aec0cca3c094984fc3f15a519556ea3b2",
    ),
];

#[test]
fn released_plugin_contracts_are_frozen() {
    use sha2::{Digest, Sha256};
    let deps = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schema/wit/deps");
    for (file, sha) in RELEASED_WIT {
        let text = std::fs::read(format!("{deps}/{file}")).expect("released WIT");
        assert_eq!(
            hex::encode(Sha256::digest(&text)),
            *sha,
            "schema/wit/deps/{file} changed after release; put changes in a new version"
        );
    }
    // The SDK builds against the newest released version.
    let sdk = std::fs::read_link(concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk/wit")).unwrap();
    let newest = RELEASED_WIT.last().unwrap().0.split('/').next().unwrap();
    assert!(sdk.ends_with(newest), "sdk/wit points at {}", sdk.display());
    // The host runs every released version, the newest as its own.
    let released: Vec<&str> = RELEASED_WIT
        .iter()
        .map(|(file, _)| &file["vitrine-block-".len()..file.find('/').unwrap()])
        .collect();
    assert_eq!(released, vitrine_plugins::CONTRACT_VERSIONS);
    assert_eq!(Some(&vitrine_plugins::CONTRACT_VERSION), released.last());
}
