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

/// Released versions of the plugin contract, with the SHA-256 of their frozen WIT. A
/// released contract never changes (blocks built against it must keep running); a change
/// belongs in a new version directory, added here when it is released.
const RELEASED_WIT: &[(&str, &str)] = &[(
    "vitrine-block-0.1.0/block.wit",
    "37f0b4e17cdd0784b43993c45b779aaab526f69bcbb523b7b1f3fb003498356a",
)];

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
}
